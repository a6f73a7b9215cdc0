import os

import pytest

from gluon_wgan.utils.files import atomic_replace_dir, atomic_write, check_writable_dir, recover_dir


def test_atomic_write_replaces_whole_file(tmp_path):
    path = str(tmp_path / "a.txt")
    atomic_write(path, "old")
    atomic_write(path, b"new")
    assert open(path).read() == "new"
    assert os.listdir(tmp_path) == ["a.txt"]  # no temporary left behind


def test_atomic_replace_dir_and_recovery(tmp_path):
    target, build = str(tmp_path / "latest"), str(tmp_path / "build")
    os.makedirs(target)
    open(os.path.join(target, "v"), "w").write("1")
    os.makedirs(build)
    open(os.path.join(build, "v"), "w").write("2")
    atomic_replace_dir(build, target)
    assert open(os.path.join(target, "v")).read() == "2"
    # A kill between the two renames leaves only the aside copy: recovery puts it back.
    os.replace(target, target + ".old")
    recover_dir(target)
    assert open(os.path.join(target, "v")).read() == "2"


def test_unwritable_dir_is_a_value_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="not writable"):
        check_writable_dir(str(blocker / "sub"))
