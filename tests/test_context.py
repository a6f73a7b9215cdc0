import mxnet as mx
import pytest

from gluon_wgan.context import parse_ctx


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
    import gluon_wgan.context as context
    monkeypatch.setattr(context, "_check_gpus", lambda needed: None)
    assert context.parse_ctx("gpu(0,1)") == [mx.gpu(0), mx.gpu(1)]
    assert context.parse_ctx("gpu") == [mx.gpu(0)]


@pytest.mark.parametrize("text", ["cpu,cpu", "cpu(0),cpu(0)", "cpu(1),gpu(1)"])
def test_a_device_id_names_one_device(text):
    # gpu(1) on this CPU-only machine would fail anyway; the duplicate id is reported first.
    with pytest.raises(ValueError, match="twice"):
        parse_ctx(text)
