"""What a run folder promises (README, "What a run writes"), tested by breaking it.

Nothing from the folder is executed, a damaged or missing checkpoint is refused without touching
anything, one process at a time writes a folder, a full disk keeps the last checkpoint, and every
such case is one line on stderr with exit code 2. Runs are tiny (16x16, 8 filters: conftest.py's
`train` and `run`).
"""
import json
import os
import pickle
import signal
import subprocess
import sys
import time

import mxnet as mx
import numpy as np
import pytest

from gluon_wgan.utils.files import FolderInUse, locked_folder

from conftest import SCRIPT, TINY, one_line_error, snapshot, train


def latest(outdir):
    return outdir / "checkpoints" / "latest"


# ----------------------------------------------------------------------------- nothing runs from the folder

class _Payload:
    """Unpickling this creates a file: what a crafted *.states could do with a shell command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_checkpoint_is_arrays_and_json_only(run):
    names = sorted(os.listdir(latest(run)))
    assert names == ["config.json", "critic.optimizer.json", "critic.optimizer.params", "critic.params",
                     "generator.optimizer.json", "generator.optimizer.params", "generator.params", "state.json"]
    for name in names:
        head = open(latest(run) / name, "rb").read(2)
        assert head != b"\x80\x04" and head[:1] != b"\x80", f"{name} is a pickle"


def test_resume_never_unpickles_a_crafted_states_file(run, capsys, tmp_path):
    marker = tmp_path / "executed"
    for net in ("generator", "critic"):
        for ext in (".optimizer.params", ".optimizer.json"):
            os.remove(latest(run) / (net + ext))
        (latest(run) / f"{net}.states").write_bytes(pickle.dumps(_Payload(str(marker))))
    before = snapshot(run)
    code, err = train(capsys, run, "--resume", gen_iters=4)
    assert code == 2 and "pickles" in one_line_error(err) and "--trust-pickled-states" in err
    assert not marker.exists() and snapshot(run) == before


def test_a_states_file_beside_the_arrays_is_not_read(run, capsys, tmp_path):
    marker = tmp_path / "executed"
    (latest(run) / "critic.states").write_bytes(pickle.dumps(_Payload(str(marker))))
    code, err = train(capsys, run, "--resume", gen_iters=4)
    assert code == 0, err
    assert not marker.exists()


def _as_old_checkpoint(outdir):
    """Rewrite the checkpoint as earlier versions wrote it: the Trainers' pickled states."""
    from gluon_wgan.config import from_dict
    from gluon_wgan.training import checkpoint
    from gluon_wgan.training.build import build_models, build_trainers

    cfg = from_dict(json.load(open(latest(outdir) / "config.json")))
    generator, critic = build_models(cfg, [mx.cpu()])
    trainers = build_trainers(cfg, generator, critic, None)
    checkpoint.restore(str(latest(outdir)), generator, critic, *trainers, [mx.cpu()])
    for net, trainer in zip(("generator", "critic"), trainers):
        trainer.save_states(str(latest(outdir) / f"{net}.states"))
        for ext in (".optimizer.params", ".optimizer.json"):
            os.remove(latest(outdir) / (net + ext))


def test_a_trusted_old_checkpoint_resumes_exactly_and_is_rewritten_without_pickles(run, capsys, tmp_path):
    code, err = train(capsys, tmp_path / "whole", gen_iters=4)
    assert code == 0, err
    _as_old_checkpoint(run)
    code, err = train(capsys, run, "--resume", "--trust-pickled-states", gen_iters=4)
    assert code == 0, err
    for name in ("generator.params", "critic.params", "generator.optimizer.params", "critic.optimizer.params"):
        resumed, whole = mx.nd.load(str(latest(run) / name)), mx.nd.load(str(latest(tmp_path / "whole") / name))
        assert sorted(resumed) == sorted(whole)
        for key in whole:
            np.testing.assert_array_equal(resumed[key].asnumpy(), whole[key].asnumpy(), err_msg=f"{name} {key}")
    assert not any(name.endswith(".states") for name in os.listdir(latest(run)))


def test_trust_pickled_states_is_for_resume_only(tmp_path, capsys):
    code, err = train(capsys, tmp_path / "run", "--trust-pickled-states")
    assert code == 2 and "--resume only" in one_line_error(err)


