import ctypes

import mxnet as mx
import pytest

from gluon_wgan.utils.context import parse_ctx


@pytest.mark.parametrize("text,expected", [
    ("cpu", [mx.cpu(0)]),
    ("cpu(1)", [mx.cpu(1)]),
    ("cpu(0,1)", [mx.cpu(0), mx.cpu(1)]),
    ("cpu(0), cpu(1)", [mx.cpu(0), mx.cpu(1)]),
])
def test_parse_cpu(text, expected):
    assert parse_ctx(text) == expected


@pytest.mark.parametrize("text", ["tpu", "gpu(a)", "", "cpu(0", "0"])
def test_unreadable_ctx(text):
    with pytest.raises(ValueError, match="--ctx"):
        parse_ctx(text)


@pytest.mark.skipif(mx.context.num_gpus() > 0, reason="this machine has a GPU")
@pytest.mark.parametrize("text", ["gpu", "gpu(0)", "gpu(0,1)"])
def test_gpu_without_gpu_is_a_clear_error(text):
    with pytest.raises(ValueError, match="GPU"):
        parse_ctx(text)


def test_gpu_ids_parsed_up_to_the_device_check(monkeypatch):
    """The GPU path is right by construction up to the device call: ids are read, then checked."""
    import gluon_wgan.utils.context as context
    monkeypatch.setattr(context, "_check_gpus", lambda needed: None)
    assert context.parse_ctx("gpu(0,1)") == [mx.gpu(0), mx.gpu(1)]
    assert context.parse_ctx("gpu") == [mx.gpu(0)]


@pytest.mark.parametrize("text", ["cpu,cpu", "cpu(0),cpu(0)", "cpu(1),gpu(1)"])
def test_a_device_id_names_one_device(text):
    # gpu(1) on this CPU-only machine would fail anyway; the duplicate id is reported first.
    with pytest.raises(ValueError, match="twice"):
        parse_ctx(text)


# --- The GPU check behind --ctx gpu(N) (the checks themselves: test_gpu_cuda.py) -----------------

def test_the_cpu_wheel_is_one_line_naming_the_flag_and_the_fix():
    """Without a driver that is the first problem named (the GPU wheels would not help); else the wheel."""
    try:
        ctypes.CDLL("libcuda.so.1")
        first = "no GPU support"
    except OSError:
        first = "no NVIDIA GPU/driver on this machine"
    with pytest.raises(ValueError) as err:
        parse_ctx("gpu(0)")
    text = str(err.value)
    assert text.startswith(f"--ctx gpu(0): {first}") and "requirements-gpu.txt" in text
    assert "\n" not in text


class _FakeMXNet:
    """Stands in for `mxnet` where it must see GPUs: its contexts are the real ones."""
    def __init__(self, gpus):
        self.gpu, self.cpu = mx.gpu, mx.cpu
        self.context = type("context", (), {"num_gpus": staticmethod(lambda: gpus)})
        self.base = mx.base


def test_gpus_are_checked_once_per_process(monkeypatch):
    import gluon_wgan.utils.context as context
    calls = []
    monkeypatch.setattr(context, "_CHECKED", set())
    monkeypatch.setattr(context, "check", lambda ids: calls.append(ids) or [("driver", "fine")])
    monkeypatch.setattr(context, "load_mxnet", lambda: _FakeMXNet(2))
    assert context.parse_ctx("gpu(0,1)") == [mx.gpu(0), mx.gpu(1)]
    assert context.parse_ctx("gpu(1)") == [mx.gpu(1)]
    assert calls == [[0, 1]]
    with pytest.raises(ValueError, match="MXNet sees 2 GPU"):
        context.parse_ctx("gpu(0,1,2)")      # a new id: the checks again, then MXNet's count
    assert calls == [[0, 1], [0, 1, 2]]


def test_mxnet_seeing_fewer_gpus_than_the_driver(monkeypatch):
    import gluon_wgan.utils.context as context
    monkeypatch.setattr(context, "_CHECKED", set())
    monkeypatch.setattr(context, "check", lambda ids: [])
    monkeypatch.setattr(context, "load_mxnet", lambda: _FakeMXNet(1))
    with pytest.raises(ValueError, match=r"^--ctx gpu\(0,1\): gpu\(1\) was asked for but MXNet sees 1 GPU"):
        context.parse_ctx("gpu(0,1)")
    assert context._CHECKED == set()


def test_a_failed_check_is_prefixed_with_the_flag(monkeypatch):
    import gluon_wgan.utils.context as context
    from gluon_wgan.cuda import GPUProblem

    def fails(ids):
        raise GPUProblem("the NVIDIA driver is not installed (...); install the NVIDIA driver")
    monkeypatch.setattr(context, "_CHECKED", set())
    monkeypatch.setattr(context, "check", fails)
    with pytest.raises(ValueError, match=r"^--ctx gpu\(0,1\): the NVIDIA driver is not installed"):
        context.parse_ctx("gpu(1),gpu(0)")


@pytest.mark.parametrize("error,fix", [
    ("libcuda.so.1: cannot open shared object file", "needs the NVIDIA driver even for --ctx cpu"),
    ("libcudnn.so.8: cannot open shared object file", "check_gpu.py names what is missing"),
])
def test_mxnet_that_does_not_load_names_the_fix(error, fix):
    from gluon_wgan.utils.context import load_failure
    assert fix in load_failure(OSError(error))


def test_mxnet_refusing_the_driver_is_one_line(monkeypatch):
    import gluon_wgan.utils.context as context

    class Refusing(_FakeMXNet):
        def __init__(self):
            super().__init__(0)

            def num_gpus():
                raise mx.base.MXNetError("Traceback (most recent call last):\n  File \"base.h\", line 458\n"
                                         "CUDA: Check failed: e == cudaSuccess (36 vs. 0) : API call is not "
                                         "supported in the installed CUDA driver")
            self.context = type("context", (), {"num_gpus": staticmethod(num_gpus)})
    monkeypatch.setattr(context, "_CHECKED", set())
    monkeypatch.setattr(context, "check", lambda ids: [])
    monkeypatch.setattr(context, "load_mxnet", Refusing)
    with pytest.raises(ValueError) as err:
        context.parse_ctx("gpu(0)")
    assert str(err.value) == ("--ctx gpu(0): MXNet cannot use the NVIDIA driver (CUDA: Check failed: e == "
                              "cudaSuccess (36 vs. 0) : API call is not supported in the installed CUDA "
                              "driver): update the NVIDIA driver")
