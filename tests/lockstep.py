"""Helpers of the torch lockstep tests (tests/test_lockstep_wgan.py, tests/test_lockstep_wgan_gp.py):
the package's side stepped as training/loop.py steps it, the official DCGAN networks in PyTorch, the
shared real batches and noise, and the per-array comparison.

Not a test module: the two test modules import it after `pytest.importorskip("torch")` (PyTorch is
never a dependency of the package). It lives apart from conftest.py, which every test loads, so that
only the lockstep tests need PyTorch.
"""
import mxnet as mx
import numpy as np
import torch

from gluon_wgan.training.build import (build_models, build_trainers, reference_running_variances,
                                       scale_running_variances_, unbiased_variance_factors)
from gluon_wgan.training.methods import METHODS
from gluon_wgan.training.schedule import critic_iters
from gluon_wgan.training.steps import critic_step, generator_step

# Single steps, per array on its own scale; float64 is bounded by MXNet's LeakyReLU, whose float64
# forward rounds to float32 for negative inputs (docs/examples/leaky_relu_float64.py).
TOL = {"float32": 2e-6, "float64": 3e-7}
TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def c_float(value):
    """`value` as MXNet's operators see it: their scalar parameters (LeakyReLU's slope, clip's bounds,
    the optimizers' lr, alpha and eps) are C floats, whatever the arrays' dtype. The reference uses
    these values, so that float64 compares the algorithms rather than the constants' rounding
    (RMSprop's 1 - alpha alone differs by 1e-6 between 0.99 and float32(0.99))."""
    return float(np.float32(value))


SLOPE = c_float(0.2)
# PyTorch's BatchNorm momentum 0.1 as MXNet's momentum 0.9 is seen by its operator, 1 - float32(0.9):
# a running average's weights differ by 2.4e-8 otherwise.
BN_MOMENTUM = 1 - c_float(0.9)


class Feed:
    """The real batches, critic noise and generator noise of a run, by index; values representable in
    float32, so the float32 and float64 runs read the same numbers."""

    def __init__(self, cfg, seed=11):
        self.cfg, self.seed = cfg, seed

    def _draw(self, kind, index, shape, uniform):
        rng = np.random.default_rng((self.seed, kind, index))
        values = rng.uniform(-1, 1, shape) if uniform else rng.standard_normal(shape)
        return values.astype(np.float32).astype(np.float64)

    def real(self, k):
        size = self.cfg.image_size
        return self._draw(0, k, (self.cfg.batch_size, 3, size, size), uniform=True)

    def critic_noise(self, k):
        return self._draw(1, k, (self.cfg.batch_size, self.cfg.nz), uniform=False)

    def generator_noise(self, t):
        return self._draw(2, t, (self.cfg.batch_size, self.cfg.nz), uniform=False)


def trainable(net):
    return [p for p in net.collect_params().values() if p.grad_req != "null"]


