"""scripts/evaluate.py and gluon_wgan.training.evaluate on a tiny trained run, with a random InceptionV3.

Random InceptionV3 weights make the numbers meaningless; these tests check the plumbing: eval.json,
the real-statistics cache, determinism, the errors. --dims 64 and --fid-method eigh keep them fast.
"""
import importlib.util
import json
import os

import mxnet as mx
import numpy as np
import pytest

from gluon_wgan.config import resolve
from gluon_wgan.training.evaluate import evaluate_generator, load_generator, real_statistics
from gluon_wgan.metrics.inception import InceptionV3Features
from gluon_wgan.training.loop import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAST = ["--random-inception", "--n-samples", "4", "--batch-size", "4", "--dims", "64", "--fid-method", "eigh",
        "--quiet"]


def _load_script():
    spec = importlib.util.spec_from_file_location("evaluate_script", os.path.join(ROOT, "scripts", "evaluate.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


script = _load_script()


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A 2-generator-iteration run of the tiny configuration of conftest.tiny_cfg."""
    outdir = str(tmp_path_factory.mktemp("evaluate") / "run")
    cfg = resolve(dict(image_size=16, ngf=8, ndf=8, nz=8, batch_size=8, gen_iters=2, d_iters=1, warmup_iters=0,
                       burst_every=0, sample_every=2, checkpoint_every=2, log_every=1, outdir=outdir, seed=3))
    train(cfg, progress=False)
    return outdir


@pytest.fixture(scope="module")
def extractor():
    return InceptionV3Features(random_init=True, batch_size=8, dims=64)


def _run(argv, capsys):
    """(exit code, stdout, stderr) of scripts/evaluate.py main(argv), in this process."""
    try:
        code = script.main(argv)
    except SystemExit as exit_:
        code = exit_.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_evaluate_writes_eval_json_and_reuses_cached_real_statistics(trained_run, tmp_path, capsys):
    cache = str(tmp_path / "cache")
    code, out, err = _run([trained_run, *FAST, "--cache-dir", cache], capsys)
    assert code == 0, err
    assert "RANDOM InceptionV3 weights" in out and "wrote" in out and len(out.splitlines()) == 1
    first = json.load(open(os.path.join(trained_run, "eval.json")))
    assert first["n"] == 4 and first["real_n"] == 4 and first["gen_iter"] == 2 and first["dims"] == 64
    assert np.isfinite([first["fid"], first["is_mean"], first["is_std"]]).all() and first["fid"] > 0
    assert first["warning"].startswith("random InceptionV3") and first["inception_weights"] == "random:seed=0"
    assert first["inception"] == "gluoncv" and first["comparable_with_papers"] is False
    assert first["real_cached"] is False
    (entry,) = os.listdir(cache)
    assert entry.startswith("shapes16-n4-d64-") and entry.endswith(".npz")
    mtime = os.stat(os.path.join(cache, entry)).st_mtime_ns

    code, _, err = _run([trained_run, *FAST, "--cache-dir", cache], capsys)
    assert code == 0, err
    second = json.load(open(os.path.join(trained_run, "eval.json")))
    assert second["real_cached"] is True and os.listdir(cache) == [entry]
    assert os.stat(os.path.join(cache, entry)).st_mtime_ns == mtime
    for key in ("fid", "is_mean", "is_std", "real_is_mean"):  # same noise, same subset: same numbers
        assert second[key] == pytest.approx(first[key], rel=1e-6), key


def test_cache_key_separates_options(trained_run, extractor, tmp_path):
    cache = str(tmp_path / "cache")
    first = real_statistics(extractor, "shapes", image_size=16, n_images=4, cache_dir=cache)
    again = real_statistics(extractor, "shapes", image_size=16, n_images=4, cache_dir=cache)
    other = real_statistics(extractor, "shapes", image_size=16, n_images=4, cache_dir=cache,
                            interpolation="bilinear")
    assert (first["cached"], again["cached"], other["cached"]) == (False, True, False)
    assert other["path"] != first["path"] and len(os.listdir(cache)) == 2
    np.testing.assert_array_equal(again["sigma"], first["sigma"])
    with open(first["path"], "wb") as f:  # damaged by hand: recomputed and rewritten, not a traceback
        f.write(b"garbage")
    repaired = real_statistics(extractor, "shapes", image_size=16, n_images=4, cache_dir=cache)
    assert repaired["cached"] is False
    np.testing.assert_array_equal(repaired["sigma"], first["sigma"])
    assert real_statistics(extractor, "shapes", image_size=16, n_images=4, cache_dir=cache)["cached"]


def test_evaluate_generator_as_the_training_loop_calls_it(trained_run, extractor):
    """The plain-argument call of the loop: an in-memory generator, statistics computed once. It must
    leave the generator's parameters (BatchNorm running statistics included) and MXNet's seed alone."""
    generator, _ = load_generator(trained_run)
    before = {k: v.data().asnumpy() for k, v in generator.collect_params().items()}
    real = real_statistics(extractor, "shapes", image_size=16, n_images=4)
    mx.random.seed(11)
    expected_draw = mx.nd.random.uniform(shape=(3,)).asnumpy()
    mx.random.seed(11)
    result = evaluate_generator(generator, real, extractor, n_samples=6, batch_size=4, fid_method="eigh")
    assert set(result) == {"fid", "is_mean", "is_std", "n", "fid_method"} and result["n"] == 6
    np.testing.assert_array_equal(mx.nd.random.uniform(shape=(3,)).asnumpy(), expected_draw)
    for k, v in generator.collect_params().items():
        np.testing.assert_array_equal(v.data().asnumpy(), before[k], err_msg=k)
    assert evaluate_generator(generator, real, extractor, n_samples=6, batch_size=4,
                              fid_method="eigh") == result


def _one_line_error(code, err, text):
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith("evaluate.py: error: ") and text in err, err


def test_missing_run_dir_exits_2(tmp_path, capsys):
    code, _, err = _run([str(tmp_path / "nope"), *FAST], capsys)
    _one_line_error(code, err, "does not exist")


def test_run_dir_without_checkpoint_exits_2(tmp_path, capsys):
    code, _, err = _run([str(tmp_path), *FAST], capsys)
    _one_line_error(code, err, "has no checkpoint")


def test_missing_weights_file_exits_2(trained_run, tmp_path, capsys):
    code, _, err = _run([trained_run, "--inception-weights", str(tmp_path / "w.params"), "--quiet"], capsys)
    _one_line_error(code, err, "--inception-weights")


def test_unavailable_pretrained_weights_exit_2(trained_run, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MXNET_HOME", str(tmp_path))
    monkeypatch.setenv("MXNET_GLUON_REPO", "http://127.0.0.1:9/")  # refused at once, online or not
    code, out, err = _run([trained_run, "--n-samples", "4", "--quiet", "--cache-dir", str(tmp_path)], capsys)
    _one_line_error(code, err, "could not be fetched")
    assert "--inception-weights FILE" in err and out == ""


def test_conflicting_and_bad_flags_exit_2(trained_run, tmp_path, capsys):
    code, _, err = _run([trained_run, "--random-inception", "--inception-weights", "w.params"], capsys)
    _one_line_error(code, err, "exclude each other")
    code, _, err = _run([trained_run, "--random-inception", "--n-samples", "1"], capsys)
    _one_line_error(code, err, "--n-samples must be at least 2 (a covariance needs two images), got 1")
    code, _, err = _run([trained_run, "--random-inception", "--fid-method", "svd"], capsys)
    _one_line_error(code, err, "invalid choice: 'svd'")


def test_help_documents_every_option(capsys):
    code, out, _ = _run(["--help"], capsys)
    assert code == 0
    for flag in ("RUN_DIR", "--n-samples", "--n-real", "--inception-weights", "--random-inception", "--ctx",
                 "--cache-dir", "--no-cache", "--batch-size", "--seed", "--splits", "--fid-method", "--dims",
                 "--quiet", "meaningless", "docs/metrics.md", "--inception ", "fid-inception",
                 "pt_inception-2015-12-05-6726825d.pth", "NOT comparable"):
        assert flag in out, flag


def test_a_short_run_falls_back_to_the_exact_fid_and_says_so(trained_run, tmp_path, capsys, caplog, monkeypatch):
    """When sqrtm has no real root (what few samples in many dimensions give, depending on the BLAS:
    here a stand-in refuses as sqrtm does), the FID comes from 'eigh', eval.json records it, and a
    warning says why."""
    from gluon_wgan.training import evaluate as evaluation
    exact = evaluation.frechet_distance

    def sqrtm_refuses(*args, method="sqrtm"):
        if method == "sqrtm":
            raise ValueError("FID: the matrix square root has an imaginary component of 0.5; use more samples "
                             "or method 'eigh'")
        return exact(*args, method=method)
    monkeypatch.setattr(evaluation, "frechet_distance", sqrtm_refuses)
    argv = [trained_run, *[a for a in FAST if a not in ("--fid-method", "eigh")], "--cache-dir", str(tmp_path)]
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    result = json.load(open(os.path.join(trained_run, "eval.json")))
    assert result["fid_method"] == "eigh" and np.isfinite(result["fid"])
    assert any("imaginary component" in r.getMessage() and "'eigh' instead" in r.getMessage()
               for r in caplog.records)


@pytest.fixture(scope="module")
def fid_inception_file(tmp_path_factory):
    """A .pth of random FID Inception weights, written as torch.save writes one (tests/torch_files.py)."""
    from torch_files import random_weights, write_state_dict
    path = str(tmp_path_factory.mktemp("fid_weights") / "random.pth")
    write_state_dict(path, random_weights())
    return path


def test_evaluate_with_the_fid_inception_network(trained_run, fid_inception_file, tmp_path, capsys, monkeypatch):
    """--inception fid-inception: the weights are converted into the cache, eval.json names the network,
    and numbers from other than the published file are labelled not comparable with papers."""
    monkeypatch.delenv("GLUON_WGAN_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))      # where the converted weights go
    argv = [trained_run, "--inception", "fid-inception", "--inception-weights", fid_inception_file,
            "--n-samples", "4", "--batch-size", "4", "--dims", "64", "--fid-method", "eigh", "--quiet",
            "--cache-dir", str(tmp_path / "stats")]
    code, out, err = _run(argv, capsys)
    assert code == 0, err
    assert len(out.splitlines()) == 1 and "not comparable with papers' numbers: fid-inception" in out
    result = json.load(open(os.path.join(trained_run, "eval.json")))
    assert result["inception"] == "fid-inception" and result["comparable_with_papers"] is False
    assert result["inception_weights"].startswith("fid-inception:sha256:") and result["dims"] == 64
    assert np.isfinite([result["fid"], result["is_mean"], result["is_std"]]).all()
    assert 1.0 <= result["is_mean"] <= 1008.0
    (converted,) = [n for n in os.listdir(tmp_path / "xdg" / "gluon_wgan" / "fid_inception") if n.endswith(".npz")]
    (stats,) = os.listdir(tmp_path / "stats")       # its own entry: the key holds the weights' identity
    assert converted.startswith("fid_inception-") and stats.endswith(".npz")


@pytest.mark.parametrize("flags,text", [
    (["--inception", "fid-inception"], "needs --inception-weights pt_inception-2015-12-05-6726825d.pth"),
    (["--inception", "fid-inception", "--random-inception"], "--random-inception is for --inception gluoncv"),
    (["--inception-weights", "w.pth"], "add --inception fid-inception"),
    (["--inception", "tf"], "invalid choice: 'tf'"),
])
def test_fid_inception_flag_errors_exit_2(trained_run, tmp_path, capsys, flags, text):
    code, _, err = _run([trained_run, *flags, "--quiet", "--cache-dir", str(tmp_path)], capsys)
    _one_line_error(code, err, text)

