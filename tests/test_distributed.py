"""scripts/launch_dist.py, gluon_wgan.tools.launch and gluon_wgan.training.distributed: a real dist_sync
job on 127.0.0.1 (one scheduler, one server, two workers), the launcher's exit codes, kills and signal
forwarding on stand-in processes, and the ssh command lines (no cluster here: only their construction is
checked)."""
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

import numpy as np
import pytest

from gluon_wgan.tools.launch import plan, read_hostfile, role_env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAUNCHER = os.path.join(ROOT, "scripts", "launch_dist.py")
WORKER = os.path.join(ROOT, "tests", "dist_worker.py")


@contextmanager
def launched(args, **popen_kw):
    """The launcher started in its own process group; whatever happens inside, nothing it started
    outlives the block."""
    popen_kw = dict(dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), **popen_kw)
    proc = subprocess.Popen([sys.executable, LAUNCHER, *args], start_new_session=True, **popen_kw)
    try:
        yield proc
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)   # the launcher's nodes are in its process group
        except ProcessLookupError:
            pass
        proc.wait()


def launch(args, timeout=60, **popen_kw):
    """Run the launcher to its end; (exit code, stdout, stderr)."""
    with launched(args, **popen_kw) as proc:
        out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def expected_run():
    """The dist_worker.py job by hand (float64): what both workers must end with."""
    lr, clamp, values = 0.1, 0.5, np.array([1.0, 2.0])     # worker r starts from and sees r + 1
    x = np.full(4, values[0])                               # rank 0's start value wins
    for _ in range(3):
        x = x - lr * (values.sum() * x)                     # push (r + 1) x, pull the sum
    g_w, g_b = np.full((3, 2), values[0]), np.zeros(3)
    d_w, d_b = np.full((1, 4), values[0]), np.zeros(1)
    for _ in range(2):
        for _ in range(2):
            # Each of 2 devices per worker: loss = batch mean of w.x + b, so dL/dw = value, dL/db = 1;
            # summed over 2 devices x 2 workers, scaled by 1 / (step(2) x 2 workers).
            d_w = np.clip(d_w - lr * (2 * values.sum()) / 4, -clamp, clamp)
            d_b = np.clip(d_b - lr * (2 * 2) / 4, -clamp, clamp)
        # loss = mean over 2 x 3 outputs: dL/dw = value / 3, dL/db = 1 / 3; summed, scaled by 1 / 2 workers.
        g_w = g_w - lr * (values.sum() / 3) / 2
        g_b = g_b - lr * (2 / 3) / 2
    return dict(x=x, generator_weight=g_w, generator_bias=g_b, critic_weight=d_w, critic_bias=d_b)


def test_dist_sync_job_on_localhost(tmp_path):
    code, out, err = launch(["-n", "2", "-s", "1", "--", sys.executable, WORKER, str(tmp_path)])
    assert code == 0, err
    results = [json.loads((tmp_path / f"worker-{rank}.json").read_text()) for rank in (0, 1)]
    assert [r["num_workers"] for r in results] == [2, 2]
    expected = expected_run()
    for key, want in expected.items():
        first = np.array(results[0][key])
        np.testing.assert_array_equal(first, np.array(results[1][key]), err_msg=key)  # workers agree exactly
        for arr in (first if key != "x" else [first]):                               # every device too
            np.testing.assert_allclose(arr, want, rtol=1e-6, atol=1e-7, err_msg=key)
    assert (tmp_path / "critic-0.states").exists()


def stand_in(tmp_path, worker_code):
    """A command that records its pid, then: workers run `worker_code`, the others wait for a minute."""
    code = (f"import os, sys, time; open(os.path.join({str(tmp_path)!r}, 'pid-%d' % os.getpid()), 'w').close()\n"
            f"if os.environ['DMLC_ROLE'] == 'worker':\n    {worker_code}\nelse:\n    time.sleep(60)")
    return [sys.executable, "-c", code]


