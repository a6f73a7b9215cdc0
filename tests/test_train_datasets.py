"""scripts/train_wgan.py on real-data formats: an LSUN lmdb with a corrupt record, a folder, CIFAR-10 files.

Runs are tiny (16 x 16 images, 8-filter networks, 3 generator iterations of batch 4) so the data path,
not the networks, is what is exercised: decoding by content, worker processes, and the count of skipped
records in metrics.jsonl, state.json and the summary line the script prints.
"""
import hashlib
import io
import json
import os
from importlib import util

import lmdb
import numpy as np
import pytest
from PIL import Image

from gluon_wgan.cli import parse_config
from gluon_wgan.data.stream import batch_indices
from gluon_wgan.training.loop import train
from gluon_wgan.training.runlog import read_metrics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N, CORRUPT = 12, 5      # records in the database; key-order index of the truncated JPEG
BATCH, SEED = 4, 1
# 3 generator iterations: warm-up (1) gets 2 critic iterations, the others 1 each: 4 real batches.
TINY = ["--quiet", "--image-size", "16", "--ngf", "8", "--ndf", "8", "--nz", "8", "--batch-size", str(BATCH),
        "--gen-iters", "3", "--d-iters", "1", "--warmup-iters", "1", "--burst-d-iters", "2", "--burst-every", "0",
        "--log-every", "1", "--sample-every", "3", "--checkpoint-every", "3", "--seed", str(SEED)]
REAL_BATCHES = 4


def photo(i, h=40, w=56):
    """A smooth, distinct, non-square RGB image."""
    ramp = np.linspace(0, 90, w)[None, :, None] + np.linspace(0, 60, h)[:, None, None]
    return np.clip(np.random.default_rng(i).integers(0, 160, 3) + ramp, 0, 255).astype(np.uint8)


def encode(array, fmt, **kw):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, **kw)
    return buffer.getvalue()


