"""gluon_wgan.utils.threads: one MXNet thread per physical core, chosen before MXNet loads; the user's choice wins."""
import sys

from gluon_wgan.utils.threads import physical_cores, use_physical_cores


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
    assert use_physical_cores(environ) == "7" and environ == {"OMP_NUM_THREADS": "7"}
    environ = {"MXNET_OMP_MAX_THREADS": "3"}
    assert use_physical_cores(environ) is None and "OMP_NUM_THREADS" not in environ
    environ = {}
    chosen = use_physical_cores(environ)
    assert chosen == environ.get("OMP_NUM_THREADS") and (chosen is None or int(chosen) >= 1)
    monkeypatch.setitem(sys.modules, "mxnet", object())
    environ = {}
    assert use_physical_cores(environ) is None and environ == {}
