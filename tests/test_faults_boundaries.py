"""What a run folder promises at its boundaries (README, "What a run folder promises"), tested by
breaking it: a lock file that is not ours, a TensorBoard writer that fails, tools that read a
running run, a run stopped before its first checkpoint, caches and folders that cannot be written,
tools asked to overwrite run files, a resume after kill -9 with event files, a pasted resume command.

Each case is one line on stderr, exit code 2, and nothing outside the run folder changed. Runs are
tiny (16x16, 8 filters), as in tests/test_faults_run_folder.py; both use conftest.py's helpers.
"""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import SCRIPT, TINY, one_line_error, snapshot, train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ----------------------------------------------------------------------------- 1. a lock that is not ours

def test_a_lock_that_is_a_symlink_leaves_its_target_untouched(run, capsys, tmp_path):
    victim = tmp_path / "precious.txt"
    victim.write_bytes(b"somebody's data\n")
    os.remove(run / ".lock")
    (run / ".lock").symlink_to(victim)
    before = snapshot(run)
    code, err = train(capsys, run, "--resume", gen_iters=4)
    assert code == 2 and ".lock is a symlink" in one_line_error(err)
    assert victim.read_bytes() == b"somebody's data\n" and snapshot(run) == before


@pytest.mark.parametrize("make,expected", [
    (lambda lock: lock.mkdir(), "is a folder"),
    (lambda lock: os.mkfifo(lock), "is a FIFO or device"),
])
def test_a_lock_that_is_not_a_file_is_refused(run, capsys, make, expected):
    os.remove(run / ".lock")
    make(run / ".lock")
    before = snapshot(run)
    code, err = train(capsys, run, "--resume", gen_iters=4)
    assert code == 2 and expected in one_line_error(err)
    assert snapshot(run) == before


def test_a_lock_of_another_user_is_refused(run, capsys):
    if os.geteuid() != 0:
        pytest.skip("needs root to give the lock file to another user")
    os.chown(run / ".lock", 65534, 65534)
    before = snapshot(run)
    code, err = train(capsys, run, "--resume", gen_iters=4)
    assert code == 2 and "owned by another user (uid 65534)" in one_line_error(err)
    assert snapshot(run) == before


# ------------------------------------------------------------------- 11. the printed resume command

