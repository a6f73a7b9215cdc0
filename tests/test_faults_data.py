"""Issue 13, data and tool side: bad inputs end in one line on stderr and exit code 2, never a hang,
a signal or a traceback.

Each test goes through a script's `main(argv)` or, where the old behaviour was a hang or a fatal
signal, through the script in a subprocess with a timeout, so that it fails (instead of stopping the
suite) on code without the fix.
"""
import hashlib
import io
import json
import os
import resource
import subprocess
import sys
from importlib import util

import lmdb
import mxnet as mx
import numpy as np
import pytest
from PIL import Image

from gluon_wgan.config import resolve
from gluon_wgan.training.build import build_generator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--image-size", "16", "--ngf", "8", "--ndf", "8", "--nz", "16", "--batch-size", "8",
        "--warmup-iters", "0", "--d-iters", "2", "--burst-every", "0", "--quiet"]
TIMEOUT = 120   # seconds for a script that used to hang; a working one answers in a few


def load_script(name):
    spec = util.spec_from_file_location(f"{name}_script", os.path.join(ROOT, "scripts", f"{name}.py"))
    module = util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def one_line_exit_2(name, argv, capsys):
    """Run script `name`'s main(argv); it must exit with code 2 and one line on stderr, returned."""
    with pytest.raises(SystemExit) as exit_:
        load_script(name).main(argv)
    lines = capsys.readouterr().err.splitlines()
    assert exit_.value.code == 2 and len(lines) == 1, lines
    return lines[0]


def run_script(name, *argv, limit_memory=None):
    """The script in its own process: (exit code, stdout, stderr); a hang is a TimeoutExpired."""
    def limit():
        if limit_memory:
            resource.setrlimit(resource.RLIMIT_AS, (limit_memory, limit_memory))
    return subprocess.run([sys.executable, os.path.join(ROOT, "scripts", f"{name}.py"), *argv],
                          capture_output=True, text=True, timeout=TIMEOUT, preexec_fn=limit)


def image(path, seed=0, size=(20, 24)):
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)


# Item 4: a folder with symbolic links to itself.

@pytest.fixture
def looping_folder(tmp_path):
    """root/x.png, two links to root itself, a link to a sibling folder and one to a subfolder."""
    root = tmp_path / "images"
    (root / "sub").mkdir(parents=True)
    image(root / "x.png", 0)
    image(root / "sub" / "y.png", 1)
    (tmp_path / "other").mkdir()
    image(tmp_path / "other" / "z.png", 2)
    os.symlink(".", root / "self1")
    os.symlink(".", root / "self2")
    os.symlink(os.path.join("..", "other"), root / "other")
    os.symlink("sub", root / "sub_again")
    return str(root)


def test_image_folder_with_links_to_itself_reads_each_folder_once(looping_folder, tmp_path):
    from gluon_wgan.data.folder import list_images
    result = run_script("train_wgan", *TINY, "--dataset", "folder", "--dataroot", looping_folder,
                        "--outdir", str(tmp_path / "run"), "--dry-run")
    assert result.returncode == 0, result.stderr
    names = [os.path.relpath(p, looping_folder) for p in list_images(looping_folder)]
    assert sorted(os.path.basename(n) for n in names) == ["x.png", "y.png", "z.png"]   # each real folder once