def assert_all_gone(tmp_path):
    pids = [int(p.name.split("-")[1]) for p in tmp_path.glob("pid-*")]
    assert len(pids) == 4
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_failed_worker_fails_the_job_and_stops_the_rest(tmp_path):
    # The scheduler and server sleep for a minute: a launcher that awaited them instead of stopping
    # them would outlive the 20 s given here, and `launch` would raise TimeoutExpired.
    code, _, err = launch(["-n", "2", "-s", "1", "--grace", "2", "--", *stand_in(tmp_path, "time.sleep(1); sys.exit(3)")],
                          timeout=20)
    assert code == 3
    assert "worker" in err and "exited with code 3" in err
    assert_all_gone(tmp_path)


def test_servers_stopped_after_workers_succeed(tmp_path):
    code, _, _ = launch(["-n", "2", "-s", "1", "--grace", "0.5", "--", *stand_in(tmp_path, "time.sleep(0.5)")])
    assert code == 0
    assert_all_gone(tmp_path)


def signal_the_launcher(tmp_path, grace, command, signals=(signal.SIGTERM,), group=False):
    """Launch 2 workers and 1 server running `command`; once all 4 nodes wrote their pid-* file, send
    `signals` (a second apart) to the launcher, or with `group` to its whole process group as a
    terminal's Ctrl-C does. Returns its exit code; nothing it started outlives this."""
    with launched(["-n", "2", "-s", "1", "--grace", str(grace), "--", *command]) as proc:
        deadline = time.time() + 20
        while len(list(tmp_path.glob("pid-*"))) < 4 and time.time() < deadline:
            time.sleep(0.05)
        for i, signum in enumerate(signals):
            time.sleep(1.0 if i else 0.0)
            os.killpg(proc.pid, signum) if group else proc.send_signal(signum)
        proc.communicate(timeout=20)
    return proc.returncode


def test_sigterm_is_forwarded(tmp_path):
    assert signal_the_launcher(tmp_path, 2, stand_in(tmp_path, "time.sleep(60)")) == 128 + signal.SIGTERM
    assert_all_gone(tmp_path)


def test_a_second_signal_ends_a_job_that_does_not_stop(tmp_path):
    # Workers that ignore SIGTERM (as one blocked in a gradient exchange does): the second signal stops
    # the scheduler and server, and then the launcher stops everything, within its 1 s grace.
    deaf = "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    code = signal_the_launcher(tmp_path, 1, stand_in(tmp_path, deaf), signals=(signal.SIGTERM,) * 2)
    assert code == 128 + signal.SIGTERM
    assert_all_gone(tmp_path)


def test_role_env_names_the_dmlc_variables():
    assert role_env("server", "10.0.0.1", 9091, num_workers=4, num_servers=2, node_host="10.0.0.2") == dict(
        DMLC_ROLE="server", DMLC_PS_ROOT_URI="10.0.0.1", DMLC_PS_ROOT_PORT="9091", DMLC_NUM_WORKER="4",
        DMLC_NUM_SERVER="2", DMLC_NODE_HOST="10.0.0.2")
    with pytest.raises(ValueError, match="role"):
        role_env("master", "h", 1, 1, 1)


def test_local_plan_scheduler_servers_workers():
    nodes = plan(["python", "train.py"], num_workers=2, num_servers=1, root_port=9000)
    assert [(n.role, n.rank) for n in nodes] == [("scheduler", 0), ("server", 0), ("worker", 0), ("worker", 1)]
    for node in nodes:
        assert node.argv == ["python", "train.py"] and node.host == ""
        assert node.env["DMLC_PS_ROOT_URI"] == "127.0.0.1" and node.env["DMLC_PS_ROOT_PORT"] == "9000"
        assert node.env["DMLC_ROLE"] == node.role


