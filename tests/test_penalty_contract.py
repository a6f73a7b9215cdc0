"""The penalty under Gluon's ordinary contract: record, backward, step, nothing else called.

Every test writes a critic update the way a Gluon tutorial does,

    with autograd.record():
        loss = losses.wasserstein_d(critic(real), critic(fake)) + gradient_penalty(critic, real, fake)
    loss.backward()

and checks `p.grad()` of every parameter against an oracle: central finite differences of the whole
loss in float64, float64 against float32, one device against two, one backward against two with
grad_req='add'. Before the penalty's convolution transposes had a backward of their own, the
penalty's share of every convolution weight's gradient was missing here (exactly 0 for a critic
without normalization) unless a second function was called; the finite-difference check at each
weight's largest entry fails on that.
"""
import warnings

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon

from gluon_wgan import losses
from gluon_wgan.penalty import gradient_penalty

from conftest import batch, central_difference, make_critic

CRITICS = {
    "dcgan32-layer-extra": dict(image_size=32, ndf=2, nc=3, n_extra_layers=1, norm="layer", use_bias=True),
    "dcgan32-none-extra": dict(image_size=32, ndf=2, nc=2, n_extra_layers=1, norm="none"),
    "dcgan64-layer": dict(image_size=64, ndf=1, nc=2, norm="layer", use_bias=True),
    "dcgan64-none": dict(image_size=64, ndf=1, nc=3, norm="none", use_bias=True),
    "dcgan16-tanh-layer": dict(image_size=16, ndf=3, nc=2, norm="layer", activation="tanh"),
    "dcgan16-gated-none": dict(image_size=16, ndf=2, nc=2, norm="none", use_bias=True, activation="gated"),
    "mlp-image": dict(in_shape=(2, 4, 4), hidden=8, n_hidden=3),
    # The WGAN-GP code's CIFAR-10 critic: 5x5 stride-2 convolutions with padding, a dense score.
    "cifar-none": dict(image_size=32, dim=2, nc=3, norm="none", use_bias=True),
    "cifar-layer": dict(image_size=32, dim=1, nc=3, norm="layer", use_bias=True),
}
FD_STEP, FD_RTOL, FD_ATOL = 1e-6, 1e-5, 1e-9


def critic_loss(critic, real, fake, alpha):
    return losses.wasserstein_d(critic(real), critic(fake)) + gradient_penalty(critic, real, fake,
                                                                               weight=10.0, alpha=alpha)


def tutorial_grads(critic, real, fake, alpha):
    """{name: p.grad()} after the tutorial's record + backward, and nothing else."""
    with autograd.record():
        loss = critic_loss(critic, real, fake, alpha)
    loss.backward()
    return {name[len(critic.prefix):]: p.grad().asnumpy() for name, p in critic.collect_params().items()}


def wasserstein_grads(critic, real, fake):
    """{name: gradient} of the Wasserstein term alone, by first-order autograd."""
    with autograd.record():
        loss = losses.wasserstein_d(critic(real), critic(fake))
    loss.backward()
    return {name[len(critic.prefix):]: p.grad().asnumpy() for name, p in critic.collect_params().items()}


def assert_matches_finite_differences(critic, real, fake, alpha, grads, picks_per_param=3, seed=2):
    """grads = the Wasserstein term's first-order gradient + central differences of the penalty,
    at each parameter's largest entry and random others. (The critic's own float64 forward is only
    float32-accurate through MXNet's LeakyReLU, docs/examples/leaky_relu_float64.py, too coarse
    for finite differences of the whole loss; the penalty's computation is float64 throughout.)"""
    rng = np.random.RandomState(seed)
    first_order = wasserstein_grads(critic, real, fake)

    def penalty():
        return gradient_penalty(critic, real, fake, weight=10.0, alpha=alpha).asscalar()

    for name, param in critic.collect_params().items():
        key = name[len(critic.prefix):]
        data, grad, w_grad = param.data(), grads[key].ravel(), first_order[key].ravel()
        picks = {int(np.argmax(np.abs(grad - w_grad)))} | set(
            rng.choice(data.size, min(picks_per_param, data.size) - 1, replace=False).tolist())
        for flat in sorted(picks):
            idx = np.unravel_index(flat, data.shape)
            expected = w_grad[flat] + central_difference(data, idx, penalty, FD_STEP)
            assert abs(grad[flat] - expected) <= FD_RTOL * abs(expected) + FD_ATOL, \
                (name, idx, grad[flat], expected)


