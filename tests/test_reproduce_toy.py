"""scripts/reproduce_toy.py: --help, one-line errors with exit code 2, and a tiny run."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "reproduce_toy.py")


def _run(*args):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, timeout=120)


def test_help_documents_flags_and_lambda():
    result = _run("--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for flag in ("--dataset", "--gen-iters", "--outdir", "--seed", "--figure", "--method", "--gp-weight"):
        assert flag in text
    assert "the paper uses 10" in text and "(default: 0.1)" in text


@pytest.mark.parametrize("args", [
    ("--dataset", "moons"), ("--gen-iters", "0"), ("--figure", "2"), ("--gp-weight", "-1"),
    ("--gen-iters", "two"), ("--eval-every", "0"), ("--eval-samples", "1"),
])
def test_bad_input_is_one_line_exit_2(args):
    result = _run(*args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("reproduce_toy.py: error:")
    assert "Traceback" not in result.stderr


def test_unwritable_outdir_is_one_line_exit_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = _run("--outdir", str(blocker / "sub"), "--gen-iters", "1", "--hidden", "4", "--no-progress")
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "not writable" in result.stderr and "Traceback" not in result.stderr


def test_tiny_run_writes_summary(tmp_path):
    outdir = str(tmp_path / "run")
    result = _run("--dataset", "25gaussians", "--gen-iters", "2", "--hidden", "8", "--batch-size", "16",
                  "--eval-samples", "50", "--outdir", outdir, "--seed", "1", "--no-progress")
    assert result.returncode == 0, result.stderr
    summary = json.load(open(os.path.join(outdir, "summary.json")))
    assert summary["dataset"] == "25gaussians" and summary["gen_iters"] == 2 and summary["seed"] == 1
    assert [g for g, _ in summary["w1_curve"]] == [0, 1, 2]
    assert os.path.exists(os.path.join(outdir, "samples.png"))


def test_preset_sets_defaults_that_explicit_flags_override(tmp_path, monkeypatch):
    import importlib.util

    from gluon_wgan.training import toy
    spec = importlib.util.spec_from_file_location("reproduce_toy", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    calls = []

    def fake_run_train(dataset, outdir, gen_iters, method, gp_weight, **kw):
        calls.append(dict(dataset=dataset, gen_iters=gen_iters, method=method, gp_weight=gp_weight))
        return dict(dataset=dataset, method=method, gen_iters=gen_iters, seconds=0.0, w1=0.0,
                    w1_curve=[[0, 1.0]], w1_floor=0.0)
    monkeypatch.setattr(toy, "run_train", fake_run_train)
    script.main(["--preset", "toy-8gaussians-lambda10", "--outdir", str(tmp_path / "a")])
    script.main(["--preset", "toy-8gaussians-lambda10", "--gen-iters", "7", "--gp-weight", "1",
                 "--outdir", str(tmp_path / "b")])
    assert calls == [dict(dataset="8gaussians", gen_iters=100000, method="wgan-gp", gp_weight=10.0),
                     dict(dataset="8gaussians", gen_iters=7, method="wgan-gp", gp_weight=1.0)]


def test_choices_are_the_components_lists():
    from gluon_wgan.data.choices import TOY_DATASETS
    from gluon_wgan.tools.toy import build_parser
    from gluon_wgan.training.choices import TOY_METHODS
    choices = {action.dest: action.choices for action in build_parser()._actions}
    assert choices["dataset"] is TOY_DATASETS and choices["method"] is TOY_METHODS
