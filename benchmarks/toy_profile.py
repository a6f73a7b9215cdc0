"""Where the WGAN-GP toy iteration's time goes: MXNet's operator profile by kind of work.

    python benchmarks/toy_profile.py                  # the toy's default thread count (one)
    python benchmarks/toy_profile.py --threads 2 --loops 20
    python benchmarks/toy_profile.py --transposes     # one dense transpose: dot against FullyConnected

Builds the toy run's networks, optimizer and steps (`vs_torch.toy_iterations`: MLP 3 x 512 ReLU,
batch 256, Adam(1e-4, 0.5, 0.9), lambda 0.1), warms up, then runs `--loops` loop iterations of 5
critic + 1 generator iterations (the batches copied at once, as the toy runs do) under
`mx.profiler` (aggregate statistics) and prints, per loop iteration, the wall milliseconds and the
operator milliseconds of each kind of work (the kinds are `KINDS`; "not in operators" is wall
minus all operator time: Python and the engine while no operator runs).

`--transposes` times instead one of the penalty's dense transposes at the toy's size, g W for g
(256, 512) and W (512, 512), forward and backward (both gradients), written as `dot(g, W)` (what
the package did before issue 25; MXNet's wheel runs it in OpenBLAS) and as
`FullyConnected(g, transpose(W))` (oneDNN, and what it does now), alternating.
"""
import argparse
import json
import os
import sys
import time

from gluon_wgan.utils.threads import add_threads_flag, threads_from_argv, use_threads

use_threads(threads_from_argv(sys.argv[1:]), small=True)   # the toy's default; before MXNet loads
import mxnet as mx  # noqa: E402

from run import measure  # noqa: E402
from vs_torch import TOY, TOY_CRITIC_ITERS, toy_iterations  # noqa: E402

# Operator name -> kind of work. The dense products are every FullyConnected (the networks' layers,
# the penalty's transposes, the per-sample norm's row sums) and every dot (before issue 25, the
# penalty's transposes).
KINDS = {
    "FullyConnected": "dense products, forward",
    "_backward_FullyConnected": "dense products, backward",
    "dot": "dot (OpenBLAS), forward",
    "_backward_dot": "dot (OpenBLAS), backward",
    "transpose": "weight transposes",
    "_backward_transpose": "weight transposes",
    "adam_update": "Adam",
    "relu": "ReLU, masks and their products",
    "_backward_relu": "ReLU, masks and their products",
    "_greater_scalar": "ReLU, masks and their products",
    "elemwise_mul": "ReLU, masks and their products",
    "_backward_mul": "ReLU, masks and their products",
}
# Engine bookkeeping, not work: waits overlap with the operators they wait for.
NOT_WORK = ("WaitForVar", "DeleteVariable")


def profile(loops, warmup, sizes=TOY):
    """{kind: operator ms per loop iteration}, with "wall" and "not in operators"."""
    loop_iteration = toy_iterations(**sizes)[("wgan-gp", "loop")]
    for _ in range(warmup):
        loop_iteration()
    mx.nd.waitall()
    mx.profiler.set_config(profile_all=True, aggregate_stats=True, filename="/dev/null")
    mx.profiler.set_state("run")
    start = time.perf_counter()
    for _ in range(loops):
        loop_iteration()
    mx.nd.waitall()
    wall = (time.perf_counter() - start) * 1e3 / loops
    mx.profiler.set_state("stop")
    stats = json.loads(mx.profiler.dumps(format="json", reset=True))["Time"]["operator"]
    out = {}
    for name, s in stats.items():
        if name not in NOT_WORK:
            kind = KINDS.get(name, "other operators")
            out[kind] = out.get(kind, 0.0) + s["Total"] / loops
    out["not in operators"] = wall - sum(out.values())
    out["wall"] = wall
    return out


def time_transposes(repeats=5, number=50, rows=TOY["batch"], units=TOY["hidden"]):
    """{way: [ms per forward + backward, one per repeat]} of g W, alternating the two ways."""
    from mxnet import autograd, nd
    g, w = nd.random.normal(shape=(rows, units)), nd.random.normal(shape=(units, units))
    head = nd.random.normal(shape=(rows, units))
    for x in (g, w):
        x.attach_grad()
    ways = {"dot": lambda: nd.dot(g, w),
            "FullyConnected(g, transpose(W))": lambda: nd.FullyConnected(g, nd.transpose(w), no_bias=True,
                                                                         num_hidden=units)}
    out = {name: [] for name in ways}
    for _ in range(repeats):
        for name, way in ways.items():
            def once():
                with autograd.record():
                    product = way()
                product.backward(head)
            out[name].append(measure(once, repeats=1, warmup=1, number=number)["median"] * 1e3)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_threads_flag(parser, "one, the toy's default")
    parser.add_argument("--loops", type=int, default=10, help="profiled loop iterations (5 critic + 1 generator)")
    parser.add_argument("--warmup", type=int, default=2, help="unprofiled loop iterations first")
    parser.add_argument("--transposes", action="store_true",
                        help="time one dense transpose with dot and with FullyConnected instead")
    args = parser.parse_args(argv)
    if args.loops < 1 or args.warmup < 0:
        parser.error("--loops must be >= 1 and --warmup >= 0")
    if args.transposes:
        for name, samples in time_transposes().items():
            print(f"{name}: forward + backward {min(samples):.2f}-{max(samples):.2f} ms "
                  f"(median {sorted(samples)[len(samples) // 2]:.2f}), {os.environ.get('OMP_NUM_THREADS')} thread(s)")
        return 0
    out = profile(args.loops, args.warmup)
    wall = out["wall"]
    print(f"toy WGAN-GP, MXNet {mx.__version__}, {os.environ.get('OMP_NUM_THREADS')} thread(s); "
          f"ms per loop iteration ({TOY_CRITIC_ITERS} critic + 1 generator), mean of {args.loops}")
    print("| kind | ms | share of wall |\n| --- | ---: | ---: |")
    for kind, ms in sorted(out.items(), key=lambda kv: -kv[1]):
        if kind != "wall":
            print(f"| {kind} | {ms:.1f} | {ms / wall:.0%} |")
    print(f"| wall | {wall:.1f} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
