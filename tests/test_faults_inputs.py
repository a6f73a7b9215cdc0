"""Issue 23, items 7, 8 and 10: inputs that exhaust memory or never end, a damaged metrics.jsonl on
--resume, and options that crashed after the checks. Each ends in one line on stderr and exit code 2
(or, for one bad image among good ones, a skipped and counted record), never a hang, a traceback or a
signal.

The tests go through the scripts: `main(argv)` or `parse_config(argv)` in this process, or the script
in a subprocess with a timeout where the old behaviour was a hang or an abort.
"""
import json
import os
import socket
import struct
import subprocess
import sys
import zlib

import pytest

from gluon_wgan.cli import parse_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--image-size", "16", "--ngf", "8", "--ndf", "8", "--nz", "16", "--batch-size", "8",
        "--warmup-iters", "0", "--d-iters", "2", "--burst-every", "0", "--quiet", "--threads", "1"]
TIMEOUT = 120   # seconds for a script that used to hang; a working one answers in a few


def run_script(name, *argv, env=None):
    """The script in its own process: (exit code, stdout, stderr); a hang is a TimeoutExpired."""
    environ = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    result = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", f"{name}.py"), *argv],
                            capture_output=True, text=True, timeout=TIMEOUT, env=environ, cwd=ROOT)
    return result.returncode, result.stdout, result.stderr


def assert_one_line(code, err, *fragments):
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def parse_error(argv, capsys):
    """`parse_config(argv)`: it must exit with code 2 and one line on stderr, returned."""
    with pytest.raises(SystemExit) as exit_:
        parse_config(argv)
    return assert_one_line(exit_.value.code, capsys.readouterr().err)


# Item 10: options that passed the checks and then crashed.

@pytest.mark.parametrize("argv,message", [
    (["--burst-d-iters", "0"], "--burst-d-iters must be at least 1, got 0"),
    (["--rmsprop-eps", "-1"], "--rmsprop-eps must be >= 0, got -1.0"),
    (["--rmsprop-alpha", "1"], "--rmsprop-alpha must be in (0, 1), got 1.0"),
    (["--optimizer", "adam", "--beta1", "1"], "--beta1 must be in [0, 1), got 1.0"),
    (["--nz", "1000000000"], "the generator would hold a tensor of"),
    (["--ngf", "100000"], "the generator would hold a tensor of"),
    (["--ndf", "100000"], "the critic would hold a tensor of"),
    (["--generator", "mlp", "--mlp-hidden", "1000000"], "the generator would hold a tensor of"),
    (["--threads", "2147483648"], "--threads must be from 0 (one per physical core) to 2147483647, got 2147483648"),
])
def test_an_option_out_of_a_components_range_is_refused_before_any_work(argv, message, tmp_path, capsys):
    line = parse_error(argv + ["--outdir", str(tmp_path / "run")], capsys)
    assert message in line
    assert not os.path.exists(tmp_path / "run" / "metrics.jsonl")


def test_the_tensor_estimate_bounds_the_networks_own_tensors():
    """`largest_tensor` is what the networks hold: at least their largest weight and activation, at
    most twice that (checked with MXNet's shape inference on small networks)."""
    import mxnet as mx
    from gluon_wgan.config import resolve
    from gluon_wgan.models.choices import largest_tensor
    from gluon_wgan.training.build import build_critic, build_generator
    for options in (dict(), dict(activation="gated", n_extra_layers=1), dict(gen_filters="constant"),
                    dict(generator="mlp", critic="mlp"),
                    dict(generator="cifar", critic="cifar", image_size=32, critic_bias=True),
                    dict(generator="cifar_resnet", critic="cifar_resnet", image_size=32, critic_norm="none"),
                    dict(generator="resnet", critic="resnet", critic_norm="none"),
                    dict(generator="resnet101", critic="resnet101", critic_norm="none", ngf=4, ndf=4)):
        cfg = resolve(dict(dict(image_size=64, ngf=8, ndf=8, nz=16, batch_size=4, mlp_hidden=32), **options))
        for role, net, shape, width in (("generator", build_generator(cfg), (4, cfg.nz), cfg.ngf),
                                        ("critic", build_critic(cfg), (4, 3, cfg.image_size, cfg.image_size), cfg.ndf)):
            internals = net(mx.sym.var("data")).get_internals()
            args, outs, _ = internals.infer_shape(data=shape)
            largest = max(int(mx.nd.zeros(s).size) if s else 0 for s in args + outs)
            estimate = largest_tensor(role, getattr(cfg, role), cfg.image_size, cfg.nz, width, cfg.n_extra_layers,
                                      cfg.mlp_hidden, cfg.batch_size, cfg.activation, cfg.gen_filters)
            assert largest <= estimate <= 2 * largest, (options, role, largest, estimate)