def test_the_printed_resume_command_is_inert_when_pasted(tmp_path):
    outdir = "run $(touch pwned) `touch pwned`"
    done = subprocess.run([sys.executable, SCRIPT, *TINY, "--outdir", outdir, "--gen-iters", "1"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stderr.splitlines() if "continue with python " in line)
    command = line.split("continue with python ", 1)[1]
    pasted = subprocess.run(["bash", "-c", "printf '%s\\n' " + command], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)
    assert pasted.stdout.splitlines() == ["scripts/train_wgan.py", "--resume", "--outdir", outdir]
    assert not (tmp_path / "pwned").exists()


def _mount_tmpfs(folder, size):
    """A `size` tmpfs at `folder` (root only: the test is skipped elsewhere); unmount with `_unmount`."""
    os.makedirs(folder, exist_ok=True)
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
    if made.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")


def _unmount(folder):
    subprocess.run(["umount", "-l", str(folder)])


def _read_events(folder):
    """(file name, Event) of every record of every event file in `folder`, read back from TensorBoard's
    record format (length, its CRC, the Event proto, its CRC) with mxboard's protocol buffers."""
    import struct

    from mxboard.proto import event_pb2
    found = []
    for name in sorted(os.listdir(folder)):
        data, pos = open(os.path.join(folder, name), "rb").read(), 0
        while pos + 12 <= len(data):
            (length,) = struct.unpack("<Q", data[pos:pos + 8])
            if pos + 12 + length + 4 > len(data):
                break                                   # a record cut short by a full disk
            found.append((name, event_pb2.Event.FromString(data[pos + 12:pos + 12 + length])))
            pos += 12 + length + 4
    return found


# ------------------------------------------------------- 2. a TensorBoard writer that fails never hangs

def test_a_full_tensorboard_folder_stops_the_run_with_a_checkpoint(run):
    """Before: mxboard's writer thread died on ENOSPC and training blocked on its queue for ever."""
    events = run / "tensorboard"
    _mount_tmpfs(events, "4k")
    try:
        process = subprocess.Popen([sys.executable, SCRIPT, "--quiet", "--resume", "--outdir", str(run),
                                    "--gen-iters", "100000", "--tensorboard"], stderr=subprocess.PIPE, text=True)
        try:
            _, err = process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail("training hung after the event files could not be written")
    finally:
        _unmount(events)
    assert process.returncode == 2 and "Traceback" not in err, err
    line = err.strip().splitlines()[-1]   # after the run's header
    assert line.startswith("train_wgan.py: error: "), err
    assert f"cannot write TensorBoard events in {events} (No space left on device)" in line
    stopped = int(line.split("stopped at generator iteration ")[1].split()[0])
    assert json.load(open(run / "checkpoints" / "latest" / "state.json"))["gen_iter"] == stopped > 2
    assert "--resume" in line and "--no-tensorboard" in line


# -------------------------------------------------------- 9. TensorBoard events are trimmed on resume

def test_events_are_not_written_twice_after_kill_9(tmp_path):
    outdir = tmp_path / "run"
    process = subprocess.Popen([sys.executable, SCRIPT, *TINY, "--outdir", str(outdir), "--gen-iters", "100000",
                                "--checkpoint-every", "3", "--tensorboard"], stderr=subprocess.PIPE, text=True)
    state, metrics = outdir / "checkpoints" / "latest" / "state.json", outdir / "metrics.jsonl"
    try:
        while True:   # stopped, then looked at: killed once two logged iterations follow the checkpoint
            assert process.poll() is None, process.stderr.read()
            process.send_signal(signal.SIGSTOP)
            if state.exists():
                kept = json.load(open(state))["gen_iter"]
                logged = [json.loads(line)["gen_iter"] for line in open(metrics) if line.endswith("\n")]
                if logged and logged[-1] > kept:   # so the events of step `kept` were written too
                    break
            process.send_signal(signal.SIGCONT)
            time.sleep(0.05)
    finally:
        process.kill()
        process.wait(timeout=60)
    events_before = _read_events(outdir / "tensorboard")
    assert any(e.step > kept for _, e in events_before if e.summary.value)   # steps the resume redoes
    done = subprocess.run([sys.executable, SCRIPT, "--quiet", "--resume", "--outdir", str(outdir), "--gen-iters",
                           str(kept + 4)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    scalars, images = {}, {}
    for _, event in _read_events(outdir / "tensorboard"):
        for value in event.summary.value:
            seen = images if value.HasField("image") else scalars
            assert (value.tag, event.step) not in seen, f"{value.tag} at step {event.step} written twice"
            seen[(value.tag, event.step)] = True
    assert sorted(step for tag, step in scalars if tag == "loss_d") == list(range(1, kept + 5))   # 1..N
    # --sample-every 2, and the last iteration
    assert sorted(step for _, step in images) == sorted({*range(2, kept + 5, 2), kept + 4})


# ----------------------------------------------------- 3. tools that read a run folder never write to it

EVALUATE = os.path.join(ROOT, "scripts", "evaluate.py")
FAST_EVAL = ["--random-inception", "--n-samples", "4", "--batch-size", "4", "--dims", "64", "--fid-method", "eigh",
             "--quiet", "--no-cache"]


def test_evaluate_reads_a_checkpoint_being_replaced_without_moving_it(run):
    """A trainer between its two renames: latest is aside as latest.old. Before: evaluate renamed it
    back, racing the trainer's own rename (which then died with ENOTEMPTY)."""
    os.rename(run / "checkpoints" / "latest", run / "checkpoints" / "latest.old")
    before = snapshot(run)
    done = subprocess.run([sys.executable, EVALUATE, str(run), *FAST_EVAL], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("gen_iter 2: FID ")
    after = snapshot(run)
    after.pop("eval.json")
    assert after == before and not (run / "checkpoints" / "latest").exists()


def test_reading_a_training_run_neither_fails_nor_stops_it(tmp_path):
    from gluon_wgan.training.evaluate import load_generator
    outdir = tmp_path / "run"
    trainer = subprocess.Popen([sys.executable, SCRIPT, *TINY, "--outdir", str(outdir), "--gen-iters", "100000",
                                "--checkpoint-every", "1", "--sample-every", "100000"], stderr=subprocess.PIPE,
                               text=True)
    try:
        while not (outdir / "checkpoints" / "latest").exists():
            assert trainer.poll() is None, trainer.stderr.read()
            time.sleep(0.05)
        for _ in range(30):   # a checkpoint is replaced every generator iteration meanwhile
            load_generator(str(outdir))
        assert trainer.poll() is None, trainer.stderr.read()
    finally:
        trainer.send_signal(signal.SIGTERM)
        code = trainer.wait(timeout=120)
    err = trainer.stderr.read()
    assert code == 128 + signal.SIGTERM and "Traceback" not in err, err


# ------------------------------------------------ 4. a run stopped before its first checkpoint restarts

_SIGNAL_IN_SETUP = """
import os, signal, sys
sys.argv[0] = {script!r}
import gluon_wgan.training.loop as loop
original = loop.BatchStream

def signalled(*args, **kwargs):   # the set-up has written the run's files by now
    os.kill(os.getpid(), signal.{name})
    return original(*args, **kwargs)

loop.BatchStream = signalled
import runpy
sys.argv = [{script!r}, *{argv!r}]
runpy.run_path({script!r}, run_name="__main__")
"""


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_a_signal_during_the_start_up_leaves_a_folder_the_same_command_restarts(tmp_path, capsys, name):
    outdir = tmp_path / "run"
    argv = [*TINY, "--outdir", str(outdir), "--gen-iters", "2"]
    done = subprocess.run([sys.executable, "-c", _SIGNAL_IN_SETUP.format(script=SCRIPT, argv=argv, name=name)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 128 + getattr(signal, name) and "Traceback" not in done.stderr, done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert line == f"train_wgan.py: stopped by {name} during the start-up; no checkpoint yet: rerun the same " \
                   "command to start over"
    assert "--resume" not in line and (outdir / "config.json").exists()
    code, err = train(capsys, outdir, "--resume")
    assert code == 2 and "no checkpoint yet: rerun the same command without --resume" in one_line_error(err)
    code, err = train(capsys, outdir)
    assert code == 0, err
    assert not (outdir / "checkpoints" / "NO_CHECKPOINT_YET").exists()


def test_evaluation_that_cannot_start_changes_nothing(tmp_path, capsys):
    outdir, weights = tmp_path / "run", tmp_path / "damaged.params"
    weights.write_bytes(b"not weights")
    code, err = train(capsys, outdir, "--eval-every", "1", "--inception-weights", str(weights))
    assert code == 2 and "--eval-every" in one_line_error(err)
    code, err = train(capsys, outdir)
    assert code == 0, err


def test_a_refused_resume_leaves_config_json_as_it_was(run, capsys, tmp_path):
    weights = tmp_path / "damaged.params"
    weights.write_bytes(b"not weights")
    before = snapshot(run)
    code, err = train(capsys, run, "--resume", "--eval-every", "1", "--inception-weights", str(weights), gen_iters=4)
    assert code == 2 and "--eval-every" in one_line_error(err)
    assert snapshot(run) == before
    code, err = train(capsys, run, "--resume", gen_iters=4)
    assert code == 0, err


def test_a_full_disk_before_the_first_checkpoint_says_to_rerun(tmp_path, capsys):
    disk = tmp_path / "disk"
    _mount_tmpfs(disk, "160k")
    try:
        outdir = disk / "run"
        extra = ("--checkpoint-every", "100000", "--sample-every", "1")
        code, err = train(capsys, outdir, *extra, gen_iters=1000)
        line = one_line_error(err)
        assert code == 2 and f"no space left on {outdir}" in line, err
        assert "no checkpoint yet: rerun the same command to start over" in line and "--resume" not in line
        subprocess.run(["mount", "-o", "remount,size=8m", str(disk)], check=True)
        code, err = train(capsys, outdir, *extra, gen_iters=3)
        assert code == 0, err
    finally:
        _unmount(disk)


# ------------------------------------------------------------ 5. refuse before work, never after

def test_an_unwritable_checkpoints_folder_is_refused_at_start_up(tmp_path, capsys):
    """Before: the run trained up to its first checkpoint, then died with a traceback."""
    outdir = tmp_path / "run"
    _mount_tmpfs(outdir / "checkpoints", "64k")
    try:
        subprocess.run(["mount", "-o", "remount,ro", str(outdir / "checkpoints")], check=True)
        code, err = train(capsys, outdir, "--checkpoint-every", "4", gen_iters=4)
    finally:
        _unmount(outdir / "checkpoints")
    line = one_line_error(err)
    assert code == 2 and f"{outdir / 'checkpoints'} cannot hold checkpoints" in line and "Read-only" in line
    assert not (outdir / "config.json").exists() and not (outdir / "metrics.jsonl").exists()


def test_an_unwritable_statistics_cache_is_skipped_before_the_work(run, tmp_path):
    """A careful user wants the numbers: the cache only saves time. Before: a traceback after the work."""
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("a file where the cache folder should be")
    env = dict(os.environ, GLUON_WGAN_CACHE=str(not_a_folder))
    done = subprocess.run([sys.executable, EVALUATE, str(run), *FAST_EVAL[:-1]], capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "the real-image statistics cannot be cached" in done.stderr and "--no-cache" in done.stderr
    assert json.load(open(run / "eval.json"))["real_cache_file"] is None
    assert not_a_folder.read_text() == "a file where the cache folder should be"


def test_a_truncated_cached_kernel_library_is_not_loaded(tmp_path, capsys):
    """Before: loading it killed every WGAN-GP run with SIGBUS. CXX=false: the rebuild fails at once,
    and the run falls back to the plain operators with a warning."""
    import numpy.core._multiarray_umath as some_library
    env = dict(os.environ, GLUON_WGAN_CACHE=str(tmp_path / "cache"), CXX="false", GLUON_WGAN_NATIVE="1")
    where = subprocess.run([sys.executable, "-c", "from gluon_wgan import native; print(native.cached_library())"],
                           env=env, capture_output=True, text=True, timeout=120)
    path = where.stdout.strip()
    os.makedirs(os.path.dirname(path))
    with open(some_library.__file__, "rb") as f, open(path, "wb") as out:
        out.write(f.read(100000))   # a shared library cut short, as a full disk leaves it
    done = subprocess.run([sys.executable, SCRIPT, *TINY, "--method", "wgan-gp", "--outdir", str(tmp_path / "run"),
                           "--gen-iters", "1"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert "fused layer-norm kernels unavailable" in done.stderr


# ---------------------------------------------------------- 6. tools never overwrite what they should not

PLOT = os.path.join(ROOT, "scripts", "plot_runs.py")


@pytest.mark.parametrize("out,expected", [
    ("{run}/metrics.jsonl", "must end in .png or .pdf or .svg"),
    ("{run}/loss.png", "would overwrite {run}/loss.png, a file of a run folder"),
    ("{run}/samples/0000002.png", "would overwrite {run}/samples, a file of a run folder"),
    ("{tmp}/figure.jsonl", "must end in .png or .pdf or .svg"),
])
def test_plot_runs_refuses_to_overwrite_run_files(run, tmp_path, out, expected):
    out = out.format(run=run, tmp=tmp_path)
    before = snapshot(run)
    done = subprocess.run([sys.executable, PLOT, str(run), "--out", out], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert expected.format(run=run) in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert snapshot(run) == before and not os.path.exists(tmp_path / "figure.jsonl")


def test_plot_runs_writes_the_format_its_extension_names(run, tmp_path):
    done = subprocess.run([sys.executable, PLOT, str(run), "--out", str(tmp_path / "fig.svg"), "--gif", str(run),
                           "--gif-out", str(tmp_path / "progress.gif")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert b"<svg" in (tmp_path / "fig.svg").read_bytes()[:1000]
    assert (tmp_path / "progress.gif").read_bytes()[:6] == b"GIF89a"


def test_a_new_run_refuses_a_folder_holding_files_of_a_run_s_names(tmp_path, capsys):
    outdir = tmp_path / "mine"
    (outdir / "samples").mkdir(parents=True)
    (outdir / "samples" / "holiday.png").write_bytes(b"my photo")
    (outdir / "env.json").write_text('{"mine": true}')
    before = snapshot(outdir)
    code, err = train(capsys, outdir)
    line = one_line_error(err)
    assert code == 2 and "is not a run folder but holds files a run writes (env.json, samples/)" in line
    assert snapshot(outdir) == before and not (outdir / "checkpoints").exists()