def test_ssh_plan_command_lines(tmp_path):
    hostfile = tmp_path / "hosts"
    hostfile.write_text("# cluster\nnode-a\nnode-b:2222  # second\n\n")
    hosts = read_hostfile(str(hostfile))
    assert hosts == [("node-a", 22), ("node-b", 2222)]
    command = ["python", "scripts/train_wgan.py", "--outdir", "runs/a b", "--kvstore", "dist_sync"]
    nodes = plan(command, num_workers=2, num_servers=1, launcher="ssh", hosts=hosts, root_uri="10.0.0.9",
                 root_port=9100, workdir="/shared/gluon wgan", extra_env={"PS_VERBOSE": "1"})
    scheduler, server, worker0, worker1 = nodes
    assert scheduler.host == "" and scheduler.argv == command     # the scheduler runs here
    assert scheduler.env["DMLC_NODE_HOST"] == "10.0.0.9"
    # dmlc-core's ssh tracker order: servers, then workers, round-robin over the hosts.
    assert [(n.role, n.host) for n in nodes[1:]] == [("server", "node-a"), ("worker", "node-b"),
                                                     ("worker", "node-a")]
    assert worker0.argv[:-2] == ["ssh", "-o", "StrictHostKeyChecking=no", "-o", "BatchMode=yes", "-p", "2222"]
    assert worker0.argv[-2] == "node-b"
    remote = worker0.argv[-1]
    assert remote.startswith("cd '/shared/gluon wgan' && export ")
    assert remote.endswith(" && exec " + shlex.join(command))
    exports = shlex.split(remote.split(" && ")[1])[1:]
    assert dict(e.split("=", 1) for e in exports) == dict(
        PS_VERBOSE="1", DMLC_ROLE="worker", DMLC_PS_ROOT_URI="10.0.0.9", DMLC_PS_ROOT_PORT="9100",
        DMLC_NUM_WORKER="2", DMLC_NUM_SERVER="1", DMLC_NODE_HOST="node-b")
    # What the remote shell receives is the original argv again, quotes and spaces included.
    assert shlex.split(remote.split(" && exec ")[1]) == command
    assert server.env["DMLC_ROLE"] == "server" and "DMLC_ROLE=server" in server.argv[-1]


