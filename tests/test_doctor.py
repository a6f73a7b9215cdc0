"""gluon_wgan.tools.doctor and scripts/check_gpu.py: the CPU half of the GPU check (cpu(1) stands for the GPU and
runs MXNet's plain operators, as a GPU does), and every failure as one line with exit code 2."""
import ctypes
import io
import os
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest

from gluon_wgan.tools import doctor
from gluon_wgan.cuda import GPUProblem

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_check_step_on_a_second_device_agrees():
    finding = doctor.check_step(mx.cpu(1), mx.cpu(0), image_size=16, batch_size=2)
    assert finding.startswith("a convolution + gradient penalty step on cpu(1) equals cpu(0)'s")


def test_check_step_catches_a_device_that_computes_wrong(monkeypatch):
    """A device whose result is off by 5% of one gradient is refused, with the size of the error."""
    real = doctor._critic_gradients
    calls = []

    def off_on_the_device(ctx, *args):
        arrays, weights = real(ctx, *args)
        calls.append(ctx)
        if len(calls) == 2:
            arrays[-1] = arrays[-1] + 0.05 * np.abs(arrays[-1]).max()
        return arrays, weights
    monkeypatch.setattr(doctor, "_critic_gradients", off_on_the_device)
    with pytest.raises(GPUProblem, match=r"cpu\(1\) computes .* 5\.0e-02 away from cpu\(0\)") as err:
        doctor.check_step(mx.cpu(1), mx.cpu(0), image_size=16, batch_size=2)
    assert calls == [mx.cpu(0), mx.cpu(1)] and "\n" not in str(err.value)


def test_check_step_refuses_nan(monkeypatch):
    real = doctor._critic_gradients

    def nan_on_the_device(ctx, *args):
        arrays, weights = real(ctx, *args)
        if ctx == mx.cpu(1):
            arrays[0] = arrays[0] * np.nan
        return arrays, weights
    monkeypatch.setattr(doctor, "_critic_gradients", nan_on_the_device)
    with pytest.raises(GPUProblem, match="nan away"):
        doctor.check_step(mx.cpu(1), mx.cpu(0), image_size=16, batch_size=2)


def test_mxnet_failing_on_the_device_is_one_line():
    def fails():
        raise mx.base.MXNetError("[12:00:00] src/storage/storage.cc:xx: Check failed: e == cudaSuccess: "
                                 "CUDA: no kernel image is available for execution on the device\n"
                                 "Stack trace:\n  [bt] (0) libmxnet.so(+0x1234)\n")
    with pytest.raises(GPUProblem) as err:
        doctor._guarded(mx.cpu(1), fails)
    text = str(err.value)
    assert "\n" not in text and "no kernel image is available" in text and "Stack trace" not in text


def test_the_device_side_runs_plain_operators():
    from gluon_wgan import native
    seen = []
    doctor._guarded(mx.cpu(1), lambda: seen.append(native.available()), plain=True)
    doctor._guarded(mx.cpu(0), lambda: seen.append(native.available()), plain=False)
    assert seen[0] is False and seen[1] == native.available()


def test_smoke_cpu_half():
    """The smoke run on cpu(1) against cpu(0): both methods, same start, results that agree, timings."""
    rows = doctor.smoke(mx.cpu(1), mx.cpu(0), iterations=1, image_size=16, batch_size=4, width=8)
    assert [row["method"] for row in rows] == ["wgan", "wgan-gp"]
    for row in rows:
        assert row["device"]["device"] == "cpu(1)" and row["reference"]["device"] == "cpu(0)"
        assert 0 <= row["loss_diff"] <= doctor.RTOL and 0 <= row["update_diff"] <= doctor.UPDATE_RTOL
        assert doctor.agree(row)
        for side in ("device", "reference"):
            assert row[side]["critic_s"] > 0 and row[side]["images_per_s"] > 0
            assert "MiB" in row[side]["memory"]
    lines = doctor.report([("step", "fine")], rows)
    assert lines[0] == "step       fine"
    assert sum("| cpu(1) |" in line for line in lines) == 2
    assert all(line.endswith("agree") for line in lines[-2:])