def test_compare_resize_on_a_folder_with_links_to_itself(looping_folder, tmp_path):
    result = run_script("compare_resize", looping_folder, "--size", "8", "--outdir", str(tmp_path / "out"),
                        "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "3 image(s) compared" in result.stdout


# Item 4: a truncated LSUN data.mdb.

def write_lsun(root, n=12):
    """root/bedroom_train_lmdb with `n` noise JPEGs (incompressible, so the file has many pages)."""
    env = lmdb.open(os.path.join(root, "bedroom_train_lmdb"), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for i in range(n):
            buffer = io.BytesIO()
            Image.fromarray(np.random.default_rng(i).integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(
                buffer, format="JPEG", quality=95)
            txn.put(hashlib.sha1(b"%d" % i).hexdigest().encode(), buffer.getvalue())
    env.close()
    return os.path.join(root, "bedroom_train_lmdb", "data.mdb")


@pytest.mark.parametrize("keep", ["half", "one page"])
def test_truncated_lsun_lmdb_is_one_line_not_sigbus(tmp_path, keep):
    data = write_lsun(str(tmp_path))
    with open(data, "rb") as f:
        content = f.read()
    page = 4096
    assert len(content) > 8 * page
    with open(data, "wb") as f:
        f.write(content[:len(content) // 2 if keep == "half" else page])
    outdir = str(tmp_path / "run")
    result = run_script("train_wgan", *TINY, "--dataset", "lsun", "--dataroot", str(tmp_path), "--outdir", outdir)
    lines = result.stderr.splitlines()
    assert result.returncode == 2 and len(lines) == 1, (result.returncode, result.stderr)
    assert not os.path.exists(outdir)   # refused before anything was made
    assert "truncated" in lines[0] and data in lines[0] and "Traceback" not in result.stderr
    result = run_script("compare_resize", os.path.dirname(data), "--size", "8", "--outdir", str(tmp_path / "out"),
                        "--no-progress")
    lines = result.stderr.splitlines()
    assert result.returncode == 2 and len(lines) == 1 and "truncated" in lines[0], (result.returncode, result.stderr)


def test_intact_lsun_lmdb_passes_the_header_check(tmp_path):
    from gluon_wgan.data.lsun import check_data_file
    check_data_file(write_lsun(str(tmp_path)))   # raises on a mismatch


# Item 5: a dataset whose every record is unreadable.

@pytest.mark.parametrize("workers", ["0", "2"])
def test_dataset_of_unreadable_records_is_one_line(tmp_path, capsys, workers):
    root = tmp_path / "broken"
    root.mkdir()
    for i in range(3):
        (root / f"{i}.jpg").write_bytes(b"not an image %d" % i)
    line = one_line_exit_2("train_wgan", TINY + ["--dataset", "folder", "--dataroot", str(root),
                                                 "--workers", workers, "--outdir", str(tmp_path / "run")], capsys)
    assert line.startswith("train_wgan.py: error: --dataroot") and "none of its 3 records" in line
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_unreadable_data_during_a_run_is_a_value_error_naming_dataroot():
    """What the loop meets when a dataset turns unreadable: `UnreadableData`, a ValueError (the
    script reports it as one line)."""
    from gluon_wgan.data import BatchStream, UnreadableData
    from gluon_wgan.data.transforms import BadRecord

    class Broken:
        def __len__(self):
            return 3

        def __getitem__(self, index):
            raise BadRecord("not an image")

    with pytest.raises(UnreadableData, match="^--dataroot: "):
        next(BatchStream(Broken(), 2))
    assert issubclass(UnreadableData, ValueError)


# Item 5: evaluate.py on a damaged checkpoint.

@pytest.fixture
def eval_run(tmp_path):
    """A run folder with just what evaluate.py reads first: config.json, generator.params, state.json."""
    cfg = resolve(dict(image_size=16, ngf=8, nz=16, outdir=str(tmp_path / "run")))
    latest = tmp_path / "run" / "checkpoints" / "latest"
    latest.mkdir(parents=True)
    generator = build_generator(cfg)
    generator.initialize(ctx=mx.cpu())
    generator(mx.nd.zeros((1, 16)))
    generator.save_parameters(str(latest / "generator.params"))
    from gluon_wgan.config import to_dict
    (latest / "config.json").write_text(json.dumps(to_dict(cfg)))
    (latest / "state.json").write_text(json.dumps({"gen_iter": 1}))
    return tmp_path / "run"


EVAL = ["--random-inception", "--n-samples", "4", "--no-cache", "--quiet"]


def test_evaluate_on_a_truncated_generator_is_one_line(eval_run, capsys):
    params = eval_run / "checkpoints" / "latest" / "generator.params"
    params.write_bytes(params.read_bytes()[:params.stat().st_size // 2])
    line = one_line_exit_2("evaluate", [str(eval_run)] + EVAL, capsys)
    assert str(params) in line and "damaged" in line


@pytest.mark.parametrize("name,content", [("config.json", '{"method": '), ("config.json", "[1, 2]"),
                                          ("state.json", '{"gen_iter": '), ("state.json", "[]")])
def test_evaluate_names_a_damaged_json_file(eval_run, capsys, name, content):
    path = eval_run / "checkpoints" / "latest" / name
    path.write_text(content)
    line = one_line_exit_2("evaluate", [str(eval_run)] + EVAL, capsys)
    assert str(path) in line


# Item 5: plot_runs.py on metrics lines that are JSON but not records.

def write_metrics(run_dir, lines):
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, "metrics.jsonl"), "w") as f:
        f.write("".join(line + "\n" for line in lines))


RECORD = '{{"gen_iter": {}, "loss_d": -0.5, "loss_g": 0.1, "w_estimate": 0.5}}'


@pytest.mark.parametrize("bad", ["5", "null", "[1, 2]", '"text"', '{"gen_iter": null, "loss_d": 1}',
                                 '{"gen_iter": 1, "loss_d": "high"}'])
def test_plot_runs_on_a_line_that_is_not_a_record(tmp_path, capsys, bad):
    run_dir = str(tmp_path / "run")
    write_metrics(run_dir, [RECORD.format(0), bad, RECORD.format(2)])
    line = one_line_exit_2("plot_runs", [run_dir, "--out", str(tmp_path / "fig.png")], capsys)
    assert os.path.join(run_dir, "metrics.jsonl") in line


def test_plot_runs_skips_a_line_cut_by_a_kill_and_a_config_that_is_not_an_object(tmp_path, capsys):
    run_dir = str(tmp_path / "run")
    write_metrics(run_dir, [RECORD.format(0), RECORD.format(1), '{"gen_iter": 2, "lo'])
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        f.write("[1]")
    assert load_script("plot_runs").main([run_dir, "--out", str(tmp_path / "fig.png")]) == 0
    assert os.path.isfile(tmp_path / "fig.png")


# Item 5: launch_dist.py with a command that is not there.

@pytest.mark.parametrize("command,reason", [("/nonexistent/binary", "no such file"),
                                            ("no-such-command-gluon-wgan", "not found on PATH")])
def test_launch_dist_with_a_missing_program(capsys, command, reason):
    line = one_line_exit_2("launch_dist", ["-n", "1", "--grace", "1", "--", command], capsys)
    assert line == f"launch_dist.py: error: cannot run {command!r}: {reason}"


# Item 5: compare_resize.py --size beyond memory.

def test_compare_resize_size_beyond_memory_says_so(tmp_path):
    image(tmp_path / "a.png")
    # Address space capped at 3 GB: without the check, Pillow's failed allocation said "image has wrong
    # mode" (uncapped, the kernel killed the process).
    result = run_script("compare_resize", str(tmp_path / "a.png"), "--size", "100000", "--outdir",
                        str(tmp_path / "out"), "--no-progress", limit_memory=3 << 30)
    lines = result.stderr.splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "--size 100000 is too large" in lines[0] and "GiB" in lines[0]


def test_compare_resize_out_of_memory_names_size(tmp_path):
    """A size the machine could hold but the process cannot allocate (a memory limit)."""
    image(tmp_path / "a.png", size=(30, 40))
    result = run_script("compare_resize", str(tmp_path / "a.png"), "--size", "20000", "--outdir",
                        str(tmp_path / "out"), "--no-progress", limit_memory=3 << 30)
    lines = result.stderr.splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "--size 20000" in lines[0] and "wrong mode" not in lines[0]


# Item 8: a checkpoint must hold the BatchNorm running statistics of its iteration.

def test_checkpoint_holds_running_statistics_updated_by_the_last_backward(tmp_path):
    """MXNet 1.9.1 updates BatchNorm's running statistics in the backward pass, and the backward of a
    hybridized (static_alloc) block writes them without telling the engine; a copy of them made
    right after `backward()` is not ordered after that write and can read the old values."""
    from mxnet import autograd, gluon

    from gluon_wgan import compat
    from gluon_wgan.training import checkpoint
    from gluon_wgan.training.state import TrainState
    net = gluon.nn.HybridSequential()
    for _ in range(6):   # enough work in the backward that the copies run before it ends
        net.add(gluon.nn.Conv2D(64, 3, padding=1), gluon.nn.BatchNorm())
    net.initialize(ctx=mx.cpu())
    net.hybridize(static_alloc=True, static_shape=True)
    x = mx.nd.random.normal(shape=(32, 64, 32, 32))
    net(x)
    mx.nd.waitall()
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.0})
    with autograd.record():
        y = net(x)
    y.backward()
    path = checkpoint.save(str(tmp_path / "checkpoints"), net, net, trainer, trainer, TrainState(), {})
    mx.nd.waitall()
    saved = mx.nd.load(os.path.join(path, "generator.params"))
    for name, param in compat.named_parameters(net).items():
        if "running" in name:
            np.testing.assert_array_equal(saved[name].asnumpy(), param.data().asnumpy(), err_msg=name)


def test_data_that_turns_unreadable_during_a_run_is_one_line(tmp_path, capsys):
    """One image among 300 broken files: the check before the run finds it (it is the first record
    `check_readable` reads), but the first batch meets `MAX_ATTEMPTS` bad records in a row."""
    from gluon_wgan.data.stream import epoch_permutation
    root = tmp_path / "mostly_broken"
    root.mkdir()
    good = int(epoch_permutation(0, 0, 300)[0])
    for i in range(300):
        if i == good:
            image(root / f"{i:03d}.png")
        else:
            (root / f"{i:03d}.png").write_bytes(b"not an image")
    code = load_script("train_wgan").main(TINY + ["--dataset", "folder", "--dataroot", str(root), "--gen-iters", "1",
                                                  "--outdir", str(tmp_path / "run")])
    lines = capsys.readouterr().err.splitlines()
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("train_wgan.py: error: --dataroot") and "in a row" in lines[0]
