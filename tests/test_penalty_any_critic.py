"""The penalty for critics the package did not write: Gluon layers, residual sums, pooling, norms.

The critics here are written in the test, as a researcher would write theirs, and go through
`gradient_penalty` under Gluon's ordinary contract (record, backward, nothing else called). The
oracles: central finite differences of the penalty in float64 at every parameter (its largest entry
and random others), the penalty's value against first-order autograd's input gradient, float32 with
MKL-DNN against float64, hybridized against imperative, two devices against one; PyTorch's double
backprop in tests/test_penalty_torch.py.
"""
import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon, nd
from mxnet.gluon import nn

from gluon_wgan import losses, native
from gluon_wgan.models.layers import ChannelLayerNorm
from gluon_wgan.penalty import check_penalty_support, gradient_penalty, input_gradient
from conftest import central_difference, randomize

FD_STEP, FD_RTOL, FD_ATOL = 1e-6, 1e-5, 1e-9


def sequential_critic():
    """The first critic a Gluon user writes: a HybridSequential of stock layers."""
    net = nn.HybridSequential(prefix="seq_")
    with net.name_scope():
        net.add(nn.Conv2D(4, 4, 2, 1, in_channels=2), nn.LeakyReLU(0.2),
                nn.Conv2D(6, 4, 2, 1, in_channels=4), nn.LeakyReLU(0.2),
                nn.Flatten(), nn.Dense(1, in_units=6 * 2 * 2))
    return net


class PreActBlock(nn.HybridBlock):
    """relu -> conv -> norm -> relu -> conv, summed with a shortcut; mean-pooled when `down`."""

    def __init__(self, c_in, c_out, down, norm, **kwargs):
        super().__init__(**kwargs)
        self.down = down
        with self.name_scope():
            self.conv1 = nn.Conv2D(c_out, 3, padding=1, in_channels=c_in)
            self.norm = norm(c_out)
            self.conv2 = nn.Conv2D(c_out, 3, padding=1, in_channels=c_out)
            self.shortcut = nn.Conv2D(c_out, 1, in_channels=c_in)
            self.pool = nn.AvgPool2D(2)

    def hybrid_forward(self, F, x):
        h = self.conv2(F.relu(self.norm(self.conv1(F.relu(x)))))
        s = self.shortcut(x)
        return self.pool(h) + self.pool(s) if self.down else h * 0.3 + s


class ResidualCritic(nn.HybridBlock):
    """Residual blocks with several norms, a concatenation of two activations, nearest upsampling,
    an overlapping max pool, PReLU, a spatial mean and a second (auxiliary) output."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.stem = nn.Conv2D(4, 3, padding=1, in_channels=2)
            self.block1 = PreActBlock(4, 4, True, lambda c: nn.LayerNorm(axis=1, in_channels=c))
            self.block2 = PreActBlock(4, 4, False, ChannelLayerNorm)
            self.elu, self.gelu = nn.ELU(0.7), nn.GELU()
            self.max_pool = nn.MaxPool2D(3, 2, 1)
            self.prelu = nn.PReLU()
            self.score = nn.Dense(1, in_units=4)
            self.label = nn.Dense(3, in_units=4, prefix="label_")   # no share: not in the score

    def hybrid_forward(self, F, x):
        h = self.block2(self.block1(self.stem(x)))                     # (N, 4, 4, 4)
        h = F.concat(self.elu(h), self.gelu(h), dim=1)
        h = F.slice_axis(h, axis=1, begin=2, end=6)
        up = F.UpSampling(h, scale=2, sample_type="nearest")           # (N, 4, 8, 8)
        h = self.prelu(self.max_pool(up) - F.slice(up, begin=(None, None, 0, 0), end=(None, None, 4, 4)) / 2)
        features = F.mean(h, axis=(2, 3))                               # (N, 4)
        return self.score(features).reshape((-1,)) + 0.1 * F.sum(F.square(features), axis=1), self.label(features)


class NormsCritic(nn.HybridBlock):
    """InstanceNorm, LayerNorm over the last axis, a grouped and a dilated convolution, overlapping
    mean pooling, a Dense that keeps its axes, global max pooling, softplus and a gated product."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.conv = nn.Conv2D(4, 3, padding=2, dilation=2, in_channels=2)
            self.instance = nn.InstanceNorm(in_channels=4, scale=True)
            self.grouped = nn.Conv2D(4, 3, padding=1, groups=2, in_channels=4)
            self.last_axis = nn.LayerNorm(in_channels=8)
            self.rows = nn.Dense(5, flatten=False, in_units=8)
            self.smooth = nn.AvgPool2D(3, 1, 1, count_include_pad=False)   # overlapping windows
            self.pool = nn.GlobalMaxPool2D()
            self.score = nn.Dense(1, in_units=4)

    def hybrid_forward(self, F, x):
        h = self.smooth(self.grouped(self.instance(self.conv(x))))
        h = F.Activation(self.rows(self.last_axis(h)), act_type="softrelu")      # (N, 4, 8, 5)
        h = F.sigmoid(h) * F.tanh(h - 0.5)
        return self.score(self.pool(F.Pad(h, mode="reflect", pad_width=(0, 0, 0, 0, 1, 1, 1, 1))))