@pytest.fixture
def lsun_root(tmp_path):
    """root/bedroom_train_lmdb: SHA-1 keys -> JPEG q75 (the official release) or WebP (exported copies);
    the record at key-order index CORRUPT is a JPEG cut to a third."""
    records = sorted((hashlib.sha1(b"%d" % i).hexdigest().encode(),
                      encode(photo(i), "WEBP", quality=80) if i % 2 else encode(photo(i), "JPEG", quality=75))
                     for i in range(N))
    key, data = records[CORRUPT]
    records[CORRUPT] = (key, data[:len(data) // 3])
    (tmp_path / "lsun").mkdir()
    env = lmdb.open(str(tmp_path / "lsun" / "bedroom_train_lmdb"), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for k, v in records:
            txn.put(k, v)
    env.close()
    return str(tmp_path / "lsun")


def expected_skips():
    """How often the stream meets the corrupt record in REAL_BATCHES batches (its stand-ins are good)."""
    return sum(batch_indices(N, BATCH, SEED, k).count(CORRUPT) for k in range(REAL_BATCHES))


def read_json(*parts):
    with open(os.path.join(*parts)) as f:
        return json.load(f)


def load_script():
    spec = util.spec_from_file_location("train_wgan", os.path.join(ROOT, "scripts", "train_wgan.py"))
    module = util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_script_on_lsun_lmdb_with_two_workers_counts_the_corrupt_record(lsun_root, tmp_path, capsys,
                                                                             caplog):
    outdir = str(tmp_path / "run")
    argv = TINY + ["--dataset", "lsun", "--dataroot", lsun_root, "--lsun-category", "bedroom",
                   "--workers", "2", "--outdir", outdir]
    with caplog.at_level("INFO"):
        assert load_script().main(argv) == 0
    skips = expected_skips()
    assert skips >= 1  # 16 positions over 12 records: the first epoch alone meets it once
    records = read_metrics(os.path.join(outdir, "metrics.jsonl"))
    assert [r["gen_iter"] for r in records] == [1, 2, 3]
    assert [r["critic_iters"] for r in records] == [2, 1, 1]
    assert records[-1]["skipped_records"] == skips
    assert all(np.isfinite(r["loss_d"]) and np.isfinite(r["loss_g"]) for r in records)
    state = read_json(outdir, "checkpoints", "latest", "state.json")
    assert state["skipped_records"] == skips and state["batches"] == REAL_BATCHES
    summary = [r.getMessage() for r in caplog.records if r.name == "gluon_wgan.training.loop"][-1]
    assert f"{skips} unreadable images skipped" in summary
    assert read_json(outdir, "config.json")["workers"] == 2
    corrupt_key = sorted(hashlib.sha1(b"%d" % i).hexdigest() for i in range(N))[CORRUPT]
    assert any(f"skipped bad record bedroom_train_lmdb/{corrupt_key}" in r.getMessage() for r in caplog.records)


def test_folder_and_cifar10_files_train(tmp_path, monkeypatch):
    """`--dataset folder` (nested, mixed formats and modes) and `--dataset cifar10` from local files."""
    from mxnet.gluon.data.vision import datasets
    folder = tmp_path / "images" / "nested"
    folder.mkdir(parents=True)
    Image.fromarray(photo(0)).save(folder / "a.jpg", quality=90)
    Image.fromarray(photo(1)).convert("L").save(folder / "b.png")
    Image.fromarray(photo(2)).convert("P").save(folder.parent / "c.gif")
    Image.fromarray(photo(3, 8, 8)).convert("RGBA").save(folder.parent / "small.webp")  # upscaled 8 -> 16
    cifar = tmp_path / "cifar"
    cifar.mkdir()
    for name in [f"data_batch_{b}.bin" for b in range(1, 6)] + ["test_batch.bin"]:
        (cifar / name).write_bytes(np.random.default_rng(len(name)).integers(0, 256, (2, 3073), np.uint8).tobytes())
    monkeypatch.setattr(datasets, "check_sha1", lambda path, sha1: True)  # our files are not the real ones
    for dataset, root in (("folder", tmp_path / "images"), ("cifar10", cifar)):
        cfg, _ = parse_config(TINY + ["--dataset", dataset, "--dataroot", str(root),
                                      "--outdir", str(tmp_path / dataset)])
        state = train(cfg, progress=False)
        assert state.gen_iter == 3 and state.skipped_records == 0, dataset
        assert os.path.isfile(tmp_path / dataset / "samples" / "real.png")


def cli_error(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        parse_config(TINY + argv)
    lines = capsys.readouterr().err.splitlines()
    assert exit_.value.code == 2 and len(lines) == 1, lines
    return lines[0]


def test_cifar10_offline_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    """No network in tests: Gluon's download is made to fail the way it does offline."""
    import requests
    from mxnet.gluon.data.vision import datasets

    def offline(url, *args, **kwargs):
        raise requests.exceptions.ConnectionError(f"Max retries exceeded with url: {url}\n(more detail)")
    monkeypatch.setattr(datasets, "download", offline)
    (tmp_path / "empty").mkdir()
    line = cli_error(["--dataset", "cifar10", "--dataroot", str(tmp_path / "empty"),
                      "--outdir", str(tmp_path / "run")], capsys)
    assert line.startswith("train_wgan.py: error: --dataset cifar10: CIFAR-10 is not in ")
    assert "could not be downloaded (ConnectionError: Max retries exceeded" in line and "Traceback" not in line
    # A --dataroot that does not exist yet is where CIFAR-10 downloads to, not a mistake.
    line = cli_error(["--dataset", "cifar10", "--dataroot", str(tmp_path / "new" / "cifar10"),
                      "--outdir", str(tmp_path / "run")], capsys)
    assert "could not be downloaded" in line and "does not exist" not in line


def test_lsun_flag_errors_are_one_line(lsun_root, tmp_path, capsys):
    line = cli_error(["--dataset", "lsun", "--dataroot", lsun_root, "--lsun-category", "kitchen",
                      "--outdir", str(tmp_path / "run")], capsys)
    assert line == ("train_wgan.py: error: --lsun-category kitchen: no lmdb database kitchen_train_lmdb "
                    f"in --dataroot {lsun_root!r} (found: bedroom)")
    assert cli_error(["--dataset", "lsun", "--outdir", str(tmp_path / "run")], capsys) \
        == "train_wgan.py: error: --dataset lsun needs --dataroot"


def test_resumed_run_keeps_the_skipped_total(lsun_root, tmp_path):
    def run(outdir, gen_iters, resume=False):
        argv = TINY + ["--dataset", "lsun", "--dataroot", lsun_root, "--outdir", outdir,
                       "--gen-iters", str(gen_iters), "--checkpoint-every", "1"]
        cfg, _ = parse_config(argv + (["--resume"] if resume else []))
        return train(cfg, progress=False)
    full = run(str(tmp_path / "full"), 6)
    run(str(tmp_path / "part"), 3)
    resumed = run(str(tmp_path / "part"), 6, resume=True)
    assert full.skipped_records >= 2
    assert resumed.skipped_records == full.skipped_records
