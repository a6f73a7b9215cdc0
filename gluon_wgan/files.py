"""Atomic file and folder writes: a run killed at any moment never leaves a half-written artifact."""
import json
import os
import shutil
import tempfile


def atomic_write(path, data):
    """Write `data` (str or bytes) to `path` through a temporary file in the same folder and a rename."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-" + os.path.basename(path))
    try:
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


def check_writable_dir(path):
    """Create `path` if needed and prove it writable; raise `ValueError` with a one-line reason if not."""
    try:
        os.makedirs(path, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".write-probe-")
        os.close(fd)
        os.remove(probe)
    except OSError as err:
        raise ValueError(f"output folder {path!r} is not writable ({err.strerror or err})") from None


def read_jsonl(path):
    """The JSON records of a .jsonl file ([] if it does not exist); a line cut short by a kill is skipped."""
    if not os.path.exists(path):
        return []
    records = []
    with open(path) as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records
