"""The WGAN-GP code's ResNets (gluon_wgan.models.resnet), their initialisation, and the training options
their presets need (--lr-decay, --gen-batch-size, --dequantize). The forward passes are checked against
the released TensorFlow code's transcription in tests/test_resnet_torch.py."""
import math
import os
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import replace

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd
from mxnet.gluon import nn

from gluon_wgan.config import PRESETS
from gluon_wgan.models import DCGANInit, get_model
from gluon_wgan.models.resnet import (CIFARResNetCritic, CIFARResNetGenerator, Conv, Deconv, Residual, ResNet101Critic,
                                      ResNet101Generator, ResNetCritic, ResNetGenerator)
from gluon_wgan.training import loop
from gluon_wgan.training.build import build_models
from gluon_wgan.training.dequantize import dequantize
from gluon_wgan.training.loop import train
from gluon_wgan.training.runlog import read_metrics
from conftest import assert_generator_gradient, central_difference, randomize

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (generator, critic, image size, a tiny width each accepts)
FAMILIES = {
    "cifar_resnet": (CIFARResNetGenerator, CIFARResNetCritic, 32, 4),
    "resnet": (ResNetGenerator, ResNetCritic, 64, 2),
    "resnet101": (ResNet101Generator, ResNet101Critic, 64, 4),
}


def _params(path):
    return {k: v.asnumpy() for k, v in mx.nd.load(path).items()}


