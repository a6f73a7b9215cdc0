"""Start MXNet's `dist_sync` parameter-server job: one scheduler, the servers and the workers.

The `mxnet` 1.9.1 wheel ships the ps-lite kvstore (`mx.kv.create('dist_sync')`) and even
`mxnet/tools/launch.py` with its `dmlc_tracker`, but that tracker calls `Thread.isAlive()`, removed in
Python 3.9: on our Python it raises AttributeError after it has started the scheduler, which is then
left running. This module is the small replacement. It does not implement any parameter server: every
process is the user's command, and MXNet decides what it becomes from the `DMLC_*` variables set here.

ps-lite reads (dmlc/ps-lite docs/env.md, dmlc-core tracker/dmlc_tracker/tracker.py and ssh.py):

- ``DMLC_ROLE``: ``scheduler``, ``server`` or ``worker``. A server or scheduler process turns into
  the server loop inside ``import mxnet`` and exits there (``mxnet/kvstore/kvstore_server.py``), so
  the same command serves all three roles, as in MXNet's own launcher.
- ``DMLC_PS_ROOT_URI``, ``DMLC_PS_ROOT_PORT``: where the scheduler listens; every node connects there.
- ``DMLC_NUM_SERVER``, ``DMLC_NUM_WORKER``: how many nodes the scheduler waits for.
- ``DMLC_NODE_HOST``: the address a node announces (otherwise guessed from the first non-loopback
  interface, which may not exist in a container, or may be the wrong one).
- Optional, passed through when set: ``DMLC_INTERFACE``, ``PS_VERBOSE`` (1 or 2: connection logging).

The training side of such a job (`DistributedTrainer`, `WorkerAgreement`) is
`gluon_wgan.training.distributed`; this module imports no MXNet.
"""
import logging
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from typing import Dict, List, NamedTuple

from ..utils.signals import handling_signals
from ..utils.threads import physical_cores

log = logging.getLogger(__name__)

ROLES = ("scheduler", "server", "worker")
# Passed to remote nodes by the ssh launcher when set here (the local launcher copies the whole environment).
FORWARDED_ENV = ("PS_VERBOSE", "DMLC_INTERFACE", "DMLC_PS_VAN_TYPE", "OMP_NUM_THREADS", "MXNET_CPU_WORKER_NTHREADS",
                 "MXNET_KVSTORE_BIGARRAY_BOUND", "CUDA_VISIBLE_DEVICES", "LD_LIBRARY_PATH", "PYTHONPATH")


class Node(NamedTuple):
    """One process of the job: its role, its rank among that role, where it runs and how it is started."""
    role: str
    rank: int
    host: str           # "" for a process on this machine
    argv: List[str]     # what `subprocess.Popen` runs on this machine (for ssh: the ssh client)
    env: Dict[str, str]  # the DMLC_* variables of this node (already inside `argv` for ssh)


def free_port(host="127.0.0.1"):
    """A TCP port that nothing listens on at `host` right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def read_hostfile(path):
    """Hosts of a hosts file as (host, ssh_port) pairs: one ``host`` or ``host:port`` a line, ``#`` comments.

    Raises
    ------
    ValueError
        If the file cannot be read, lists no host, or has a port that is not a number.
    """
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError as err:
        raise ValueError(f"cannot read hosts file {path!r} ({err.strerror or err})") from None
    hosts = []
    for number, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        host, _, port = line.partition(":")
        if port and not port.isdigit():
            raise ValueError(f"{path}:{number}: ssh port must be a number, got {port!r}")
        hosts.append((host, int(port or 22)))
    if not hosts:
        raise ValueError(f"hosts file {path!r} lists no host")
    return hosts


def role_env(role, root_uri, root_port, num_workers, num_servers, node_host=None):
    """The ``DMLC_*`` variables of one process with `role` in a job of `num_workers` and `num_servers`."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    env = dict(DMLC_ROLE=role, DMLC_PS_ROOT_URI=str(root_uri), DMLC_PS_ROOT_PORT=str(root_port),
               DMLC_NUM_WORKER=str(num_workers), DMLC_NUM_SERVER=str(num_servers))
    if node_host:
        env["DMLC_NODE_HOST"] = str(node_host)
    return env


def ssh_argv(host, ssh_port, env, command, workdir):
    """The ssh client's argv that runs `command` on `host` in `workdir` with `env` exported.

    The remote side is one shell line: ``cd WORKDIR && export K=V ... && exec COMMAND``, every piece
    quoted with `shlex.quote`, so arguments with spaces or quotes arrive unchanged.
    """
    exports = " ".join(f"{key}={shlex.quote(value)}" for key, value in env.items())
    remote = f"cd {shlex.quote(workdir)} && export {exports} && exec {shlex.join(command)}"
    return ["ssh", "-o", "StrictHostKeyChecking=no", "-o", "BatchMode=yes", "-p", str(ssh_port), host, remote]