CRITICS = {"sequential": sequential_critic, "residual": lambda: ResidualCritic(prefix="res_"),
           "norms": lambda: NormsCritic(prefix="norms_")}
SHAPE = (2, 8, 8)


def make_critic(name, dtype="float64", ctx=None, seed=0):
    """The critic `name` with random parameters (conftest.randomize: ||grad D|| of order 1)."""
    return randomize(CRITICS[name](), dtype, seed, ctx)


def batch(n, dtype="float64", seed=1):
    rng = np.random.RandomState(seed)
    real, fake = (nd.array(rng.normal(size=(n,) + SHAPE), dtype=dtype) for _ in range(2))
    return real, fake, nd.array(rng.uniform(size=n), dtype=dtype)


def score(critic, x):
    out = critic(x)
    return out[0] if isinstance(out, (tuple, list)) else out


def trainable(critic):
    return {k[len(critic.prefix):]: p for k, p in critic.collect_params().items() if p.grad_req != "null"}


def penalty_grads(critic, real, fake, alpha, mode="two-sided"):
    """{name: p.grad()} after record + backward of the penalty alone, and nothing else. (Zeroed
    first: a parameter the penalty does not reach, like the first layer's bias before a ReLU-like
    layer, keeps whatever its gradient held.)"""
    for p in trainable(critic).values():
        if p.grad_req == "write":
            p.zero_grad()
    with autograd.record():
        loss = gradient_penalty(critic, real, fake, alpha=alpha, mode=mode)
    loss.backward()
    return {k: p.grad().asnumpy() for k, p in trainable(critic).items()}


def assert_matches_finite_differences(critic, real, fake, alpha, grads, mode="two-sided", picks=3, seed=2):
    """Every parameter's gradient against central differences of the penalty, at the entry of
    largest gradient and at random others: a dropped share (0 where the difference is not) fails."""
    rng = np.random.RandomState(seed)

    def penalty():
        return gradient_penalty(critic, real, fake, alpha=alpha, mode=mode).asscalar()

    # Central differences round at about 1e-16 |penalty| / FD_STEP: the absolute floor scales with it.
    atol = FD_ATOL * max(1.0, abs(penalty()))
    for key, param in trainable(critic).items():
        data, grad = param.data(), grads[key].ravel()
        chosen = {int(np.argmax(np.abs(grad)))} | set(rng.choice(data.size, min(picks, data.size) - 1,
                                                                 replace=False).tolist())
        for flat in sorted(chosen):
            idx = np.unravel_index(flat, data.shape)
            expected = central_difference(data, idx, penalty, FD_STEP)
            assert abs(grad[flat] - expected) <= FD_RTOL * abs(expected) + atol, (key, idx, grad[flat], expected)


