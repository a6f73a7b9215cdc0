"""Oracles for gluon_wgan.penalty: finite differences in float64, first-order autograd, PyTorch.

The penalty's parameter gradient is the quantity MXNet 1.9.1's autograd.grad(create_graph=True)
gets wrong (docs/gradient_penalty.md), so every parameter of every layer is checked against
central finite differences, not only the penalty's value.
"""
import json
import subprocess
import sys
import textwrap

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, nd
from mxnet.gluon import nn

from gluon_wgan import native
from gluon_wgan.models import DCGANCritic, MLPCritic
from gluon_wgan.models.layers import ChannelLayerNorm, ReLU
from gluon_wgan.penalty import check_penalty_support, gradient_penalty, input_gradient, interpolate
from gluon_wgan.transposes import input_grad

from conftest import batch, central_difference, make_critic

FD_STEP = 1e-6
FD_RTOL = 1e-4
FD_ATOL = 1e-8   # only matters where the true gradient is 0 (biases before a ReLU/LeakyReLU)

CRITICS = {
    "conv-layer-bias-extra": dict(image_size=16, ndf=4, nc=3, n_extra_layers=1, norm="layer",
                                  use_bias=True),
    "conv-layer-nobias": dict(image_size=16, ndf=4, nc=2, norm="layer", use_bias=False),
    "conv-none-bias": dict(image_size=16, ndf=4, nc=3, norm="none", use_bias=True),
    "conv-none-nobias-extra-32": dict(image_size=32, ndf=2, nc=1, n_extra_layers=1, norm="none"),
    "conv-tanh-layer-bias": dict(image_size=16, ndf=4, nc=2, norm="layer", use_bias=True, activation="tanh"),
    "conv-tanh-none": dict(image_size=16, ndf=3, nc=2, norm="none", activation="tanh"),
    "conv-gated-layer-bias": dict(image_size=16, ndf=2, nc=2, norm="layer", use_bias=True, activation="gated"),
    "conv-gated-none-extra": dict(image_size=16, ndf=2, nc=3, n_extra_layers=1, norm="none", activation="gated"),
    "mlp-toy": dict(in_shape=(2,), hidden=16, n_hidden=3),
    "mlp-image": dict(in_shape=(2, 4, 4), hidden=8, n_hidden=2),
}


def penalty_grads(critic, real, fake, alpha, **kwargs):
    """Penalty value and {parameter name: gradient} after backward(), nothing else called."""
    with autograd.record():
        gp = gradient_penalty(critic, real, fake, weight=10.0, alpha=alpha, **kwargs)
    gp.backward()
    grads = {name: p.grad().asnumpy() for name, p in critic.collect_params().items()}
    return gp.asnumpy(), grads


def fd_errors(critic, real, fake, alpha, grads, per_param=4, seed=2):
    """(max relative error, max |fd| of each weight): central differences at sampled entries.

    Fails (assert) on any sampled entry with |analytic - fd| > FD_RTOL * |fd| + FD_ATOL.
    """
    rng = np.random.RandomState(seed)
    worst, weight_scale = 0.0, {}

    def value():
        return gradient_penalty(critic, real, fake, weight=10.0, alpha=alpha).asnumpy()[0]

    for name, param in sorted(critic.collect_params().items()):
        data = param.data()
        # The largest analytic entry, and random others.
        largest = np.argmax(np.abs(grads[name]))
        others = np.setdiff1d(np.arange(data.size), [largest])
        picks = np.concatenate([[largest], rng.choice(others, size=min(per_param, data.size) - 1,
                                                      replace=False)])
        fd = np.empty(len(picks))
        for j, flat in enumerate(picks):
            idx = np.unravel_index(flat, data.shape)
            fd[j] = central_difference(data, idx, value, FD_STEP)
        analytic = grads[name].reshape(-1)[picks]
        np.testing.assert_allclose(analytic, fd, rtol=FD_RTOL, atol=FD_ATOL, err_msg=name)
        big = np.abs(fd) > 1e-6
        if big.any():
            worst = max(worst, np.max(np.abs(analytic - fd)[big] / np.abs(fd)[big]))
        if name.endswith("weight"):
            weight_scale[name] = np.abs(fd[0])
    return worst, weight_scale


