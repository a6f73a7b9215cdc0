"""Lockstep with the official WGAN code (martinarjovsky/WassersteinGAN: main.py, models/dcgan.py).

`Official` below is this project's PyTorch transcription of that training loop, written from its
source: per critic iteration the critic's weights are clamped *before* the update, the real and the
fake batch go through the critic in separate passes (BatchNorm in train mode, batch statistics of
each), the critic's output is its batch mean, and both networks use PyTorch's RMSprop; the number of
critic iterations follows its Diters rule (the burst sizes are arguments here so that the test
stays small). The package's side is `critic_step` and `generator_step` composed as
`training/loop.py` composes them, on networks and optimizers built from a TrainConfig by
`training/build.py`. Both sides start from the same weights and read the same real batches and
noise (tests/lockstep.py holds what tests/test_lockstep_wgan_gp.py shares).

The official critic minimizes errD_real - errD_fake, the package's critic mean D(fake) - mean
D(real): the same objective for a critic whose last layer has the opposite sign. The reference's
last layer therefore starts negated; every update then keeps it the negative of the package's
(RMSprop and the clamp are odd functions), and the two runs log the same loss values.

Two options close the remaining differences and are checked here too: --bn-stats reference (BatchNorm's
running statistics as PyTorch keeps them) and --epoch-boundaries official (the reference's DataLoader
epochs, the last batch short, each ending a critic loop).

Each comparison is per array, on the array's own scale: |ours - theirs| <= tol * max|theirs|.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from gluon_wgan.config import resolve  # noqa: E402
from gluon_wgan.data.stream import BatchStream, epoch_permutation  # noqa: E402

from lockstep import (TOL, TORCH_DTYPES, Feed, Package, assert_lockstep, c_float, official_critic,  # noqa: E402
                      official_generator, relative_errors, report, trajectory)

TRAJECTORY_GEN_ITERS = 30
# What the comparison must catch: the order of clamp and update, and MXNet's RMSprop epsilon
# (inside the square root).
CONTROLS = {"clip-after-the-step": dict(clip_when="after"), "mxnet-rmsprop-eps": dict(rmsprop_eps_mode="mxnet")}


def tiny_config(**overrides):
    """The WGAN defaults (RMSprop 5e-5, clamp 0.01, clip before) at 16x16 with 8 filters, and bursts
    of 10 critic iterations for the first 2 generator iterations and every 8th."""
    options = dict(method="wgan", image_size=16, nz=8, ngf=8, ndf=8, batch_size=8, d_iters=5,
                   warmup_iters=2, burst_d_iters=10, burst_every=8, seed=7)
    return resolve({**options, **overrides})


class Official:
    """The official main.py loop in PyTorch, started from `package`'s initial weights."""

    def __init__(self, package, dtype, cfg):
        self.cfg, self.dtype = cfg, TORCH_DTYPES[dtype]
        self.G = official_generator(cfg.image_size, cfg.nz, 3, cfg.ngf).to(self.dtype)
        self.D = official_critic(cfg.image_size, 3, cfg.ndf).to(self.dtype)
        self.names = {}
        weights = package.arrays()
        for prefix, net in (("G", self.G), ("D", self.D)):
            params = list(net.parameters())
            assert len(params) == sum(name.startswith(prefix) for name in weights)
            for i, p in enumerate(params):
                name = f"{prefix}{i}"
                assert tuple(p.shape) == weights[name].shape, name
                with torch.no_grad():
                    p.copy_(torch.from_numpy(weights[name] * self.sign(name)))
        # main.py: RMSprop with PyTorch's defaults but the learning rate (alpha 0.99, eps 1e-8).
        self.opt_d, self.opt_g = (torch.optim.RMSprop(net.parameters(), lr=c_float(lr), alpha=c_float(0.99),
                                                      eps=c_float(1e-8))
                                  for net, lr in ((self.D, cfg.lr_d), (self.G, cfg.lr_g)))

    def sign(self, name):
        """-1 for the critic's last layer: the official critic is the package's with its sign flipped."""
        return -1.0 if name == f"D{len(list(self.D.parameters())) - 1}" else 1.0

    def _t(self, values):
        return torch.from_numpy(values).to(self.dtype)

    def _z(self, values):
        return self._t(values).view(values.shape[0], -1, 1, 1)

    def critic_iters(self, gen_iter):
        """main.py's Diters rule, its constants 25, 500 and 100 as the config's."""
        cfg = self.cfg
        bursting = gen_iter < cfg.warmup_iters or gen_iter % cfg.burst_every == 0
        return cfg.burst_d_iters if bursting else cfg.d_iters

    def critic_update(self, real, z):
        with torch.no_grad():
            clamp = c_float(self.cfg.clamp)
            for p in self.D.parameters():                 # the clamp comes first in main.py
                p.clamp_(-clamp, clamp)
        self.D.zero_grad()
        err_real = self.D(self._t(real)).mean()          # DCGAN_D.forward returns the batch mean
        err_real.backward()                              # backward(one)
        with torch.no_grad():                            # volatile noise: G frozen, still in train mode
            fake = self.G(self._z(z))
        err_fake = self.D(fake).mean()
        (-err_fake).backward()                           # backward(mone)
        self.opt_d.step()
        return (err_real - err_fake).item()

    def generator_update(self, z):
        for p in self.D.parameters():
            p.requires_grad_(False)
        self.G.zero_grad()
        err_g = self.D(self.G(self._z(z))).mean()
        err_g.backward()
        self.opt_g.step()
        for p in self.D.parameters():
            p.requires_grad_(True)
        return err_g.item()

    def statistics(self):
        return {f"{prefix}{i}": buffer.numpy().astype(np.float64)
                for prefix, net in (("G", self.G), ("D", self.D))
                for i, buffer in enumerate(b for name, b in net.named_buffers() if name.endswith(("mean", "var")))}

    def arrays(self, grads=False):
        out = {}
        for prefix, net in (("G", self.G), ("D", self.D)):
            for i, p in enumerate(net.parameters()):
                name = f"{prefix}{i}"
                value = p.grad if grads else p.detach()
                out[name] = value.numpy().astype(np.float64) * self.sign(name)
        return out