def plan(command, num_workers, num_servers, launcher="local", hosts=None, root_uri=None, root_port=None,
         workdir=None, extra_env=None):
    """The processes of a `dist_sync` job, scheduler first, then servers, then workers.

    Parameters
    ----------
    command : list of str
        The program every node runs, e.g. ``["python", "scripts/train_wgan.py", "--kvstore", "dist_sync"]``.
    num_workers, num_servers : int
        At least 1 each.
    launcher : {"local", "ssh"}
        ``local``: every process on this machine, on 127.0.0.1 unless `root_uri` says otherwise,
        with the cores split over the workers (`local_threads`).
        ``ssh``: the scheduler on this machine, servers then workers round-robin over `hosts`
        (as dmlc-core's ssh tracker places them).
    hosts : list of (str, int), optional
        ssh hosts and ports (`read_hostfile`); required for ``ssh``.
    root_uri : str, optional
        The scheduler's address as the other nodes reach it. Default: 127.0.0.1 (local), this
        machine's outward address (ssh).
    root_port : int, optional
        The scheduler's port; default: a free port.
    workdir : str, optional
        ssh: the folder the remote command starts in; default: the current folder (same path on every
        host, e.g. a shared file system).
    extra_env : dict, optional
        ssh: more variables to export on the remote nodes (default: those of `FORWARDED_ENV` that are set).

    Raises
    ------
    ValueError
        For an empty command, counts below 1, an unknown launcher, or ssh without hosts.
    """
    if not command:
        raise ValueError("no command to launch: give it after --")
    if num_workers < 1 or num_servers < 1:
        raise ValueError(f"-n and -s must be at least 1, got {num_workers} and {num_servers}")
    if launcher not in ("local", "ssh"):
        raise ValueError(f"--launcher must be local or ssh, got {launcher!r}")
    if launcher == "ssh" and not hosts:
        raise ValueError("--launcher ssh needs a hosts file (-H)")
    command = list(command)
    if launcher == "local":
        root_uri = root_uri or "127.0.0.1"
    else:
        root_uri = root_uri or outward_address()
    root_port = root_port or free_port("" if launcher == "ssh" else root_uri)

    def env(role, node_host):
        return role_env(role, root_uri, root_port, num_workers, num_servers, node_host=node_host)

    # The scheduler runs here in both modes (dmlc-core's tracker does the same).
    nodes = [Node("scheduler", 0, "", command, env("scheduler", root_uri))]
    roles = [("server", i) for i in range(num_servers)] + [("worker", i) for i in range(num_workers)]
    if launcher == "local":
        nodes += [Node(role, rank, "", command, env(role, root_uri)) for role, rank in roles]
        return [node._replace(env={**node.env, **local_threads(node.role, num_workers)}) for node in nodes]
    workdir = workdir or os.getcwd()
    if extra_env is None:
        extra_env = {key: os.environ[key] for key in FORWARDED_ENV if key in os.environ}
    for i, (role, rank) in enumerate(roles):
        host, ssh_port = hosts[i % len(hosts)]
        node_env = env(role, host)
        argv = ssh_argv(host, ssh_port, {**extra_env, **node_env}, command, workdir)
        nodes.append(Node(role, rank, host, argv, node_env))
    return nodes


