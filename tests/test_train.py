"""End-to-end runs of the training loop on the embedded dataset, small enough for CI."""
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import mxnet as mx
import numpy as np
import pytest

from gluon_wgan import native
from gluon_wgan.models import DCGANCritic, DCGANGenerator
from gluon_wgan.training import loop
from gluon_wgan.training.loop import TrainingDiverged, train
from gluon_wgan.training.methods import METHODS
from gluon_wgan.training.runlog import read_metrics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def metrics(outdir):
    return read_metrics(os.path.join(outdir, "metrics.jsonl"))


def params(path):
    return {k: v.asnumpy() for k, v in mx.nd.load(path).items()}


def test_short_run_produces_every_artifact(tiny_cfg):
    cfg = tiny_cfg(gen_iters=6)
    state = train(cfg, progress=False)
    records = metrics(cfg.outdir)
    # warm-up of 2 generator iterations and every 4th at 3 critic iterations, otherwise 2
    assert [r["critic_iters"] for r in records] == [3, 3, 2, 2, 3, 2]
    assert [r["gen_iter"] for r in records] == list(range(1, 7))   # after 1..6 generator iterations
    assert records[-1]["critic_iters_total"] == state.critic_iters_total == 15
    for r in records:
        assert {"gen_iter", "critic_iters", "loss_d", "loss_g", "w_estimate", "seconds"} <= set(r)
        assert r["w_estimate"] == pytest.approx(-r["loss_d"])
    for name in ("loss.png", "config.json", "env.json", "samples/real.png", "samples/0000003.png",
                 "samples/0000006.png"):
        assert os.path.isfile(os.path.join(cfg.outdir, name)), name
    latest = os.path.join(cfg.outdir, "checkpoints", "latest")
    assert json.load(open(os.path.join(latest, "state.json")))["gen_iter"] == 6
    generator = DCGANGenerator(16, nz=8, ngf=8)
    generator.load_parameters(os.path.join(latest, "generator.params"))
    critic = DCGANCritic(16, ndf=8)
    critic.load_parameters(os.path.join(latest, "critic.params"))
    assert critic(mx.nd.zeros((2, 3, 16, 16))).shape == (2,)


def test_resume_continues_the_same_run(tiny_cfg, tmp_path):
    """Train 4, resume to 8 == train 8: same losses, same parameters (seeds derive from gen_iter)."""
    full = tiny_cfg(gen_iters=8, outdir=str(tmp_path / "full"))
    train(full, progress=False)
    part = tiny_cfg(gen_iters=4, outdir=str(tmp_path / "part"))
    train(part, progress=False)
    train(replace(part, gen_iters=8), progress=False)
    a, b = metrics(full.outdir), metrics(part.outdir)
    assert [r["gen_iter"] for r in b] == list(range(1, 9))
    for key in ("critic_iters", "critic_iters_total", "loss_d", "loss_g"):
        np.testing.assert_allclose([r[key] for r in b], [r[key] for r in a], rtol=1e-5, atol=1e-7,
                                   err_msg=key)
    pa = params(os.path.join(full.outdir, "checkpoints", "latest", "critic.params"))
    pb = params(os.path.join(part.outdir, "checkpoints", "latest", "critic.params"))
    for k in pa:
        np.testing.assert_allclose(pb[k], pa[k], rtol=1e-5, atol=1e-7, err_msg=k)


