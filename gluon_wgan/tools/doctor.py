"""The GPU check: can this machine train on a GPU, and does the GPU compute what the CPU computes?
`python -m gluon_wgan.tools.doctor [--gpu N] [--smoke]`, also as scripts/check_gpu.py.

`check(gpu)` runs `gluon_wgan.cuda.check` (wheel, driver, libraries, device, kernels: nothing that
needs MXNet loaded), then loads MXNet and runs `check_step`: one small convolutional critic's WGAN-GP
loss and parameter gradients on the GPU against the CPU. `smoke` runs a few WGAN and WGAN-GP
iterations on two devices from the same weights, data and noise, and measures them; `report` turns
both into lines to paste into an issue. Every failure is a `GPUProblem`, one line naming the fix.

The device side always runs MXNet's plain operators, which is all a GPU has (the fused layer-norm
and penalty kernels of `gluon_wgan.native` are CPU code), so the suite's cpu(1)-against-cpu(0) run
compares what a user's gpu(0)-against-cpu(0) run compares. The modules that import MXNet are
imported inside the functions, after the checks that must come before MXNet loads.

This module is also a command (``python -m``), so `main` writes to the streams it is given; it is
the one module of the package that talks to the terminal besides cli.py.
"""
import argparse
import platform
import resource
import sys
import time

import numpy as np

from .. import native
from ..cuda import GPUProblem, gist
from ..utils.context import check_gpus, load_mxnet
from ..utils.cpu import isa_summary
from ..utils.oneline import OneLineParser
from ..utils.threads import add_threads_flag, use_threads

# The largest |gpu - cpu| / max|cpu| accepted, per array. cuDNN on Ampere and newer computes float32
# convolutions with TF32 (10-bit mantissa, products rounded to 5e-4 relative) unless
# NVIDIA_TF32_OVERRIDE=0; a kernel that does not run correctly is off by far more.
RTOL = 1e-2
# The smoke run's training updates after a few iterations, all parameters together: rounding that
# Adam amplifies moves them by a few thousandths (fused against plain CPU kernels); a kernel that
# computes wrong moves them by as much as the update itself.
UPDATE_RTOL = 0.1

FIX = "update the NVIDIA driver, or train with --ctx cpu; please report it with the output of " \
      "scripts/check_gpu.py --smoke"


def check(gpu=0):
    """Everything `--ctx gpu(<gpu>)` needs, in order; (subject, finding) lines, or `GPUProblem`."""
    found = check_gpus([gpu])
    mx = load_mxnet()
    found.append(("step", check_step(mx.gpu(gpu), mx.cpu())))
    return found


def check_step(device, reference, image_size=16, batch_size=4, seed=0):
    """A DCGAN critic's WGAN-GP loss (convolutions, layer norm, the gradient penalty) and its parameter
    gradients on `device` against `reference`, from the same weights, images and interpolation points.

    The penalty is the public `gradient_penalty`, called inside `autograd.record()` and followed by
    `loss.backward()` alone, as in any training code.

    Returns
    -------
    str
        The finding, with the largest relative difference.

    Raises
    ------
    GPUProblem
        When MXNet fails on `device`, or the results differ by more than `RTOL`.
    """
    rng = np.random.RandomState(seed)
    real, fake = rng.uniform(-1, 1, (2, batch_size, 3, image_size, image_size)).astype(np.float32)
    alpha = rng.uniform(0, 1, batch_size).astype(np.float32)
    weights = None
    results = []
    for ctx in (reference, device):
        arrays, weights = _guarded(ctx, lambda: _critic_gradients(ctx, real, fake, alpha, weights, image_size),
                                   plain=ctx is device)
        results.append(arrays)
    worst = max(_relative(a, b) for a, b in zip(results[1], results[0]))
    if not worst <= RTOL:    # also NaN
        raise GPUProblem(f"{device} computes a convolution + gradient penalty step {worst:.1e} away from "
                         f"{reference} (relative; at most {RTOL:g} expected): {FIX}")
    return (f"a convolution + gradient penalty step on {device} equals {reference}'s "
            f"(largest relative difference {worst:.1e}, at most {RTOL:g} accepted)")