@pytest.mark.parametrize("name", sorted(CRITICS))
@pytest.mark.parametrize("hybridize", [False, True])
def test_penalty_gradients_match_finite_differences(name, hybridize):
    critic = make_critic(name)
    if hybridize:
        critic.hybridize()
    real, fake, alpha = batch(3)
    grads = penalty_grads(critic, real, fake, alpha)
    assert all(np.abs(g).max() > 0 for k, g in grads.items() if k.endswith("weight") and
               not k.startswith("label_")), "every weight of the score carries a share of the penalty"
    assert_matches_finite_differences(critic, real, fake, alpha, grads)


@pytest.mark.parametrize("name", ["sequential", "residual"])
def test_tutorial_step_with_the_wasserstein_loss(name):
    """The whole critic loss under one record/backward: its gradient is the Wasserstein term's
    (first-order autograd) plus the penalty's (finite differences, above)."""
    critic = make_critic(name)
    real, fake, alpha = batch(3)
    with autograd.record():
        w_loss = losses.wasserstein_d(score(critic, real), score(critic, fake))
    w_loss.backward()
    first_order = {k: p.grad().asnumpy() for k, p in trainable(critic).items()}
    alone = penalty_grads(critic, real, fake, alpha)
    with autograd.record():
        loss = losses.wasserstein_d(score(critic, real), score(critic, fake)) + \
            gradient_penalty(critic, real, fake, alpha=alpha)
    loss.backward()
    for key, param in trainable(critic).items():
        np.testing.assert_allclose(param.grad().asnumpy(), first_order[key] + alone[key], rtol=1e-10, atol=1e-12,
                                   err_msg=key)


@pytest.mark.parametrize("name", ["sequential", "residual"])
def test_input_gradient_equals_first_order_autograd(name):
    """input_gradient is grad_x sum(first output), which MXNet's first-order autograd gets right.
    (The critic's own float64 forward rounds LeakyReLU, ELU and GELU through float32.)"""
    critic = make_critic(name)
    x = batch(4)[0]
    x.attach_grad()
    with autograd.record():
        total = nd.sum(score(critic, x))
    total.backward()
    with autograd.record():
        grad = input_gradient(critic, x)
    np.testing.assert_allclose(grad.asnumpy(), x.grad.asnumpy(), rtol=1e-6, atol=1e-7 * np.abs(x.grad.asnumpy()).max())


def test_penalty_value_is_the_formula_on_autograd_norms():
    critic = make_critic("residual")
    real, fake, alpha = batch(4)
    x_hat = fake + alpha.reshape((-1, 1, 1, 1)) * (real - fake)
    x_hat.attach_grad()
    with autograd.record():
        total = nd.sum(score(critic, x_hat))
    total.backward()
    norms = np.sqrt((x_hat.grad.asnumpy().reshape(4, -1) ** 2).sum(axis=1))
    for mode, excess in (("two-sided", norms - 1), ("one-sided", np.maximum(norms - 1, 0))):
        value = gradient_penalty(critic, real, fake, alpha=alpha, weight=10.0, mode=mode).asscalar()
        np.testing.assert_allclose(value, 10.0 * np.mean(excess ** 2), rtol=1e-6)


def test_one_sided_penalty_gradients_match_finite_differences():
    critic = make_critic("residual", seed=5)
    real, fake, alpha = batch(4, seed=6)
    # The score scaled so that some norms are above 1 and some below: both sides of max(0, .) count.
    critic.score.weight.set_data(critic.score.weight.data() * 6)
    grads = penalty_grads(critic, real, fake, alpha, mode="one-sided")
    _, norms = gradient_penalty(critic, real, fake, alpha=alpha, return_norms=True)
    norms = norms.asnumpy()
    assert (norms > 1).any() and (norms < 1).any(), norms
    assert_matches_finite_differences(critic, real, fake, alpha, grads, mode="one-sided")


