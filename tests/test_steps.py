import mxnet as mx
import numpy as np
import pytest
from mxnet import gluon

from gluon_wgan.models import DCGANCritic, DCGANGenerator, DCGANInit
from gluon_wgan.training.methods import METHODS
from gluon_wgan.training.steps import critic_step, generator_step


def _setup(ctx, lr=0.05):
    mx.random.seed(0)
    g, d = DCGANGenerator(16, nz=4, ngf=4), DCGANCritic(16, ndf=4)
    for net in (g, d):
        net.initialize(DCGANInit(sigma=0.5), ctx=ctx)
    trainer = gluon.Trainer(d.collect_params(), "sgd", {"learning_rate": lr})
    real = mx.nd.random.uniform(-1, 1, shape=(4, 3, 16, 16), ctx=ctx)
    z = mx.nd.random.normal(shape=(4, 4), ctx=ctx)
    return g, d, trainer, real, z


def _max_abs(net):
    return max(np.abs(p.data().asnumpy()).max() for p in net.collect_params().values() if p.grad_req != "null")


@pytest.mark.parametrize("clip_when", ["before", "after"])
def test_clip_when(clip_when, ctx):
    g, d, trainer, real, z = _setup(ctx)
    out = critic_step(d, g, trainer, real, z, METHODS["wgan"], clamp=0.01, clip_when=clip_when)
    if clip_when == "after":
        assert _max_abs(d) <= 0.01 + 1e-9
    else:  # clipped first, then updated: the reference code's order leaves the last update unclipped
        assert _max_abs(d) > 0.01
    np.testing.assert_allclose(out["w_estimate"].asscalar(), -out["loss_d"].asscalar(), rtol=1e-6)


def test_generator_step_leaves_critic_unchanged(ctx):
    g, d, _, _, z = _setup(ctx)
    before = {k: p.data().asnumpy().copy() for k, p in d.collect_params().items() if p.grad_req != "null"}
    g_trainer = gluon.Trainer(g.collect_params(), "sgd", {"learning_rate": 0.1})
    g_before = [p.data().asnumpy().copy() for p in g.collect_params().values() if p.grad_req != "null"]
    out = generator_step(g, d, g_trainer, z, METHODS["wgan"])
    assert out["loss_g"].shape in ((), (1,))
    for k, p in d.collect_params().items():
        if k in before:
            np.testing.assert_array_equal(p.data().asnumpy(), before[k])
    g_after = [p.data().asnumpy() for p in g.collect_params().values() if p.grad_req != "null"]
    assert any(not np.array_equal(a, b) for a, b in zip(g_before, g_after))


@pytest.mark.parametrize("hybridize", [False, True])
def test_generator_step_skips_critic_gradients_only(hybridize, ctx):
    """The generator's update equals the one computed with the critic's gradients on; the critic's
    gradient arrays are left alone, and its next critic step still writes them."""
    updates = []
    for skip in (True, False):
        g, d, d_trainer, real, z = _setup(ctx)
        if hybridize:
            for net in (g, d):
                net.hybridize(static_alloc=True, static_shape=True)
        for p in d.collect_params().values():
            if p.grad_req != "null":
                p.grad()[:] = 7.0
        g_trainer = gluon.Trainer(g.collect_params(), "sgd", {"learning_rate": 0.1})
        if skip:
            generator_step(g, d, g_trainer, z, METHODS["wgan"])
            for name, p in d.collect_params().items():
                if p.grad_req != "null":
                    assert np.all(p.grad().asnumpy() == 7.0), name
        else:   # the plain computation: critic gradients computed too
            with mx.autograd.record():
                loss = METHODS["wgan"].loss_g(d(g(z)))
            loss.backward()
            g_trainer.step(1)
        updates.append([p.data().asnumpy() for p in g.collect_params().values() if p.grad_req != "null"])
        critic_step(d, g, d_trainer, real, z, METHODS["wgan"])
        assert all(p.grad_req != "write" or not np.all(p.grad().asnumpy() == 7.0)
                   for p in d.collect_params().values())
    for a, b in zip(*updates):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_generator_statistics_move_the_generators_running_statistics_only(ctx):
    """critic_step(generator_statistics=True) moves G's BatchNorm statistics once, as a train-mode
    forward of the reference does (MXNet's own forward does not: the default leaves them), writes
    none of G's gradients, and updates the critic exactly as without it."""
    results = {}
    for follow in (False, True):
        g, d, trainer, real, z = _setup(ctx)
        for p in g.collect_params().values():
            if p.grad_req != "null":
                p.grad()[:] = 7.0                        # a sentinel: the backward must not write it
        stats = {k: p.data().asnumpy().copy() for k, p in g.collect_params().items() if p.grad_req == "null"}
        out = critic_step(d, g, trainer, real, z, METHODS["wgan"], generator_statistics=follow)
        mx.nd.waitall()
        moved = {k: not np.array_equal(g.collect_params()[k].data().asnumpy(), v) for k, v in stats.items()}
        assert all(moved.values()) if follow else not any(moved.values()), moved
        assert all((p.grad().asnumpy() == 7.0).all() for p in g.collect_params().values() if p.grad_req != "null")
        results[follow] = out["loss_d"].asscalar(), [p.data().asnumpy() for p in d.collect_params().values()]
    assert results[True][0] == results[False][0]
    for with_statistics, without in zip(results[True][1], results[False][1]):
        np.testing.assert_array_equal(with_statistics, without)


@pytest.mark.parametrize("gp_mode", ["two-sided", "one-sided"])
def test_penalty_mode_reaches_the_penalty(gp_mode, ctx):
    """critic_step's gp is the formula of its mode on the gradient norms it reports."""
    g, _, _, real, z = _setup(ctx)
    d = DCGANCritic(16, ndf=4, norm="layer")
    d.initialize(DCGANInit(sigma=0.5), ctx=ctx)
    last = d.body[-1].weight
    last.set_data(last.data() / 8)                      # norms on both sides of 1
    d.collect_params().setattr("lr_mult", 0.0)          # gp read after the step: keep the critic still
    trainer = gluon.Trainer(d.collect_params(), "sgd", {"learning_rate": 0.0})
    out = critic_step(d, g, trainer, real, z, METHODS["wgan-gp"], gp_weight=10.0, gp_mode=gp_mode)
    norms = out["grad_norm"].asnumpy().astype(np.float64)
    excess = norms - 1 if gp_mode == "two-sided" else np.maximum(norms - 1, 0)
    assert (norms > 1).any() and (norms < 1).any(), norms
    np.testing.assert_allclose(out["gp"].asscalar(), 10.0 * np.mean(excess ** 2), rtol=1e-5)
