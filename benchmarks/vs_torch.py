"""MXNet against PyTorch on one machine, interleaved so both see the same load.

    python benchmarks/vs_torch.py --torch-python /path/to/venv-with-torch/bin/python --rounds 10
    python benchmarks/vs_torch.py --torch-python ... --only toy --rounds 8

Long-lived workers, one per framework and group of figures, build their networks once and warm up:
this package (`run.Setup` for the DCGAN, as `run.py` times it; `training.toy`'s networks, optimizer
and `critic_step` arguments for the toy) and PyTorch (`torch_reference`, the same models and
optimizers). Then, round after round, the driver asks each in turn for the seconds of `--number`
iterations of each figure, alternating which goes first. Samples of the two frameworks are seconds
apart, where separate runs (`run.py`, then `torch_reference.py`) were minutes apart and a change in
the machine's load between them moved the ratio by up to 30%. A figure's result is the median over
rounds of each side's seconds per iteration and of the per-round ratio MXNet / PyTorch. Writes
``vs_torch.json`` and ``vs_torch.md`` to `--out`. torch is not a dependency of the package: give
the interpreter of an environment that has it.

Groups (`--only`): ``dcgan``, DCGAN 64x64 at batch 64, WGAN and WGAN-GP critic and generator
iterations; ``toy``, the WGAN-GP toy MLP (3 x 512 ReLU, batch 256, 2-D data), its critic and
generator iterations and a loop iteration of 5 critic + 1 generator iterations as the toy runs train. Each MXNet worker computes with the package's default
threads for its networks (`--threads` to choose), each PyTorch worker with PyTorch's default
(`--torch-threads` to choose).
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import NamedTuple

HERE = os.path.dirname(os.path.abspath(__file__))


class Figure(NamedTuple):
    """One timed iteration: which networks and precision (`group`, one worker per framework), which
    method, which step."""
    group: str
    method: str
    step: str

    @property
    def key(self):
        return f"{self.group} {self.method} {self.step}"


# A group ending in -bf16 runs the package with --dtype bfloat16 and PyTorch under its CPU autocast
# to bfloat16 (torch_reference.autocast).
GROUPS = {
    "dcgan": [Figure("dcgan", m, s) for m in ("wgan", "wgan-gp") for s in ("critic", "gen")],
    "toy": [Figure("toy", "wgan-gp", s) for s in ("critic", "gen", "loop")],
}
GROUPS.update({f"{g}-bf16": [f._replace(group=f"{g}-bf16") for f in figures] for g, figures in list(GROUPS.items())})
DEFAULT_GROUPS = ["dcgan", "toy"]
TITLES = {"dcgan": "DCGAN-64, batch 64", "toy": "toy MLP 3 x 512, batch 256",
          "dcgan-bf16": "DCGAN-64, batch 64, bfloat16 (PyTorch: autocast)",
          "toy-bf16": "toy MLP 3 x 512, batch 256, bfloat16 (PyTorch: autocast)"}


def networks_and_dtype(group):
    """('dcgan' or 'toy', 'float32' or 'bfloat16') of a group."""
    networks, _, bf16 = group.partition("-")
    return networks, "bfloat16" if bf16 else "float32"
# The toy's sizes (training/toy.py's defaults); tests pass smaller ones.
TOY = dict(batch=256, hidden=512, n_hidden=3)
TOY_CRITIC_ITERS = 5   # critic iterations per generator iteration: a toy "loop" iteration is 5 + 1


# ------------------------------------------------------------------------------------- workers

def mxnet_iterations(group, threads=0, toy_sizes=TOY):
    """{(method, step): one iteration} of `group` for this package, the device sync, and a
    description. `threads` 0 is the package's default for the group's networks."""
    from gluon_wgan.utils.threads import use_threads
    networks, dtype = networks_and_dtype(group)
    use_threads(threads, small=networks == "toy")   # before MXNet loads, as the scripts do
    import mxnet as mx
    fns = {}
    if networks == "dcgan":
        from run import FULL, Setup
        for method in ("wgan", "wgan-gp"):
            setup = Setup("dcgan", method, mx.cpu(), FULL, dtype=dtype)
            fns[(method, "critic")], fns[(method, "gen")] = setup.critic_iteration, setup.generator_iteration
    else:
        fns.update(toy_iterations(**toy_sizes, dtype=dtype))
    return fns, mx.nd.waitall, dict(framework="mxnet", version=mx.__version__,
                                    threads=os.environ.get("OMP_NUM_THREADS"))


def toy_iterations(batch, hidden, n_hidden, seed=0, dtype="float32"):
    """{(method, step): one iteration} of the WGAN-GP toy run as `training.toy.train_toy` does it: its
    networks (hybridized, as there), Adam settings, penalty weight and `critic_step` arguments. The
    critic and generator iterations copy a fixed real batch and fresh numpy noise to the device each
    time; the loop iteration (5 critic + 1 generator iterations) copies one generator iteration's
    batches at once (`toy.draw_batches`), as `train_toy` does."""
    import mxnet as mx
    import numpy as np
    from mxnet import gluon, nd
    from gluon_wgan.data.toy import sample_toy
    from gluon_wgan.optim import make_optimizer
    from gluon_wgan.training import toy
    from gluon_wgan.training.choices import TOY_GP_WEIGHT
    from gluon_wgan.training.methods import METHODS
    from gluon_wgan.training.steps import critic_step, generator_step
    mx.random.seed(seed)
    rng = np.random.RandomState(seed)
    generator, critic = toy.build_mlps(hidden, n_hidden, dtype=dtype)
    generator.hybridize()
    critic.hybridize()
    s, rule = toy.SETTINGS["wgan-gp"], METHODS["wgan-gp"]
    d_trainer, g_trainer = (gluon.Trainer(net.collect_params(), make_optimizer(s.optimizer, s.lr, **s.optimizer_kw))
                            for net in (critic, generator))
    real = sample_toy("8gaussians", batch, rng)

    def noise():
        return nd.array(rng.standard_normal((batch, toy.NZ)).astype(np.float32))

    def critic_update(real_batch, z):
        return critic_step(critic, generator, d_trainer, real_batch, z, rule, clamp=s.clamp,
                           clip_when="after", gp_weight=TOY_GP_WEIGHT)

    def loop_iter():
        batches = nd.array(toy.draw_batches("8gaussians", batch, TOY_CRITIC_ITERS, rng))
        for k in range(TOY_CRITIC_ITERS):
            critic_update(batches[2 * k], batches[2 * k + 1])
        return generator_step(generator, critic, g_trainer, batches[2 * TOY_CRITIC_ITERS], rule)
    return {("wgan-gp", "critic"): lambda: critic_update(nd.array(real), noise()),
            ("wgan-gp", "gen"): lambda: generator_step(generator, critic, g_trainer, noise(), rule),
            ("wgan-gp", "loop"): loop_iter}


def torch_iterations(group, threads=0, toy_sizes=TOY):
    import torch
    if threads:
        torch.set_num_threads(threads)
    from torch_reference import iterations, toy_iterations as torch_toy
    torch.manual_seed(0)
    networks, dtype = networks_and_dtype(group)
    fns = {}
    if networks == "dcgan":
        for method in ("wgan", "wgan-gp"):
            fns[(method, "critic")], fns[(method, "gen")] = iterations(method, dtype=dtype)
    else:
        critic_iter, gen_iter = torch_toy(**toy_sizes, dtype=dtype)

        def loop_iter():
            for _ in range(TOY_CRITIC_ITERS):
                critic_iter()
            gen_iter()
        fns.update({("wgan-gp", "critic"): critic_iter, ("wgan-gp", "gen"): gen_iter, ("wgan-gp", "loop"): loop_iter})
    return fns, lambda: None, dict(framework="torch", version=torch.__version__,
                                   threads=torch.get_num_threads())


def serve(framework, group, warmup, threads=0, toy_sizes=TOY, stdin=sys.stdin, stdout=sys.stdout):
    """Answer {"method", "step", "number"} lines on `stdin` with {"seconds": per iteration}."""
    fns, sync, info = (mxnet_iterations if framework == "mxnet" else torch_iterations)(group, threads, toy_sizes)
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    sync()
    print(json.dumps(dict(info, ready=True)), file=stdout, flush=True)
    for line in stdin:
        request = json.loads(line)
        fn = fns[(request["method"], request["step"])]
        sync()
        start = time.perf_counter()
        for _ in range(request["number"]):
            fn()
        sync()
        print(json.dumps({"seconds": (time.perf_counter() - start) / request["number"]}), file=stdout,
              flush=True)


# -------------------------------------------------------------------------------------- driver

class Worker:
    def __init__(self, python, framework, group, warmup, threads=0):
        self.framework, self.group = framework, group
        self.proc = subprocess.Popen([python, os.path.abspath(__file__), "--serve", framework,
                                      "--group", group, "--warmup", str(warmup), "--threads", str(threads)],
                                     cwd=HERE, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        self.info = self._reply()

    def _reply(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.framework} worker exited (code {self.proc.wait()}); run "
                               f"`{os.path.basename(__file__)} --serve {self.framework} --group {self.group}` "
                               "to see why")
        return json.loads(line)

    def time(self, figure, number):
        self.proc.stdin.write(json.dumps(dict(method=figure.method, step=figure.step, number=number)) + "\n")
        self.proc.stdin.flush()
        return self._reply()["seconds"]

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def compare(workers, figures, rounds, number, log=print):
    """{figure key: {framework: [seconds per iteration, one per round]}}, taking turns.

    `workers`: {group: [mxnet worker, torch worker]}."""
    samples = {f.key: {"mxnet": [], "torch": []} for f in figures}
    for r in range(rounds):
        for f in figures:
            pair = workers[f.group]
            for w in (pair if r % 2 == 0 else pair[::-1]):
                samples[f.key][w.framework].append(w.time(f, number))
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
    if "dcgan wgan-gp critic" in samples and "dcgan wgan critic" in samples:
        for side in ("mxnet", "torch"):
            per_round = [a / b for a, b in zip(samples["dcgan wgan-gp critic"][side],
                                               samples["dcgan wgan critic"][side])]
            out[f"dcgan wgan-gp / wgan critic ({side})"] = statistics.median(per_round)
    for figure in samples:   # each framework's bfloat16 time over its float32 time, per round
        plain = figure.replace("-bf16 ", " ", 1)
        if "-bf16 " in figure and plain in samples:
            for side in ("mxnet", "torch"):
                per_round = [a / b for a, b in zip(samples[figure][side], samples[plain][side])]
                out[f"{figure} / float32 ({side})"] = statistics.median(per_round)
    return out


def markdown(result):
    s, workers = result["summary"], result["workers"]
    lines = [f"{result['machine']}; {result['rounds']} rounds of {result['number']} iterations per "
             "figure and framework, taking turns."]
    for group, figures in GROUPS.items():
        figures = [f for f in figures if f.key in s]
        if not figures:
            continue
        mx_info, torch_info = workers[group]["mxnet"], workers[group]["torch"]
        lines += ["", f"| {TITLES[group]} | MXNet {mx_info['version']} ({mx_info['threads']} threads), s "
                      f"| PyTorch {torch_info['version']} ({torch_info['threads']} threads), s "
                      "| MXNet / PyTorch: median (range) |",
                  "| --- | ---: | ---: | ---: |"]
        for f in figures:
            r = s[f.key]
            step = "loop (5 critic + 1 generator)" if f.step == "loop" else f.step
            lines.append(f"| {f.method} {step} iteration | {r['mxnet']:.4f} | {r['torch']:.4f} | "
                         f"{r['ratio']:.2f} ({r['ratio_min']:.2f}-{r['ratio_max']:.2f}) |")
            if f"{f.key} / float32 (mxnet)" in s:
                lines.append(f"| ... its time / float32's | {s[f.key + ' / float32 (mxnet)']:.2f} | "
                             f"{s[f.key + ' / float32 (torch)']:.2f} | |")
        if group == "dcgan" and "dcgan wgan-gp / wgan critic (mxnet)" in s:
            lines.append(f"| WGAN-GP / WGAN critic iteration | {s['dcgan wgan-gp / wgan critic (mxnet)']:.2f} | "
                         f"{s['dcgan wgan-gp / wgan critic (torch)']:.2f} | |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--torch-python", help="python of an environment with torch (required)")
    parser.add_argument("--only", nargs="+", choices=tuple(GROUPS), default=DEFAULT_GROUPS,
                        help="groups of figures to time; a -bf16 group runs this package with --dtype "
                             "bfloat16 and PyTorch under autocast (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=10, help="rounds of all figures (default: 10)")
    parser.add_argument("--number", type=int, default=2, help="iterations per sample (default: 2)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed iterations per figure first")
    # Not utils.threads.add_threads_flag: the PyTorch workers run this file where gluon_wgan may not import.
    parser.add_argument("--threads", type=int, default=0, metavar="N",
                        help="MXNet's compute threads (0: the package's default for each group's networks); "
                             "OMP_NUM_THREADS, when set, wins")
    parser.add_argument("--torch-threads", type=int, default=0, help="PyTorch's threads (0: its default)")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "vs_torch"),
                        help="folder for vs_torch.json and vs_torch.md")
    parser.add_argument("--serve", choices=("mxnet", "torch"), help=argparse.SUPPRESS)
    parser.add_argument("--group", choices=tuple(GROUPS), default="dcgan", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.group, args.warmup, args.threads)
        return 0
    if not args.torch_python:
        parser.error("--torch-python is required: the interpreter of an environment with torch")
    if args.rounds < 1 or args.number < 1 or args.warmup < 0 or args.threads < 0 or args.torch_threads < 0:
        parser.error("--rounds and --number must be >= 1, --warmup, --threads and --torch-threads >= 0")
    groups = [g for g in GROUPS if g in args.only]
    workers = {}
    try:
        for group in groups:
            workers[group] = [Worker(sys.executable, "mxnet", group, args.warmup, args.threads),
                              Worker(args.torch_python, "torch", group, args.warmup, args.torch_threads)]
        samples = compare(workers, [f for g in groups for f in GROUPS[g]], args.rounds, args.number)
    finally:
        for pair in workers.values():
            for w in pair:
                w.close()
    from run import machine, save   # the MXNet side's description of the machine
    import mxnet as mx
    mach = machine(mx.cpu())
    result = dict(machine=f"{mach['cpu']}, {mach['cores']} cores, {platform.python_version()}",
                  rounds=args.rounds, number=args.number,
                  workers={g: {w.framework: w.info for w in pair} for g, pair in workers.items()},
                  samples=samples, summary=summary(samples))
    save(args.out, "vs_torch", result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