def test_smoke_runs_from_the_same_start(monkeypatch):
    """A device that starts from other weights ends elsewhere: the comparison sees it."""
    real = doctor._train

    def other_start(ctx, method, real_images, noise, alpha, weights, *args):
        if ctx == mx.cpu(1):
            weights = [[w * 1.5 for w in net] for net in weights]
        return real(ctx, method, real_images, noise, alpha, weights, *args)
    monkeypatch.setattr(doctor, "_train", other_start)
    rows = doctor.smoke(mx.cpu(1), mx.cpu(0), methods=("wgan",), iterations=1, image_size=16, batch_size=4,
                        width=8)
    assert rows[0]["loss_diff"] > doctor.RTOL and rows[0]["update_diff"] > doctor.UPDATE_RTOL
    assert doctor.report([], rows)[-1].endswith("DIFFER")


def _first_problem():
    """What the checks name first here: the missing driver, else the CPU wheel the suite runs on."""
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return "no NVIDIA GPU/driver on this machine"
    return "no GPU support"


def test_doctor_command_on_the_cpu_wheel_is_one_line_exit_2(capsys):
    out = io.StringIO()
    with pytest.raises(SystemExit) as stop:
        doctor.main(["--gpu", "0"], out=out)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"python -m gluon_wgan.tools.doctor: error: {_first_problem()}")
    assert out.getvalue() == ""    # no header line before the problem


def test_doctor_command_with_a_cpu_device():
    out = io.StringIO()
    assert doctor.main(["--device", "cpu(1)", "--smoke", "--iterations", "1", "--image-size", "16"], out=out) == 0
    text = out.getvalue()
    assert "equals cpu(0)'s" in text and "| wgan-gp | cpu(1) |" in text
    from gluon_wgan.utils.cpu import isa_summary
    assert f"cpu        oneDNN computes with {isa_summary()}" in text.splitlines()   # the CPU side's instructions
    assert "ready: python scripts/train_wgan.py" in text


@pytest.mark.parametrize("argv", [["--iterations", "0"], ["--image-size", "20"], ["--device", "gpu(0)"]])
def test_doctor_command_bad_flags(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        doctor.main(argv, out=io.StringIO())
    assert stop.value.code == 2 and capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize("command", [[os.path.join(ROOT, "scripts", "check_gpu.py")],
                                     ["-m", "gluon_wgan.tools.doctor"]])
def test_both_commands_exit_2_with_one_line_on_the_cpu_wheel(command):
    out = subprocess.run([sys.executable, *command], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and f"error: {_first_problem()}" in out.stderr
    assert out.stdout == ""


def test_train_wgan_checks_the_gpu_step_before_training(monkeypatch):
    """train_wgan.py runs the doctor's numerical step on each GPU of --ctx before training; a device
    that computes wrong stops it with the doctor's one line (here cpu(1) in the GPU's role)."""
    import importlib.util
    import os
    script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts", "train_wgan.py")
    spec = importlib.util.spec_from_file_location("train_wgan_for_doctor", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.gpu_step_problem([mx.cpu(1)], mx.cpu(0)) is None
    assert module.gpu_step_problem([], mx.cpu(0)) is None

    def five_percent_off(ctx, *args):
        arrays, weights = real(ctx, *args)
        return ([a * 1.05 for a in arrays] if ctx == mx.cpu(1) else arrays), weights
    real = doctor._critic_gradients
    monkeypatch.setattr(doctor, "_critic_gradients", five_percent_off)
    problem = module.gpu_step_problem([mx.cpu(1)], mx.cpu(0))
    assert problem.startswith("cpu(1) computes a convolution + gradient penalty step 5.0e-02 away from cpu(0)")
