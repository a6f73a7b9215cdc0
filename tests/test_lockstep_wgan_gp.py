"""Lockstep with WGAN-GP's Algorithm 1 (Gulrajani et al. 2017), written in PyTorch.

`AlgorithmOne` below is this project's transcription of the paper's Algorithm 1, with the reference
code's hyperparameters (igul222/improved_wgan_training, gan_64x64.py: lambda = 10, n_critic = 5,
Adam with lr 1e-4, beta1 = 0, beta2 = 0.9) and the DCGAN critic with layer normalization over
(C, H, W) (its `Layernorm`, here `GroupNorm(1, C)`). Per critic iteration: x_tilde = G(z),
x_hat = eps * x + (1 - eps) * x_tilde with one eps per sample, L = D(x_tilde) - D(x) + lambda *
(||grad_x_hat D(x_hat)||_2 - 1)^2 averaged over the batch, the penalty's gradient by
`torch.autograd.grad(create_graph=True)`; then one generator update on -D(G(z)). The optimizer is
`torch.optim.Adam`, so the package runs with ``--optimizer torch-adam``; its default ``adam`` adds
epsilon as the TensorFlow reference does, which is one of the negative controls.

The package's side is `critic_step` and `generator_step` composed as `training/loop.py` composes
them; the alphas it would draw are replaced by the reference's (`steps._uniform`), and the real
batches and noise are shared as in tests/test_lockstep_wgan.py, through tests/lockstep.py.
"""
from unittest import mock

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lockstep import (SLOPE, TOL, TORCH_DTYPES, Feed, Package, assert_lockstep, c_float,  # noqa: E402
                      official_generator, relative_errors, report, trajectory)

from gluon_wgan.config import resolve  # noqa: E402
from gluon_wgan.training import steps  # noqa: E402

TRAJECTORY_GEN_ITERS = 20
# What the comparison must catch: MXNet's (TensorFlow's) Adam epsilon, and alphas one sample off.
CONTROLS = {"tensorflow-adam-eps": dict(optimizer="adam"), "shifted-alpha": dict(alpha_shift=1)}


def tiny_config(**overrides):
    """The WGAN-GP defaults (Adam 1e-4, 0, 0.9; lambda 10; 5 critic iterations; layer-norm critic
    without biases) at 16x16 with 8 filters, PyTorch's Adam. The reference code's critic has biases;
    the last one's gradient is zero, and Adam (beta1 = 0) turns its float32 rounding into steps of
    order lr, which would make the float32-vs-float64 spread that of noise rather than of rounding."""
    options = dict(method="wgan-gp", optimizer="torch-adam", image_size=16, nz=8, ngf=8, ndf=8, batch_size=8,
                   critic_bias=False, seed=7)
    return resolve({**options, **overrides})


class GPFeed(Feed):
    """`Feed` plus the penalty's interpolation coefficients, U[0, 1], one per sample."""

    def alpha(self, k):
        rng = np.random.default_rng((self.seed, 3, k))
        return rng.uniform(0, 1, self.cfg.batch_size).astype(np.float32).astype(np.float64)


class GPPackage(Package):
    """`Package`, its critic steps drawing the alphas of `feed` (shifted by `alpha_shift` samples)."""

    def __init__(self, cfg, dtype, feed, alpha_shift=0):
        super().__init__(cfg, dtype)
        self.feed, self.alpha_shift, self.k = feed, alpha_shift, 0

    def critic_update(self, real, z):
        alpha = self._nd(np.roll(self.feed.alpha(self.k), self.alpha_shift))
        self.k += 1
        with mock.patch.object(steps, "_uniform", lambda shards: alpha):
            return super().critic_update(real, z)


def layer_norm_critic(image_size, nc, ndf):
    """The DCGAN critic with layer normalization over (C, H, W) of each sample, no biases."""
    nn = torch.nn
    layers = [nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(SLOPE)]
    size, width = image_size // 2, ndf
    while size > 4:
        layers += [nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False), nn.GroupNorm(1, 2 * width),
                   nn.LeakyReLU(SLOPE)]
        size, width = size // 2, 2 * width
    return nn.Sequential(*layers, nn.Conv2d(width, 1, 4, 1, 0, bias=False))