class Package:
    """The package's networks and trainers for `cfg`, in `dtype`, stepped as training/loop.py does."""

    def __init__(self, cfg, dtype):
        self.cfg, self.dtype, self.method = cfg, dtype, METHODS[cfg.method]
        mx.random.seed(cfg.seed)
        self.generator, self.critic = build_models(cfg, mx.cpu())
        for net in (self.generator, self.critic):
            net.cast(dtype)
        self.g_trainer, self.d_trainer = build_trainers(cfg, self.generator, self.critic)
        # As training/loop.py: with --bn-stats reference the running variances are kept at 1/factor
        # times PyTorch's, and multiplied by it where they are read (checkpoints).
        self.factors = unbiased_variance_factors(cfg, self.generator, self.critic) \
            if cfg.bn_stats == "reference" else {}
        scale_running_variances_(self.factors, -1)

    def _nd(self, values):
        return mx.nd.array(values, dtype=self.dtype)

    def critic_update(self, real, z):
        out = critic_step(self.critic, self.generator, self.d_trainer, self._nd(real), self._nd(z), self.method,
                          clamp=self.cfg.clamp, clip_when=self.cfg.clip_when, gp_weight=self.cfg.gp_weight,
                          generator_statistics=self.cfg.bn_stats == "reference")
        return float(out["loss_d"].asscalar())

    def generator_update(self, z):
        return float(generator_step(self.generator, self.critic, self.g_trainer, self._nd(z),
                                    self.method)["loss_g"].asscalar())

    def critic_iters(self, gen_iter):
        cfg = self.cfg
        return critic_iters(gen_iter, cfg.d_iters, cfg.warmup_iters, cfg.burst_d_iters, cfg.burst_every)

    def statistics(self):
        """{name: float64 array}: BatchNorm's running means and variances, generator then critic, as a
        checkpoint holds them."""
        with reference_running_variances(self.factors):
            return {f"{prefix}{i}": p.data().asnumpy().astype(np.float64)
                    for prefix, net in (("G", self.generator), ("D", self.critic))
                    for i, p in enumerate(q for q in net.collect_params().values() if q.grad_req == "null")}

    def arrays(self, grads=False):
        """{name: float64 array}: the trainable weights (or their gradients), generator then critic."""
        out = {}
        for prefix, net in (("G", self.generator), ("D", self.critic)):
            for i, p in enumerate(trainable(net)):
                out[f"{prefix}{i}"] = (p.grad() if grads else p.data()).asnumpy().astype(np.float64)
        return out


def official_critic(image_size, nc, ndf):
    """models/dcgan.py's DCGAN_D without extra layers, as a module returning one score per sample."""
    nn = torch.nn
    layers = [nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(SLOPE)]
    size, width = image_size // 2, ndf
    while size > 4:
        layers += [nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * width, momentum=BN_MOMENTUM),
                   nn.LeakyReLU(SLOPE)]
        size, width = size // 2, 2 * width
    return nn.Sequential(*layers, nn.Conv2d(width, 1, 4, 1, 0, bias=False))


def official_generator(image_size, nz, nc, ngf):
    """models/dcgan.py's DCGAN_G without extra layers: the width at 4x4 doubles ngf/2 once per doubling
    of the size."""
    nn = torch.nn
    width, size = ngf // 2, 4
    while size != image_size:
        width, size = 2 * width, 2 * size
    layers = [nn.ConvTranspose2d(nz, width, 4, 1, 0, bias=False), nn.BatchNorm2d(width, momentum=BN_MOMENTUM),
              nn.ReLU()]
    size = 4
    while size < image_size // 2:
        layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                   nn.BatchNorm2d(width // 2, momentum=BN_MOMENTUM),
                   nn.ReLU()]
        width, size = width // 2, 2 * size
    return nn.Sequential(*layers, nn.ConvTranspose2d(width, nc, 4, 2, 1, bias=False), nn.Tanh())


def trajectory(side, feed, gen_iters):
    """`gen_iters` generator iterations of `side` with its own schedule: the losses of every update and
    the final weights."""
    losses_d, losses_g, k = [], [], 0
    for gen_iter in range(gen_iters):
        for _ in range(side.critic_iters(gen_iter)):
            losses_d.append(side.critic_update(feed.real(k), feed.critic_noise(k)))
            k += 1
        losses_g.append(side.generator_update(feed.generator_noise(gen_iter)))
    return {"loss_d": np.array(losses_d), "loss_g": np.array(losses_g), **side.arrays()}


def relative_errors(ours, theirs):
    """{name: max|ours - theirs| / max|theirs|}."""
    assert ours.keys() == theirs.keys()
    return {k: float(np.abs(ours[k] - theirs[k]).max() / np.abs(theirs[k]).max()) for k in theirs}


def assert_lockstep(ours, theirs, tol):
    """Every array of `ours` within tol * (its largest magnitude in `theirs`) of `theirs`."""
    assert ours.keys() == theirs.keys()
    for name in theirs:
        np.testing.assert_allclose(ours[name], theirs[name], rtol=0, atol=tol * np.abs(theirs[name]).max(),
                                   err_msg=name)


def report(label, errors):
    worst = max(errors, key=errors.get)
    print(f"{label}: worst {errors[worst]:.2e} ({worst})")