def test_an_unknown_name_in_a_dispatch_raises():
    """A name dispatch raises on a name it does not know instead of building its last branch."""
    from dataclasses import replace

    from gluon_wgan.config import TrainConfig
    from gluon_wgan.data import get_dataset
    from gluon_wgan.optim import make_optimizer
    from gluon_wgan.training.build import build_critic, build_generator
    with pytest.raises(ValueError, match="--generator 'vgg'"):
        build_generator(replace(TrainConfig(), generator="vgg"))
    with pytest.raises(ValueError, match="--critic 'vgg'"):
        build_critic(replace(TrainConfig(), critic="vgg"))
    with pytest.raises(ValueError, match="--optimizer"):
        make_optimizer("adagrad", 1e-3)
    with pytest.raises(ValueError, match="--dataset"):
        get_dataset("imagenet", root="/tmp")


@pytest.mark.parametrize("value", ["abc", "2,1", "0", "1.5", "99999999999"])
def test_a_thread_count_mxnet_cannot_read_is_one_line(value, tmp_path):
    """OMP_NUM_THREADS=abc aborted MXNet as it loaded (SIGABRT, exit 134)."""
    code, _, err = run_script("train_wgan", *TINY, "--gen-iters", "1", "--outdir", str(tmp_path / "run"),
                              env={"OMP_NUM_THREADS": value})
    assert_one_line(code, err, f"OMP_NUM_THREADS={value!r}")


def test_a_device_id_beyond_any_machine_is_refused(tmp_path):
    """--ctx cpu(2147483647) made MXNet allocate per-device tables until the machine swapped."""
    code, _, err = run_script("train_wgan", *TINY, "--gen-iters", "1", "--ctx", "cpu(2147483647)",
                              "--outdir", str(tmp_path / "run"))
    assert_one_line(code, err, "device ids run from 0 to 1023")


def test_a_gif_frame_longer_than_a_gif_holds_is_refused(tmp_path, capsys):
    """plot_runs.py --frame-ms 100000000000 ended in struct.error from Pillow's GIF writer."""
    from PIL import Image
    (tmp_path / "samples").mkdir()
    for gen_iter in (0, 500):
        Image.new("RGB", (8, 8)).save(tmp_path / "samples" / f"{gen_iter:07d}.png")
    (tmp_path / "metrics.jsonl").write_text(json.dumps(dict(gen_iter=0, critic_iters=1, loss_d=1.0, loss_g=1.0,
                                                            w_estimate=-1.0, seconds=1.0)) + "\n")
    code, _, err = run_script("plot_runs", str(tmp_path), "--out", str(tmp_path / "w.png"), "--gif", str(tmp_path),
                              "--gif-out", str(tmp_path / "p.gif"), "--frame-ms", "100000000000")
    assert_one_line(code, err, "--frame-ms must be from 1 to 655350")
    assert not os.path.exists(tmp_path / "w.png")   # refused before any work


def test_a_toy_evaluation_beyond_memory_is_refused(tmp_path):
    """reproduce_toy.py --eval-samples 100000000 went on to ask for 80 PB (a 1e8 x 1e8 cost matrix)."""
    code, _, err = run_script("reproduce_toy", "--dataset", "8gaussians", "--gen-iters", "2",
                              "--eval-samples", "100000000", "--outdir", str(tmp_path / "toy"))
    assert_one_line(code, err, "--eval-samples must be at most 10000")


# Item 7: inputs that exhaust memory or never end.