class AlgorithmOne:
    """WGAN-GP's Algorithm 1 in PyTorch, started from `package`'s initial weights."""

    def __init__(self, package, dtype, cfg, feed):
        self.cfg, self.feed, self.k, self.dtype = cfg, feed, 0, TORCH_DTYPES[dtype]
        self.G = official_generator(cfg.image_size, cfg.nz, 3, cfg.ngf).to(self.dtype)
        self.D = layer_norm_critic(cfg.image_size, 3, cfg.ndf).to(self.dtype)
        weights = package.arrays()
        for prefix, net in (("G", self.G), ("D", self.D)):
            params = list(net.parameters())
            assert len(params) == sum(name.startswith(prefix) for name in weights)
            for i, p in enumerate(params):
                assert tuple(p.shape) == weights[f"{prefix}{i}"].shape
                with torch.no_grad():
                    p.copy_(torch.from_numpy(weights[f"{prefix}{i}"]))
        self.opt_d, self.opt_g = (torch.optim.Adam(net.parameters(), lr=c_float(lr),
                                                   betas=(c_float(cfg.beta1), c_float(cfg.beta2)), eps=c_float(1e-8))
                                  for net, lr in ((self.D, cfg.lr_d), (self.G, cfg.lr_g)))

    def _t(self, values):
        return torch.from_numpy(values).to(self.dtype)

    def critic_iters(self, gen_iter):
        return self.cfg.d_iters

    def critic(self, x):
        return self.D(x).reshape(-1)

    def critic_update(self, real, z):
        eps = self._t(self.feed.alpha(self.k)).view(-1, 1, 1, 1)       # line 4: eps ~ U[0, 1] per sample
        self.k += 1
        x = self._t(real)
        with torch.no_grad():                                           # line 5: x_tilde = G(z)
            x_tilde = self.G(self._t(z).view(z.shape[0], -1, 1, 1))
        x_hat = (eps * x + (1 - eps) * x_tilde).requires_grad_(True)    # line 6
        (grad,) = torch.autograd.grad(self.critic(x_hat).sum(), x_hat, create_graph=True)
        penalty = self.cfg.gp_weight * ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
        loss = self.critic(x_tilde).mean() - self.critic(x).mean() + penalty   # line 7, batch mean
        self.opt_d.zero_grad()
        loss.backward()
        self.opt_d.step()                                               # line 9
        return loss.item()

    def generator_update(self, z):
        for p in self.D.parameters():
            p.requires_grad_(False)
        self.opt_g.zero_grad()
        loss = -self.critic(self.G(self._t(z).view(z.shape[0], -1, 1, 1))).mean()   # line 11
        loss.backward()
        self.opt_g.step()
        for p in self.D.parameters():
            p.requires_grad_(True)
        return loss.item()

    def arrays(self, grads=False):
        return {f"{prefix}{i}": (p.grad if grads else p.detach()).numpy().astype(np.float64)
                for prefix, net in (("G", self.G), ("D", self.D)) for i, p in enumerate(net.parameters())}


def sides(dtype, alpha_shift=0, **overrides):
    """(package, reference) for `dtype`, from the same initial weights, reading the same feed."""
    cfg = tiny_config(**overrides)
    feed = GPFeed(cfg)
    package = GPPackage(cfg, dtype, feed, alpha_shift)
    return package, AlgorithmOne(package, dtype, tiny_config(), feed), feed


def single_step(dtype, **overrides):
    """One critic update, then one generator update: the losses and gradients of both, as in
    tests/test_lockstep_wgan.py."""
    package, reference, feed = sides(dtype, **overrides)
    results = []
    for side in (package, reference):
        loss_d = side.critic_update(feed.real(0), feed.critic_noise(0))
        loss_g = side.generator_update(feed.generator_noise(0))
        results.append({"loss_d": np.array([loss_d]), "loss_g": np.array([loss_g]), **side.arrays(grads=True)})
    return results


def run(side, feed):
    return trajectory(side, feed, TRAJECTORY_GEN_ITERS)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_single_step_matches_algorithm_1(dtype):
    ours, theirs = single_step(dtype)
    report(f"WGAN-GP single step {dtype}", relative_errors(ours, theirs))
    assert_lockstep(ours, theirs, TOL[dtype])


def test_single_step_catches_a_shifted_alpha():
    """Negative control: the penalty at points one sample off fails even the float32 tolerance."""
    ours, theirs = single_step("float64", **CONTROLS["shifted-alpha"])
    report("WGAN-GP single step control shifted-alpha", relative_errors(ours, theirs))
    with pytest.raises(AssertionError):
        assert_lockstep(ours, theirs, TOL["float32"])


def test_trajectory_within_the_reference_float32_spread():
    """20 generator iterations (100 critic iterations): in float64 and float32 the package stays closer
    to Algorithm 1 than Algorithm 1 in float32 is to itself in float64; each control, in float64,
    leaves that spread."""
    reference = {dtype: run(*sides(dtype)[1:]) for dtype in ("float32", "float64")}
    tol = max(relative_errors(reference["float32"], reference["float64"]).values())
    report("WGAN-GP trajectory reference float32 vs float64 (spread)",
           relative_errors(reference["float32"], reference["float64"]))
    for dtype in ("float64", "float32"):
        package, _, feed = sides(dtype)
        ours = run(package, feed)
        report(f"WGAN-GP trajectory package vs reference, {dtype}", relative_errors(ours, reference[dtype]))
        assert_lockstep(ours, reference[dtype], tol)
    for control, overrides in CONTROLS.items():
        package, _, feed = sides("float64", **overrides)
        ours = run(package, feed)
        report(f"WGAN-GP trajectory control {control}, float64", relative_errors(ours, reference["float64"]))
        with pytest.raises(AssertionError):
            assert_lockstep(ours, reference["float64"], tol)