def test_resume_is_exact_with_official_epochs_and_reference_statistics(tiny_cfg, tmp_path):
    """The same with --epoch-boundaries official and --bn-stats reference, on 19 images in batches of 8
    (epochs of 8 + 8 + 3): the critic loops end at epoch ends, and the checkpoint's running variances
    (PyTorch's) are read back into the training's scale."""
    from PIL import Image
    rng = np.random.default_rng(0)
    root = tmp_path / "images"
    root.mkdir()
    for i in range(19):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(root / f"{i:02d}.png")
    options = dict(dataset="folder", dataroot=str(root), epoch_boundaries="official", bn_stats="reference")
    full = tiny_cfg(**options, gen_iters=8, outdir=str(tmp_path / "full"))
    train(full, progress=False)
    part = tiny_cfg(**options, gen_iters=4, outdir=str(tmp_path / "part"))
    train(part, progress=False)
    train(replace(part, gen_iters=8), progress=False)
    a, b = metrics(full.outdir), metrics(part.outdir)
    # Bursts of 3 critic iterations (generator iterations 0, 1 and 4), else 2; each epoch's third
    # batch (batches 2, 5, 8, 11, 14) ends a critic loop.
    assert [r["critic_iters"] for r in a] == [3, 3, 2, 1, 3, 2, 1, 2]
    for key in ("critic_iters", "critic_iters_total", "loss_d", "loss_g"):
        np.testing.assert_allclose([r[key] for r in b], [r[key] for r in a], rtol=1e-5, atol=1e-7,
                                   err_msg=key)
    for name in ("generator.params", "critic.params"):
        pa = params(os.path.join(full.outdir, "checkpoints", "latest", name))
        pb = params(os.path.join(part.outdir, "checkpoints", "latest", name))
        for k in pa:
            np.testing.assert_allclose(pb[k], pa[k], rtol=1e-5, atol=1e-7, err_msg=k)


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(tiny_cfg, monkeypatch):
    calls, wgan = [], METHODS["wgan"]

    def loss_g_turning_nan(scores):
        calls.append(1)
        loss = wgan.loss_g(scores)
        return loss * float("nan") if len(calls) > 3 else loss

    monkeypatch.setitem(loop.METHODS, "wgan", wgan._replace(loss_g=loss_g_turning_nan))
    cfg = tiny_cfg(gen_iters=6, checkpoint_every=2, log_every=1, warmup_iters=0, burst_every=0)
    with pytest.raises(TrainingDiverged, match="loss_g became nan at generator iteration 4"):
        train(cfg, progress=False)
    state = json.load(open(os.path.join(cfg.outdir, "checkpoints", "latest", "state.json")))
    assert state["gen_iter"] == 2
    assert [r["gen_iter"] for r in metrics(cfg.outdir)] == [1, 2, 3]   # the fourth, NaN, is not written


@pytest.mark.parametrize("method", ["gan", "lsgan"])
def test_other_objectives_run(tiny_cfg, method):
    cfg = tiny_cfg(method=method, gen_iters=2)
    train(cfg, progress=False)
    records = metrics(cfg.outdir)
    assert len(records) == 2 and records[0]["w_estimate"] is None


def _script(*args):
    return [sys.executable, os.path.join(ROOT, "scripts", "train_wgan.py"), "--quiet", "--image-size", "16",
            "--ngf", "8", "--ndf", "8", "--nz", "8", "--batch-size", "8", "--warmup-iters", "1",
            "--burst-d-iters", "2", "--d-iters", "1", *args]


def _wait_for(path, process, seconds=120):
    deadline = time.time() + seconds
    while not os.path.exists(path):
        assert process.poll() is None, process.stderr.read()
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.2)