def local_threads(role, num_workers, environ=os.environ):
    """``OMP_NUM_THREADS`` for a node sharing this machine: the cores split over the workers, one for
    the scheduler and servers (they only relay); nothing when the user set it or cores are unknown.

    Each training script would otherwise take every core (`gluon_wgan.utils.threads`), so that workers
    on one machine would run cores x workers threads and slow each other down.
    """
    cores = None if "OMP_NUM_THREADS" in environ else physical_cores()
    if cores is None:
        return {}
    return dict(OMP_NUM_THREADS=str(max(1, cores // num_workers) if role == "worker" else 1))


def outward_address():
    """This machine's address on the interface that routes outwards (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("10.255.255.255", 1))
            return sock.getsockname()[0]
        except OSError:
            return socket.gethostbyname(socket.gethostname())


def run(nodes, grace=10.0, poll=0.1):
    """Start `nodes`, wait for the workers, and return the job's exit code.

    0 when every worker exits with 0. Otherwise the first failing node's code (a node killed by a
    signal counts as 128 + signal number, as in a shell): a failed worker, or a scheduler or server
    that dies before the workers are done, since the workers would then wait for it forever. The
    other processes are then stopped: SIGTERM, and SIGKILL after `grace` seconds. SIGINT and SIGTERM
    sent to this process are forwarded to the workers (a second one also stops the scheduler and
    servers), and the job's code becomes 128 + that signal's number unless a node failed first. When
    the workers are done, the scheduler and servers leave on their own (ps-lite's shutdown barrier);
    any still there after `grace` seconds are stopped. The log names each process with its pid; a
    worker's number there is the launcher's, not its kvstore rank (ps-lite assigns those). A program
    that is not there raises ValueError before anything starts; a process that still cannot be
    started raises ValueError naming it, after the ones already started are stopped.
    """
    for node in nodes:
        _check_program(node.argv[0])   # before any process starts (for ssh: the ssh client)
    procs = []
    received = []
    with _forward_signals(procs, received):  # also while stopping: a second Ctrl-C is forwarded too
        try:
            for node in nodes:
                env = {**os.environ, **node.env} if not node.host else dict(os.environ)
                # A terminal's Ctrl-C reaches the whole process group: the scheduler and servers
                # ignore it, so that they outlive the stopping workers (see _forward_signals).
                ignore_sigint = None if node.role == "worker" else _ignore_sigint
                try:
                    proc = subprocess.Popen(node.argv, env=env, preexec_fn=ignore_sigint)
                except OSError as err:   # e.g. the ssh client missing; the finally stops those started
                    raise ValueError(f"cannot start {node.role} {node.rank}: {node.argv[0]!r}: "
                                     f"{err.strerror or err}") from None
                procs.append((node, proc))
                log.info("started %s %d%s, pid %d: %s", node.role, node.rank,
                         f" on {node.host}" if node.host else "", proc.pid, shlex.join(node.argv))
            code = _wait(procs, received, poll, grace)
            deadline = time.time() + grace
            while code == 0 and any(p.poll() is None for _, p in procs) and time.time() < deadline:
                time.sleep(poll)
            return code
        finally:
            _stop(procs, grace)


# What train_wgan.py exits with after Ctrl-C or SIGTERM and a checkpoint.
STOPPED_BY_SIGNAL = (128 + signal.SIGINT, 128 + signal.SIGTERM)


def _check_program(program):
    """Raise ValueError unless `program` is an executable file, or a command on PATH."""
    if shutil.which(program) is not None:
        return
    if os.sep not in program:
        raise ValueError(f"cannot run {program!r}: not found on PATH")
    why = "not an executable file" if os.path.exists(program) else "no such file"
    raise ValueError(f"cannot run {program!r}: {why}")


def _wait(procs, received, poll, grace):
    workers = [p for node, p in procs if node.role == "worker"]
    left_early = None  # when a scheduler or server exited with 0 while workers were still running
    while True:
        workers_done = all(w.poll() is not None for w in workers)
        for node, proc in procs:
            code = proc.poll()
            if code is None or code == 0 or (node.role == "worker" and code in STOPPED_BY_SIGNAL):
                # A stopped worker checkpointed at an iteration the others stop after too: wait for them.
                if code == 0 and node.role != "worker" and not workers_done and left_early is None:
                    left_early = time.time()
                continue
            if received:
                return 128 + received[0]
            log.error("%s %d exited with code %s; stopping the others", node.role, node.rank, code)
            return _shell_code(code)
        if workers_done:
            stopped = [w.returncode for w in workers if w.returncode in STOPPED_BY_SIGNAL]
            return 128 + received[0] if received else (stopped[0] if stopped else 0)
        # ps-lite's nodes leave together at shutdown, so a scheduler or server may exit a moment before
        # the last worker is reaped; one that left `grace` seconds before the workers did is a failure.
        if left_early is not None and time.time() - left_early > grace:
            log.error("a scheduler or server exited while the workers were running; stopping the others")
            return 1
        time.sleep(poll)


def _shell_code(code):
    return 128 - code if code < 0 else code


def _stop(procs, grace):
    """SIGTERM to every node still running, SIGKILL to those still there after `grace` seconds."""
    alive = [(node, p) for node, p in procs if p.poll() is None]
    for _, proc in alive:
        proc.terminate()
    deadline = time.time() + grace
    for node, proc in alive:
        try:
            proc.wait(timeout=max(0.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            log.warning("%s %d ignored SIGTERM; killing it", node.role, node.rank)
            proc.kill()
            proc.wait()


def _ignore_sigint():
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # inherited SIG_IGN: Python leaves it in place


@contextmanager
def _forward_signals(procs, received):
    """While inside, SIGINT and SIGTERM to this process are sent on to the started workers; from the
    second signal on, the scheduler and servers also get SIGTERM.

    The scheduler and servers are spared the first: workers that stop cleanly still need them, to
    agree on the stop, to finish the iteration's gradient exchanges and for ps-lite's shutdown
    barrier. Killed first, they would leave the workers waiting forever. The second is for a job
    that does not stop: once a scheduler or server has gone, `run` stops every other process.
    """
    def forward(signum, frame):
        received.append(signum)
        for node, proc in procs:
            if proc.poll() is not None:
                continue
            if node.role == "worker":
                proc.send_signal(signum)
            elif len(received) > 1:
                proc.terminate()

    with handling_signals(forward):
        yield