@pytest.mark.parametrize("name", sorted(CRITICS))
@pytest.mark.parametrize("hybridize", [False, True])
def test_penalty_grads_match_finite_differences(name, hybridize):
    spec = CRITICS[name]
    critic = make_critic(spec)
    if hybridize:
        critic.hybridize()
    real, fake, alpha = batch(spec, 4)
    gp, grads = penalty_grads(critic, real, fake, alpha)
    worst, weight_scale = fd_errors(critic, real, fake, alpha, grads)
    assert worst < FD_RTOL
    # Not vacuous: every layer's weight moves the penalty (autograd.grad gives 0 for later layers).
    assert min(weight_scale.values()) > 1e-3, weight_scale


LAYER_NORM_CRITICS = sorted(name for name, spec in CRITICS.items() if spec.get("norm") == "layer")


@pytest.mark.parametrize("name", LAYER_NORM_CRITICS)
@pytest.mark.parametrize("hybridize", [False, True])
def test_plain_layer_norm_path_matches_finite_differences(name, hybridize):
    """The same check with the fused kernels off: the path of GPUs and compiler-less machines."""
    with native.plain_operators():
        test_penalty_grads_match_finite_differences(name, hybridize)


def test_finite_difference_check_catches_autograd_path():
    """The FD check fails on the textbook path: the oracle can tell right from wrong."""
    spec = CRITICS["mlp-toy"]
    critic = make_critic(spec)
    real, fake, alpha = batch(spec, 4)
    _, grads = penalty_grads(critic, real, fake, alpha, path="autograd")
    with pytest.raises(AssertionError):
        fd_errors(critic, real, fake, alpha, grads)


def test_autograd_path_mxnet_defect_pinned():
    """MXNet 1.9.1: autograd.grad(create_graph=True) through Dense + relu gets the value and the
    first layer right and returns exactly 0 for later weights. If this starts failing, MXNet
    changed: re-measure before letting path='auto' use autograd.grad."""
    spec = CRITICS["mlp-toy"]
    critic = make_critic(spec)
    real, fake, alpha = batch(spec, 4)
    gp_auto, grads_auto = penalty_grads(critic, real, fake, alpha, path="autograd")
    gp, grads = penalty_grads(critic, real, fake, alpha)
    np.testing.assert_allclose(gp_auto, gp, rtol=1e-12)
    first, *later = [n for n in sorted(grads) if n.endswith("weight")]
    np.testing.assert_allclose(grads_auto[first], grads[first], rtol=1e-10, atol=1e-14)
    for name in later:
        assert np.abs(grads[name]).max() > 1e-2
        assert np.abs(grads_auto[name]).max() == 0.0


@pytest.mark.parametrize("name", ["conv-layer-bias-extra", "conv-none-bias", "mlp-image"])
def test_float32_agrees_with_float64(name):
    spec = CRITICS[name]
    critic = make_critic(spec, seed=3)
    real, fake, alpha = batch(spec, 8, seed=4)
    gp64, grads64 = penalty_grads(critic, real, fake, alpha)
    critic.cast("float32")
    gp32, grads32 = penalty_grads(critic, *(a.astype("float32") for a in (real, fake, alpha)))
    np.testing.assert_allclose(gp32, gp64, rtol=1e-5)
    for key, g64 in grads64.items():
        # float32 rounding is relative to the size of the whole gradient, not of each entry.
        np.testing.assert_allclose(grads32[key], g64, rtol=1e-4, atol=1e-5 * np.abs(g64).max(),
                                   err_msg=key)


def first_order_input_grad(critic, x):
    x = x.copy()
    x.attach_grad()
    with autograd.record():
        score = critic(x)
    score.backward()
    return x.grad.asnumpy()


