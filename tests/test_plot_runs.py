"""scripts/plot_runs.py: the figure and the GIF from run folders, --help, one-line errors with exit code 2."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import make_run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "plot_runs.py")


def cli(*argv, cwd=None):
    return subprocess.run([sys.executable, SCRIPT, *argv], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_figure_and_gif(tmp_path):
    a = make_run(tmp_path / "a", [1.0, 0.8, 0.9, 0.7] * 10, (10, 20, 30), dict(method="wgan"))
    b = make_run(tmp_path / "b", [0.3, 0.2] * 20, (40,), dict(method="wgan-gp"))
    out, gif = tmp_path / "fig3.png", tmp_path / "a.gif"
    result = cli(a, b, "--out", str(out), "--window", "5", "--labels", "clip", "penalty",
                 "--gif", a, "--gif-out", str(gif))
    assert result.returncode == 0, result.stderr
    assert Image.open(out).format == "PNG"
    assert Image.open(gif).n_frames == 3
    assert "2 run(s)" in result.stdout and "3 frame(s)" in result.stdout


def test_real_tiny_run(tiny_cfg, tmp_path):
    """The folder the training loop writes, read back as it is (names, config.json, samples)."""
    from gluon_wgan.tools.runs import load_run
    from gluon_wgan.training.loop import train

    cfg = tiny_cfg(gen_iters=6)
    train(cfg, progress=False)
    run = load_run(cfg.outdir)
    assert run.gen_iters.tolist() == list(range(1, 7)) and run.estimate and run.label == "wgan"
    assert [g for g, _ in run.samples] == [3, 6]
    result = cli(cfg.outdir, "--out", str(tmp_path / "f.png"), "--gif", cfg.outdir,
                 "--gif-out", str(tmp_path / "g.gif"))
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "g.gif").n_frames == 2


@pytest.mark.parametrize("case,message", [
    ("missing", "no metrics.jsonl"),
    ("empty", "no records"),
    ("labels", "1 label(s) for 2 run folder(s)"),
    ("window", "--window must be at least 1"),
    ("gif-out-alone", "--gif-out needs --gif RUN_DIR"),
    ("gif-empty", "no sample grids"),
    ("no-scores", "has no Inception Score yet (train with --eval-every N)"),
    ("window-scores", "--window applies to the critic's estimate"),
    ("mixed-networks", "different Inception networks (fid-inception, gluoncv)"),
])
def test_bad_input_one_line_exit_2(tmp_path, case, message):
    good = make_run(tmp_path / "good", [1.0, 2.0])
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "metrics.jsonl").write_text("")
    out = str(tmp_path / "f.png")
    scored = [scored_run(tmp_path / name, network) for name, network in (("p", "fid-inception"), ("g", "gluoncv"))]
    argv = {"missing": [str(tmp_path), "--out", out],
            "no-scores": [good, "--out", out, "--inception-score"],
            "window-scores": [scored[0], "--out", out, "--inception-score", "--window", "3"],
            "mixed-networks": [*scored, "--out", out, "--inception-score"],
            "empty": [good, str(empty), "--out", out],
            "labels": [good, good, "--out", out, "--labels", "x"],
            "window": [good, "--out", out, "--window", "0"],
            "gif-out-alone": [good, "--out", out, "--gif-out", str(tmp_path / "g.gif")],
            "gif-empty": [good, "--out", out, "--gif", good, "--gif-out", str(tmp_path / "g.gif")]}[case]
    result = cli(*argv)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not os.path.exists(out)


def scored_run(folder, network="fid-inception", scores=((1000, 2.0, 40.0), (2000, 3.5, 81.0))):
    """A run whose metrics.jsonl has Inception Scores at the given (gen_iter, is_mean, seconds)."""
    lines = [json.dumps(dict(gen_iter=g, loss_d=-1.0, loss_g=0.1, seconds=t, fid=50.0, is_mean=m, is_std=0.1))
             for g, m, t in scores]
    return make_run(folder, [1.0] * 3, (), dict(method="wgan-gp", inception=network), extra_lines=lines)


def test_inception_score_figure(tmp_path):
    """The WGAN-GP paper's Fig. 3 layout from two runs; scores at iterations done and training seconds."""
    from gluon_wgan.tools.runs import load_scores
    a = scored_run(tmp_path / "a")
    b = scored_run(tmp_path / "b", scores=((1000, 1.5, 20.0),))
    scores = load_scores(a)
    assert scores.gen_iters.tolist() == [1000, 2000] and scores.seconds.tolist() == [40.0, 81.0]
    assert scores.is_mean.tolist() == [2.0, 3.5] and scores.network == "fid-inception"
    assert not scores.eval_excluded   # these records have no eval_seconds: an older run's
    out = tmp_path / "is.png"
    result = cli(a, b, "--out", str(out), "--inception-score", "--labels", "clip", "penalty")
    assert result.returncode == 0, result.stderr
    assert Image.open(out).format == "PNG" and "2 run(s), 3 scores" in result.stdout