def _critic_gradients(ctx, real, fake, alpha, weights, image_size):
    """[loss, gradient of each parameter] on `ctx`, and the weights used (drawn once, then reused)."""
    mx = load_mxnet()
    from mxnet import autograd

    from ..losses import wasserstein_d
    from ..models import get_model
    from ..penalty import gradient_penalty

    critic = get_model("dcgan_critic", image_size=image_size, ndf=8, norm="layer")
    critic.initialize(ctx=ctx)
    critic.hybridize()          # as training does; on a GPU also MXNet's NVRTC-compiled fused kernels
    critic(mx.nd.array(real, ctx=ctx))            # shapes of the deferred parameters
    params = [p for p in critic.collect_params().values() if p.grad_req != "null"]
    if weights is None:
        rng = np.random.RandomState(1)
        weights = [rng.normal(1.0 if p.name.endswith("gamma") else 0.0, 0.1, p.shape).astype(np.float32)
                   for p in params]
    for p, w in zip(params, weights):
        p.set_data(mx.nd.array(w, ctx=ctx))
    x_real, x_fake, a = (mx.nd.array(v, ctx=ctx) for v in (real, fake, alpha))
    with autograd.record():
        loss = wasserstein_d(critic(x_real), critic(x_fake)) + gradient_penalty(critic, x_real, x_fake, alpha=a)
    loss.backward()
    return [loss.asnumpy()] + [p.grad(ctx).asnumpy() for p in params], weights


def smoke(device, reference, methods=("wgan", "wgan-gp"), iterations=5, image_size=64, batch_size=64,
          width=64, seed=0):
    """A few training iterations of each method on `device` and on `reference`, compared and timed.

    Both start from the same weights and see the same images and noise (and, for WGAN-GP, the same
    interpolation points), so what they compute should agree up to rounding. Each iteration is one
    critic update then one generator update; a first, untimed one warms up (cuDNN picks its
    algorithms then). The critic update is written out here rather than taken from
    `training.steps.critic_step`, which draws the penalty's interpolation points on the device,
    where two devices draw different numbers.

    Parameters
    ----------
    device, reference : mx.Context
        e.g. ``mx.gpu(0)`` and ``mx.cpu()``; the test suite compares ``cpu(1)`` with ``cpu(0)``.
    iterations : int, default 5
        Timed iterations per method and device.
    image_size, batch_size, width : int, default 64
        The DCGAN networks (ngf = ndf = `width`) and the batch.

    Returns
    -------
    list of dict
        Per method: ``method``, and per device (``device``, ``reference``) the seconds per critic and
        per generator iteration, images per second through the critic, the memory in use; the
        largest relative difference between the devices' losses (``loss_diff``) and final weights
        (``weight_diff``).
    """
    rng = np.random.RandomState(seed)
    shape = (iterations + 1, batch_size)
    real = rng.uniform(-1, 1, shape + (3, image_size, image_size)).astype(np.float32)
    noise = rng.normal(0, 1, shape + (100, 1, 1)).astype(np.float32)
    alpha = rng.uniform(0, 1, shape).astype(np.float32)
    out = []
    for method in methods:
        row, runs, weights = {"method": method}, [], None
        for key, ctx in (("reference", reference), ("device", device)):
            run, weights = _guarded(ctx, lambda: _train(ctx, method, real, noise, alpha, weights,
                                                          image_size, width), plain=key == "device")
            row[key] = run["timing"]
            runs.append(run)
        # The first iteration starts from equal weights: its losses differ by the kernels' rounding
        # alone. Later ones drift further (Adam's first steps are about lr * sign(gradient) for every
        # entry, so an entry whose gradient is rounding noise moves by lr either way): the training
        # updates as a whole are compared instead.
        row["loss_diff"] = max(_relative(a, b) for a, b in zip(runs[1]["losses"][:2], runs[0]["losses"][:2]))
        start = [w for net in weights for w in net]
        row["update_diff"] = _update_difference(runs[1]["weights"], runs[0]["weights"], start)
        out.append(row)
    return out