@pytest.mark.parametrize("image_size,ndf,n", [(16, 4, 1), (32, 4, 3), (64, 2, 2), (128, 1, 2)])
@pytest.mark.parametrize("norm", ["layer", "none"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_explicit_input_grad_equals_first_order_autograd(image_size, ndf, n, norm, dtype):
    spec = dict(image_size=image_size, ndf=ndf, nc=3, norm=norm, use_bias=True,
                n_extra_layers=int(image_size == 32))
    critic = make_critic(spec, dtype=dtype)
    critic.hybridize()
    x, _, _ = batch(spec, n, dtype=dtype)
    critic(x).wait_to_read()   # inference-mode forward first: MKL-DNN may re-lay the weights out
    with native.plain_operators():   # a reference that shares no code with the fused kernels
        reference = make_critic(spec, dtype=dtype)
        reference.hybridize()
        expected = first_order_input_grad(reference, x)
    got = input_grad(critic, x).asnumpy()
    # float64 with layer norm: the reference's activations come from MXNet's LeakyReLU forward,
    # which is only float32-accurate (docs/examples/leaky_relu_float64.py); without layer norm
    # the activations enter through masks only and the two agree to rounding.
    rtol = {"float32": 1e-4, "float64": 1e-7 if norm == "layer" else 1e-12}[dtype]
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


@pytest.mark.parametrize("image_size,ndf,n", [(16, 4, 1), (32, 4, 3)])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_plain_layer_norm_input_grad_equals_first_order_autograd(image_size, ndf, n, dtype):
    """The layer-norm transpose without the fused kernels (the finite-difference tests cannot see
    a wrong transpose: they compare the penalty with itself)."""
    with native.plain_operators():
        test_explicit_input_grad_equals_first_order_autograd(image_size, ndf, n, "layer", dtype)


@pytest.mark.parametrize("name", ["mlp-toy", "mlp-image"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_explicit_input_grad_equals_first_order_autograd_mlp(name, dtype):
    critic = make_critic(CRITICS[name], dtype=dtype)
    critic.hybridize()
    x, _, _ = batch(CRITICS[name], 5, dtype=dtype)
    critic(x).wait_to_read()   # inference-mode forward first: MKL-DNN may re-lay the weights out
    expected = first_order_input_grad(critic, x)
    rtol = 1e-10 if dtype == "float64" else 1e-4
    np.testing.assert_allclose(input_grad(critic, x).asnumpy(), expected, rtol=rtol,
                               atol=rtol * np.abs(expected).max())


@pytest.mark.parametrize("name", [n for n in sorted(CRITICS) if "tanh" in n or "gated" in n])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_explicit_input_grad_equals_first_order_autograd_smooth_activations(name, dtype):
    """The tanh and gate transposes themselves (the finite-difference test checks only that the
    penalty built on them is differentiated exactly): fails for swapped gate halves, or 1 - tanh."""
    critic = make_critic(CRITICS[name], dtype=dtype)
    critic.hybridize()
    x, _, _ = batch(CRITICS[name], 3, dtype=dtype)
    critic(x).wait_to_read()
    expected = first_order_input_grad(critic, x)
    rtol = 1e-10 if dtype == "float64" else 1e-4
    np.testing.assert_allclose(input_grad(critic, x).asnumpy(), expected, rtol=rtol,
                               atol=rtol * np.abs(expected).max())


class _DenseCritic(nn.HybridBlock):
    """Not one of the package's critics: its penalty takes the general path (op_transposes)."""

    def __init__(self):
        super().__init__()
        with self.name_scope():
            self.hidden, self.out = nn.Dense(8, in_units=2), nn.Dense(1, in_units=8)

    def hybrid_forward(self, F, x):
        return F.reshape(self.out(F.relu(self.hidden(x))), shape=(-1,))


@pytest.mark.parametrize("critic", [lambda: MLPCritic(in_shape=(2,), hidden=8), _DenseCritic],
                         ids=["fused", "general"])
def test_dense_transposes_run_as_fully_connected(critic):
    """A dense layer's transpose g W is FullyConnected(g, W^T), which MXNet runs in oneDNN, not dot,
    which its wheel runs in OpenBLAS (4x slower on Intel CPUs: benchmarks/README.md)."""
    critic = critic()
    critic.initialize()
    critic.hybridize()
    with autograd.record():
        grad = input_gradient(critic, nd.random.normal(shape=(4, 2)))
    ops = {node["op"] for node in json.loads(autograd.get_symbol(grad).tojson())["nodes"]}
    assert "FullyConnected" in ops and "dot" not in ops, ops


def test_penalty_value_and_norms_per_sample_over_all_axes():
    """Norm over (C, H, W) of each sample, mean over samples: the value from numpy and first-order
    autograd. Fails for a norm over the channel axis only, or over the whole batch."""
    spec = CRITICS["conv-none-bias"]   # no layer norm: MXNet's own float64 forward is exact here
    critic = make_critic(spec)
    real, fake, alpha = batch(spec, 5)
    gp, norms = gradient_penalty(critic, real, fake, weight=3.0, alpha=alpha, return_norms=True)
    a = alpha.asnumpy().reshape(-1, 1, 1, 1)
    x_hat = a * real.asnumpy() + (1 - a) * fake.asnumpy()
    grad = first_order_input_grad(critic, nd.array(x_hat, dtype="float64"))
    expected_norms = np.sqrt((grad ** 2).sum(axis=(1, 2, 3)))
    assert norms.shape == (5,)
    np.testing.assert_allclose(norms.asnumpy(), expected_norms, rtol=1e-10)
    np.testing.assert_allclose(gp.asnumpy(), [3.0 * np.mean((expected_norms - 1) ** 2)], rtol=1e-10)


def test_interpolate_one_alpha_per_sample():
    """Each x_hat_i lies on the segment [fake_i, real_i] with its own alpha_i. N equals the image
    width so that a (N,) alpha broadcast against the last axis would not raise, only be wrong."""
    real, fake, alpha = batch(dict(nc=3, image_size=16), 16)
    x_hat = interpolate(real, fake, alpha).asnumpy()
    a = alpha.asnumpy().reshape(-1, 1, 1, 1)
    np.testing.assert_allclose(x_hat, a * real.asnumpy() + (1 - a) * fake.asnumpy(), rtol=1e-12,
                               atol=1e-15)

    mx.random.seed(5)
    x_hat = interpolate(real, fake).asnumpy()
    ratio = (x_hat - fake.asnumpy()) / (real.asnumpy() - fake.asnumpy())
    per_sample = ratio.reshape(16, -1)
    np.testing.assert_allclose(per_sample, per_sample[:, :1] * np.ones_like(per_sample), rtol=1e-8)
    assert np.all((per_sample[:, 0] >= 0) & (per_sample[:, 0] <= 1))
    assert np.unique(per_sample[:, 0]).size == 16


def test_penalty_draws_alpha_through_interpolate():
    spec = CRITICS["conv-none-bias"]
    critic = make_critic(spec)
    real, fake, _ = batch(spec, 4)
    mx.random.seed(11)
    gp = gradient_penalty(critic, real, fake, weight=10.0)
    mx.random.seed(11)
    grad = input_grad(critic, interpolate(real, fake)).asnumpy()
    norms = np.sqrt((grad ** 2).reshape(4, -1).sum(axis=1))
    np.testing.assert_allclose(gp.asnumpy(), [10.0 * np.mean((norms - 1) ** 2)], rtol=1e-10)


@pytest.mark.parametrize("shape", [(4, 1, 1, 1), (4, 3, 16, 16), (1,), (16,)])
def test_alpha_not_per_sample_is_refused(shape):
    real, fake, _ = batch(dict(nc=3, image_size=16), 4)
    with pytest.raises(ValueError, match="one coefficient per sample"):
        interpolate(real, fake, nd.ones(shape, dtype="float64"))


def test_no_gradient_reaches_fake_or_real():
    spec = CRITICS["conv-none-bias"]
    critic = make_critic(spec)
    real, fake, alpha = batch(spec, 3)
    for a in (real, fake):
        a.attach_grad()
    with autograd.record():
        gp = gradient_penalty(critic, real * 1, fake * 1, alpha=alpha)
    gp.backward()
    assert np.abs(real.grad.asnumpy()).max() == 0 and np.abs(fake.grad.asnumpy()).max() == 0


def test_penalty_per_context():
    """Two contexts, one record, one backward each: each context's gradient is its half's."""
    spec = CRITICS["conv-layer-bias-extra"]
    ctxs = [mx.cpu(0), mx.cpu(1)]
    critic = make_critic(spec, ctx=ctxs)
    real, fake, alpha = batch(spec, 6)
    halves = [slice(0, 3), slice(3, 6)]
    with autograd.record():
        losses = [gradient_penalty(critic, real[s].as_in_context(c), fake[s].as_in_context(c),
                                   alpha=alpha[s].as_in_context(c)) for s, c in zip(halves, ctxs)]
    autograd.backward(losses)
    got = [{n: p.grad(c).asnumpy() for n, p in critic.collect_params().items()} for c in ctxs]
    reference = make_critic(spec)
    for s, grads in zip(halves, got):
        _, expected = penalty_grads(reference, real[s], fake[s], alpha[s])
        for name, g in expected.items():
            key = name.replace(reference.prefix, critic.prefix, 1)
            np.testing.assert_allclose(grads[key], g, rtol=1e-10, atol=1e-14, err_msg=name)


def test_two_penalties_in_one_graph_add_up():
    """Two same-shape penalties recorded before one backward: the layer norm's hybridized graphs
    (static memory) must keep each call's saved values, so the gradient is the sum of the two."""
    spec = CRITICS["conv-layer-bias-extra"]
    critic = make_critic(spec)
    first, second = batch(spec, 3, seed=1), batch(spec, 3, seed=5)
    with autograd.record():
        total = gradient_penalty(critic, *first[:2], alpha=first[2]) + \
            gradient_penalty(critic, *second[:2], alpha=second[2])
    total.backward()
    together = {name: p.grad().asnumpy() for name, p in critic.collect_params().items()}
    _, one = penalty_grads(critic, *first)
    _, two = penalty_grads(critic, *second)
    for name, g in together.items():
        np.testing.assert_allclose(g, one[name] + two[name], rtol=1e-10, atol=1e-14, err_msg=name)


def test_penalty_gradients_accumulate_with_grad_req_add():
    """grad_req='add' on every parameter: two backward passes give twice the gradient (the fused
    layer-norm kernels write their input gradients, so the penalty hands them copies)."""
    spec = CRITICS["conv-layer-bias-extra"]

    def grads_after(passes):
        critic = make_critic(spec)
        critic.collect_params().setattr("grad_req", "add")
        real, fake, alpha = batch(spec, 3)
        for _ in range(passes):
            with autograd.record():
                gp = gradient_penalty(critic, real, fake, alpha=alpha)
            gp.backward()
        return {name[len(critic.prefix):]: p.grad().asnumpy() for name, p in critic.collect_params().items()}

    once, twice = grads_after(1), grads_after(2)
    for name, g in once.items():
        np.testing.assert_allclose(twice[name], 2 * g, rtol=1e-10, atol=1e-14, err_msg=name)


def test_batchnorm_critic_is_refused_by_name():
    critic = DCGANCritic(16, ndf=4, norm="batch")
    bn_name = next(layer.name for layer in critic.body if isinstance(layer, nn.BatchNorm))
    with pytest.raises(ValueError, match=rf"{bn_name}.*norm='layer' or norm='none'"):
        check_penalty_support(critic)
    critic.initialize()
    real, fake, _ = batch(dict(nc=3, image_size=16), 2, dtype="float32")
    with pytest.raises(ValueError, match=bn_name):
        gradient_penalty(critic, real, fake)


@pytest.mark.parametrize("layer, width", [(nn.Activation("relu"), 1), (nn.Dense(4, activation="relu", in_units=1), 4),
                                          (nn.Dense(4, flatten=False, in_units=1), 4), (nn.Activation("tanh"), 1)])
def test_other_layers_take_the_general_path(layer, width):
    """A package critic with a layer its fused transposes do not cover goes through its symbol
    graph (graph_transpose) instead of being refused; the input gradient is first-order autograd's."""
    critic = MLPCritic(in_shape=(2,), hidden=4, n_hidden=1)
    critic.body.add(layer)
    critic.body.add(nn.Dense(1, in_units=width))
    check_penalty_support(critic)
    critic.initialize(mx.init.Normal(0.5))
    critic.cast("float64")
    x = nd.array(np.random.RandomState(0).normal(size=(3, 2)), dtype="float64")
    x.attach_grad()
    with autograd.record():
        total = critic(x).sum()
    total.backward()
    with autograd.record():
        grad = input_gradient(critic, x)
    np.testing.assert_allclose(grad.asnumpy(), x.grad.asnumpy(), rtol=1e-12, atol=1e-15)


def test_a_subclass_with_another_forward_takes_the_general_path():
    class ScaledCritic(MLPCritic):
        def hybrid_forward(self, F, x):
            return 2 * super().hybrid_forward(F, x)

    check_penalty_support(ScaledCritic(in_shape=(2,)))
    bad = ScaledCritic(in_shape=(2,))
    bad.body.add(nn.BatchNorm())
    with pytest.raises(ValueError, match="BatchNorm"):
        check_penalty_support(bad)


@pytest.mark.parametrize("name", ["conv-layer-bias-extra", "conv-none-nobias-extra-32"])
def test_supported_critics_pass_the_check(name):
    check_penalty_support(make_critic(CRITICS[name]))


def test_runs_with_mkldnn_in_a_subprocess():
    """float32 with MKL-DNN (the default here), hybridized critic, full step: must not crash, and
    agree with the same step in float64 (no MKL-DNN kernels). A crash is a segfault, hence the
    subprocess."""
    script = textwrap.dedent("""
        import gluon_wgan  # first: numpy's removed aliases back before MXNet loads (numpy_aliases.py)
        import mxnet as mx, numpy as np
        from mxnet import autograd, gluon, nd
        from gluon_wgan.models import DCGANCritic, DCGANInit
        from gluon_wgan.penalty import gradient_penalty
        assert mx.runtime.Features().is_enabled("MKLDNN")
        grads = {}
        for dtype in ("float64", "float32"):
            mx.random.seed(0)
            critic = DCGANCritic(32, ndf=8, nc=3, n_extra_layers=1, norm="layer", use_bias=True)
            critic.initialize(DCGANInit(0.1))
            critic.cast(dtype)
            critic.hybridize()
            trainer = gluon.Trainer(critic.collect_params(), "adam", {"learning_rate": 1e-4})
            x = nd.random.normal(shape=(2, 8, 3, 32, 32)).astype(dtype)
            alpha = nd.random.uniform(shape=(8,)).astype(dtype)
            for step in range(2):   # the second step runs on weights the first one updated
                with autograd.record():
                    loss = (critic(x[1]).mean() - critic(x[0]).mean()
                            + gradient_penalty(critic, x[0], x[1], alpha=alpha))
                loss.backward()
                if step == 0:
                    grads[dtype] = np.concatenate([p.grad().asnumpy().ravel()
                                                   for p in critic.collect_params().values()])
                trainer.step(1)
            nd.waitall()
        err = np.abs(grads["float32"] - grads["float64"]).max() / np.abs(grads["float64"]).max()
        print("max relative difference", err)
        assert err < 1e-4, err
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]


@pytest.mark.parametrize("name", ["conv-layer-bias-extra", "conv-none-bias", "mlp-image"])
def test_matches_pytorch_double_backprop(name):
    """Oracle: the same critic and weights in PyTorch, penalty by create_graph=True."""
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    spec = CRITICS[name]
    critic = make_critic(spec)
    real, fake, alpha = batch(spec, 4)
    gp, grads = penalty_grads(critic, real, fake, alpha)

    params = {n: torch.tensor(p.data().asnumpy(), requires_grad=True)
              for n, p in critic.collect_params().items()}

    def get(param):
        return None if param is None else params[param.name]

    def torch_critic(h):
        for layer in critic.body:
            if isinstance(layer, nn.Conv2D):
                kw = layer._kwargs
                h = functional.conv2d(h, get(layer.weight), get(layer.bias), stride=kw["stride"],
                                      padding=kw["pad"])
            elif isinstance(layer, nn.Dense):
                h = functional.linear(h.flatten(1), get(layer.weight), get(layer.bias))
            elif isinstance(layer, nn.LeakyReLU):
                # The slope MXNet applies is the C float float32(0.2), see transposes._leaky_relu.
                h = functional.leaky_relu(h, float(np.float32(layer._alpha)))
            elif isinstance(layer, ReLU):
                h = functional.relu(h)
            else:
                assert isinstance(layer, ChannelLayerNorm)
                mean = h.mean(dim=(1, 2, 3), keepdim=True)
                var = ((h - mean) ** 2).mean(dim=(1, 2, 3), keepdim=True)
                h = ((h - mean) / torch.sqrt(var + layer.epsilon) * get(layer.gamma).view(1, -1, 1, 1)
                     + get(layer.beta).view(1, -1, 1, 1))
        return h.reshape(-1)

    a = torch.tensor(alpha.asnumpy()).view((-1,) + (1,) * (real.ndim - 1))
    x_hat = (a * torch.tensor(real.asnumpy()) + (1 - a) * torch.tensor(fake.asnumpy()))
    x_hat.requires_grad_(True)
    (g,) = torch.autograd.grad(torch_critic(x_hat).sum(), x_hat, create_graph=True)
    expected = 10.0 * ((g.flatten(1).norm(dim=1) - 1) ** 2).mean()
    expected.backward()
    np.testing.assert_allclose(gp, [expected.item()], rtol=1e-10)
    for key, p in params.items():
        # None: the penalty does not depend on it at all (the last layer's bias).
        expected = np.zeros(p.shape) if p.grad is None else p.grad.numpy()
        np.testing.assert_allclose(grads[key], expected, rtol=1e-8,
                                   atol=1e-12 * max(np.abs(expected).max(), 1.0), err_msg=key)