def test_inception_score_of_a_real_run(tiny_cfg, monkeypatch, tmp_path):
    """--eval-every's records, written by the training loop, plotted as they are (random InceptionV3:
    the values mean nothing, the wiring is what is tested)."""
    from gluon_wgan.metrics import inception
    from gluon_wgan.tools.runs import load_scores
    from gluon_wgan.training import evaluate as evaluation
    from gluon_wgan.training.loop import train
    real_class = inception.InceptionV3Features
    monkeypatch.setattr(evaluation, "InceptionV3Features",
                        lambda weights=None, pretrained=False, random_init=False, dims=2048, **kw:
                        real_class(random_init=True, dims=64, **kw))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cfg = tiny_cfg(gen_iters=4, eval_every=2, eval_samples=4, log_every=1)
    train(cfg, progress=False)
    scores = load_scores(cfg.outdir)
    assert scores.gen_iters.tolist() == [2, 4] and scores.network == "gluoncv"
    assert (np.diff(scores.seconds) > 0).all() and (scores.is_mean >= 1).all() and scores.eval_excluded
    result = cli(cfg.outdir, "--out", str(tmp_path / "is.png"), "--inception-score")
    assert result.returncode == 0, result.stderr


def test_help():
    result = cli("--help")
    assert result.returncode == 0
    for flag in ("--out", "--window", "--labels", "--gif", "--gif-out", "--inception-score"):
        assert flag in result.stdout


def test_gif_names_the_run_once_and_out_has_a_default(tmp_path):
    run = make_run(tmp_path / "short", [1.0, 0.5] * 10, (10, 20), dict(method="wgan"))
    result = cli(run, "--gif", cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "fig3.png").format == "PNG"
    assert Image.open(os.path.join(run, "progress.gif")).n_frames == 2
    result = cli(run, run, "--gif", "--gif-out", str(tmp_path / "g.gif"), cwd=str(tmp_path))
    assert result.returncode == 2 and "--gif-out names one file, for 2 GIFs" in result.stderr


def test_defaults_suit_a_short_run(tmp_path):
    """A 200-iteration run: a median filter of 5 (not 101, which would flatten it), and --gif alone
    writes progress.gif in the run folder."""
    run = make_run(tmp_path / "short", [1.0, 0.5] * 100, (100, 200), dict(method="wgan"))
    result = cli(run, "--out", str(tmp_path / "f.png"), "--gif", run)
    assert result.returncode == 0, result.stderr
    assert "median filter of 5" in result.stdout
    assert Image.open(os.path.join(run, "progress.gif")).n_frames == 2


@pytest.mark.parametrize("lengths,window", [((200,), 5), ((40, 4000), 101), ((100000,), 101), ((10,), 1)])
def test_default_window(lengths, window):
    from types import SimpleNamespace

    from gluon_wgan.tools.runs import default_window
    assert default_window([SimpleNamespace(gen_iters=range(n)) for n in lengths]) == window