def test_kill_then_resume(tmp_path):
    """SIGKILL at an arbitrary moment leaves a loadable checkpoint; --resume continues from it."""
    outdir = str(tmp_path / "run")
    process = subprocess.Popen(_script("--gen-iters", "100000", "--checkpoint-every", "5", "--log-every", "1",
                                       "--outdir", outdir), stderr=subprocess.PIPE, text=True)
    _wait_for(os.path.join(outdir, "checkpoints", "latest", "state.json"), process)
    time.sleep(1.0)
    process.kill()
    process.wait()
    resumed = subprocess.run(_script("--resume", "--outdir", outdir, "--gen-iters", "0"),
                             capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 2 and "--gen-iters must be at least 1" in resumed.stderr
    state = json.load(open(os.path.join(outdir, "checkpoints", "latest", "state.json")))
    target = state["gen_iter"] + 3
    resumed = subprocess.run(_script("--resume", "--outdir", outdir, "--gen-iters", str(target)),
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert [r["gen_iter"] for r in metrics(outdir)] == list(range(1, target + 1))


def test_sigterm_checkpoints_where_it_stops(tmp_path):
    outdir = str(tmp_path / "run")
    process = subprocess.Popen(_script("--gen-iters", "100000", "--checkpoint-every", "100000", "--outdir",
                                       outdir), stderr=subprocess.PIPE, text=True)
    _wait_for(os.path.join(outdir, "samples", "real.png"), process)
    time.sleep(2.0)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 128 + signal.SIGTERM    # as if SIGTERM had ended it: `&&` stops
    state = json.load(open(os.path.join(outdir, "checkpoints", "latest", "state.json")))
    assert state["gen_iter"] >= 1
    assert process.stderr.read().strip().splitlines()[-1] == (
        f"train_wgan.py: stopped by SIGTERM at generator iteration {state['gen_iter']}, after a checkpoint; "
        "continue with --resume")
    assert [r["gen_iter"] for r in metrics(outdir)] == list(range(1, state["gen_iter"] + 1))
    # The script chose MXNet's thread count (one: 16x16 images are a small network) unless the caller had.
    env = json.load(open(os.path.join(outdir, "env.json")))
    assert env["omp_num_threads"] == os.environ.get("OMP_NUM_THREADS", "1")
    assert env["fused_layer_norm"] is native.available()     # a CPU run: fused whenever built


def test_resume_refuses_a_changed_configuration(tiny_cfg, tmp_path):
    cfg = tiny_cfg(gen_iters=1)
    train(cfg, progress=False)
    result = subprocess.run(_script("--resume", "--outdir", cfg.outdir, "--lr-d", "0.1"),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("train_wgan.py: error: --resume cannot change")
    assert "--lr-d: run has 5e-05, asked 0.1" in result.stderr and len(result.stderr.splitlines()) == 1


def test_a_start_refused_in_setup_leaves_no_folder(tiny_cfg, tmp_path):
    empty = tmp_path / "no-images"
    empty.mkdir()
    cfg = tiny_cfg(dataset="folder", dataroot=str(empty))
    with pytest.raises(ValueError):
        train(cfg, progress=False)
    assert not os.path.exists(cfg.outdir)


def test_a_run_folder_counting_from_zero_reads_and_resumes_as_one_based(tiny_cfg):
    """metrics.jsonl counted 0..N-1 before issue 24; such a folder reads 1..N and its resume continues 1..N."""
    cfg = tiny_cfg(gen_iters=3)
    train(cfg, progress=False)
    path = os.path.join(cfg.outdir, "metrics.jsonl")
    old = [dict(r, gen_iter=r["gen_iter"] - 1) for r in metrics(cfg.outdir)]
    with open(path, "w") as f:
        f.write("".join(json.dumps(r) + "\n" for r in old))
    assert [r["gen_iter"] for r in metrics(cfg.outdir)] == [1, 2, 3]
    train(replace(cfg, gen_iters=5), progress=False, resume=True)
    assert [json.loads(line)["gen_iter"] for line in open(path)] == [1, 2, 3, 4, 5]


def test_existing_run_needs_resume(tiny_cfg):
    cfg = tiny_cfg(gen_iters=1)
    train(cfg, progress=False)
    result = subprocess.run(_script("--outdir", cfg.outdir), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "already holds a run" in result.stderr


@pytest.mark.parametrize("activation", ["tanh", "gated"])
def test_fig2_activation_rows_train_with_the_penalty(tiny_cfg, activation):
    """WGAN-GP paper Fig. 2, rows 6 and 5: tanh or gated units everywhere in both DCGAN networks."""
    cfg = tiny_cfg(method="wgan-gp", activation=activation, gen_iters=2, warmup_iters=0, burst_every=0)
    train(cfg, progress=False)
    rows = metrics(cfg.outdir)
    assert len(rows) == 2 and all(np.isfinite(r["gp"]) for r in rows)


def test_wgan_gp_run_logs_the_penalty_and_never_clips(tiny_cfg):
    cfg = tiny_cfg(method="wgan-gp", gen_iters=4, log_every=1, warmup_iters=0, burst_every=0)
    assert (cfg.optimizer, cfg.critic_norm) == ("adam", "layer")
    train(cfg, progress=False)
    records = metrics(cfg.outdir)
    assert [r["critic_iters"] for r in records] == [cfg.d_iters] * 4     # no 100-iteration bursts
    for r in records:
        assert r["gp"] >= 0 and np.isfinite(r["loss_d"])
        assert 0 < r["grad_norm_min"] <= r["grad_norm_mean"] <= r["grad_norm_max"]
    # DCGANInit draws N(0, 0.02): without clipping, some critic weights stay beyond c = 0.01.
    weights = params(os.path.join(cfg.outdir, "checkpoints", "latest", "critic.params"))
    assert max(np.abs(w).max() for w in weights.values()) > cfg.clamp


@pytest.mark.parametrize("method", ["wgan", "wgan-gp"])
def test_two_devices_train_like_one(tiny_cfg, tmp_path, method):
    """Data parallel on cpu(0), cpu(1): each half-batch on its device, gradients summed by the
    trainer. Without BatchNorm (whose statistics are per device), the run is the one-device run."""
    options = dict(method=method, gen_iters=3, gen_norm="none", critic_norm="none", log_every=1,
                   warmup_iters=1, burst_every=0, checkpoint_every=10)
    one = tiny_cfg(**options, outdir=str(tmp_path / "one"))
    two = tiny_cfg(**options, outdir=str(tmp_path / "two"), ctx="cpu(0),cpu(1)")
    train(one, progress=False)
    train(two, progress=False)
    assert len(metrics(one.outdir)) == len(metrics(two.outdir))
    for a, b in zip(metrics(one.outdir), metrics(two.outdir)):
        for key in ("loss_d", "loss_g", "w_estimate", "gp", "grad_norm_mean"):
            if key in a:
                np.testing.assert_allclose(b[key], a[key], rtol=1e-4, atol=1e-6, err_msg=key)
    for name in ("generator.params", "critic.params"):
        w1 = params(os.path.join(one.outdir, "checkpoints", "latest", name))
        w2 = params(os.path.join(two.outdir, "checkpoints", "latest", name))
        for key in w1:
            np.testing.assert_allclose(w2[key], w1[key], rtol=1e-4, atol=1e-6, err_msg=key)


def test_batch_must_split_over_devices(tmp_path, capsys):
    from gluon_wgan.cli import parse_config
    with pytest.raises(SystemExit) as stop:
        parse_config(["--ctx", "cpu(0),cpu(1)", "--batch-size", "7", "--outdir", str(tmp_path / "r")])
    assert stop.value.code == 2
    assert "does not split evenly over the 2 devices" in capsys.readouterr().err


def test_eval_every_logs_fid_and_inception_score(tiny_cfg, monkeypatch, tmp_path):
    """--eval-every wired through the loop, on a randomly initialised InceptionV3 (numbers meaningless;
    the metrics themselves are tested in test_metrics_inception.py)."""
    from gluon_wgan.metrics import inception
    real_class = inception.InceptionV3Features

    def random_inception(weights=None, pretrained=False, random_init=False, dims=2048, **kwargs):
        return real_class(random_init=True, dims=64, **kwargs)
    from gluon_wgan.training import evaluate as evaluation
    monkeypatch.setattr(evaluation, "InceptionV3Features", random_inception)   # what make_extractor builds
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cfg = tiny_cfg(gen_iters=4, eval_every=2, eval_samples=4, log_every=1)
    train(cfg, progress=False)
    records = metrics(cfg.outdir)
    evaluated = [r["gen_iter"] for r in records if "fid" in r]
    assert evaluated == [2, 4]                   # after generator iterations 2 and 4
    for r in records:
        if "fid" in r:
            assert np.isfinite(r["fid"]) and r["fid"] >= 0 and 1 <= r["is_mean"] <= 1000
    assert os.listdir(tmp_path / "cache" / "gluon_wgan" / "inception")   # real statistics cached


def test_seconds_leave_out_evaluation(tiny_cfg, monkeypatch):
    """`seconds` is training time (the x axis of the WGAN-GP paper's Fig. 3); each evaluation's own
    time is logged beside its scores."""
    from gluon_wgan.training import loop

    def slow_evaluator(cfg, ctx):
        def evaluate(generator):
            time.sleep(2.0)
            return dict(fid=1.0, is_mean=1.0, is_std=0.0)
        return evaluate
    monkeypatch.setattr(loop, "evaluator", slow_evaluator)
    cfg = tiny_cfg(gen_iters=6, eval_every=2, eval_samples=4, log_every=1)
    started = time.time()
    train(cfg, progress=False)
    wall = time.time() - started
    records = metrics(cfg.outdir)
    evaluated = [r for r in records if "fid" in r]
    assert len(evaluated) == 3 and all(r["eval_seconds"] >= 2.0 for r in evaluated)
    # The first two evaluations happen before the last record's `seconds` is read; counted, they
    # would put it within the run's wall time minus the third one's.
    assert records[-1]["seconds"] < wall - sum(r["eval_seconds"] for r in evaluated)


def test_eval_without_inception_weights_is_one_line(tmp_path):
    missing = str(tmp_path / "none.params")
    result = subprocess.run(_script("--eval-every", "1", "--inception-weights", missing,
                                    "--outdir", str(tmp_path / "run")), capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"train_wgan.py: error: --inception-weights {missing!r} "
                                                  "is not a file"]


@pytest.mark.parametrize("ctx_full,ctx_resumed", [("cpu(0),cpu(1),cpu(2)", "cpu(0),cpu(1),cpu(2)"),
                                                  ("cpu(0)", "cpu(0),cpu(1),cpu(2)")])
def test_multi_device_resume_is_exact(tiny_cfg, tmp_path, ctx_full, ctx_resumed):
    """Checkpoints hold the first device's values (Gluon's saved mean over 3 equal copies rounds), and
    a resume on more devices gives each the saved Adam step counts, so the copies stay equal."""
    options = dict(method="wgan-gp", gen_norm="none", critic_norm="none", batch_size=6, log_every=1,
                   warmup_iters=0, burst_every=0)
    full = tiny_cfg(**options, gen_iters=4, ctx=ctx_resumed, outdir=str(tmp_path / "full"))
    part = tiny_cfg(**options, gen_iters=2, ctx=ctx_full, outdir=str(tmp_path / "part"))
    train(full, progress=False)
    train(part, progress=False)
    train(replace(part, gen_iters=4, ctx=ctx_resumed), progress=False)
    for name in ("generator.params", "critic.params"):
        a = params(os.path.join(full.outdir, "checkpoints", "latest", name))
        b = params(os.path.join(part.outdir, "checkpoints", "latest", name))
        for key in a:
            if ctx_full == ctx_resumed:
                np.testing.assert_array_equal(b[key], a[key], err_msg=key)
            else:   # 1 then 3 devices vs 3 throughout: the same within float32 reduction order
                np.testing.assert_allclose(b[key], a[key], rtol=1e-4, atol=1e-6, err_msg=key)


def test_console_header_and_progress_count(tiny_cfg, caplog):
    """The header names the folder, objective, schedule and how to resume before training starts; the
    progress bar's total is the run's critic iterations (3 + 3 + 2 + 2 + 3 + 2 for this schedule)."""
    from gluon_wgan.training import console
    cfg = tiny_cfg()
    assert console.total_critic_iters(cfg) == 15
    with caplog.at_level("INFO", logger="gluon_wgan.training.loop"):
        state = train(cfg, progress=False)
    assert state.critic_iters_total == console.total_critic_iters(cfg)
    lines = [r.getMessage() for r in caplog.records if r.name == "gluon_wgan.training.loop"]
    assert lines[0].startswith(f"run folder  {cfg.outdir} (a new run)")
    assert "WGAN, critic weights clipped to [-0.01, 0.01]" in lines[1]
    assert lines[4] == ("schedule    6 generator iterations, 2 critic iterations before each, 3 before the "
                        "first 2, 3 before one in every 4: 15 critic iterations in all")
    assert lines[6].startswith("cpu         oneDNN computes with ")      # a CPU run: its instruction set
    assert lines[7].endswith(f"--resume --outdir {cfg.outdir}")
    assert lines[-1].startswith("6 generator iterations, 15 critic iterations") and \
        lines[-1].endswith(f"run in {cfg.outdir}: samples/0000006.png beside samples/real.png, loss.png, metrics.jsonl")


@pytest.mark.parametrize("curve", ["wgan", "wgan-gp-rmsprop", "wgan-gp-adam", "dcgan"])
def test_wgangp_fig3_presets_train(curve, tmp_path):
    """Each curve of the WGAN-GP paper's Fig. 3 trains with the CIFAR-10 networks at a tiny width (the
    embedded shapes stand in for CIFAR-10, evaluation off); the released code's settings arrive."""
    from gluon_wgan.config import resolve
    cfg = resolve(dict(dataset="shapes", ngf=4, ndf=4, nz=8, batch_size=4, gen_iters=2, eval_every=0,
                       outdir=str(tmp_path / curve)), preset=f"wgangp-fig3-{curve}")
    assert not list(cfg.problems())
    assert (cfg.generator, cfg.critic, cfg.image_size, cfg.critic_bias) == ("cifar", "cifar", 32, True)
    assert cfg.d_iters == (1 if curve == "dcgan" else 5) and cfg.warmup_iters == 0 and cfg.burst_every == 0
    state = train(cfg, progress=False)
    records = metrics(cfg.outdir)
    assert state.gen_iter == 2 and [r["critic_iters"] for r in records] == [cfg.d_iters] * 2
    assert all(np.isfinite(r["loss_d"]) for r in records) and ("gp" in records[0]) == curve.startswith("wgan-gp")


def test_header_names_the_cifar_networks_and_the_evaluation():
    from gluon_wgan.config import resolve
    from gluon_wgan.training import console
    cfg = resolve(dict(inception_weights=None), preset="wgangp-fig3-wgan")
    lines = console.header(cfg, [mx.gpu(0)], "runs/fig3-wgan")
    assert "WGAN-GP code's CIFAR-10 generator (ngf 128, batch norm)" in lines[2]
    assert lines[6] == ("evaluation  FID and Inception Score every 1,000 generator iterations on 1,000 samples, "
                        "the papers' Inception network; its time is not counted in `seconds`")


def test_wgangp_fig3_needs_the_papers_inception_weights(tmp_path, capsys):
    from gluon_wgan.cli import parse_config
    with pytest.raises(SystemExit) as stop:
        parse_config(["--preset", "wgangp-fig3-wgan-gp-adam", "--outdir", str(tmp_path / "r")])
    assert stop.value.code == 2
    assert "--inception fid-inception needs --inception-weights" in capsys.readouterr().err


@pytest.mark.parametrize("cpus,on_gpu,workers", [(2, False, 0), (64, False, 0), (1, True, 0), (2, True, 2),
                                                 (4, True, 3), (8, True, 7), (64, True, 16)])
def test_workers_default_by_devices(monkeypatch, cpus, on_gpu, workers):
    """0 on CPUs; on a GPU every core but one, at least 2 and at most 16; --workers always wins."""
    from gluon_wgan.data import loader_workers
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cpus)))
    assert loader_workers(None, on_gpu) == workers
    assert loader_workers(None, on_gpu, in_memory=True) == 0    # CIFAR-10: decoded already
    assert loader_workers(5, on_gpu) == 5


def test_header_names_the_default_worker_count(tiny_cfg):
    from gluon_wgan.training import console
    cfg = tiny_cfg()
    assert cfg.workers is None
    assert console.header(cfg, [mx.cpu()], cfg.outdir)[3].endswith(
        "0 loader worker(s) (--workers's default for these devices)")
    assert console.header(replace(cfg, workers=2), [mx.cpu()], cfg.outdir)[3].endswith("2 loader worker(s)")
