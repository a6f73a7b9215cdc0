"""The 32x32 generator and critic of the WGAN-GP paper's CIFAR-10 runs (Gulrajani et al. 2017, Fig. 3).

Transcribed from the layer list of the released `gan_cifar.py`, with DIM the width: a dense layer
from z to 4x4x4DIM, then three 5x5 stride-2 transposed convolutions (4DIM -> 2DIM -> DIM -> 3) in
the generator; three 5x5 stride-2 convolutions (3 -> DIM -> 2DIM -> 4DIM) and a dense score in the
critic. They differ from `dcgan` (the WGAN code's networks): 5x5 kernels, dense first and last
layers, biases, and a critic whose first two convolutions are the only ones normalized.
"""
from mxnet.gluon import nn

from .choices import CIFAR_IMAGE_SIZE, CRITIC_NORMS, GENERATOR_NORMS, check_network
from .layers import add_layers, normalization
from .precision import Conv2D, Conv2DTranspose, Dense

IMAGE_SIZE = CIFAR_IMAGE_SIZE


def _stride2(conv_class, channels, in_channels, use_bias):
    """A 5x5 stride-2 layer that halves (Conv2D) or doubles (Conv2DTranspose) height and width, as
    TensorFlow's padding='SAME' does."""
    extra = dict(output_padding=1) if conv_class is Conv2DTranspose else {}
    return conv_class(channels, 5, strides=2, padding=2, in_channels=in_channels, use_bias=use_bias, **extra)


class CIFARGenerator(nn.HybridBlock):
    """z (N, nz) -> images (N, 3, 32, 32) in [-1, 1].

    Parameters
    ----------
    image_size : int
        32 (checked; the layers are fixed).
    nz : int
        Latent size (128 in the released code).
    dim : int
        Width DIM (128 in the released code, whose comment suggests 64 overfits less).
    norm : {'batch', 'none'}
        BatchNorm after every hidden layer (the released code), or none. Hidden layers have biases
        only without BatchNorm, whose shift makes them redundant.
    """

    def __init__(self, image_size=IMAGE_SIZE, nz=128, dim=128, norm="batch", **kwargs):
        super().__init__(**kwargs)
        check_network("generator", "cifar", image_size=image_size, nz=nz, width=dim)
        if norm not in GENERATOR_NORMS:
            raise ValueError(f"generator norm must be one of {GENERATOR_NORMS}, got {norm!r}")
        hidden_bias = norm == "none"
        self.nz, self.dim = nz, dim
        with self.name_scope():
            self.dense = nn.HybridSequential(prefix="")
            add_layers(self.dense, Dense(4 * 4 * 4 * dim, in_units=nz, use_bias=hidden_bias),
                       normalization(norm, 4 * 4 * 4 * dim))   # per feature, as the released code
            self.body = nn.HybridSequential(prefix="")
            for c_in, c_out in ((4 * dim, 2 * dim), (2 * dim, dim)):
                add_layers(self.body, _stride2(Conv2DTranspose, c_out, c_in, hidden_bias),
                           normalization(norm, c_out), nn.Activation("relu"))
            self.body.add(_stride2(Conv2DTranspose, 3, dim, True), nn.Activation("tanh"))

    def hybrid_forward(self, F, z):
        h = F.reshape(self.dense(F.reshape(z, shape=(0, -1))), shape=(0, 4 * self.dim, 4, 4))
        # The ReLU after the reshape and spelled as clip, an operator without an MKL-DNN kernel: with
        # an MKL-DNN ReLU or BatchNorm right before a reshape into a Deconvolution, MXNet 1.9.1's
        # backward fails ("Check failed: !is_view").
        return self.body(F.clip(h, 0, 3.4e38))


class CIFARCritic(nn.HybridBlock):
    """Images (N, 3, 32, 32) -> scores (N,), one per sample.

    Parameters
    ----------
    image_size : int
        32 (checked).
    dim : int
        Width DIM of the first convolution; 2DIM and 4DIM follow.
    norm : {'batch', 'layer', 'none'}
        After the second and third convolutions: BatchNorm for WGAN with clipping and DCGAN in the
        released code, none for WGAN-GP; 'layer' is the WGAN-GP paper's drop-in replacement.
    use_bias : bool
        Biases on the convolutions and the dense layer (the released code has them).
    """

    def __init__(self, image_size=IMAGE_SIZE, dim=128, norm="batch", use_bias=True, **kwargs):
        super().__init__(**kwargs)
        check_network("critic", "cifar", image_size=image_size, width=dim)
        if norm not in CRITIC_NORMS:
            raise ValueError(f"critic norm must be one of {CRITIC_NORMS}, got {norm!r}")
        with self.name_scope():
            # One flat sequence: the gradient penalty walks `body` layer by layer (gluon_wgan.transposes).
            self.body = nn.HybridSequential(prefix="")
            self.body.add(_stride2(Conv2D, dim, 3, use_bias), nn.LeakyReLU(0.2))
            for c_in, c_out in ((dim, 2 * dim), (2 * dim, 4 * dim)):
                add_layers(self.body, _stride2(Conv2D, c_out, c_in, use_bias), normalization(norm, c_out),
                           nn.LeakyReLU(0.2))
            self.body.add(Dense(1, in_units=4 * 4 * 4 * dim, use_bias=use_bias))

    def hybrid_forward(self, F, x):
        return F.reshape(self.body(x), shape=(-1,))   # (N, 1) -> (N,)
