"""Can MXNet 1.9.1 train the DCGAN networks with bfloat16 convolutions on this CPU? (issue 5)

    python benchmarks/bf16_probe.py --repeats 5      # ~2 minutes on 2 cores
    python benchmarks/bf16_probe.py --quick          # smoke check

A WGAN-GP critic step and a generator step (DCGAN 64x64, batch 64, ngf = ndf = 64, imperative
networks) in float32, then with every Convolution whose kernel is larger than 1x1 and every
Deconvolution run on bfloat16 casts of its input and weight (`amp_cast`), float32 outputs and
float32 master weights; the layer norm's 1x1 gain, the critic's last layer (a `dot` in the penalty)
and everything else stay float32. Prints the relative error of every parameter gradient of one step
against float32, and the median seconds per iteration of both, interleaved in one process. A
measurement, not a training mode: nothing in the package uses it.

MXNet 1.9.1 segfaults computing a bfloat16 Deconvolution's weight gradient through `amp_cast` (a
float32 weight cast inside `record()`). A bfloat16 copy of the weight made outside the graph, as its
own autograd leaf, works; its gradient is cast back into the float32 parameter's. (The penalty's
transposed convolutions record no Deconvolution: gluon_wgan/transposes.py.)
"""
import argparse
import contextlib
import statistics
import sys
import time

from gluon_wgan.utils.threads import add_threads_flag, threads_from_argv, use_threads

use_threads(threads_from_argv(sys.argv[1:]))   # as the scripts do; before MXNet loads, which reads it once
import mxnet as mx  # noqa: E402
import numpy as np
from mxnet import autograd, nd

import gluon_wgan.penalty as penalty
from gluon_wgan import compat
from gluon_wgan.training import steps
from run import FULL, QUICK, Setup

BFLOAT16 = np.dtype([("bfloat16", np.uint16)])   # MXNet 1.9.1's name for it (mxnet.contrib.amp)


def _cast(x, dtype):
    return nd.amp_cast(x, dtype=dtype)


def _bf16(x):
    """`x` in bfloat16; a bfloat16 `x` itself (a no-op cast in the graph hits the same crash)."""
    return x if x.dtype == BFLOAT16 else _cast(x, BFLOAT16)


@contextlib.contextmanager
def bf16_convolutions():
    """Inside: nd.Convolution (kernel > 1x1) and nd.Deconvolution compute in bfloat16.

    Yields the list of (float32 weight, bfloat16 leaf) pairs of recorded Deconvolutions; pass it to
    `set_leaf_grads_` after `backward()`.
    """
    conv, deconv = nd.Convolution, nd.Deconvolution
    leaves = []

    def bf16_conv(data, weight, *bias, **kw):
        if tuple(kw["kernel"]) == (1, 1):
            return conv(data, weight, *bias, **kw)
        if bias:
            raise ValueError("the probe supports bias-free convolutions (the DCGAN default)")
        return _cast(conv(_bf16(data), _bf16(weight), **kw), "float32")

    def bf16_deconv(data, weight, **kw):
        if weight.dtype == np.float32 and autograd.is_recording():
            with autograd.pause():
                leaf = _bf16(weight)
            leaf.attach_grad()
            leaves.append((weight, leaf))
            weight = leaf
        return _cast(deconv(_bf16(data), _bf16(weight), **kw), "float32")

    nd.Convolution, nd.Deconvolution = bf16_conv, bf16_deconv
    try:
        yield leaves
    finally:
        nd.Convolution, nd.Deconvolution = conv, deconv


def set_leaf_grads_(leaves, params):
    """Write each bfloat16 leaf's gradient, as float32, into its parameter's gradient (which the
    backward did not reach otherwise)."""
    by_handle = {p.data().handle.value: p for p in params.values() if p.grad_req != "null"}
    with autograd.pause():
        for weight, leaf in leaves:
            param = by_handle[weight.handle.value]
            _cast(leaf.grad, "float32").copyto(param.grad())
            compat.mark_grad_fresh(param)
    leaves.clear()


class _TrainerAfterLeaves:
    """A trainer whose `step` first writes the bfloat16 leaves' gradients (steps.* call it last)."""

    def __init__(self, trainer, params, leaves):
        self.trainer, self.params, self.leaves = trainer, params, leaves

    def step(self, batch_size):
        set_leaf_grads_(self.leaves, self.params)
        self.trainer.step(batch_size)


def step_grads(s, real, z, alpha, leaves=None):
    """Parameter gradients {name: array} of one WGAN-GP critic loss and one generator loss."""
    with autograd.train_mode():
        fake = s.generator(z)
    with autograd.record():
        loss = s.method.loss_d(s.critic(real), s.critic(fake))
        loss = loss + penalty.gradient_penalty(s.critic, real, fake, weight=10.0, alpha=alpha)
    loss.backward()
    grads = {k: p.grad().asnumpy() for k, p in s.critic.collect_params().items() if p.grad_req != "null"}
    with autograd.record():
        loss_g = s.method.loss_g(s.critic(s.generator(z)))
    loss_g.backward()
    if leaves is not None:
        set_leaf_grads_(leaves, s.generator.collect_params())
    grads.update({k: p.grad().asnumpy() for k, p in s.generator.collect_params().items()
                  if p.grad_req != "null"})
    return grads


def relative_error(got, want):
    return float(np.linalg.norm(got - want) / np.linalg.norm(want))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_threads_flag(parser, "one per physical core")   # read before MXNet loads, at import
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each (default: 5)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 2 repeats: a smoke check")
    args = parser.parse_args(argv)
    sizes, repeats = (QUICK, 2) if args.quick else (FULL, args.repeats)
    s = Setup("dcgan", "wgan-gp", mx.cpu(), sizes, hybridize=False)
    real, z = nd.array(s.real), s.noise()
    alpha = nd.random.uniform(shape=(real.shape[0],))
    want = step_grads(s, real, z, alpha)
    with bf16_convolutions() as leaves:
        got = step_grads(s, real, z, alpha, leaves)
    print("relative error of each parameter gradient, bfloat16 convolutions vs float32:")
    for name in sorted(want):
        print(f"  {name:45s} {relative_error(got[name], want[name]):.2e}")
    for net in ("critic", "generator"):
        keys = sorted(k for k in want if net in k)
        flat = [np.concatenate([g[k].ravel() for k in keys]) for g in (got, want)]
        print(f"  {net}, all parameters: {relative_error(*flat):.2e}")

    def iterations(leaves=None):
        g_trainer = s.g_trainer if leaves is None else \
            _TrainerAfterLeaves(s.g_trainer, s.generator.collect_params(), leaves)
        t0 = time.perf_counter()
        s.critic_iteration()
        nd.waitall()
        t1 = time.perf_counter()
        steps.generator_step(s.generator, s.critic, g_trainer, s.noise(), s.method)
        nd.waitall()
        return t1 - t0, time.perf_counter() - t1

    times = {"float32": [], "bfloat16": []}
    for i in range(repeats + 1):       # the first round warms both up
        for name in ("float32", "bfloat16") if i % 2 else ("bfloat16", "float32"):
            with bf16_convolutions() if name == "bfloat16" else contextlib.nullcontext() as leaves:
                sample = iterations(leaves)
            if i:
                times[name].append(sample)
    print("seconds per iteration (median), imperative networks:")
    for name, samples in times.items():
        critic, gen = (statistics.median(x) for x in zip(*samples))
        print(f"  {name:9s} WGAN-GP critic {critic:.3f}, generator {gen:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
