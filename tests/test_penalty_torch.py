"""Oracle: PyTorch's double backprop on a residual critic the package did not write.

The same critic, written once in Gluon and once with torch.nn.functional, gets the same float64
weights; PyTorch computes the penalty with `create_graph=True` and differentiates it, and every
parameter's gradient must equal the one `gradient_penalty` gives under record/backward. Runs in
CI's torch venv (skipped where torch is not installed).
"""
import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, nd
from mxnet.gluon import nn

from gluon_wgan.penalty import gradient_penalty


class DownBlock(nn.HybridBlock):
    """Pre-activation residual block: relu, conv, LayerNorm over channels, leaky relu, conv, mean pool;
    a 1x1 convolution and mean pool on the shortcut."""

    def __init__(self, c_in, c_out, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.conv1 = nn.Conv2D(c_out, 3, padding=1, in_channels=c_in)
            self.norm = nn.LayerNorm(axis=1, in_channels=c_out)
            self.conv2 = nn.Conv2D(c_out, 3, padding=1, in_channels=c_out)
            self.shortcut = nn.Conv2D(c_out, 1, in_channels=c_in, use_bias=False)
            self.pool = nn.AvgPool2D(2)

    def hybrid_forward(self, F, x):
        h = self.conv2(F.LeakyReLU(self.norm(self.conv1(F.relu(x))), slope=0.25))
        return self.pool(h) + self.pool(self.shortcut(x))


class Critic(nn.HybridBlock):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.block1 = DownBlock(3, 4)
            self.block2 = DownBlock(4, 6)
            self.pool = nn.MaxPool2D(3, 1, 1)
            self.score = nn.Dense(1, in_units=12)

    def hybrid_forward(self, F, x):
        h = self.block2(self.block1(x))                                  # (N, 6, 2, 2)
        h = F.concat(F.tanh(h), self.pool(F.UpSampling(h, scale=2, sample_type="nearest")).slice_axis(
            axis=2, begin=0, end=2).slice_axis(axis=3, begin=0, end=2), dim=1)
        return self.score(F.mean(h, axis=(2, 3))).reshape((-1,))


def torch_critic(torch, p, x):
    """The same critic in PyTorch, reading the Gluon parameters' values from `p` by name."""
    f = torch.nn.functional

    def block(x, name, c_out):
        h = f.conv2d(f.relu(x), p[name + "conv0_weight"], p[name + "conv0_bias"], padding=1)
        h = f.layer_norm(h.permute(0, 2, 3, 1), (c_out,), p[name + "layernorm0_gamma"],
                         p[name + "layernorm0_beta"], eps=1e-5).permute(0, 3, 1, 2)
        h = f.conv2d(f.leaky_relu(h, 0.25), p[name + "conv1_weight"], p[name + "conv1_bias"], padding=1)
        return f.avg_pool2d(h, 2) + f.avg_pool2d(f.conv2d(x, p[name + "conv2_weight"]), 2)

    h = block(block(x, "critic_downblock0_", 4), "critic_downblock1_", 6)
    up = f.interpolate(h, scale_factor=2, mode="nearest")
    h = torch.cat([torch.tanh(h), f.max_pool2d(up, 3, 1, 1)[:, :, :2, :2]], dim=1)
    return f.linear(h.mean(dim=(2, 3)), p["critic_dense0_weight"], p["critic_dense0_bias"]).reshape(-1)


@pytest.mark.parametrize("hybridize", [False, True])
def test_residual_critic_matches_pytorch_double_backprop(hybridize):
    torch = pytest.importorskip("torch")
    critic = Critic(prefix="critic_")
    critic.initialize(mx.init.Xavier(magnitude=3))
    critic.cast("float64")
    rng = np.random.RandomState(0)
    for key, param in critic.collect_params().items():
        if key.endswith(("gamma", "beta")):   # away from 1 and 0
            param.set_data(nd.array((key.endswith("gamma")) + 0.3 * rng.normal(size=param.shape), dtype="float64"))
    if hybridize:
        critic.hybridize()
    real, fake = (rng.normal(size=(4, 3, 8, 8)) for _ in range(2))
    alpha = rng.uniform(size=4)
    with autograd.record():
        penalty = gradient_penalty(critic, nd.array(real, dtype="float64"), nd.array(fake, dtype="float64"),
                                   alpha=nd.array(alpha, dtype="float64"))
    penalty.backward()

    params = {k: torch.tensor(p.data().asnumpy(), requires_grad=True) for k, p in critic.collect_params().items()}
    a = torch.tensor(alpha).view(-1, 1, 1, 1)
    x_hat = (a * torch.tensor(real) + (1 - a) * torch.tensor(fake)).requires_grad_(True)
    (g,) = torch.autograd.grad(torch_critic(torch, params, x_hat).sum(), x_hat, create_graph=True)
    expected = 10.0 * ((g.flatten(1).norm(dim=1) - 1) ** 2).mean()
    expected.backward()
    np.testing.assert_allclose(penalty.asscalar(), expected.item(), rtol=1e-10)   # NORM_EPS under the root
    for key, param in critic.collect_params().items():
        want = np.zeros(param.shape) if params[key].grad is None else params[key].grad.numpy()
        np.testing.assert_allclose(param.grad().asnumpy(), want, rtol=1e-9,
                                   atol=1e-12 * max(1.0, np.abs(want).max()), err_msg=key)
