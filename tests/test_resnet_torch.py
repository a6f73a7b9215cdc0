"""The ResNet ports (gluon_wgan.models.resnet) against a PyTorch transcription of the released TensorFlow
code (gan_cifar_resnet.py, gan_64x64.py, tflib/ops), fed the same weights, in float64.

The transcription follows the TensorFlow code, not the port: TensorFlow's padding='SAME' computed from
each input's size (conv2d and conv2d_transpose), mean pooling as the mean of the four strided slices,
upsampling as four channel copies and depth_to_space (written out, DCR order), LayerNorm and
train-mode BatchNorm written from their formulas. It reads the port's parameters in its own order of
use, checking each shape, so that a layer in a different place fails. Skipped without torch (the CI
runs it in its torch venv: .ci/run).
"""
import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd

from gluon_wgan.models import DCGANInit
from gluon_wgan.models.resnet import (CIFARResNetCritic, CIFARResNetGenerator, ResNet101Critic, ResNet101Generator,
                                      ResNetCritic, ResNetGenerator)

torch = pytest.importorskip("torch")
F = torch.nn.functional


class Weights:
    """The parameters of an MXNet network as float64 tensors, handed out in order."""

    def __init__(self, net):
        self.arrays = [torch.from_numpy(p.data().asnumpy().astype(np.float64)) for p in net.collect_params().values()]
        self.used = 0

    def take(self, shape=None):
        array = self.arrays[self.used]
        self.used += 1
        if shape is not None:
            assert tuple(array.shape) == tuple(shape), (self.used, tuple(array.shape), shape)
        return array

    def check_all_used(self):
        assert self.used == len(self.arrays)


def same_pads(size, kernel, stride):
    """TensorFlow's padding='SAME' along one axis: (before, after)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def conv(w, x, out_channels, kernel, stride=1, bias=True):
    """tflib.ops.conv2d.Conv2D."""
    weight = w.take((out_channels, x.shape[1], kernel, kernel))
    b = w.take((out_channels,)) if bias else None
    top, bottom = same_pads(x.shape[2], kernel, stride)
    left, right = same_pads(x.shape[3], kernel, stride)
    return F.conv2d(F.pad(x, (left, right, top, bottom)), weight, b, stride=stride)


def deconv(w, x, out_channels, kernel):
    """tflib.ops.deconv2d.Deconv2D: the transpose of a 'SAME' stride-2 convolution of a 2H x 2W input."""
    weight = w.take((x.shape[1], out_channels, kernel, kernel))
    b = w.take((out_channels,))
    height, width = 2 * x.shape[2], 2 * x.shape[3]
    full = F.conv_transpose2d(x, weight, b, stride=2)
    top, left = same_pads(height, kernel, 2)[0], same_pads(width, kernel, 2)[0]
    return full[:, :, top:top + height, left:left + width]


def linear(w, x, out_features):
    weight = w.take((out_features, x.shape[1]))
    return x @ weight.T + w.take((out_features,))


def mean_pool(x):
    return (x[:, :, ::2, ::2] + x[:, :, 1::2, ::2] + x[:, :, ::2, 1::2] + x[:, :, 1::2, 1::2]) / 4


def depth_to_space(x):
    """tf.depth_to_space(block 2) in NCHW: out[n, c, 2h + i, 2w + j] = x[n, (2i + j) C + c, h, w]."""
    n, c, h, width = x.shape
    return x.reshape(n, 2, 2, c // 4, h, width).permute(0, 3, 4, 1, 5, 2).reshape(n, c // 4, 2 * h, 2 * width)


def upsample(x):
    return depth_to_space(torch.cat([x, x, x, x], dim=1))


def normalize(w, x, kind):
    """tflib's Batchnorm (train mode, over N, H, W) or Layernorm (over C, H, W), epsilon 1e-5."""
    if kind == "none":
        return x
    channels = x.shape[1]
    gamma, beta = w.take((channels,)), w.take((channels,))
    axes = (0, 2, 3) if kind == "batch" else (1, 2, 3)
    if kind == "batch":
        w.take((channels,)), w.take((channels,))   # running statistics, unused in train mode
    mean = x.mean(axes, keepdim=True)
    var = x.var(axes, unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-5) * gamma[None, :, None, None] + beta[None, :, None, None]