def png_header(width, height):
    """A valid PNG of a few dozen bytes whose header claims `width` x `height` RGB pixels."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def image(path, size=(20, 24), seed=0):
    import numpy as np
    from PIL import Image
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)


@pytest.fixture
def hostile_folder(tmp_path):
    """Four images beside a forged 1 x 80,000,000 header (240 MB decoded), a real 1 x 5,000,000 image
    (whose resized copy would be 16 x 80,000,000: 3.8 GB), a FIFO, a socket and a link to /dev/zero."""
    from PIL import Image
    root = tmp_path / "images"
    root.mkdir()
    for i in range(4):
        image(root / f"good{i}.png", seed=i)
    (root / "forged.png").write_bytes(png_header(1, 80_000_000))
    Image.new("RGB", (5_000_000, 1)).save(root / "thin.png")   # 15 MB decoded
    os.mkfifo(root / "fifo.png")
    os.symlink("/dev/zero", root / "zero.png")
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(root / "socket.png"))   # the file stays after the socket closes
    return root


def test_a_hostile_image_folder_is_skipped_and_counted(hostile_folder, tmp_path):
    """Before: the FIFO hung training (reading a FIFO waits for a writer), /dev/zero was read until
    memory ran out, and the huge images were decoded or resized until MemoryError."""
    code, _, err = run_script("train_wgan", *TINY, "--dataset", "folder", "--dataroot", str(hostile_folder),
                              "--gen-iters", "2", "--workers", "0", "--outdir", str(tmp_path / "run"))
    assert code == 0 and "Traceback" not in err, err
    for name, reason in (("forged.png", "its header claims 1 x 80000000 pixels"),
                         ("thin.png", "the 5000000 x 1 image would be 80000000 x 16 pixels"),
                         ("fifo.png", "not a regular file"), ("zero.png", "not a regular file"),
                         ("socket.png", "not a regular file")):
        assert any(line.startswith(f"skipped bad record {name} (") and reason in line for line in err.splitlines()), err
    metrics = [json.loads(line) for line in open(tmp_path / "run" / "metrics.jsonl")]
    assert metrics[-1]["skipped_records"] > 0


@pytest.mark.parametrize("make,message", [
    (lambda path: path.write_bytes(png_header(1, 80_000_000)), "its header claims 1 x 80000000 pixels"),
    (lambda path: os.mkfifo(path), "not a regular file"),
    (lambda path: os.symlink("/dev/zero", path), "not a regular file"),
])
def test_compare_resize_refuses_a_hostile_image_in_one_line(make, message, tmp_path):
    make(tmp_path / "x.png")
    code, _, err = run_script("compare_resize", str(tmp_path / "x.png"), "--outdir", str(tmp_path / "out"),
                              "--no-progress")
    assert_one_line(code, err, "none of its 1 records is a readable image", message)


def test_compare_resize_skips_and_counts_a_fifo_in_a_folder(tmp_path):
    image(tmp_path / "a.png")
    os.mkfifo(tmp_path / "b.png")
    code, out, err = run_script("compare_resize", str(tmp_path), "--outdir", str(tmp_path / "out"), "--no-progress")
    assert code == 0 and "1 image(s) compared, 1 unreadable skipped" in out, err


def test_an_outdir_inside_the_image_folder_is_refused(tmp_path, capsys):
    """Before: the run trained on its own sample grids, and a resume read a different folder."""
    root = tmp_path / "images"
    root.mkdir()
    image(root / "a.png")
    line = parse_error(["--dataset", "folder", "--dataroot", str(root), "--outdir", str(root / "runs" / "x")],
                       capsys)
    assert "--outdir" in line and "is inside --dataroot" in line
    assert not os.path.exists(root / "runs")


# Item 8: a damaged metrics.jsonl on --resume.

@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A tiny run of 2 generator iterations, checkpointed at 2, every record logged."""
    outdir = tmp_path_factory.mktemp("finished") / "run"
    code, _, err = run_script("train_wgan", *TINY, "--gen-iters", "2", "--checkpoint-every", "2", "--log-every", "1",
                              "--outdir", str(outdir))
    assert code == 0, err
    return outdir


@pytest.fixture
def run_copy(finished_run, tmp_path):
    import shutil
    return shutil.copytree(finished_run, tmp_path / "run")


def resume(outdir, gen_iters=3):
    return run_script("train_wgan", "--resume", "--gen-iters", str(gen_iters), "--quiet", "--outdir", str(outdir))


@pytest.mark.parametrize("damage,message", [
    (b"\xff\xfe{}\n", "line 2 holds a byte that is not UTF-8 (0xff at column 1)"),
    (b"this is not json\n", "line 2 is not a JSON record ('this is not json')"),
    (b"[1, 2]\n", "line 2 holds '[1, 2]', not a record"),
    (b'{"gen_iter": 1, "seconds": 1.0}\n', "line 2 is a record without a number for loss_d, loss_g"),
])
def test_a_damaged_metrics_file_stops_the_resume_in_one_line(damage, message, run_copy):
    """Before: UnicodeDecodeError, a silently skipped line, or a KeyError at the first sample grid."""
    path = run_copy / "metrics.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + damage + b"".join(lines[2:]))
    before = path.read_bytes()
    code, _, err = resume(run_copy)
    assert_one_line(code, err, f"train_wgan.py: error: {path}: {message}", "delete line 2")
    assert path.read_bytes() == before   # refused before any work: nothing changed


def test_a_line_cut_by_a_kill_is_dropped_with_a_warning(run_copy):
    """The records after the checkpoint are trimmed as before; the cut one is named, not silently lost."""
    path = run_copy / "metrics.jsonl"
    with open(path, "a") as f:
        f.write(json.dumps(dict(gen_iter=3, critic_iters=2, loss_d=123.0, loss_g=123.0, w_estimate=-123.0)) + "\n")
        f.write('{"gen_iter": 4, "critic_iters": 2, "loss_d": 0.0')   # a kill during this write
    code, _, err = resume(run_copy, gen_iters=3)
    assert code == 0, err
    assert f"{path}: line 4 was cut short (the run was killed while writing it); dropped it" in err.splitlines()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["gen_iter"] for r in records] == [1, 2, 3] and records[2]["loss_d"] != 123.0
