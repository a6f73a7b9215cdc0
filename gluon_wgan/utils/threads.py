"""How many CPU threads MXNet computes with, and how they wait: decided before MXNet loads, with AMX
switched on where the CPU has it (`utils.cpu.enable_amx`, which says why and how to turn it off).

Every command that computes calls `use_threads` first thing (its ``--threads``), because MXNet reads
the variables once, when it loads. The defaults, each measured (benchmarks/README.md, "Busy
machines", `benchmarks/busy_machine.py`):

- One thread per physical core for large networks (the papers' 64x64 DCGAN). Unless
  ``OMP_NUM_THREADS`` is set, MXNet 1.9.1 takes half the logical CPUs, assuming two hardware threads
  per core on x86; without simultaneous multithreading (most small cloud VMs) that idles half the
  cores.
- One thread for small networks (the toy MLPs, 32x32 images): they run as fast on one, and a second
  thread only waits for a core that other jobs hold.
- Threads that sleep when they wait (``OMP_WAIT_POLICY=PASSIVE``). MXNet's wheel links GNU OpenMP
  (libgomp; ``readelf -d libmxnet.so``), whose threads otherwise spin before sleeping: beside other
  jobs the spinning threads take the cores the working thread needs, and runs took several times
  as long.

A value the user set always wins: ``OMP_NUM_THREADS`` or ``MXNET_OMP_MAX_THREADS`` over the thread
count, ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` over the wait.
"""
import os
import sys

from .cpu import enable_amx

_SYSFS_CPU = "/sys/devices/system/cpu"
_WAIT_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


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
    """`use_threads` with one thread per physical core (a large network's default)."""
    return use_threads(None, environ=environ)


def use_threads(count=None, small=False, environ=os.environ):
    """Set ``OMP_NUM_THREADS`` and the OpenMP wait in `environ` for MXNet, unless the user set them, and
    let oneDNN use AMX where the CPU has it (`enable_amx`).

    Parameters
    ----------
    count : int or None
        Threads asked for (``--threads N``); None or 0 for the default: 1 if `small`, else one per
        physical core.
    small : bool
        The work is a small network, which computes as fast on one thread.

    Returns the thread count now in effect for MXNet (a string, as in the environment), or None where
    MXNet keeps its own choice. After ``import mxnet`` this changes nothing and returns None.

    Raises
    ------
    ValueError
        One line, for a `count` out of range (`thread_count_problems`) or a thread-count variable that
        MXNet reads holding anything but a whole number of threads (`check_thread_variables`).
    """
    for problem in thread_count_problems(count or 0):
        raise ValueError(problem)
    check_thread_variables(environ)
    if "mxnet" in sys.modules:
        return None
    enable_amx(environ)
    if not any(name in environ for name in _WAIT_VARIABLES):
        environ["OMP_WAIT_POLICY"] = "PASSIVE"
    if "MXNET_OMP_MAX_THREADS" in environ:
        return None
    if "OMP_NUM_THREADS" not in environ:
        count = count or (1 if small else physical_cores())
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


def add_threads_flag(parser, default):
    """Give `parser` the ``--threads N`` of every command that computes; `default` says what 0 means."""
    parser.add_argument("--threads", type=_count, default=0, metavar="N",
                        help=f"compute threads, set before MXNet loads (0: {default}); OMP_NUM_THREADS, when "
                             "set, wins")


def _count(text):
    import argparse
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, got {text!r}")
    return value


def threads_from_argv(argv):
    """The N of ``--threads N`` (or ``--threads=N``) in `argv`, 0 if absent or not a number: for the
    benchmark scripts, which load MXNet at import, before their parser runs."""
    for i, arg in enumerate(argv):
        value = arg.split("=", 1)[1] if arg.startswith("--threads=") else \
            argv[i + 1] if arg == "--threads" and i + 1 < len(argv) else None
        if value is not None:
            return int(value) if value.isdigit() else 0
    return 0
