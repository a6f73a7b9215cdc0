"""MXNet against PyTorch on one machine, interleaved so both see the same load.

    python benchmarks/vs_torch.py --torch-python /path/to/venv-with-torch/bin/python --rounds 10

Two long-lived workers, this package (`run.Setup`, as `run.py` times it) and PyTorch
(`torch_reference.iterations`, the same models and optimizers), build their networks once and warm
up. Then, round after round, the driver asks each in turn for the seconds of `--number` iterations
of each figure (WGAN and WGAN-GP, critic and generator iteration), alternating which goes first.
Samples of the two frameworks are seconds apart, where separate runs (`run.py`, then
`torch_reference.py`) were minutes apart and a change in the machine's load between them moved the
ratio by up to 30%. A figure's result is the median over rounds of each side's seconds per
iteration and of the per-round ratio MXNet / PyTorch. Writes ``vs_torch.json`` and ``vs_torch.md``
to `--out`. torch is not a dependency of the package: give the interpreter of an environment that
has it.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FIGURES = [("wgan", "critic"), ("wgan", "gen"), ("wgan-gp", "critic"), ("wgan-gp", "gen")]


# ------------------------------------------------------------------------------------- workers

def mxnet_iterations():
    """{(method, step): one iteration} for this package, and the device sync."""
    from gluon_wgan.utils.threads import use_physical_cores
    use_physical_cores()   # before MXNet loads, as the scripts do
    import mxnet as mx
    from run import FULL, Setup
    fns = {}
    for method in ("wgan", "wgan-gp"):
        setup = Setup("dcgan", method, mx.cpu(), FULL)
        fns[(method, "critic")], fns[(method, "gen")] = setup.critic_iteration, setup.generator_iteration
    return fns, mx.nd.waitall, dict(framework="mxnet", version=mx.__version__,
                                    threads=os.environ.get("OMP_NUM_THREADS"))


def torch_iterations():
    import torch
    from torch_reference import iterations
    torch.manual_seed(0)
    fns = {}
    for method in ("wgan", "wgan-gp"):
        fns[(method, "critic")], fns[(method, "gen")] = iterations(method)
    return fns, lambda: None, dict(framework="torch", version=torch.__version__,
                                   threads=torch.get_num_threads())


def serve(framework, warmup):
    """Answer {"method", "step", "number"} lines on stdin with {"seconds": per iteration}."""
    fns, sync, info = (mxnet_iterations if framework == "mxnet" else torch_iterations)()
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    sync()
    print(json.dumps(dict(info, ready=True)), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        fn = fns[(request["method"], request["step"])]
        sync()
        start = time.perf_counter()
        for _ in range(request["number"]):
            fn()
        sync()
        print(json.dumps({"seconds": (time.perf_counter() - start) / request["number"]}), flush=True)


# -------------------------------------------------------------------------------------- driver

class Worker:
    def __init__(self, python, framework, warmup):
        self.framework = framework
        self.proc = subprocess.Popen([python, os.path.abspath(__file__), "--serve", framework,
                                      "--warmup", str(warmup)], cwd=HERE, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        self.info = self._reply()

    def _reply(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.framework} worker exited (code {self.proc.wait()}); "
                               f"run `{os.path.basename(__file__)} --serve {self.framework}` to see why")
        return json.loads(line)

    def time(self, method, step, number):
        self.proc.stdin.write(json.dumps(dict(method=method, step=step, number=number)) + "\n")
        self.proc.stdin.flush()
        return self._reply()["seconds"]

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def compare(workers, rounds, number, log=print):
    """{figure: {framework: [seconds per iteration, one per round]}}, taking turns."""
    samples = {f"{m} {s}": {w.framework: [] for w in workers} for m, s in FIGURES}
    for r in range(rounds):
        for method, step in FIGURES:
            for w in (workers if r % 2 == 0 else workers[::-1]):
                samples[f"{method} {step}"][w.framework].append(w.time(method, step, number))
        log(f"round {r + 1}/{rounds}: " + ", ".join(
            f"{k} {v['mxnet'][-1] / v['torch'][-1]:.2f}" for k, v in samples.items()))
    return samples


def summary(samples):
    """Medians over rounds: seconds of each side, and the per-round ratio MXNet / PyTorch."""
    out = {}
    for figure, s in samples.items():
        ratios = [a / b for a, b in zip(s["mxnet"], s["torch"])]
        out[figure] = dict(mxnet=statistics.median(s["mxnet"]), torch=statistics.median(s["torch"]),
                           ratio=statistics.median(ratios), ratio_min=min(ratios), ratio_max=max(ratios))
    for side in ("mxnet", "torch"):
        per_round = [a / b for a, b in zip(samples["wgan-gp critic"][side], samples["wgan critic"][side])]
        out[f"wgan-gp / wgan critic ({side})"] = statistics.median(per_round)
    return out


def markdown(result):
    s = result["summary"]
    lines = [f"{result['machine']}; {result['rounds']} rounds of {result['number']} iterations per "
             f"figure and framework, taking turns. MXNet {result['workers']['mxnet']['version']} "
             f"({result['workers']['mxnet']['threads']} threads), PyTorch "
             f"{result['workers']['torch']['version']} ({result['workers']['torch']['threads']} threads).",
             "", "| DCGAN-64, batch 64 | MXNet (s) | PyTorch (s) | MXNet / PyTorch: median (range) |",
             "| --- | ---: | ---: | ---: |"]
    for method, step in FIGURES:
        f = s[f"{method} {step}"]
        lines.append(f"| {method} {step} iteration | {f['mxnet']:.3f} | {f['torch']:.3f} | "
                     f"{f['ratio']:.2f} ({f['ratio_min']:.2f}-{f['ratio_max']:.2f}) |")
    lines.append(f"| WGAN-GP / WGAN critic iteration | {s['wgan-gp / wgan critic (mxnet)']:.2f} | "
                 f"{s['wgan-gp / wgan critic (torch)']:.2f} | |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--torch-python", help="python of an environment with torch (required)")
    parser.add_argument("--rounds", type=int, default=10, help="rounds of all figures (default: 10)")
    parser.add_argument("--number", type=int, default=2, help="iterations per sample (default: 2)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed iterations per figure first")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "vs_torch"),
                        help="folder for vs_torch.json and vs_torch.md")
    parser.add_argument("--serve", choices=("mxnet", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.warmup)
        return 0
    if not args.torch_python:
        parser.error("--torch-python is required: the interpreter of an environment with torch")
    if args.rounds < 1 or args.number < 1 or args.warmup < 0:
        parser.error("--rounds and --number must be >= 1, --warmup >= 0")
    workers = [Worker(sys.executable, "mxnet", args.warmup), Worker(args.torch_python, "torch", args.warmup)]
    try:
        samples = compare(workers, args.rounds, args.number)
    finally:
        for w in workers:
            w.close()
    from run import machine, save   # the MXNet side's description of the machine
    import mxnet as mx
    mach = machine(mx.cpu())
    result = dict(machine=f"{mach['cpu']}, {mach['cores']} cores, {platform.python_version()}",
                  rounds=args.rounds, number=args.number,
                  workers={w.framework: w.info for w in workers}, samples=samples,
                  summary=summary(samples))
    save(args.out, "vs_torch", result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