@pytest.mark.parametrize("name", sorted(CRITICS))
@pytest.mark.parametrize("hybridize", [False, True])
def test_tutorial_step_gradients_match_finite_differences(name, hybridize):
    spec = CRITICS[name]
    critic = make_critic(spec)
    if hybridize:
        critic.hybridize()
    real, fake, alpha = batch(spec, 3)
    grads = tutorial_grads(critic, real, fake, alpha)
    assert_matches_finite_differences(critic, real, fake, alpha, grads)


@pytest.mark.parametrize("name", ["dcgan32-none-extra", "dcgan64-none", "cifar-none"])
def test_penalty_share_of_every_conv_weight_is_there(name):
    """Without normalization the Wasserstein term and the penalty reach each convolution weight by
    different paths; the penalty's share (loss gradient minus the Wasserstein term's) must be
    nonzero in every weight, where the old protocol left it at exactly 0 without its extra call."""
    spec = CRITICS[name]
    critic = make_critic(spec)
    real, fake, alpha = batch(spec, 3)
    full = tutorial_grads(critic, real, fake, alpha)
    first_order = wasserstein_grads(critic, real, fake)
    for key, grad in full.items():
        if key.endswith("weight"):
            assert np.abs(grad - first_order[key]).max() > 1e-3, key


@pytest.mark.parametrize("name", ["dcgan32-layer-extra", "dcgan64-none", "dcgan16-gated-none", "mlp-image",
                                  "cifar-none"])
def test_float32_with_mkldnn_agrees_with_float64(name):
    spec = CRITICS[name]
    critic = make_critic(spec, seed=3)
    critic.hybridize()
    real, fake, alpha = batch(spec, 6, seed=4)
    grads64 = tutorial_grads(critic, real, fake, alpha)
    critic.cast("float32")
    grads32 = tutorial_grads(critic, *(a.astype("float32") for a in (real, fake, alpha)))
    for key, g64 in grads64.items():
        # float32 rounding is relative to the size of the whole gradient, not of each entry.
        np.testing.assert_allclose(grads32[key], g64, rtol=1e-4, atol=2e-5 * np.abs(g64).max(), err_msg=key)


@pytest.mark.parametrize("name", ["dcgan32-layer-extra", "dcgan64-none"])
def test_two_devices_sum_to_one_device(name):
    """split_and_load shards on cpu(0) and cpu(1), one backward: the two devices' gradients add up
    to the one-device gradient of the whole batch (each shard's loss is its own mean, so the
    one-device loss is the mean of the shards' losses)."""
    spec = CRITICS[name]
    ctxs = [mx.cpu(0), mx.cpu(1)]
    critic = make_critic(spec, ctx=ctxs)
    critic.hybridize()
    real, fake, alpha = batch(spec, 6)
    shards = [gluon.utils.split_and_load(a, ctxs) for a in (real, fake, alpha)]
    with autograd.record():
        shard_losses = [critic_loss(critic, *args) for args in zip(*shards)]
    autograd.backward(shard_losses)
    summed = {k[len(critic.prefix):]: sum(p.grad(c).asnumpy() for c in ctxs)
              for k, p in critic.collect_params().items()}
    reference = make_critic(spec)
    halves = [tutorial_grads(reference, *(a[s] for a in (real, fake, alpha)))
              for s in (slice(0, 3), slice(3, 6))]
    for key, g in summed.items():
        np.testing.assert_allclose(g, halves[0][key] + halves[1][key], rtol=1e-10, atol=1e-13, err_msg=key)


def test_grad_req_add_accumulates_two_backward_calls():
    spec = CRITICS["dcgan32-layer-extra"]

    def grads_after(passes):
        critic = make_critic(spec)
        critic.hybridize()
        critic.collect_params().setattr("grad_req", "add")
        for i in range(passes):
            grads = tutorial_grads(critic, *batch(spec, 3, seed=1 + i))
        return grads

    one, two = grads_after(1), grads_after(2)
    second = tutorial_grads(make_critic(spec), *batch(spec, 3, seed=2))
    for key, g in two.items():
        np.testing.assert_allclose(g, one[key] + second[key], rtol=1e-10, atol=1e-13, err_msg=key)


