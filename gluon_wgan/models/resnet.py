"""The WGAN-GP paper's residual networks (Gulrajani et al. 2017), ported from its released code.

Three pairs, each fixed to its image size and sized by a width `dim`:

- `CIFARResNetGenerator` / `CIFARResNetCritic`: `gan_cifar_resnet.py` (Table 3, unsupervised), 32x32.
  Pre-activation residual blocks; the critic starts with `OptimizedResBlockDisc1` and ends with ReLU,
  the spatial mean and a dense score; no normalization in the critic.
- `ResNetGenerator` / `ResNetCritic`: `gan_64x64.py`'s default pair (its `GoodGenerator` and
  `GoodDiscriminator`), 64x64; four residual blocks each, normalized in both networks.
- `ResNet101Generator` / `ResNet101Critic`: `gan_64x64.py`'s `ResnetGenerator` / `ResnetDiscriminator`,
  Figure 2's last row: 33 bottleneck blocks of three convolutions each, plus a first and a last layer.

The critics use only operators the gradient penalty differentiates twice: convolutions, dense layers,
ReLU (`layers.ReLU`), the normalizations of `layers.normalization`, 2x2 average pooling, `F.pad`,
sums of branches and multiplication by constants. tflib's mean pooling (the mean of the four strided
slices x[:, :, i::2, j::2]) is `nn.AvgPool2D(2)` exactly, for the even sizes it sees here; its
upsampling (four copies along the channels, then depth_to_space) repeats each pixel 2x2, i.e. nearest
UpSampling.

Convolutions follow TensorFlow's padding='SAME' (`same_padding`): symmetric for the stride-1 odd
kernels, but one row and column more at the end for the 101-layer network's stride-2 3x3 convolution,
and a transposed 3x3 stride-2 convolution that keeps the first 2H of its 2H + 1 rows.
"""
import mxnet as mx
from mxnet.gluon import nn

from .choices import CRITIC_NORMS, GENERATOR_NORMS, INITS
from .init import TFLibUniform
from .layers import ReLU, add_layers, normalization
from .precision import Conv2D, Conv2DTranspose, Dense

HE, GLOROT = 4.0, 2.0   # tflib's gains: he_init=True (its convolutions' default) and False


def same_padding(kernel, stride):
    """(before, after): TensorFlow's padding='SAME' along one axis whose size is a multiple of `stride`
    (the output then has size / stride positions)."""
    total = max(kernel - stride, 0)
    return total // 2, total - total // 2


