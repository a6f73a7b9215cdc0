"""What a run folder promises at its boundaries (README, "What a run folder promises"), tested by
breaking it: a lock file that is not ours, a TensorBoard writer that fails, tools that read a
running run, a run stopped before its first checkpoint, caches and folders that cannot be written,
tools asked to overwrite run files, a resume after kill -9 with event files, a pasted resume command.

Each case is one line on stderr, exit code 2, and nothing outside the run folder changed. Runs are
tiny (16x16, 8 filters), as in tests/test_faults_run_folder.py, whose helpers these tests share.
"""
import os
import signal
import subprocess
import sys

import pytest

from test_faults_run_folder import SCRIPT, TINY, one_line_error, run, snapshot, train  # noqa: F401  (run: fixture)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _as_user(uid, function):
    """Run `function()` in a forked child with the user id `uid` (root only); its exit status."""
    pid = os.fork()
    if pid == 0:   # pragma: no cover  (the child)
        try:
            os.setgid(uid)
            os.setuid(uid)
            function()
            os._exit(0)
        except BaseException:
            os._exit(1)
    return os.waitpid(pid, 0)[1]


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
