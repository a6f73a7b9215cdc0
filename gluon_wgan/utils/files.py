"""Atomic file and folder writes, and the lock of a run folder.

A run killed at any moment never leaves a half-written artifact, and a run folder has one writer.
"""
import errno
import fcntl
import json
import os
import shutil
import stat
import tempfile
from contextlib import contextmanager

LOCK_NAME = ".lock"
# What a run writes in its folder (README, "What a run writes"): no other tool writes over these, and
# a new run does not start in a folder that holds them without being a run.
RUN_FILES = ("config.json", "env.json", "metrics.jsonl", "loss.png", "eval.json", "samples", "checkpoints",
             "tensorboard")


class RunFolderError(ValueError):
    """A run folder that cannot be used as asked; the message is one line saying why and what to do."""


class FolderInUse(RunFolderError):
    """Another process holds the lock of a run folder."""


def current_umask():
    """The process's umask (read by setting it, the only portable way, and setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def make_temp_dir(parent, prefix):
    """`tempfile.mkdtemp` in `parent`, but with the umask's mode, not mkdtemp's private 0700.

    The folder is renamed into place as a run's artifact, so it should read like any folder made there.
    """
    path = tempfile.mkdtemp(dir=parent, prefix=prefix)
    os.chmod(path, 0o777 & ~current_umask())
    return path


def atomic_write(path, data):
    """Write `data` (str or bytes) to `path` through a temporary file in the same folder and a rename."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-" + os.path.basename(path))
    try:
        os.chmod(tmp, 0o666 & ~current_umask())   # mkstemp's 0600 would outlive the rename
        with os.fdopen(fd, mode) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_json(path, obj):
    """`atomic_write` of `obj` as indented, key-sorted JSON."""
    atomic_write(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def atomic_replace_dir(build, target):
    """Move the finished folder `build` to `target`, replacing any older `target` in one rename.

    `os.replace` cannot replace a non-empty folder, so the old one is first renamed aside (a rename
    too), then removed. At every instant either the old or the new folder is complete at a name a
    reader will find: `target`, or the aside name when a kill lands between the two renames
    (`recover_dir` puts it back).
    """
    aside = target + ".old"
    if os.path.exists(aside):
        shutil.rmtree(aside)
    if os.path.exists(target):
        os.replace(target, aside)
    os.replace(build, target)
    shutil.rmtree(aside, ignore_errors=True)


def recover_dir(target):
    """Restore `target` from its aside copy if a kill interrupted `atomic_replace_dir`."""
    aside = target + ".old"
    if not os.path.exists(target) and os.path.exists(aside):
        os.replace(aside, target)


def check_writable_dir(path, keep=True):
    """Create `path` if needed and prove it writable, with room for a few bytes; raise `ValueError`
    with a one-line reason if not. With ``keep=False`` the folders it created are removed again (a
    command line's check before a start that may still be refused, or a dry run)."""
    created = []
    try:
        missing = os.path.abspath(path)
        while not os.path.exists(missing):
            created.append(missing)
            missing = os.path.dirname(missing)
        os.makedirs(path, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".write-probe-")
        try:
            os.write(fd, b"probe\n")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.remove(probe)
    except OSError as err:
        if is_disk_full(err):
            raise ValueError(f"no space left on {path}") from None
        raise ValueError(f"output folder {path!r} is not writable ({err.strerror or err})") from None
    finally:
        if not keep:
            for folder in created:   # deepest first
                try:
                    os.rmdir(folder)
                except OSError:
                    break


def is_disk_full(err):
    """Whether the OSError `err` means the disk or the user's quota is full."""
    return isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT)


@contextmanager
def locked_folder(folder):
    """Hold an exclusive lock on `folder` (``fcntl.flock`` of ``folder/.lock``) while inside.

    The kernel releases the lock when the process ends, however it ends (kill -9 included), so a
    lock is never stale. The file itself stays: removing it would let two processes lock two files.

    Raises
    ------
    FolderInUse
        If another process holds the lock.
    """
    path = os.path.join(folder, LOCK_NAME)
    fd = _open_lock(folder, path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FolderInUse(f"{folder} is in use by another run (pid {_read_pid(fd)} holds {path}); "
                              "wait for it to end or choose another --outdir") from None
        try:                                        # the pid is only for the message above
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:
            pass
        yield
    finally:
        os.close(fd)                                # releases the lock


def _open_lock(folder, path):
    """The lock file's descriptor: a regular file of this user, opened without following a symlink.

    The folder may come from someone else: a ``.lock`` that is a symlink would otherwise have its
    target truncated, a FIFO would block the open, and a directory or another user's file cannot
    hold our pid. Each is refused with a `RunFolderError`, and nothing is written.
    """
    mend = f"remove {path} (it is not this package's lock file) or choose another --outdir"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, 0o666)
    except OSError as err:
        kind = "a symlink" if os.path.islink(path) else "a folder" if os.path.isdir(path) else \
            f"not a file we can open ({err.strerror})"
        raise RunFolderError(f"{path} is {kind}; {mend}") from None
    info = os.fstat(fd)
    problem = "a FIFO or device, not a regular file" if not stat.S_ISREG(info.st_mode) else \
        f"owned by another user (uid {info.st_uid})" if info.st_uid != os.geteuid() else None
    if problem:
        os.close(fd)
        raise RunFolderError(f"{path} is {problem}; {mend}")
    return fd


def _read_pid(fd):
    try:
        return os.pread(fd, 32, 0).decode().strip() or "?"
    except (OSError, UnicodeDecodeError):
        return "?"


def run_file_at(path):
    """The run file or folder (one of `RUN_FILES`) of a run folder that `path` is or lies in, else None.

    A run folder is one holding config.json or metrics.jsonl; symlinks in `path` are resolved.
    """
    path = os.path.realpath(path)
    child, parent = path, os.path.dirname(path)
    while parent != child:
        name = os.path.relpath(path, parent).split(os.sep)[0]
        if name in RUN_FILES and any(os.path.isfile(os.path.join(parent, n)) for n in ("config.json", "metrics.jsonl")):
            return os.path.join(parent, name)
        child, parent = parent, os.path.dirname(parent)
    return None