def test_trainer_steps_on_the_tutorial_gradients():
    """Two full updates with Adam in float32 (MKL-DNN): the trainer sees every gradient as fresh,
    and the update equals the one made from float64 gradients."""
    spec = CRITICS["dcgan32-layer-extra"]
    updated = {}
    for dtype in ("float64", "float32"):
        critic = make_critic(spec, dtype=dtype)
        critic.hybridize()
        trainer = gluon.Trainer(critic.collect_params(), "adam", {"learning_rate": 1e-3})
        for i in range(2):
            with warnings.catch_warnings():
                warnings.filterwarnings("error", message=".*has not been updated by backward")
                tutorial_grads(critic, *batch(spec, 4, dtype=dtype, seed=i))
                trainer.step(1)
        updated[dtype] = {k[len(critic.prefix):]: p.data().asnumpy() for k, p in critic.collect_params().items()}
    for key, w in updated["float64"].items():
        np.testing.assert_allclose(updated["float32"][key], w, rtol=1e-4, atol=1e-5, err_msg=key)


def test_custom_loop_example_gradients():
    """docs/examples/custom_loop.py: its critic step's gradients are the finite differences'."""
    import importlib.util
    import os
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "examples",
                        "custom_loop.py")
    spec = importlib.util.spec_from_file_location("custom_loop", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    critic, real, fake, alpha = example.critic_and_batch(dtype="float64")
    example.critic_update(critic, None, real, fake, alpha)
    grads = {name[len(critic.prefix):]: p.grad().asnumpy() for name, p in critic.collect_params().items()}

    assert_matches_finite_differences(critic, real, fake, alpha, grads)


def test_autograd_path_warns_once_and_refuses_what_mxnet_refuses():
    from gluon_wgan import penalty
    monkey_warned = penalty._warned[:]
    penalty._warned.clear()
    try:
        spec = CRITICS["mlp-image"]
        critic = make_critic(spec)
        real, fake, alpha = batch(spec, 2)
        with pytest.warns(RuntimeWarning, match="wrong parameter gradients"):
            gradient_penalty(critic, real, fake, alpha=alpha, path="autograd")
        with warnings.catch_warnings():
            warnings.filterwarnings("error", category=RuntimeWarning)
            gradient_penalty(critic, real, fake, alpha=alpha, path="autograd")   # once only
        conv = make_critic(CRITICS["dcgan32-none-extra"])
        with pytest.raises(ValueError, match="refuses its Conv2D layers"):
            gradient_penalty(conv, *batch(CRITICS["dcgan32-none-extra"], 2)[:2], path="autograd")
        critic.hybridize()
        with pytest.raises(ValueError, match="refuses a hybridized critic"):
            gradient_penalty(critic, real, fake, path="autograd")
    finally:
        penalty._warned[:] = monkey_warned


def test_plain_operators_give_the_fused_gradients_every_time():
    """The path a GPU takes (the layer norm in plain operators, cached graphs that reuse their memory)
    against the fused kernels, repeated: the transposes' backward once read an output gradient whose
    memory MXNet had already handed on, and about half the runs here came out wrong (off by 2x up
    to 1e31)."""
    from gluon_wgan import native
    if not native.available():
        pytest.skip("the fused kernels are not built here")
    spec = dict(image_size=32, ndf=8, nc=3, norm="layer", use_bias=True)
    critic = make_critic(spec, dtype="float32", seed=5)
    real, fake, alpha = batch(spec, 16, dtype="float32", seed=6)
    fused = tutorial_grads(critic, real, fake, alpha)
    for _ in range(6):
        with native.plain_operators():
            plain = tutorial_grads(critic, real, fake, alpha)
        for key, want in fused.items():
            np.testing.assert_allclose(plain[key], want, rtol=1e-4, atol=1e-5 * np.abs(want).max(), err_msg=key)