def single_step(dtype, **overrides):
    """One critic update, then one generator update, on both sides: (ours, theirs), each the two losses
    and the gradients of both updates as {name: array}. The generator's loss and gradients are taken
    after the critic's update, so they check that update too. The updated weights themselves are left
    to the trajectory: RMSprop's first step, lr * g / (|g| / 10 + eps), turns float32 rounding of a
    gradient near eps into a visible difference of the weight."""
    cfg = tiny_config(**overrides)
    feed, package = Feed(cfg), Package(cfg, dtype)
    official = Official(package, dtype, tiny_config())
    results = []
    for side in (package, official):
        loss_d = side.critic_update(feed.real(0), feed.critic_noise(0))
        loss_g = side.generator_update(feed.generator_noise(0))
        results.append({"loss_d": np.array([loss_d]), "loss_g": np.array([loss_g]),
                        **side.arrays(grads=True)})
    return results


def package_trajectory(dtype, **overrides):
    cfg = tiny_config(**overrides)
    return trajectory(Package(cfg, dtype), Feed(cfg), TRAJECTORY_GEN_ITERS)


def official_trajectory(dtype):
    cfg = tiny_config()
    return trajectory(Official(Package(cfg, "float64"), dtype, cfg), Feed(cfg), TRAJECTORY_GEN_ITERS)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_single_step_matches_official_code(dtype):
    ours, theirs = single_step(dtype)
    report(f"WGAN single step {dtype}", relative_errors(ours, theirs))
    assert_lockstep(ours, theirs, TOL[dtype])


@pytest.mark.parametrize("control", sorted(CONTROLS))
def test_single_step_catches_a_changed_algorithm(control):
    """Negative controls, in float32 (MXNet's own RMSProp keeps float32 state whatever the weights'
    dtype, so it cannot step float64 weights)."""
    ours, theirs = single_step("float32", **CONTROLS[control])
    report(f"WGAN single step control {control}", relative_errors(ours, theirs))
    with pytest.raises(AssertionError):
        assert_lockstep(ours, theirs, TOL["float32"])


def test_trajectory_within_the_official_float32_spread():
    """30 generator iterations, bursts included: in float64 and in float32 the package stays closer to
    the official code than the official code in float32 is to itself in float64; each control leaves
    that spread."""
    official = {dtype: official_trajectory(dtype) for dtype in ("float32", "float64")}
    spread = relative_errors(official["float32"], official["float64"])
    report("WGAN trajectory official float32 vs float64 (spread)", spread)
    for dtype in ("float64", "float32"):
        ours = package_trajectory(dtype)
        report(f"WGAN trajectory package vs official, {dtype}", relative_errors(ours, official[dtype]))
        assert_lockstep(ours, official[dtype], max(spread.values()))
    for control, overrides in CONTROLS.items():
        ours = package_trajectory("float32", **overrides)
        report(f"WGAN trajectory control {control}, float32", relative_errors(ours, official["float32"]))
        with pytest.raises(AssertionError):
            assert_lockstep(ours, official["float32"], max(spread.values()))


def running_statistics(bn_stats, dtype, gen_iters=3):
    """(ours, theirs): the BatchNorm statistics that generator.params and critic.params carry into
    predict mode after `gen_iters` generator iterations (the first 2 with bursts of 10)."""
    cfg = tiny_config(bn_stats=bn_stats)
    package = Package(cfg, dtype)
    official = Official(package, dtype, cfg)
    for side in (package, official):
        trajectory(side, Feed(cfg), gen_iters)
    return package.statistics(), official.statistics()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_running_statistics_follow_the_official_code(dtype):
    """With --bn-stats reference, as the reference's: updated by every train-mode forward (the
    generator's in each critic step too), unbiased variance; 28 updates of G, 53 of D."""
    ours, theirs = running_statistics("reference", dtype)
    report(f"WGAN running statistics, --bn-stats reference, {dtype}", relative_errors(ours, theirs))
    assert_lockstep(ours, theirs, TOL[dtype])