# ------------------------------------------------------------------- damaged folders: refuse, touch nothing

def _remove(path):
    if os.path.isdir(path):
        import shutil
        shutil.rmtree(path)
    else:
        os.remove(path)


@pytest.mark.parametrize("damage,expected", [
    (lambda run: _remove(latest(run) / "state.json"), "lacks state.json"),
    (lambda run: _remove(latest(run) / "config.json"), "lacks config.json"),
    (lambda run: _remove(latest(run)), "has no checkpoint"),
    (lambda run: _remove(run / "checkpoints"), "has no checkpoint"),
    (lambda run: _remove(latest(run) / "critic.optimizer.params"), "lacks critic.optimizer.params"),
    (lambda run: (latest(run) / "state.json").write_text("{\"gen_iter\": 2"), "state.json is damaged"),
    (lambda run: (latest(run) / "state.json").write_text("[1, 2]"), "state.json is damaged"),
    (lambda run: (latest(run) / "generator.params").write_bytes(
        (latest(run) / "generator.params").read_bytes()[:100]), "generator.params is damaged"),
    (lambda run: (latest(run) / "critic.optimizer.params").write_bytes(b"\0" * 64),
     "critic.optimizer.params is damaged"),
    (lambda run: (latest(run) / "critic.optimizer.json").write_text("{}"), "critic.optimizer.json holds the state of None"),
    (lambda run: (run / "config.json").write_text("{"), "config.json is damaged"),
    (lambda run: _edit_config(run, image_size="abc"), "image_size is 'abc', not int"),
    (lambda run: _edit_config(run, method="gan"), "--method: run has 'wgan', asked 'gan'"),
    (lambda run: _edit_config(run, image_size=32), "--image-size: run has 16, asked 32"),
    (lambda run: _remove(run / "config.json"), "(no config.json); its checkpoint has a copy: cp"),
])
def test_resume_refuses_a_damaged_run_and_changes_nothing(run, capsys, damage, expected):
    damage(run)
    before = snapshot(run)
    code, err = train(capsys, run, "--resume", gen_iters=4)
    assert code == 2 and expected in one_line_error(err)
    assert snapshot(run) == before


def _edit_config(run, **changes):
    config = json.load(open(run / "config.json"))
    config.update(changes)
    (run / "config.json").write_text(json.dumps(config))


def test_a_new_run_refuses_a_folder_holding_a_run_without_checkpoint(run, capsys):
    _remove(run / "checkpoints")
    before = snapshot(run)
    code, err = train(capsys, run)
    assert code == 2 and "holds a run without a checkpoint" in one_line_error(err)
    assert snapshot(run) == before


def test_resume_refuses_gen_iters_below_the_progress(run, capsys):
    before = snapshot(run)
    code, err = train(capsys, run, "--resume", gen_iters=1)
    assert code == 2 and "--gen-iters 1 is below the run's progress (2" in one_line_error(err)
    assert snapshot(run) == before


@pytest.mark.parametrize("option,value", [("--lr-d", "inf"), ("--lr-g", "inf"), ("--gp-weight", "nan"),
                                          ("--clamp", "-inf"), ("--beta2", "nan"), ("--seed", "-1"),
                                          ("--seed", str(2 ** 31))])
def test_numbers_are_checked_before_any_work(tmp_path, capsys, option, value):
    code, err = train(capsys, tmp_path / "run", option, value)
    assert code == 2 and option in one_line_error(err)
    assert not (tmp_path / "run" / "config.json").exists()


# ----------------------------------------------------------------------------------- one writer at a time

def test_a_second_writer_is_refused_while_the_folder_is_locked(run, capsys):
    (run / "checkpoints" / ".build-other").mkdir()   # another run's checkpoint in progress
    before = snapshot(run)
    with locked_folder(str(run)):
        code, err = train(capsys, run, "--resume", gen_iters=4)
    assert code == 2 and "in use by another run" in one_line_error(err)
    assert snapshot(run) == before and (run / "checkpoints" / ".build-other").is_dir()


