"""gluon_wgan.utils.threads: one MXNet thread per physical core, chosen before MXNet loads; the user's choice wins."""
import sys

import pytest

from gluon_wgan.utils.threads import physical_cores, use_physical_cores, use_threads


def fake_sysfs(tmp_path, siblings):
    """A /sys/devices/system/cpu with cpu<i>/topology/thread_siblings_list = siblings[i]."""
    for cpu, listed in enumerate(siblings):
        topology = tmp_path / f"cpu{cpu}" / "topology"
        topology.mkdir(parents=True)
        (topology / "thread_siblings_list").write_text(listed + "\n")
    return str(tmp_path)


def test_hardware_threads_of_one_core_count_once(tmp_path):
    sysfs = fake_sysfs(tmp_path, ["0,2", "1,3", "0,2", "1,3"])        # 2 cores x 2 threads
    assert physical_cores(range(4), sysfs) == 2
    assert physical_cores([0, 2], sysfs) == 1                          # pinned to one core's two threads


def test_cores_without_smt_each_count(tmp_path):
    sysfs = fake_sysfs(tmp_path, ["0", "1"])                          # this machine's kind: 2 vCPUs
    assert physical_cores(range(2), sysfs) == 2


def test_unknown_topology_gives_none(tmp_path):
    assert physical_cores(range(2), str(tmp_path)) is None


def test_the_users_setting_wins_and_nothing_changes_once_mxnet_is_loaded(monkeypatch):
    monkeypatch.delitem(sys.modules, "mxnet", raising=False)
    environ = {"OMP_NUM_THREADS": "7"}
    assert use_physical_cores(environ) == "7" and environ["OMP_NUM_THREADS"] == "7"
    environ = {"OMP_NUM_THREADS": "7"}
    assert use_threads(2, small=True, environ=environ) == "7" and environ["OMP_NUM_THREADS"] == "7"
    environ = {"MXNET_OMP_MAX_THREADS": "3"}
    assert use_physical_cores(environ) is None and "OMP_NUM_THREADS" not in environ
    environ = {}
    chosen = use_physical_cores(environ)
    assert chosen == environ.get("OMP_NUM_THREADS") and (chosen is None or int(chosen) >= 1)
    monkeypatch.setitem(sys.modules, "mxnet", object())
    environ = {}
    assert use_physical_cores(environ) is None and environ == {}


@pytest.fixture
def before_mxnet(monkeypatch):
    monkeypatch.delitem(sys.modules, "mxnet", raising=False)


def test_small_networks_get_one_thread_and_an_asked_count_wins(before_mxnet):
    environ = {}
    assert use_threads(0, small=True, environ=environ) == "1" == environ["OMP_NUM_THREADS"]
    environ = {}
    assert use_threads(3, small=True, environ=environ) == "3"
    environ = {}
    assert use_threads(None, small=False, environ=environ) == (str(physical_cores()) if physical_cores() else None)


def test_waiting_threads_sleep_unless_the_user_chose_how_they_wait(before_mxnet):
    """libgomp's threads spin before sleeping: beside other jobs they take the cores from the working thread."""
    environ = {}
    use_threads(1, environ=environ)
    assert environ["OMP_WAIT_POLICY"] == "PASSIVE"
    environ = {"MXNET_OMP_MAX_THREADS": "2"}
    use_threads(1, environ=environ)
    assert environ["OMP_WAIT_POLICY"] == "PASSIVE"
    for users in ({"OMP_WAIT_POLICY": "ACTIVE"}, {"GOMP_SPINCOUNT": "300000"}):
        environ = dict(users)
        use_threads(1, environ=environ)
        environ.pop("DNNL_MAX_CPU_ISA", None)    # AMX switched on, on an AMX CPU (tests/test_cpu.py)
        assert environ == dict(users, OMP_NUM_THREADS="1")


def test_threads_from_argv_reads_the_flag_before_the_parser_runs():
    from gluon_wgan.utils.threads import threads_from_argv
    assert threads_from_argv(["--threads", "3", "--quick"]) == 3
    assert threads_from_argv(["--threads=2"]) == 2
    assert threads_from_argv(["--quick"]) == 0 and threads_from_argv(["--threads", "x"]) == 0


@pytest.mark.parametrize("script", ["reproduce_toy.py", "evaluate.py", "compare_resize.py", "check_gpu.py"])
def test_every_computing_command_takes_threads(script):
    import os
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    command = [sys.executable, os.path.join(root, "scripts", script)]
    assert "--threads N" in subprocess.run(command + ["--help"], capture_output=True, text=True).stdout
    bad = subprocess.run(command + ["--threads", "-1", "x"], capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1 and "--threads" in bad.stderr