@pytest.mark.parametrize("name", sorted(CRITICS))
def test_float32_with_mkldnn_agrees_with_float64(name):
    critic = make_critic(name, seed=3)
    critic.hybridize()
    real, fake, alpha = batch(6, seed=4)
    grads64 = penalty_grads(critic, real, fake, alpha)
    critic.cast("float32")
    grads32 = penalty_grads(critic, *(a.astype("float32") for a in (real, fake, alpha)))
    overall = max(np.abs(g).max() for g in grads64.values())
    for key, g64 in grads64.items():
        # A bias before a norm has a gradient of 0: float32 leaves rounding there, of the overall
        # gradient's scale.
        np.testing.assert_allclose(grads32[key], g64, rtol=2e-3, atol=2e-3 * np.abs(g64).max() + 1e-6 * overall,
                                   err_msg=key)


def test_hybridized_equals_imperative():
    real, fake, alpha = batch(3)
    imperative = penalty_grads(make_critic("residual"), real, fake, alpha)
    hybrid = make_critic("residual")
    hybrid.hybridize(static_alloc=True, static_shape=True)
    for key, g in penalty_grads(hybrid, real, fake, alpha).items():
        np.testing.assert_allclose(g, imperative[key], rtol=1e-12, atol=1e-14, err_msg=key)


def test_two_devices_sum_to_one_device():
    ctxs = [mx.cpu(0), mx.cpu(1)]
    critic = make_critic("residual", ctx=ctxs)
    real, fake, alpha = batch(6)
    shards = [gluon.utils.split_and_load(a, ctxs) for a in (real, fake, alpha)]
    with autograd.record():
        shard_losses = [gradient_penalty(critic, r, f, alpha=a) for r, f, a in zip(*shards)]
    autograd.backward(shard_losses)
    summed = {k: sum(p.grad(c).asnumpy() for c in ctxs) for k, p in trainable(critic).items()}
    halves = [penalty_grads(make_critic("residual"), *(a[s] for a in (real, fake, alpha)))
              for s in (slice(0, 3), slice(3, 6))]
    for key, g in summed.items():
        np.testing.assert_allclose(g, halves[0][key] + halves[1][key], rtol=1e-10, atol=1e-13, err_msg=key)


def test_grad_req_add_accumulates_at_a_layer_norm_fan_out():
    """ChannelLayerNorm's fused kernel writes rather than adds its input gradient; in a residual
    block its input also feeds the shortcut, and the parameters accumulate over two backward calls."""
    def grads_after(passes):
        critic = make_critic("residual")
        critic.collect_params().setattr("grad_req", "add")
        for i in range(passes):
            grads = penalty_grads(critic, *batch(3, seed=1 + i))
        return grads

    one, two = grads_after(1), grads_after(2)
    second = penalty_grads(make_critic("residual"), *batch(3, seed=2))
    for key, g in two.items():
        np.testing.assert_allclose(g, one[key] + second[key], rtol=1e-10, atol=1e-13, err_msg=key)


def test_plain_operator_layer_norm_gives_the_fused_gradients():
    """Without the native kernels (a GPU, no compiler) ChannelLayerNorm is a graph of plain
    operators, which the penalty then differentiates operator by operator."""
    real, fake, alpha = batch(3)
    fused = penalty_grads(make_critic("residual"), real, fake, alpha)
    with native.plain_operators():
        plain = penalty_grads(make_critic("residual"), real, fake, alpha)
    for key, g in plain.items():
        np.testing.assert_allclose(g, fused[key], rtol=1e-9, atol=1e-12, err_msg=key)


def test_trainer_step_on_a_user_critic():
    """record, backward, step: the parameters move by the optimizer's update of the exact gradient."""
    critic = make_critic("sequential")
    real, fake, alpha = batch(3)
    before = {k: p.data().asnumpy().copy() for k, p in trainable(critic).items()}
    trainer = gluon.Trainer(critic.collect_params(), "sgd", {"learning_rate": 0.125})   # exact in float32
    with autograd.record():
        loss = losses.wasserstein_d(critic(real), critic(fake)) + gradient_penalty(critic, real, fake, alpha=alpha)
    loss.backward()
    grads = {k: p.grad().asnumpy().copy() for k, p in trainable(critic).items()}
    trainer.step(1)
    for key, p in trainable(critic).items():
        np.testing.assert_allclose(p.data().asnumpy(), before[key] - 0.125 * grads[key], rtol=1e-12, atol=1e-14)


