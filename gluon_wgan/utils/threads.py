"""How many CPU threads MXNet computes with: one per physical core, decided before MXNet loads.

Unless ``OMP_NUM_THREADS`` (or ``MXNET_OMP_MAX_THREADS``) is set, MXNet 1.9.1 uses half the logical
CPUs on x86, on the assumption that each core runs two hardware threads. On a machine without
simultaneous multithreading (most cloud VMs with few vCPUs) that leaves half the cores idle: on two
such cores a WGAN critic iteration took 0.88 s with MXNet's choice and 0.55 s with both
(benchmarks/README.md). The scripts call `use_physical_cores` first thing, so the default is one
thread per physical core; a value the user set always wins. Small networks do not gain (the 32x32
quickstart ran about 15% slower on two threads than on one): the default suits the papers' 64x64.
"""
import os
import sys

_SYSFS_CPU = "/sys/devices/system/cpu"


def physical_cores(cpus=None, sysfs=_SYSFS_CPU):
    """Physical cores among `cpus` (default: the CPUs this process may run on), or None if unknown.

    Logical CPUs that are hardware threads of one core list the same siblings in
    ``cpuN/topology/thread_siblings_list``; each distinct list is one core.
    """
    if cpus is None:
        cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 0)
    cores = set()
    for cpu in cpus:
        try:
            with open(os.path.join(sysfs, f"cpu{cpu}", "topology", "thread_siblings_list")) as f:
                cores.add(f.read().strip())
        except OSError:
            return None
    return len(cores) or None


def use_physical_cores(environ=os.environ):
    """Set ``OMP_NUM_THREADS`` to the physical core count unless it or ``MXNET_OMP_MAX_THREADS`` is set.

    Returns the value now in effect for MXNet, or None where MXNet keeps its own choice. MXNet reads
    the variable once, when it loads: after ``import mxnet`` this changes nothing and returns None.
    """
    return use_threads(None, environ)


def use_threads(count=None, environ=os.environ):
    """`use_physical_cores`, with `count` threads instead when given (a small network: 1).

    Raises
    ------
    ValueError
        One line, when a thread-count variable that MXNet reads holds anything but a whole number of
        threads (`check_thread_variables`).
    """
    for problem in thread_count_problems(count or 0):
        raise ValueError(problem)
    check_thread_variables(environ)
    if "mxnet" in sys.modules or "MXNET_OMP_MAX_THREADS" in environ:
        return None
    if "OMP_NUM_THREADS" not in environ:
        count = count or physical_cores()
        if count is None:
            return None
        environ["OMP_NUM_THREADS"] = str(count)
    return environ["OMP_NUM_THREADS"]


# MXNet 1.9.1 reads these once as it loads, as a C int (dmlc::GetEnv): any other text, such as "abc",
# "2,1" or "1.5", throws a C++ exception that nothing catches, and the process aborts (SIGABRT).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MXNET_OMP_MAX_THREADS")
MAX_THREADS = 2 ** 31 - 1   # a C int: 99999999999 aborts as "abc" does


def thread_count_problems(threads):
    """Messages for a --threads value out of range ([] when fine); `TrainConfig.problems` and
    `use_threads` both check it."""
    if not 0 <= threads <= MAX_THREADS:
        return [f"--threads must be from 0 (one per physical core) to {MAX_THREADS}, got {threads}"]
    return []


def check_thread_variables(environ=os.environ):
    """Raise ValueError, in one line naming the variable and the mend, unless each of `THREAD_VARIABLES`
    that is set holds a whole number from 1 to `MAX_THREADS`."""
    for name in THREAD_VARIABLES:
        value = environ.get(name)
        if value is not None and not (value.strip().isdigit() and 1 <= int(value) <= MAX_THREADS):
            raise ValueError(f"{name}={value!r} is not a number of threads (1 to {MAX_THREADS}), and MXNet would "
                             f"abort on it: unset {name} or set it to the number of cores, e.g. {name}=2")