def _train(ctx, method_name, real, noise, alpha, weights, image_size, width):
    mx = load_mxnet()
    from mxnet import autograd

    from ..config import resolve
    from ..penalty import gradient_penalty
    from ..training.build import build_models, build_trainers
    from ..training.constraints import clip_
    from ..training.methods import METHODS
    from ..training.steps import generator_step

    iterations, batch_size = real.shape[0] - 1, real.shape[1]
    cfg = resolve(dict(method=method_name, image_size=image_size, ngf=width, ndf=width, nz=noise.shape[2],
                       batch_size=batch_size))
    method = METHODS[method_name]
    memory_before = _memory(ctx)
    generator, critic = build_models(cfg, ctx)
    nets = (generator, critic)
    generator(mx.nd.array(noise[0], ctx=ctx))                  # shapes of the deferred parameters
    if weights is None:
        weights = [[p.data().asnumpy() for p in net.collect_params().values()] for net in nets]
    for net, values in zip(nets, weights):
        for p, w in zip(net.collect_params().values(), values):
            p.set_data(mx.nd.array(w, ctx=ctx))
    trainer_g, trainer_d = build_trainers(cfg, generator, critic)
    losses, seconds_d, seconds_g = [], 0.0, 0.0
    for i in range(iterations + 1):
        x, z, a = (mx.nd.array(v[i], ctx=ctx) for v in (real, noise, alpha))
        mx.nd.waitall()
        start = time.perf_counter()
        if method.clip:
            clip_(critic.collect_params(), cfg.clamp)          # before the update, as the reference code
        with autograd.train_mode():
            fake = generator(z)
        with autograd.record():
            loss_d = method.loss_d(critic(x), critic(fake))
            if method.penalty:
                loss_d = loss_d + gradient_penalty(critic, x, fake, weight=cfg.gp_weight, alpha=a)
        loss_d.backward()
        trainer_d.step(1)
        mx.nd.waitall()
        middle = time.perf_counter()
        loss_g = generator_step(generator, critic, trainer_g, z, method)["loss_g"]
        mx.nd.waitall()
        if i:                                                   # the first iteration warms up
            seconds_d += middle - start
            seconds_g += time.perf_counter() - middle
        losses += [loss_d.asnumpy(), loss_g.asnumpy()]
    timing = {"device": str(ctx), "critic_s": seconds_d / iterations, "generator_s": seconds_g / iterations,
              "images_per_s": batch_size * iterations / seconds_d if seconds_d else float("nan"),
              "memory": _memory(ctx, memory_before)}
    final = [p.data(ctx).asnumpy() for net in nets for p in net.collect_params().values()]
    return {"timing": timing, "losses": losses, "weights": final}, weights


def _memory(ctx, before=None):
    """GPU: (used, total) bytes on the device, or 'used MiB of total (+n by this run)' given `before`.
    CPU: the process's peak resident memory."""
    if ctx.device_type == "gpu":
        free, total = load_mxnet().context.gpu_memory_info(ctx.device_id)
        used = total - free
        if before is None:
            return used, total
        return f"{used >> 20} MiB of {total >> 20} MiB in use (+{(used - before[0]) >> 20} MiB)"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10      # KiB on Linux
    return f"{peak} MiB peak resident (the process)"


def _update_difference(final, final_reference, start):
    """||update - reference update|| / ||reference update|| over all parameters together."""
    diff = sum(float(np.sum((np.float64(a) - b) ** 2)) for a, b in zip(final, final_reference))
    update = sum(float(np.sum((np.float64(b) - s) ** 2)) for b, s in zip(final_reference, start))
    return np.sqrt(diff / update) if update else np.sqrt(diff)


def agree(row):
    """Whether a smoke row's devices agree: first losses within RTOL, updates within UPDATE_RTOL."""
    return row["loss_diff"] <= RTOL and row["update_diff"] <= UPDATE_RTOL


def _relative(a, b):
    """max |a - b| / max |b| (0 when both are 0)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = np.abs(b).max(initial=0.0)
    diff = np.abs(a - b).max(initial=0.0)
    return diff / scale if scale else diff


def _guarded(ctx, work, plain=False):
    """`work()`, with MXNet's errors on `ctx` turned into one-line GPUProblems; with MXNet's plain
    operators if `plain`."""
    mx = load_mxnet()
    try:
        if plain:
            with native.plain_operators():
                return work()
        return work()
    except mx.base.MXNetError as err:
        raise GPUProblem(f"MXNet fails on {ctx}: {gist(err)}; {FIX}") from None


def report(found, rows=()):
    """Lines to paste into an issue: the checks' findings, then a table of the smoke run."""
    lines = [f"{subject:<10} {finding}" for subject, finding in found]
    if rows:
        lines += ["", "| method | device | critic s/it | generator s/it | images/s | memory |",
                  "| --- | --- | ---: | ---: | ---: | --- |"]
        for row in rows:
            for key in ("device", "reference"):
                t = row[key]
                lines.append(f"| {row['method']} | {t['device']} | {t['critic_s']:.4f} | {t['generator_s']:.4f} "
                             f"| {t['images_per_s']:.0f} | {t['memory']} |")
        lines.append("")
        for row in rows:
            lines.append(f"{row['method']}: {row['device']['device']} against {row['reference']['device']}: first "
                         f"losses {row['loss_diff']:.1e} apart (at most {RTOL:g}), training updates "
                         f"{row['update_diff']:.1e} apart (at most {UPDATE_RTOL:g}): "
                         f"{'agree' if agree(row) else 'DIFFER'}")
    return lines