class WithLayer(nn.HybridBlock):
    """A small critic with one extra layer in the middle."""

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.conv = nn.Conv2D(4, 3, padding=1, in_channels=2)
            self.extra = layer
            self.score = nn.Dense(1)

    def hybrid_forward(self, F, x):
        return self.score(self.extra(self.conv(x)))


class Sorted(nn.HybridBlock):
    def hybrid_forward(self, F, x):
        return F.sort(x, axis=1)


class BatchMean(nn.HybridBlock):
    def hybrid_forward(self, F, x):
        return F.broadcast_sub(x, F.mean(x, axis=0, keepdims=True))


@pytest.mark.parametrize("layer, named", [
    (nn.BatchNorm(in_channels=4), "BatchNorm"),
    (nn.Dropout(0.3), "Dropout"),
    (Sorted(), "sort"),
    (BatchMean(), "batch axis"),
])
def test_refusals_name_the_layer_and_operator(layer, named):
    critic = WithLayer(layer, prefix="critic_")
    critic.initialize()
    with pytest.raises(ValueError, match=named) as refused:
        check_penalty_support(critic)
    assert refused.value.args[0] .count("\n") == 0 and layer.name in refused.value.args[0]
    real, fake, _ = batch(2, dtype="float32")
    with pytest.raises(ValueError, match=named):
        with autograd.record():
            gradient_penalty(critic, real, fake)


def test_batchnorm_refusal_says_why():
    critic = WithLayer(nn.BatchNorm(in_channels=4))
    critic.initialize()
    with pytest.raises(ValueError, match="depends on the other samples.*LayerNorm, InstanceNorm"):
        check_penalty_support(critic)


def test_a_critic_that_cannot_be_traced_is_refused_in_one_line():
    class Imperative(nn.HybridBlock):
        def hybrid_forward(self, F, x):
            return x[:, 0].sum(axis=(1, 2))       # NDArray indexing: no symbol
    with pytest.raises(ValueError, match="cannot trace Imperative as a symbol"):
        check_penalty_support(Imperative())


def test_support_is_checked_before_initialization():
    check_penalty_support(ResidualCritic())
    with pytest.raises(ValueError, match="BatchNorm"):
        check_penalty_support(WithLayer(nn.BatchNorm()))


def test_the_modes_are_the_command_lines():
    """--gp-mode's choices (objectives.py, which imports nothing) are the penalty's modes."""
    from gluon_wgan import penalty
    from gluon_wgan.objectives import GP_MODES
    assert penalty.MODES == GP_MODES


def test_own_critic_example_runs_and_its_critic_gets_exact_gradients():
    """docs/examples/own_critic.py, as the docs show it, and its critic under the oracle."""
    import importlib.util
    import os
    import subprocess
    import sys
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "examples",
                        "own_critic.py")
    run = subprocess.run([sys.executable, path], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:3]] == [f"generator iteration {i}" for i in (1, 2, 3)]
    assert lines[-1].startswith("refused: ") and "'batchnorm0' (BatchNorm, operator BatchNorm)" in lines[-1]

    spec = importlib.util.spec_from_file_location("own_critic", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    critic = example.my_critic(width=3)
    critic.initialize(mx.init.Xavier(magnitude=3))
    critic.cast("float64")
    rng = np.random.RandomState(0)
    real, fake = (nd.array(rng.normal(size=(3, 3, 8, 8)), dtype="float64") for _ in range(2))
    alpha = nd.array(rng.uniform(size=3), dtype="float64")
    assert_matches_finite_differences(critic, real, fake, alpha, penalty_grads(critic, real, fake, alpha))
