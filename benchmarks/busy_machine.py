#!/usr/bin/env python
"""Issue 24: the three kinds of run on an idle machine and beside a competing 2-thread CPU load.

    python benchmarks/busy_machine.py                      # old and new defaults, ~6 min on 2 cores
    python benchmarks/busy_machine.py --settings new one passive2 --only dcgan64-gp

Each run is a fresh process of the package's own command (`reproduce_toy.py`, `train_wgan.py`) for a
fixed number of iterations; its wall seconds and CPU seconds (user + system, from `os.wait4`) are
reported. "loaded" runs beside two `python -c "while 1: pass"` processes that this script starts
and ends; "idle" runs beside nothing this script started, which on a shared machine is not idle:
the load average before each run is printed with it.

Settings are environments on top of the caller's (minus every variable the settings use):
- old:      what the package did before issue 24: one thread per physical core, and libgomp's own
            wait (it spins GOMP_SPINCOUNT=300000 times before sleeping; written out so that the new
            code, which leaves a user's setting alone, keeps it).
- new:      nothing set: the package's defaults (`gluon_wgan.utils.threads`).
- one:      OMP_NUM_THREADS=1 (libgomp's default wait).
- passive2: one thread per physical core, OMP_WAIT_POLICY=PASSIVE.
"""
import argparse
import json
import os
import subprocess
import sys
import signal
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from gluon_wgan.utils.threads import physical_cores  # noqa: E402  (stdlib only: MXNet is not loaded here)

SCRIPTS = os.path.join(ROOT, "scripts")
CONTROLLED = ("OMP_NUM_THREADS", "MXNET_OMP_MAX_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")

WORKLOADS = {
    # The WGAN-GP paper's toy MLP (3 x 512 ReLU, batch 256), 5 critic updates per generator update.
    "toy": ["reproduce_toy.py", "--dataset", "8gaussians", "--gen-iters", "15", "--eval-every", "15",
            "--eval-samples", "200", "--no-progress"],
    # The quickstart's networks (32x32, 16 filters), WGAN with clipping, without the preset (whose
    # --threads 1 would hide the default), 5 critic updates per generator update and no bursts.
    "wgan32": ["train_wgan.py", "--dataset", "shapes-simple", "--image-size", "32", "--ngf", "16", "--ndf", "16",
               "--gen-iters", "10", "--warmup-iters", "0", "--burst-every", "0", "--quiet"],
    # The WGAN-GP paper's DCGAN at 64x64 (64 filters, layer-norm critic), batch 64, 5 critic updates.
    "dcgan64-gp": ["train_wgan.py", "--method", "wgan-gp", "--dataset", "shapes", "--image-size", "64",
                   "--gen-iters", "2", "--quiet"],
}


def settings(cores):
    return {
        "old": dict(OMP_NUM_THREADS=str(cores), GOMP_SPINCOUNT="300000"),
        "new": {},
        "one": dict(OMP_NUM_THREADS="1"),
        "passive2": dict(OMP_NUM_THREADS=str(cores), OMP_WAIT_POLICY="PASSIVE"),
    }


def run_once(argv, env, workdir, timeout):
    """Wall and CPU seconds of one command; raises if it fails. A run still going after `timeout`
    seconds is stopped (SIGKILL) and reported as such, with the CPU seconds it took until then."""
    outdir = tempfile.mkdtemp(dir=workdir)
    os.rmdir(outdir)   # the command makes it
    cmd = [sys.executable, os.path.join(SCRIPTS, argv[0]), *argv[1:], "--outdir", outdir]
    start = time.perf_counter()
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        timer.cancel()
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        stopped = proc.returncode == -signal.SIGKILL and wall >= timeout
        if proc.returncode and not stopped:
            stderr.seek(0)
            raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}: {stderr.read().decode()[-500:]}")
    return dict(wall=round(wall, 2), cpu=round(usage.ru_utime + usage.ru_stime, 2), stopped=stopped)


def _seconds(run, key):
    return f"> {run[key]:.0f} (stopped)" if run["stopped"] else f"{run[key]:.1f}"


class CompetingLoad:
    """`n` busy-looping Python processes for the length of a with block."""

    def __init__(self, n):
        self.n, self.procs = n, []

    def __enter__(self):
        self.procs = [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(self.n)]
        time.sleep(1.0)   # let them take their cores
        return self

    def __exit__(self, *exc):
        for proc in self.procs:
            proc.kill()
        for proc in self.procs:
            proc.wait()


def main(argv=None):
    cores = physical_cores() or os.cpu_count()
    table = settings(cores)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="+", choices=sorted(table), default=["old", "new"])
    parser.add_argument("--only", nargs="+", choices=sorted(WORKLOADS), default=list(WORKLOADS))
    parser.add_argument("--load", type=int, default=2, help="busy-looping processes of the loaded runs")
    parser.add_argument("--timeout", type=float, default=300, help="seconds after which a run is stopped")
    parser.add_argument("--out", default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    base = {k: v for k, v in os.environ.items() if k not in CONTROLLED}
    base["PYTHONPATH"] = ROOT + os.pathsep + base.get("PYTHONPATH", "") if base.get("PYTHONPATH") else ROOT
    rows = []
    print(f"{cores} physical core(s), {os.cpu_count()} logical; competing load: {args.load} busy loop(s)")
    print("| run | setting | idle wall s | idle CPU-s | loaded wall s | loaded CPU-s | wall x | CPU x | "
          "load avg (idle, loaded) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.only:
            for setting in args.settings:
                env = dict(base, **table[setting])
                load_idle = os.getloadavg()[0]
                idle = run_once(WORKLOADS[name], env, workdir, args.timeout)
                with CompetingLoad(args.load):
                    load_loaded = os.getloadavg()[0]
                    loaded = run_once(WORKLOADS[name], env, workdir, args.timeout)
                row = dict(run=name, setting=setting, env=table[setting], idle=idle, loaded=loaded,
                           loadavg=[load_idle, load_loaded])
                rows.append(row)
                print(f"| {name} | {setting} | {_seconds(idle, 'wall')} | {_seconds(idle, 'cpu')} | "
                      f"{_seconds(loaded, 'wall')} | {_seconds(loaded, 'cpu')} | "
                      f"{loaded['wall'] / idle['wall']:.2f} | {loaded['cpu'] / idle['cpu']:.2f} | "
                      f"{load_idle:.1f}, {load_loaded:.1f} |", flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(dict(cores=cores, workloads=WORKLOADS, rows=rows), f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