def _check(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def _check_dim(dim, multiple):
    if not isinstance(dim, int) or dim < multiple or dim % multiple:
        raise ValueError(f"dim must be a positive multiple of {multiple}, got {dim!r}")


def _check_options(image_size, size, norm, norms, init, dim, dim_multiple):
    """ValueError naming the first of a network's arguments out of range: its fixed image size, its
    normalization, its initialisation, its width."""
    _check_image_size(image_size, size)
    _check("norm", norm, norms)
    _check("init", init, INITS)
    _check_dim(dim, dim_multiple)


def _check_image_size(image_size, size):
    if image_size != size:
        raise ValueError(f"this network is built for {size}x{size} images, got image_size {image_size!r}")


def _weight_init(init, fan_in, fan_out, gain):
    return TFLibUniform(fan_in, fan_out, gain) if init == "tflib" else None


def _claim_norm_init(block, init):
    """With tflib's initialisation, normalization scales start at one and shifts at zero (tflib's
    batchnorm and layernorm), whatever the global initializer."""
    if init != "tflib":
        return
    for name, param in block.collect_params().items():
        if param.init is None and name.endswith("gamma"):
            param.init = mx.init.One()
        elif param.init is None and name.endswith("beta"):
            param.init = mx.init.Zero()


class Conv(nn.HybridBlock):
    """tflib's Conv2D: a k x k convolution with TensorFlow's 'SAME' padding, NCHW.

    Asymmetric padding (stride 2, kernel 3) is an explicit `F.pad` before an unpadded convolution.
    """

    def __init__(self, channels, kernel, in_channels, stride=1, use_bias=True, gain=HE, init="tflib", **kwargs):
        super().__init__(**kwargs)
        before, after = same_padding(kernel, stride)
        self.pad_width = None if before == after else (0, 0, 0, 0, before, after, before, after)
        fan_in, fan_out = in_channels * kernel ** 2, channels * kernel ** 2 / stride ** 2
        with self.name_scope():
            self.conv = Conv2D(channels, kernel, strides=stride, padding=before if before == after else 0,
                               in_channels=in_channels, use_bias=use_bias,
                               weight_initializer=_weight_init(init, fan_in, fan_out, gain))

    def hybrid_forward(self, F, x):
        if self.pad_width is not None:
            x = F.pad(x, mode="constant", constant_value=0, pad_width=self.pad_width)
        return self.conv(x)


class Deconv(nn.HybridBlock):
    """tflib's Deconv2D: a stride-2 transposed convolution to twice the height and width, cropped as
    TensorFlow's padding='SAME' (the first `before` rows of the full output dropped, 2H kept)."""

    def __init__(self, channels, kernel, in_channels, gain=HE, init="tflib", **kwargs):
        super().__init__(**kwargs)
        self.begin, self.end = same_padding(kernel, 2)
        fan_in, fan_out = in_channels * kernel ** 2 / 4, channels * kernel ** 2
        with self.name_scope():
            self.deconv = Conv2DTranspose(channels, kernel, strides=2, in_channels=in_channels,
                                          weight_initializer=_weight_init(init, fan_in, fan_out, gain))

    def hybrid_forward(self, F, x):
        y = self.deconv(x)
        if self.begin or self.end:
            end = -self.end if self.end else None
            y = F.slice_axis(F.slice_axis(y, axis=2, begin=self.begin, end=end), axis=3, begin=self.begin, end=end)
        return y


class Upsample(nn.HybridBlock):
    """Each pixel repeated 2x2 (tflib's UpsampleConv before its convolution)."""

    def hybrid_forward(self, F, x):
        return F.UpSampling(x, scale=2, sample_type="nearest", num_args=1)


class DepthToSpace(nn.HybridBlock):
    """(N, 4C, H, W) -> (N, C, 2H, 2W), TensorFlow's depth_to_space(2) in NCHW (tflib's SubpixelConv2D)."""

    def hybrid_forward(self, F, x):
        return F.depth_to_space(x, block_size=2)


class Residual(nn.HybridBlock):
    """shortcut(x) + scale * branch(x); the identity when `shortcut` is None."""

    def __init__(self, branch, shortcut=None, scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale
        with self.name_scope():
            self.branch = branch
            self.shortcut = shortcut

    def hybrid_forward(self, F, x):
        out = self.branch(x)
        if self.scale != 1.0:
            out = out * self.scale
        return (x if self.shortcut is None else self.shortcut(x)) + out


def _seq(*layers):
    block = nn.HybridSequential(prefix="")
    add_layers(block, *layers)
    return block


def residual_block(in_channels, out_channels, resample, norm, init, conv1_bias=True):
    """tflib's pre-activation ResidualBlock (3x3): [norm, ReLU, conv, norm, ReLU, conv] beside a
    shortcut, identity when nothing changes, else a Glorot 1x1 convolution with the same resampling.

    'down' mean-pools after the second convolution (ConvMeanPool) and before the shortcut's
    (MeanPoolConv); 'up' repeats pixels before the first convolution and the shortcut's (UpsampleConv).
    `conv1_bias`: gan_64x64.py's first convolution has no bias, gan_cifar_resnet.py's has.
    """
    _check("resample", resample, ("down", "up", None))
    width1 = in_channels if resample == "down" else out_channels
    conv1 = Conv(width1, 3, in_channels, use_bias=conv1_bias, init=init)
    conv2 = Conv(out_channels, 3, width1, init=init)
    shortcut = None if in_channels == out_channels and resample is None else \
        Conv(out_channels, 1, in_channels, gain=GLOROT, init=init)
    if resample == "down":
        conv2, shortcut = _seq(conv2, nn.AvgPool2D(2)), _seq(nn.AvgPool2D(2), shortcut)
    elif resample == "up":
        conv1, shortcut = _seq(Upsample(), conv1), _seq(Upsample(), shortcut)
    branch = _seq(normalization(norm, in_channels), ReLU(), conv1, normalization(norm, width1), ReLU(), conv2)
    return Residual(branch, shortcut)


def bottleneck_block(in_channels, out_channels, resample, norm, init):
    """gan_64x64.py's BottleneckResidualBlock: shortcut + 0.3 * [ReLU, 1x1 conv to in/2, ReLU, 3x3 conv
    (stride 2 down, transposed stride 2 up) to out/2, ReLU, 1x1 conv to out without bias, norm].

    The shortcut is the identity when nothing changes, else a Glorot 1x1 convolution: stride 2 down,
    to 4x the channels then depth_to_space up (SubpixelConv2D).
    """
    _check("resample", resample, ("down", "up", None))
    half_in, half_out = in_channels // 2, out_channels // 2
    if resample == "down":
        middle = Conv(half_out, 3, half_in, stride=2, init=init)
        shortcut = Conv(out_channels, 1, in_channels, stride=2, gain=GLOROT, init=init)
    elif resample == "up":
        middle = Deconv(half_out, 3, half_in, init=init)
        shortcut = _seq(Conv(4 * out_channels, 1, in_channels, gain=GLOROT, init=init), DepthToSpace())
    else:
        middle = Conv(half_out, 3, half_in, init=init)
        shortcut = None if in_channels == out_channels else Conv(out_channels, 1, in_channels, gain=GLOROT,
                                                                 init=init)
    branch = _seq(ReLU(), Conv(half_in, 1, in_channels, init=init), ReLU(), middle, ReLU(),
                  Conv(out_channels, 1, half_out, use_bias=False, init=init), normalization(norm, out_channels))
    return Residual(branch, shortcut, scale=0.3)


def _dense(units, in_units, init):
    """tflib's Linear: Glorot by default."""
    return Dense(units, in_units=in_units, weight_initializer=_weight_init(init, in_units, units, GLOROT))


class _Generator(nn.HybridBlock):
    """z (N, nz) -> dense -> (N, channels, 4, 4) -> body -> images (N, 3, size, size) in [-1, 1]."""

    def __init__(self, nz, channels, init, **kwargs):
        super().__init__(**kwargs)
        self.nz, self.channels = nz, channels
        with self.name_scope():
            self.dense = _dense(4 * 4 * channels, nz, init)
            self.body = nn.HybridSequential(prefix="")

    def hybrid_forward(self, F, z):
        return self.body(F.reshape(self.dense(F.reshape(z, shape=(0, -1))), shape=(0, self.channels, 4, 4)))


class CIFARResNetGenerator(_Generator):
    """gan_cifar_resnet.py's generator (unconditional): z (N, nz) -> images (N, 3, 32, 32).

    Dense to 4x4xdim, three upsampling residual blocks, norm, ReLU, a Glorot 3x3 convolution to 3
    channels, tanh.

    Parameters
    ----------
    image_size : int
        32 (checked).
    nz : int
        Latent size (128 in the released code).
    dim : int
        Width DIM_G (128).
    norm : {'batch', 'none'}
        BatchNorm in every block and before the output (the released code's NORMALIZATION_G).
    init : {'tflib', 'dcgan'}
        'tflib': each layer carries the released code's initialisation (`TFLibUniform`); 'dcgan':
        none, so the global initializer of `initialize` decides.
    """

    def __init__(self, image_size=32, nz=128, dim=128, norm="batch", init="tflib", **kwargs):
        _check_options(image_size, 32, norm, GENERATOR_NORMS, init, dim, 1)
        super().__init__(nz, dim, init, **kwargs)
        with self.name_scope():
            for _ in range(3):
                self.body.add(residual_block(dim, dim, "up", norm, init))
            add_layers(self.body, normalization(norm, dim), ReLU(), Conv(3, 3, dim, gain=GLOROT, init=init),
                       nn.Activation("tanh"))
        _claim_norm_init(self, init)


class CIFARResNetCritic(nn.HybridBlock):
    """gan_cifar_resnet.py's critic: images (N, 3, 32, 32) -> scores (N,).

    OptimizedResBlockDisc1 (conv, ReLU, conv, mean pool beside a mean-pooled Glorot 1x1 shortcut),
    a downsampling residual block, two plain ones, ReLU, the mean over height and width, a dense score.

    Parameters
    ----------
    image_size : int
        32 (checked).
    dim : int
        Width DIM_D (128).
    norm : {'none', 'layer', 'batch'}
        In the residual blocks: none in the released code (NORMALIZATION_D = False); 'layer' is its
        option (layer norm over C, H, W); 'batch' for the GAN objectives only.
    init : {'tflib', 'dcgan'}
        As for `CIFARResNetGenerator`.
    """

    def __init__(self, image_size=32, dim=128, norm="none", init="tflib", **kwargs):
        super().__init__(**kwargs)
        _check_options(image_size, 32, norm, CRITIC_NORMS, init, dim, 1)
        with self.name_scope():
            first = Residual(_seq(Conv(dim, 3, 3, init=init), ReLU(), Conv(dim, 3, dim, init=init), nn.AvgPool2D(2)),
                             _seq(nn.AvgPool2D(2), Conv(dim, 1, 3, gain=GLOROT, init=init)))
            self.body = _seq(first, residual_block(dim, dim, "down", norm, init),
                             residual_block(dim, dim, None, norm, init), residual_block(dim, dim, None, norm, init),
                             ReLU(), nn.GlobalAvgPool2D(), nn.Flatten(), _dense(1, dim, init))
        _claim_norm_init(self, init)

    def hybrid_forward(self, F, x):
        return F.reshape(self.body(x), shape=(-1,))


class ResNetGenerator(_Generator):
    """gan_64x64.py's default generator (GoodGenerator): z (N, nz) -> images (N, 3, 64, 64).

    Dense to 4x4x8dim, four upsampling residual blocks (8dim, 8dim, 4dim, 2dim, dim), BatchNorm, ReLU,
    a 3x3 convolution to 3 channels, tanh.

    Parameters
    ----------
    image_size : int
        64 (checked).
    nz : int
        Latent size (128).
    dim : int
        Width DIM (64).
    norm : {'batch', 'none'}
        BatchNorm (the released code) or none.
    init : {'tflib', 'dcgan'}
        As for `CIFARResNetGenerator`.
    """

    def __init__(self, image_size=64, nz=128, dim=64, norm="batch", init="tflib", **kwargs):
        _check_options(image_size, 64, norm, GENERATOR_NORMS, init, dim, 1)
        super().__init__(nz, 8 * dim, init, **kwargs)
        with self.name_scope():
            for c_in, c_out in ((8, 8), (8, 4), (4, 2), (2, 1)):
                self.body.add(residual_block(c_in * dim, c_out * dim, "up", norm, init, conv1_bias=False))
            add_layers(self.body, normalization(norm, dim), ReLU(), Conv(3, 3, dim, init=init), nn.Activation("tanh"))
        _claim_norm_init(self, init)


class ResNetCritic(nn.HybridBlock):
    """gan_64x64.py's default critic (GoodDiscriminator): images (N, 3, 64, 64) -> scores (N,).

    A Glorot 3x3 convolution to dim, four downsampling residual blocks (2dim, 4dim, 8dim, 8dim), a
    dense score from the 4x4x8dim features.

    Parameters
    ----------
    image_size : int
        64 (checked).
    dim : int
        Width DIM (64).
    norm : {'layer', 'batch', 'none'}
        In the blocks: the released code's layer norm over (C, H, W) for WGAN-GP, BatchNorm for the
        other objectives.
    init : {'tflib', 'dcgan'}
        As for `CIFARResNetGenerator`.
    """

    def __init__(self, image_size=64, dim=64, norm="layer", init="tflib", **kwargs):
        super().__init__(**kwargs)
        _check_options(image_size, 64, norm, CRITIC_NORMS, init, dim, 1)
        with self.name_scope():
            self.body = _seq(Conv(dim, 3, 3, gain=GLOROT, init=init))
            for c_in, c_out in ((1, 2), (2, 4), (4, 8), (8, 8)):
                self.body.add(residual_block(c_in * dim, c_out * dim, "down", norm, init, conv1_bias=False))
            self.body.add(nn.Flatten(), _dense(1, 4 * 4 * 8 * dim, init))
        _claim_norm_init(self, init)

    def hybrid_forward(self, F, x):
        return F.reshape(self.body(x), shape=(-1,))


# The 101-layer networks' stages: (width as a multiple of dim, blocks at that width after the resampling block).
_STAGES_101 = ((8, 6), (4, 6), (2, 6), (1, 6), (0.5, 5))


class ResNet101Generator(_Generator):
    """gan_64x64.py's ResnetGenerator (WGAN-GP paper, Fig. 2 last row): z (N, nz) -> images (N, 3, 64, 64).

    Dense to 4x4x8dim; six bottleneck blocks at 4x4, then at 8, 16, 32 and 64 pixels an upsampling
    block and six (at 64: five) more, the widths 8dim, 4dim, 2dim, dim, dim/2; a Glorot 1x1 convolution
    to 3 channels and tanh(x / 5). 33 blocks of three convolutions, plus the dense and last layers.

    Parameters
    ----------
    image_size : int
        64 (checked).
    nz : int
        Latent size (128).
    dim : int
        Width DIM (64); a multiple of 4 (the last blocks' inner width is dim/4).
    norm : {'batch', 'none'}
        At the end of each block's branch: BatchNorm (released code) or none.
    init : {'tflib', 'dcgan'}
        As for `CIFARResNetGenerator`.
    """

    def __init__(self, image_size=64, nz=128, dim=64, norm="batch", init="tflib", **kwargs):
        _check_options(image_size, 64, norm, GENERATOR_NORMS, init, dim, 4)
        super().__init__(nz, 8 * dim, init, **kwargs)
        widths = [int(w * dim) for w, _ in _STAGES_101]
        with self.name_scope():
            for _ in range(6):
                self.body.add(bottleneck_block(widths[0], widths[0], None, norm, init))
            for c_in, (c_out, (_, n)) in zip(widths, zip(widths[1:], _STAGES_101[1:])):
                self.body.add(bottleneck_block(c_in, c_out, "up", norm, init))
                for _ in range(n):
                    self.body.add(bottleneck_block(c_out, c_out, None, norm, init))
            self.body.add(Conv(3, 1, widths[-1], gain=GLOROT, init=init))
        _claim_norm_init(self, init)

    def hybrid_forward(self, F, z):
        return F.tanh(super().hybrid_forward(F, z) / 5.0)


class ResNet101Critic(nn.HybridBlock):
    """gan_64x64.py's ResnetDiscriminator (WGAN-GP paper, Fig. 2 last row): images (N, 3, 64, 64) -> (N,).

    A Glorot 1x1 convolution to dim/2; five bottleneck blocks at 64 pixels, then at 32, 16, 8 and 4
    a downsampling block and six more, the widths dim/2, dim, 2dim, 4dim, 8dim; a dense score divided
    by 5.

    Parameters
    ----------
    image_size : int
        64 (checked).
    dim : int
        Width DIM (64); a multiple of 4.
    norm : {'layer', 'batch', 'none'}
        At the end of each block's branch: layer norm over (C, H, W) for WGAN-GP, BatchNorm for the
        other objectives (the released code).
    init : {'tflib', 'dcgan'}
        As for `CIFARResNetGenerator`.
    """

    def __init__(self, image_size=64, dim=64, norm="layer", init="tflib", **kwargs):
        super().__init__(**kwargs)
        _check_options(image_size, 64, norm, CRITIC_NORMS, init, dim, 4)
        widths = [int(w * dim) for w, _ in reversed(_STAGES_101)]
        counts = [n for _, n in reversed(_STAGES_101)]
        with self.name_scope():
            self.body = _seq(Conv(widths[0], 1, 3, gain=GLOROT, init=init))
            for _ in range(counts[0]):
                self.body.add(bottleneck_block(widths[0], widths[0], None, norm, init))
            for c_in, c_out in zip(widths, widths[1:]):
                self.body.add(bottleneck_block(c_in, c_out, "down", norm, init))
                for _ in range(6):
                    self.body.add(bottleneck_block(c_out, c_out, None, norm, init))
            self.body.add(nn.Flatten(), _dense(1, 4 * 4 * widths[-1], init))
        _claim_norm_init(self, init)

    def hybrid_forward(self, F, x):
        return F.reshape(self.body(x), shape=(-1,)) / 5.0