def test_the_lock_dies_with_its_process(tmp_path):
    folder = str(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\n"
                               "from gluon_wgan.utils.files import locked_folder\n"
                               f"with locked_folder({folder!r}):\n    print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(FolderInUse, match=f"pid {holder.pid}"):
        with locked_folder(folder):
            pass
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    with locked_folder(folder):   # no stale lock after kill -9
        pass


def test_two_runs_started_together_on_one_folder(tmp_path):
    """Exactly one trains; the other gets exit 2 and one line; the metrics are of one seed only."""
    outdir = str(tmp_path / "run")
    procs = [subprocess.Popen([sys.executable, SCRIPT, *TINY, "--outdir", outdir, "--gen-iters", "6",
                               "--seed", str(seed)], stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    assert sorted(code for code, _ in results) == [0, 2], results
    err = next(err for code, err in results if code == 2)
    assert "in use by another run" in err or "already holds a run" in err
    winner = 1 + [code for code, _ in results].index(0)
    records = [json.loads(line) for line in open(os.path.join(outdir, "metrics.jsonl"))]
    assert [r["gen_iter"] for r in records] == list(range(1, 7))
    assert json.load(open(os.path.join(outdir, "config.json")))["seed"] == winner


# ------------------------------------------------------------------------------------- signals and modes

def test_ctrl_c_checkpoints_and_exits_130(tmp_path):
    outdir = tmp_path / "run"
    process = subprocess.Popen([sys.executable, SCRIPT, *TINY, "--outdir", str(outdir), "--gen-iters", "100000",
                                "--checkpoint-every", "100000"], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    metrics = outdir / "metrics.jsonl"
    # Training has started once an iteration is logged (--log-every 1); before that, during the set-up,
    # Ctrl-C stops the process as any other.
    while time.time() < deadline and not (metrics.exists() and metrics.stat().st_size):
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=120) == 128 + signal.SIGINT
    state = json.load(open(latest(outdir) / "state.json"))
    assert "stopped by SIGINT at generator iteration " + str(state["gen_iter"]) in process.stderr.read()


def test_files_follow_the_umask(tmp_path, capsys):
    old = os.umask(0o027)
    try:
        code, err = train(capsys, tmp_path / "run")
    finally:
        os.umask(old)
    assert code == 0, err
    for parent, folders, names in os.walk(tmp_path / "run"):
        for name in folders:
            assert os.stat(os.path.join(parent, name)).st_mode & 0o777 == 0o750, name
        for name in names:
            assert os.stat(os.path.join(parent, name)).st_mode & 0o777 == 0o640, name


# ------------------------------------------------------------------------------------------- a full disk

@pytest.fixture
def tiny_disk(tmp_path):
    """A 160 KiB tmpfs (root only: skipped elsewhere), remounted larger by calling the result."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(mount)], capture_output=True)
    if made.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")

    def grow():
        subprocess.run(["mount", "-o", "remount,size=8m", str(mount)], check=True)
    try:
        yield mount, grow
    finally:
        subprocess.run(["umount", "-l", str(mount)])


def test_a_full_disk_keeps_the_last_checkpoint_and_the_run_resumes(tiny_disk, capsys, tmp_path):
    disk, grow = tiny_disk
    outdir = disk / "run"
    code, err = train(capsys, outdir, "--checkpoint-every", "1", "--sample-every", "1000", gen_iters=1000)
    assert code == 2 and f"no space left on {outdir}" in one_line_error(err)
    kept = json.load(open(latest(outdir) / "state.json"))["gen_iter"]
    assert kept >= 1
    grow()
    code, err = train(capsys, outdir, "--resume", gen_iters=kept + 2)
    assert code == 0, err
    code, err = train(capsys, tmp_path / "whole", gen_iters=kept + 2)
    assert code == 0, err
    for name in ("generator.params", "critic.params"):
        resumed, whole = mx.nd.load(str(latest(outdir) / name)), mx.nd.load(str(latest(tmp_path / "whole") / name))
        for key in whole:
            np.testing.assert_array_equal(resumed[key].asnumpy(), whole[key].asnumpy())


def test_a_full_disk_at_start_is_one_line(tiny_disk, capsys):
    disk, _ = tiny_disk
    try:
        with open(disk / "filler", "wb") as f:
            f.write(b"\0" * 200 * 1024)
    except OSError:
        pass
    code, err = train(capsys, disk / "run")
    assert code == 2 and f"no space left on {disk / 'run'}" in one_line_error(err)