@pytest.mark.parametrize("args,message", [
    (["-n", "2", "--launcher", "ssh", "--", "python", "x.py"], "needs a hosts file"),
    (["-n", "0", "--", "python", "x.py"], "at least 1"),
    (["-n", "2"], "no command"),
    (["-n", "2", "--launcher", "ssh", "-H", "/nonexistent/hosts", "--", "python", "x.py"], "cannot read hosts"),
    (["--", "python", "x.py"], "required"),
])
def test_bad_input_one_line_exit_2(args, message):
    result = subprocess.run([sys.executable, LAUNCHER, *args], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_dry_run_and_help():
    result = subprocess.run([sys.executable, LAUNCHER, "-n", "2", "-s", "1", "--port", "9123", "--dry-run",
                             "--", "python", "train.py", "--outdir", "a b"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["scheduler 0", "server 0", "worker 0", "worker 1"]
    assert lines[2].endswith(" python train.py --outdir 'a b'") and "DMLC_NODE_HOST=127.0.0.1 " in lines[2]
    assert "DMLC_ROLE=worker" in lines[2] and "DMLC_PS_ROOT_PORT=9123" in lines[2]
    help_text = subprocess.run([sys.executable, LAUNCHER, "--help"], capture_output=True, text=True,
                               timeout=30).stdout
    assert "--launcher" in help_text and "DMLC_ROLE" in help_text


def test_distributed_trainer_in_process_local_kvstore():
    """One worker ('local' kvstore): gradients summed over two devices, two trainers on one kvstore."""
    import mxnet as mx
    from mxnet import autograd, gluon

    from gluon_wgan.training.distributed import DistributedTrainer

    ctxs = [mx.cpu(0), mx.cpu(1)]
    kv = mx.kv.create("local")
    nets = [gluon.nn.Dense(1, in_units=2), gluon.nn.Dense(1, in_units=2)]
    for net in nets:
        net.initialize(mx.init.Constant(1.0), ctx=ctxs)
    trainers = [DistributedTrainer(net.collect_params(), "sgd", kv, prefix, {"learning_rate": 0.1})
                for net, prefix in zip(nets, ("generator/", "critic/"))]
    for net, trainer, scale in zip(nets, trainers, (1.0, 2.0)):
        shards = gluon.utils.split_and_load(mx.nd.array([[1.0, 2.0], [3.0, 4.0]]) * scale, ctxs)
        with autograd.record():
            losses = [net(x).sum() for x in shards]
        autograd.backward(losses)
        trainer.step(1)
        # dL/dw summed over the devices = (4, 6) * scale; one worker: nothing more to average
        for weight in net.weight.list_data():
            np.testing.assert_allclose(weight.asnumpy(), [[1 - 0.4 * scale, 1 - 0.6 * scale]], rtol=1e-6)
    assert trainers[0].learning_rate == 0.1                  # the wrapped Trainer's attributes


def test_distributed_trainer_needs_initialized_parameters():
    import mxnet as mx
    from mxnet import gluon

    from gluon_wgan.training.distributed import DistributedTrainer

    net = gluon.nn.Dense(1)                                  # in_units unknown: deferred
    net.initialize()
    with pytest.raises(ValueError, match="not initialized"):
        DistributedTrainer(net.collect_params(), "sgd", mx.kv.create("local"), "critic/")


def test_train_script_with_dist_sync_on_two_workers(tmp_path):
    """scripts/train_wgan.py --kvstore dist_sync under the launcher: both workers finish, each with its
    own data (different losses), and their trainable parameters are identical after every update."""
    outdir = str(tmp_path / "run")
    train = [sys.executable, os.path.join(ROOT, "scripts", "train_wgan.py"), "--kvstore", "dist_sync", "--quiet",
             "--image-size", "16", "--ngf", "8", "--ndf", "8", "--nz", "8", "--batch-size", "8",
             "--warmup-iters", "1", "--burst-d-iters", "2", "--d-iters", "1", "--gen-iters", "3",
             "--outdir", outdir]
    code, out, err = launch(["-n", "2", "-s", "1", "--", *train], timeout=120, cwd=ROOT)
    assert code == 0, err
    runs = [outdir, os.path.join(outdir, "worker1")]
    losses = [[json.loads(line)["loss_d"] for line in open(os.path.join(r, "metrics.jsonl"))] for r in runs]
    assert len(losses[0]) == len(losses[1]) == 3 and losses[0] != losses[1]
    for name in ("generator.params", "critic.params"):
        import mxnet as mx
        first, second = (mx.nd.load(os.path.join(r, "checkpoints", "latest", name)) for r in runs)
        for key in first:
            if not key.endswith(("running_mean", "running_var")):    # BatchNorm statistics stay per worker
                np.testing.assert_array_equal(second[key].asnumpy(), first[key].asnumpy(), err_msg=key)


@pytest.mark.parametrize("signum,group", [(signal.SIGTERM, False), (signal.SIGINT, True)],
                         ids=["sigterm-to-launcher", "ctrl-c-to-the-group"])
def test_first_signal_reaches_workers_only(tmp_path, signum, group):
    """A stopping worker still needs the scheduler and servers: they stop only after it is done, also
    when a terminal's Ctrl-C reaches every process of the group (they ignore SIGINT)."""
    stamp = "lambda name: open(os.path.join({!r}, name + '-%d' % os.getpid()), 'w').write(repr(time.time()))"
    code = (f"import os, signal, sys, time; stamp = {stamp.format(str(tmp_path))}\n"
            "role = os.environ['DMLC_ROLE']\n"
            "def stop(signum, frame):\n"
            "    if role == 'worker':\n        time.sleep(1)\n"
            "    stamp('stopped-' + role); sys.exit(0)\n"
            "signal.signal(signal.SIGTERM, stop)\n"
            "if role == 'worker':\n    signal.signal(signal.SIGINT, stop)\n"   # as train_wgan.py's loop
            "stamp('pid'); time.sleep(60)")
    assert signal_the_launcher(tmp_path, 5, [sys.executable, "-c", code], (signum,), group) == 128 + signum
    stopped = {}
    for path in tmp_path.glob("stopped-*"):
        stopped.setdefault(path.name.split("-")[1], []).append(float(path.read_text()))
    assert {role: len(times) for role, times in stopped.items()} == dict(worker=2, server=1, scheduler=1)
    assert min(stopped["server"] + stopped["scheduler"]) >= max(stopped["worker"])
    assert_all_gone(tmp_path)


def dist_train_command(outdir, gen_iters, *extra):
    return [sys.executable, os.path.join(ROOT, "scripts", "train_wgan.py"), "--kvstore", "dist_sync", "--quiet",
            "--image-size", "16", "--ngf", "8", "--ndf", "8", "--nz", "8", "--batch-size", "8",
            "--warmup-iters", "1", "--burst-d-iters", "2", "--d-iters", "1", "--log-every", "1",
            "--checkpoint-every", "1000", "--gen-iters", str(gen_iters), "--outdir", outdir, *extra]


def saved_gen_iter(run):
    return json.loads(open(os.path.join(run, "checkpoints", "latest", "state.json")).read())["gen_iter"]


def test_signal_to_one_worker_stops_all_at_one_iteration_and_they_resume(tmp_path):
    """SIGTERM to one worker alone (the launcher's worker 1, whatever its kvstore rank): both workers
    stop after the same generator iteration with a checkpoint
    (not one stopping while the other waits in a gradient exchange); both resume from it together;
    checkpoints of different iterations are refused on resume with one line and exit code 2."""
    outdir = str(tmp_path / "run")
    runs = [outdir, os.path.join(outdir, "worker1")]
    log_path = tmp_path / "launcher.err"
    with open(log_path, "w") as log_file, launched(["-n", "2", "-s", "1", "--",
                                                    *dist_train_command(outdir, 100000)],
                                                   stdout=subprocess.DEVNULL, stderr=log_file, cwd=ROOT) as proc:
        metrics = os.path.join(runs[1], "metrics.jsonl")
        deadline = time.time() + 90
        while time.time() < deadline and not (os.path.exists(metrics) and len(open(metrics).readlines()) >= 3):
            time.sleep(0.2)
        worker1 = int(re.search(r"started worker 1, pid (\d+)", log_path.read_text()).group(1))
        os.kill(worker1, signal.SIGTERM)
        proc.wait(timeout=60)
    log = log_path.read_text()
    assert proc.returncode == 128 + signal.SIGTERM, log     # the workers' own code: stopped, resumable
    assert "stopping the others" not in log
    stopped_at = saved_gen_iter(runs[0])
    assert 3 <= stopped_at < 100000 and saved_gen_iter(runs[1]) == stopped_at
    assert "stopped by SIGTERM" in log and "stopped by a signal to another worker" in log
    for run in runs:
        assert len(open(os.path.join(run, "metrics.jsonl")).readlines()) == stopped_at

    code, _, err = launch(["-n", "2", "-s", "1", "--", *dist_train_command(outdir, stopped_at + 2, "--resume")],
                          timeout=120, cwd=ROOT)
    assert code == 0, err
    assert [saved_gen_iter(run) for run in runs] == [stopped_at + 2] * 2
    assert err.count(f"at generator iteration {stopped_at}") == 2      # both resumed from the stop

    state_path = os.path.join(runs[1], "checkpoints", "latest", "state.json")
    state = json.loads(open(state_path).read())
    state["gen_iter"] -= 1                                    # as if killed before its last save
    with open(state_path, "w") as f:
        json.dump(state, f)
    code, _, err = launch(["-n", "2", "-s", "1", "--", *dist_train_command(outdir, stopped_at + 4, "--resume")],
                          timeout=120, cwd=ROOT)
    assert code == 2
    assert f"worker 0: {stopped_at + 2}, worker 1: {stopped_at + 1}" in err and "Traceback" not in err


def test_an_error_on_one_worker_ends_the_job(tmp_path):
    """Only worker 0 evaluates, so only it finds the InceptionV3 weights unusable: it must exit at once
    (not wait for the others at ps-lite's shutdown barrier while they wait for its gradients), so that
    the launcher sees it and stops the rest. Before leave_without_barrier this job never ended."""
    empty = tmp_path / "empty.params"
    empty.write_bytes(b"")
    train = dist_train_command(str(tmp_path / "run"), 5, "--eval-every", "2", "--inception-weights", str(empty))
    code, _, err = launch(["-n", "2", "-s", "1", "--grace", "2", "--", *train], timeout=90, cwd=ROOT)
    assert code == 2, err
    assert "is not gluoncv InceptionV3 weights" in err


def test_local_jobs_split_the_cores_over_the_workers(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr("gluon_wgan.tools.launch.physical_cores", lambda: 8)
    threads = {(node.role, node.rank): node.env["OMP_NUM_THREADS"] for node in plan(["cmd"], 3, 2)}
    assert threads == {("scheduler", 0): "1", ("server", 0): "1", ("server", 1): "1",
                       ("worker", 0): "2", ("worker", 1): "2", ("worker", 2): "2"}
    monkeypatch.setenv("OMP_NUM_THREADS", "4")               # the user's choice stands
    assert all("OMP_NUM_THREADS" not in node.env for node in plan(["cmd"], 3, 2))