def test_running_statistics_of_mxnet_differ():
    """Negative control: MXNet's own statistics (--bn-stats mxnet, the default) miss the generator's
    critic-step forwards and keep the biased variance."""
    ours, theirs = running_statistics("mxnet", "float64")
    report("WGAN running statistics control --bn-stats mxnet, float64", relative_errors(ours, theirs))
    with pytest.raises(AssertionError):
        assert_lockstep(ours, theirs, TOL["float64"])


class Images:
    """3 batches and 3 images of the tiny config's real images (values representable in float32)."""

    def __init__(self, cfg, seed=13):
        size = cfg.image_size
        rng = np.random.default_rng(seed)
        self.images = rng.uniform(-1, 1, (3 * cfg.batch_size + 3, 3, size, size)).astype(np.float32)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i]


def package_epochs(dtype, cfg, epoch_boundaries, gen_iters):
    """The package's side, its critic loop as training/loop.py runs it, on a BatchStream of `Images`."""
    package, feed = Package(cfg, dtype), Feed(cfg)
    stream = BatchStream(Images(cfg), cfg.batch_size, seed=cfg.seed, per_epoch=epoch_boundaries == "official")
    losses_d, losses_g, k = [], [], 0
    for gen_iter in range(gen_iters):
        for _ in range(package.critic_iters(gen_iter)):
            losses_d.append(package.critic_update(next(stream).astype(np.float64), feed.critic_noise(k)))
            k += 1
            if stream.epoch_ended:
                break
        losses_g.append(package.generator_update(feed.generator_noise(gen_iter)))
    return {"loss_d": np.array(losses_d), "loss_g": np.array(losses_g), **package.arrays()}


def official_epochs(dtype, cfg, gen_iters):
    """main.py's loop over epochs: a DataLoader without drop_last (the last batch short) whose sampler
    is the stream's permutation of each epoch, the critic loop ended by the epoch's end."""
    official, feed, images = Official(Package(cfg, "float64"), dtype, cfg), Feed(cfg), Images(cfg)
    data = torch.utils.data.TensorDataset(torch.from_numpy(images.images))
    losses_d, losses_g, k, gen_iter, epoch = [], [], 0, 0, 0
    while gen_iter < gen_iters:
        order = epoch_permutation(cfg.seed, epoch, len(images)).tolist()
        dataloader = torch.utils.data.DataLoader(data, batch_size=cfg.batch_size, sampler=order)
        data_iter, i = iter(dataloader), 0
        while i < len(dataloader) and gen_iter < gen_iters:
            j, d_iters = 0, official.critic_iters(gen_iter)
            while j < d_iters and i < len(dataloader):
                j, i = j + 1, i + 1
                real = next(data_iter)[0].numpy().astype(np.float64)
                losses_d.append(official.critic_update(real, feed.critic_noise(k)))
                k += 1
            losses_g.append(official.generator_update(feed.generator_noise(gen_iter)))
            gen_iter += 1
        epoch += 1
    return {"loss_d": np.array(losses_d), "loss_g": np.array(losses_g), **official.arrays()}


def test_epoch_boundaries_follow_the_official_loop():
    """--epoch-boundaries official: epochs of 8 + 8 + 8 + 3 images, 3 critic iterations per generator
    iteration (bursts of 10 for the first 2 and the 8th), so critic loops of 4, 4, 3, 1, 3, 1, 3, 1, 4, 3;
    float64 within the reference's own float32-vs-float64 spread (float32 is not compared: there each
    side's rounding is of the spread's size, 2.2e-6 measured). The continuous stream (full batches
    across epoch ends, no critic loop cut short) is the negative control."""
    cfg, gen_iters = tiny_config(d_iters=3), 10
    official = {dtype: official_epochs(dtype, cfg, gen_iters) for dtype in ("float32", "float64")}
    spread = max(relative_errors(official["float32"], official["float64"]).values())
    print(f"WGAN epochs official float32 vs float64 (spread): {spread:.2e}")
    ours = package_epochs("float64", cfg, "official", gen_iters)
    report("WGAN epochs --epoch-boundaries official, float64", relative_errors(ours, official["float64"]))
    assert len(ours["loss_d"]) == len(official["float64"]["loss_d"]) == 27
    assert_lockstep(ours, official["float64"], spread)
    control = package_epochs("float64", cfg, "continuous", gen_iters)
    assert len(control["loss_d"]) == 51   # 10, 10, 3, 3, 3, 3, 3, 3, 10 (the 8th), 3
    # The loss sequences differ in length; the final weights are compared.
    weights = {name: array for name, array in official["float64"].items() if not name.startswith("loss")}
    control = {name: control[name] for name in weights}
    report("WGAN epochs control --epoch-boundaries continuous, float64", relative_errors(control, weights))
    with pytest.raises(AssertionError):
        assert_lockstep(control, weights, spread)