def residual_block(w, x, out_channels, resample, kind, conv1_bias=True):
    """ResidualBlock of gan_cifar_resnet.py / gan_64x64.py (branch first: the order of the port's parameters)."""
    in_channels = x.shape[1]
    out = F.relu(normalize(w, x, kind))
    if resample == "up":
        out = upsample(out)
    out = conv(w, out, in_channels if resample == "down" else out_channels, 3, bias=conv1_bias)
    out = conv(w, F.relu(normalize(w, out, kind)), out_channels, 3)
    if resample == "down":
        out = mean_pool(out)
    if in_channels == out_channels and resample is None:
        return x + out
    source = mean_pool(x) if resample == "down" else upsample(x) if resample == "up" else x
    return conv(w, source, out_channels, 1) + out


def bottleneck_block(w, x, out_channels, resample, kind):
    """gan_64x64.py's BottleneckResidualBlock."""
    in_channels = x.shape[1]
    out = conv(w, F.relu(x), in_channels // 2, 1)
    out = F.relu(out)
    if resample == "down":
        out = conv(w, out, out_channels // 2, 3, stride=2)
    elif resample == "up":
        out = deconv(w, out, out_channels // 2, 3)
    else:
        out = conv(w, out, out_channels // 2, 3)
    out = normalize(w, conv(w, F.relu(out), out_channels, 1, bias=False), kind)
    if resample == "down":
        shortcut = conv(w, x, out_channels, 1, stride=2)
    elif resample == "up":
        shortcut = depth_to_space(conv(w, x, 4 * out_channels, 1))
    else:
        shortcut = x if in_channels == out_channels else conv(w, x, out_channels, 1)
    return shortcut + 0.3 * out


def cifar_resnet_generator(w, z, dim):
    out = linear(w, z, 4 * 4 * dim).reshape(-1, dim, 4, 4)
    for _ in range(3):
        out = residual_block(w, out, dim, "up", "batch")
    return torch.tanh(conv(w, F.relu(normalize(w, out, "batch")), 3, 3))


def cifar_resnet_critic(w, x, dim, kind):
    out = mean_pool(conv(w, F.relu(conv(w, x, dim, 3)), dim, 3))    # OptimizedResBlockDisc1
    out = out + conv(w, mean_pool(x), dim, 1)
    out = residual_block(w, out, dim, "down", kind)
    out = residual_block(w, out, dim, None, kind)
    out = residual_block(w, out, dim, None, kind)
    return linear(w, F.relu(out).mean(dim=(2, 3)), 1).reshape(-1)


def resnet_generator(w, z, dim):
    out = linear(w, z, 4 * 4 * 8 * dim).reshape(-1, 8 * dim, 4, 4)
    for width in (8, 4, 2, 1):
        out = residual_block(w, out, width * dim, "up", "batch", conv1_bias=False)
    return torch.tanh(conv(w, F.relu(normalize(w, out, "batch")), 3, 3))


def resnet_critic(w, x, dim, kind):
    out = conv(w, x, dim, 3)
    for width in (2, 4, 8, 8):
        out = residual_block(w, out, width * dim, "down", kind, conv1_bias=False)
    return linear(w, out.reshape(out.shape[0], -1), 1).reshape(-1)


def resnet101_generator(w, z, dim):
    out = linear(w, z, 4 * 4 * 8 * dim).reshape(-1, 8 * dim, 4, 4)
    for _ in range(6):
        out = bottleneck_block(w, out, 8 * dim, None, "batch")
    for width, repeats in ((4 * dim, 6), (2 * dim, 6), (dim, 6), (dim // 2, 5)):
        out = bottleneck_block(w, out, width, "up", "batch")
        for _ in range(repeats):
            out = bottleneck_block(w, out, width, None, "batch")
    return torch.tanh(conv(w, out, 3, 1) / 5)


def resnet101_critic(w, x, dim, kind):
    out = conv(w, x, dim // 2, 1)
    for _ in range(5):
        out = bottleneck_block(w, out, dim // 2, None, kind)
    for width in (dim, 2 * dim, 4 * dim, 8 * dim):
        out = bottleneck_block(w, out, width, "down", kind)
        for _ in range(6):
            out = bottleneck_block(w, out, width, None, kind)
    return linear(w, out.reshape(out.shape[0], -1), 1).reshape(-1) / 5


CASES = {
    "cifar_resnet_generator": (lambda: CIFARResNetGenerator(nz=7, dim=8), cifar_resnet_generator, 8, None),
    "cifar_resnet_critic_none": (lambda: CIFARResNetCritic(dim=8, norm="none"), cifar_resnet_critic, 8, "none"),
    "cifar_resnet_critic_layer": (lambda: CIFARResNetCritic(dim=8, norm="layer"), cifar_resnet_critic, 8, "layer"),
    "resnet_generator": (lambda: ResNetGenerator(nz=7, dim=4), resnet_generator, 4, None),
    "resnet_critic_layer": (lambda: ResNetCritic(dim=4, norm="layer"), resnet_critic, 4, "layer"),
    "resnet_critic_batch": (lambda: ResNetCritic(dim=4, norm="batch"), resnet_critic, 4, "batch"),
    "resnet101_generator": (lambda: ResNet101Generator(nz=7, dim=8), resnet101_generator, 8, None),
    "resnet101_critic_layer": (lambda: ResNet101Critic(dim=8, norm="layer"), resnet101_critic, 8, "layer"),
    "resnet101_critic_batch": (lambda: ResNet101Critic(dim=8, norm="batch"), resnet101_critic, 8, "batch"),
}


# float32: up to 5e-5 measured, in the 101-layer critic, whose 33 BatchNorms over a batch of 3 amplify
# rounding (2e-5 in its generator, at most 1e-5 in the others).
@pytest.mark.parametrize("dtype,tolerance", [("float64", 1e-9), ("float32", 1e-4)])
@pytest.mark.parametrize("case", sorted(CASES))
def test_forward_matches_the_tensorflow_transcription(case, dtype, tolerance):
    """float64 against the float64 transcription; float32 (MKL-DNN kernels) against it too, within
    float32's accumulated rounding."""
    build, reference, dim, kind = CASES[case]
    net = build()
    mx.random.seed(3)
    net.initialize(DCGANInit())   # layers with init='tflib' (the default) carry their own
    generator = "generator" in case
    rng = np.random.RandomState(0)
    size = 32 if "cifar" in case else 64
    x = rng.normal(size=(3, 7)) if generator else rng.uniform(-1, 1, size=(3, 3, size, size))
    net.cast(dtype)
    # The biases start at zero: move them, so that each one's place is checked too.
    for name, param in net.collect_params().items():
        if name.endswith(("bias", "beta")):
            param.set_data(mx.nd.array(rng.normal(scale=0.1, size=param.shape), dtype=dtype))
    with autograd.train_mode():   # BatchNorm on batch statistics, as the released code always runs it
        ours = net(mx.nd.array(x, dtype=dtype)).asnumpy().astype(np.float64)
    w = Weights(net)
    args = (w, torch.from_numpy(x), dim) + (() if generator else (kind,))
    theirs = reference(*args).numpy()
    w.check_all_used()
    error = np.abs(ours - theirs).max()
    print(f"{case} {dtype}: max abs error {error:.2e}, max rel error {error / np.abs(theirs).max():.2e}")
    np.testing.assert_allclose(ours, theirs, rtol=tolerance, atol=tolerance)