@pytest.mark.parametrize("norm", ["none", "layer", "batch"])
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_shapes_and_one_score_per_sample(family, norm, ctx):
    generator_class, critic_class, size, dim = FAMILIES[family]
    g, d = generator_class(nz=5, dim=dim), critic_class(dim=dim, norm=norm)
    for net in (g, d):
        net.initialize(DCGANInit(), ctx=ctx)
        net.hybridize()
    with autograd.train_mode():
        images = g(mx.nd.random.normal(shape=(3, 5), ctx=ctx))
    assert images.shape == (3, 3, size, size) and np.abs(images.asnumpy()).max() <= 1.0
    scores = d(images)
    assert scores.shape == (3,)
    if norm != "batch":   # BatchNorm (predict mode here) is per sample too, but only outside training
        np.testing.assert_allclose(d(images[1:2]).asnumpy(), scores.asnumpy()[1:2], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_bad_arguments_name_the_argument(family):
    generator_class, critic_class, size, _ = FAMILIES[family]
    for kwargs, name in ((dict(image_size=size * 2), "image_size"), (dict(norm="group"), "norm"),
                         (dict(init="xavier"), "init"), (dict(dim=3 if family == "resnet101" else 0), "dim")):
        for net in (generator_class, critic_class):
            with pytest.raises(ValueError, match=name):
                net(**kwargs)


def _depth(block):
    """Weight layers on the longest path: convolutions and dense layers, residual branches counted,
    shortcuts not."""
    if isinstance(block, (Conv, Deconv, nn.Dense)):
        return 1
    if isinstance(block, Residual):
        return _depth(block.branch)
    return sum(_depth(child) for child in block._children.values())


def test_the_101_layer_networks_have_101_layers():
    """33 bottleneck blocks of three convolutions, plus the first and the last layer."""
    for net in (ResNet101Generator(dim=4), ResNet101Critic(dim=4)):
        assert len([b for b in net.body._children.values() if isinstance(b, Residual)]) == 33
        assert _depth(net) == 101


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_generator_gradient_matches_finite_differences(family):
    """Hybridized, in float64, BatchNorm on batch statistics: the gradient of sum(G(z) * r) with respect to
    the dense input layer's and the first block's largest-gradient weights against central differences.
    The step is small: tens of thousands of ReLUs, and a step of 1e-6 moves one across its kink (the
    difference quotient then is 0.2% off; it converges to the gradient as the step shrinks)."""
    generator_class, _, size, dim = FAMILIES[family]
    mx.random.seed(0)
    assert_generator_gradient(generator_class(nz=3, dim=dim), size,
                              lambda g: (g.dense.weight, list(g.body.collect_params().values())[0]), step=1e-8)


def _bound(fan_in, fan_out, he):
    return math.sqrt(3 * (4.0 if he else 2.0) / (fan_in + fan_out))


def test_tflib_init_bounds_per_layer():
    """tflib: U[-sqrt(3) s, sqrt(3) s], s^2 = 4 / (fan_in + fan_out) (he_init) or 2 / (...) (Glorot: the
    shortcuts, the CIFAR generator's output, every Linear); fan_out counts C_out k^2 / stride^2;
    Deconv2D's fan_in is C_in k^2 / 4. Biases and shifts 0, scales 1."""
    mx.random.seed(0)
    critic = CIFARResNetCritic(dim=128, norm="layer")
    generator = ResNet101Generator(dim=64)
    critic_101 = ResNet101Critic(dim=64)
    for net in (critic, generator, critic_101):
        net.initialize(DCGANInit())   # what the layers carry wins
    first = critic.body[0]
    expected = [
        (first.branch[0].conv.weight, _bound(3 * 9, 128 * 9, True)),                  # Conv1, he
        (first.shortcut[1].conv.weight, _bound(3, 128, False)),                       # shortcut 1x1, Glorot
        (critic.body[-1].weight, _bound(128, 1, False)),                              # Linear, Glorot
        (generator.dense.weight, _bound(128, 4 * 4 * 512, False)),
        # The first upsampling block: its transposed 3x3 convolution 256 -> 128 and its subpixel shortcut.
        (generator.body[6].branch[3].deconv.weight, _bound(256 * 9 / 4, 128 * 9, True)),
        (generator.body[6].shortcut[0].conv.weight, _bound(512, 4 * 256, False)),
        # The critic's first downsampling block: its stride-2 3x3 convolution 16 -> 32 and stride-2 shortcut.
        (critic_101.body[6].branch[3].conv.weight, _bound(16 * 9, 32 * 9 / 4, True)),
        (critic_101.body[6].shortcut.conv.weight, _bound(32, 64 / 4, False)),
    ]
    for param, bound in expected:
        w = param.data().asnumpy()
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound, param.name
        np.testing.assert_allclose(w.std(), bound / math.sqrt(3), rtol=0.1, err_msg=param.name)
    for name, param in critic.collect_params().items():
        if name.endswith(("bias", "beta")):
            assert np.all(param.data().asnumpy() == 0), name
        if name.endswith("gamma"):
            assert np.all(param.data().asnumpy() == 1), name


def test_dcgan_init_leaves_the_resnets_to_the_global_initializer():
    mx.random.seed(0)
    net = ResNetCritic(dim=8, norm="layer", init="dcgan")
    net.initialize(DCGANInit())
    weights = np.concatenate([p.data().asnumpy().ravel() for n, p in net.collect_params().items()
                              if n.endswith("weight")])
    assert abs(weights.std() - 0.02) < 1e-3


def test_dequantize_is_the_released_codes_scaling_plus_uniform_noise():
    """(x + u) / 128 - 1 for the 8-bit value x behind x / 127.5 - 1, u in [0, 1)."""
    levels = np.arange(256, dtype=np.float32).reshape(1, 1, 16, 16).repeat(50, axis=0)
    images = mx.nd.array(levels / 127.5 - 1)
    mx.random.seed(1)
    out = dequantize(images).asnumpy().astype(np.float64)
    u = (out + 1) * 128 - levels
    assert u.min() >= 0 and u.max() < 1 and 0.45 < u.mean() < 0.55
    np.testing.assert_array_equal(np.floor((out + 1) * 128), levels)


PENALTY_CRITICS = {
    "cifar_resnet-none": (CIFARResNetCritic, dict(dim=2, norm="none"), 32, 1),
    "cifar_resnet-layer": (CIFARResNetCritic, dict(dim=2, norm="layer"), 32, 1),
    "resnet-layer": (ResNetCritic, dict(dim=1, norm="layer"), 64, 1),
    "resnet101-layer": (ResNet101Critic, dict(dim=4, norm="layer"), 64, 7),   # every 7th parameter
}


@pytest.mark.parametrize("name", sorted(PENALTY_CRITICS))
def test_penalty_gradients_match_finite_differences(name):
    """The tutorial's record / backward on wasserstein_d + gradient_penalty: each checked parameter's
    gradient at its entry where the penalty's share is largest against the first-order Wasserstein
    gradient plus central differences of the penalty, in float64."""
    from gluon_wgan.losses import wasserstein_d
    from gluon_wgan.penalty import gradient_penalty
    critic_class, kwargs, size, every = PENALTY_CRITICS[name]
    critic = randomize(critic_class(**kwargs))
    rng = np.random.RandomState(0)
    real, fake = (mx.nd.array(rng.normal(size=(2, 3, size, size)), dtype="float64") for _ in range(2))
    alpha = mx.nd.array(rng.uniform(size=2), dtype="float64")

    def grads(with_penalty):
        with autograd.record():
            loss = wasserstein_d(critic(real), critic(fake))
            if with_penalty:
                loss = loss + gradient_penalty(critic, real, fake, weight=10.0, alpha=alpha)
        loss.backward()
        return {n: p.grad().asnumpy().ravel() for n, p in critic.collect_params().items()}

    def penalty():
        with autograd.record():
            return gradient_penalty(critic, real, fake, weight=10.0, alpha=alpha).asscalar()
    full, first_order = grads(True), grads(False)
    # Smaller steps let the penalty's rounding (about 1e-14 of its value here) through: at 1e-7 the
    # 101-layer critic's differences are 1e-5 off, at 1e-6 and 1e-5 within 5e-7 of the gradient.
    step = 1e-6
    for pname, param in list(critic.collect_params().items())[::every]:
        flat = int(np.argmax(np.abs(full[pname] - first_order[pname])))
        idx = np.unravel_index(flat, param.shape)
        expected = first_order[pname][flat] + central_difference(param.data(), idx, penalty, step)
        np.testing.assert_allclose(full[pname][flat], expected, rtol=1e-5, atol=1e-7, err_msg=pname)


def _tiny(preset, tmp_path, *extra):
    width = {"wgangp-table3-cifar-resnet": "4", "wgangp-resnet64": "2"}.get(preset, "4")
    return [sys.executable, os.path.join(ROOT, "scripts", "train_wgan.py"), "--quiet", "--preset", preset,
            "--dataset", "shapes", "--ngf", width, "--ndf", width, "--batch-size", "4", "--gen-iters", "2",
            "--d-iters", "2", "--burst-d-iters", "3", "--eval-every", "0", "--threads", "1", "--outdir", str(tmp_path / "run"), *extra]


def _train_preset(preset, tmp_path, *extra):
    if "gen_batch_size" in PRESETS[preset]:
        extra = ("--gen-batch-size", "8", *extra)
    done = subprocess.run(_tiny(preset, tmp_path, *extra), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    records = read_metrics(os.path.join(tmp_path, "run", "metrics.jsonl"))
    assert [r["gen_iter"] for r in records] == [1, 2]
    assert all(np.isfinite(r["loss_d"]) and np.isfinite(r["loss_g"]) for r in records)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["wgan", "gan", "lsgan"])
def test_fig2_resnet101_trains(method, tmp_path):
    _train_preset(f"wgangp-fig2-resnet101-{method}", tmp_path)


@pytest.mark.parametrize("preset", ["wgangp-fig2-resnet101-wgan-gp", "wgangp-table3-cifar-resnet", "wgangp-resnet64"])
def test_wgan_gp_resnet_presets_train(preset, tmp_path):
    _train_preset(preset, tmp_path)


@pytest.mark.slow
def test_resnet64_trains_with_clipping(tmp_path):
    _train_preset("wgangp-resnet64", tmp_path, "--method", "wgan", "--critic-norm", "batch")


def _resnet_cfg(tiny_cfg, **overrides):
    """The CIFAR-10 ResNet with WGAN clipping (the penalty is not needed here) and every option of the
    Table 3 preset that the loop reads."""
    options = dict(image_size=32, generator="cifar_resnet", critic="cifar_resnet", ngf=4, ndf=4, nz=8, init="tflib",
                   critic_norm="none", optimizer="adam", lr_d=2e-4, lr_g=2e-4, beta1=0.0, beta2=0.9,
                   lr_decay="linear", batch_size=4, gen_batch_size=8, dequantize=True, warmup_iters=0,
                   burst_every=0, d_iters=2, log_every=1)
    options.update(overrides)
    return tiny_cfg(**options)


def test_resume_is_exact_with_decay_generator_batch_and_dequantization(tiny_cfg, tmp_path, monkeypatch):
    """A run of 6 stopped after 3 (as by Ctrl-C: a checkpoint, then Interrupted) and resumed == the run of
    6 uninterrupted, with --lr-decay linear (a function of gen_iter and --gen-iters), --gen-batch-size 8
    against a critic batch of 4 and --dequantize (noise from the per-iteration seed): equal losses and
    parameters, bit for bit."""
    full = _resnet_cfg(tiny_cfg, gen_iters=6, outdir=str(tmp_path / "full"))
    train(full, progress=False)
    part = replace(full, outdir=str(tmp_path / "part"))

    class StopAfter(list):
        """A stop request that the loop sees at its third check (after generator iteration 3)."""
        checks = 0

        def __bool__(self):
            self.checks += 1
            if self.checks == 3:
                self.append("SIGTERM")
            return len(self) > 0

    @contextmanager
    def stop_after_three():
        yield StopAfter()
    with monkeypatch.context() as patch:
        patch.setattr(loop, "_stop_requests", stop_after_three)
        with pytest.raises(loop.Interrupted):
            train(part, progress=False)
    assert len(read_metrics(os.path.join(part.outdir, "metrics.jsonl"))) == 3
    train(part, progress=False)
    a, b = read_metrics(os.path.join(full.outdir, "metrics.jsonl")), read_metrics(os.path.join(part.outdir,
                                                                                              "metrics.jsonl"))
    assert [r["gen_iter"] for r in b] == list(range(1, 7))
    for key in ("loss_d", "loss_g"):
        assert [r[key] for r in b] == [r[key] for r in a], key
    for name in ("generator.params", "critic.params"):
        pa = _params(os.path.join(full.outdir, "checkpoints", "latest", name))
        pb = _params(os.path.join(part.outdir, "checkpoints", "latest", name))
        for k in pa:
            np.testing.assert_array_equal(pb[k], pa[k], err_msg=k)


def test_linear_decay_reaches_zero_at_the_last_generator_update(tiny_cfg, tmp_path):
    """With --gen-iters 1 the one generator update runs at lr_g * (1 - 1/1) = 0 (the released code's
    schedule: its generator update opens the next iteration): the generator keeps its initial weights,
    which it does not without the decay."""
    for decay, unchanged in (("linear", True), ("none", False)):
        cfg = _resnet_cfg(tiny_cfg, gen_iters=1, lr_decay=decay, outdir=str(tmp_path / decay))
        train(cfg, progress=False)
        mx.random.seed(cfg.seed)   # the loop's seed before it builds the networks
        generator, _ = build_models(cfg, [mx.cpu()])
        initial = {k: p.data().asnumpy() for k, p in generator._collect_params_with_prefix().items()}
        trained = _params(os.path.join(cfg.outdir, "checkpoints", "latest", "generator.params"))
        weights = [k for k in trained if k.endswith("weight")]
        same = all(np.array_equal(trained[k], initial[k]) for k in weights)
        assert same == unchanged, decay


def test_generator_batch_size_is_the_generator_steps(tiny_cfg, monkeypatch):
    sizes = []
    real_step = loop.generator_step

    def recording_step(generator, critic, trainer, z, method):
        sizes.append(sum(shard.shape[0] for shard in z))
        return real_step(generator, critic, trainer, z, method)
    monkeypatch.setattr(loop, "generator_step", recording_step)
    train(_resnet_cfg(tiny_cfg, gen_iters=2, gen_batch_size=6), progress=False)
    assert sizes == [6, 6]


def test_gen_batch_size_must_split_over_devices(tmp_path, capsys):
    from gluon_wgan.cli import parse_config
    with pytest.raises(SystemExit) as stop:
        parse_config(["--ctx", "cpu(0),cpu(1)", "--gen-batch-size", "7", "--outdir", str(tmp_path / "r")])
    assert stop.value.code == 2
    assert "--gen-batch-size 7 does not split evenly over the 2 devices" in capsys.readouterr().err


@pytest.mark.parametrize("argv,message", [
    (["--generator", "resnet", "--image-size", "32"], "--generator resnet is built for 64x64"),
    (["--init", "tflib"], "--init tflib is the ResNets'"),
    (["--gen-batch-size", "0"], "--gen-batch-size must be at least 1"),
])
def test_bad_resnet_options_are_one_line(argv, message, tmp_path, capsys):
    from gluon_wgan.cli import parse_config
    with pytest.raises(SystemExit) as stop:
        parse_config([*argv, "--outdir", str(tmp_path / "r")])
    assert stop.value.code == 2
    assert message in capsys.readouterr().err


def test_registry_builds_each_resnet():
    assert isinstance(get_model("resnet101_critic", dim=4), ResNet101Critic)
    assert isinstance(get_model("cifar_resnet_generator", dim=4), CIFARResNetGenerator)