def build_parser(prog="python -m gluon_wgan.tools.doctor"):
    parser = OneLineParser(prog=prog, description=(
        "Can this machine train on a GPU? Checks, in order, that MXNet is a CUDA wheel, the NVIDIA driver "
        "loads and is new enough, every CUDA library loads, the GPU exists, MXNet has kernels for it, and a "
        "small convolution + gradient penalty step on it equals the CPU's. The first failure is one line on "
        "stderr naming the fix, exit code 2. With --smoke, a few WGAN and WGAN-GP iterations on the GPU and "
        "on the CPU follow, compared and timed: a report to paste into an issue (exit code 1 if the devices "
        "disagree). docs/gpu.md explains each check."))
    parser.add_argument("--gpu", type=int, default=0, metavar="N",
                        help="the GPU to check, as in --ctx gpu(N) (default: 0)")
    parser.add_argument("--smoke", action="store_true",
                        help="also train a few iterations on the GPU and on the CPU, and compare and time them")
    parser.add_argument("--iterations", type=int, default=5, metavar="N",
                        help="--smoke: timed iterations per method and device (default: 5)")
    parser.add_argument("--image-size", type=int, default=64, metavar="PX",
                        help="--smoke: DCGAN image size, batch 64, ngf = ndf = 64 (default: 64)")
    add_threads_flag(parser, "one per physical core")
    parser.add_argument("--device", default=None, metavar="CTX", help=argparse.SUPPRESS)  # tests: cpu(1)
    return parser


def main(argv=None, prog="python -m gluon_wgan.tools.doctor", out=None):
    """The command: the report on `out` (default: stdout); a problem is one line on stderr and exit code 2.

    Returns the exit code: 0 ready, 1 the smoke run's devices disagree. The hidden ``--device cpu(1)``
    runs every step of it but the CUDA checks on a second CPU device, for the test suite.
    """
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    out = out or sys.stdout
    try:
        use_threads(args.threads)   # before MXNet loads, which reads OMP_NUM_THREADS once
    except ValueError as err:
        parser.error(str(err))
    if args.iterations < 1 or args.image_size < 16 or args.image_size % 16:
        parser.error("--iterations must be at least 1 and --image-size a multiple of 16")
    try:
        if args.device is None:
            found = check(args.gpu)
            mx = load_mxnet()
            device = mx.gpu(args.gpu)
        else:
            mx = load_mxnet()
            device = _parse_cpu(mx, args.device, parser)
            found = [("step", check_step(device, mx.cpu()))]
        rows = smoke(device, mx.cpu(), iterations=args.iterations, image_size=args.image_size) \
            if args.smoke else []
    except GPUProblem as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    # After the checks: a problem is its one line alone. The CPU line says what the reference side and
    # the smoke run's CPU timings computed with.
    found.append(("cpu", f"oneDNN computes with {isa_summary()}"))
    out.write(f"gluon_wgan GPU check: Python {platform.python_version()}, {platform.platform()}\n")
    out.write("\n".join(report(found, rows)) + "\n")
    if not all(agree(row) for row in rows):
        return 1
    name = str(device).replace(" ", "")
    out.write(f"{name} is ready: python scripts/train_wgan.py --ctx \"{name}\" ...\n")
    return 0


def _parse_cpu(mx, text, parser):
    if not text.startswith("cpu(") or not text[4:-1].isdigit() or not text.endswith(")"):
        parser.error(f"--device takes cpu(N), got {text!r}")
    return mx.cpu(int(text[4:-1]))


if __name__ == "__main__":
    raise SystemExit(main())
