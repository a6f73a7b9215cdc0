"""DCGAN generator and critic as built by the WGAN reference code (Arjovsky et al. 2017).

Both pyramids step by a factor of two between 4x4 and the image size, so the image size must be a
power of two of at least 16 (16, 32, 64, 128, ...). The critic has no sigmoid and returns one score
per sample.
"""
from mxnet.gluon import nn

from .choices import CRITIC_NORMS, GENERATOR_NORMS, check_network, image_size_problems
from .layers import Gate, Tanh, add_layers, normalization
from .precision import Conv2D, Conv2DTranspose


def _hidden_activation(activation, dcgan_layer, tanh_layer=Tanh):
    """The nonlinearity after each hidden layer: DCGAN's own (`dcgan_layer()`), tanh everywhere, or
    gated units everywhere (the "tanh" and "gated multiplicative" rows of the WGAN-GP paper's Fig. 2)."""
    layers = {"dcgan": dcgan_layer, "tanh": tanh_layer, "gated": Gate}
    if activation not in layers:
        raise ValueError(f"--activation must be one of {', '.join(layers)}, got {activation!r}")
    return layers[activation]()


# The generator's ReLU and tanh: MXNet's Activation operator, which MKL-DNN computes in the
# BatchNorm's and Deconvolution's blocked layout. F.relu/F.tanh convert the layout, slower forward
# + backward (benchmarks/README.md, "How it got there", has the figures). The critic
# keeps `layers.ReLU`/`Tanh`: the penalty's `autograd.grad` cross-check differentiates them twice,
# which Activation does not allow; the generator is never differentiated twice.
def _generator_relu():
    return nn.Activation("relu")


def _generator_tanh():
    return nn.Activation("tanh")


def _widening(activation):
    """Channels a hidden layer computes per channel its activation passes on: a gate takes two."""
    return 2 if activation == "gated" else 1


def check_image_size(image_size):
    """Raise `ValueError` unless `image_size` is a power of two >= 16 (`choices.image_size_problems`)."""
    for problem in image_size_problems("dcgan", image_size):
        raise ValueError(problem)


def _pyramid_depth(image_size):
    """Number of stride-2 layers between 4x4 and image_size/2 (3 for 64)."""
    return image_size.bit_length() - 4


class DCGANGenerator(nn.HybridBlock):
    """z of shape (N, nz) or (N, nz, 1, 1) -> images (N, nc, image_size, image_size) in [-1, 1].

    Parameters
    ----------
    image_size : int
        Power of two >= 16.
    nz : int
        Latent size (100 in the paper).
    ngf : int
        Filters of the last hidden layer; with ``filters='doubling'`` they double at every layer
        towards the 4x4 input (512 at 4x4 for 64x64, ngf=64). ``filters='constant'`` uses ngf at
        every layer: the "no BN, constant filters" generator of WGAN paper Fig. 6 and the WGAN-GP
        paper's LSUN comparison. The official WGAN code's no-BN generator keeps the doubling.
    nc : int
        Output channels.
    n_extra_layers : int
        3x3 stride-1 layers added at full resolution before the output layer.
    norm : {'batch', 'none'}
        BatchNorm after every hidden layer (DCGAN), or none (WGAN paper Fig. 6).
    activation : {'dcgan', 'tanh', 'gated'}
        ReLU after every hidden layer (DCGAN), tanh, or `Gate` after hidden layers (and BatchNorms) of
        twice the width (WGAN-GP paper, Fig. 2).
    """

    def __init__(self, image_size=64, nz=100, ngf=64, nc=3, n_extra_layers=0, norm="batch",
                 filters="doubling", activation="dcgan", **kwargs):
        super().__init__(**kwargs)
        check_network("generator", "dcgan", image_size=image_size, nz=nz, width=ngf, n_extra_layers=n_extra_layers,
                      activation=activation, gen_filters=filters)
        if norm not in GENERATOR_NORMS:
            raise ValueError(f"generator norm must be 'batch' or 'none', got {norm!r}")
        hidden = lambda: _hidden_activation(activation, _generator_relu, _generator_tanh)  # noqa: E731
        hidden()   # checks the name before anything is built
        depth = _pyramid_depth(image_size)
        widths = [ngf * 2 ** (depth - i) if filters == "doubling" else ngf for i in range(depth + 1)]
        k = _widening(activation)
        self.nz = nz
        with self.name_scope():
            self.body = nn.HybridSequential(prefix="")
            add_layers(self.body, Conv2DTranspose(k * widths[0], 4, 1, 0, in_channels=nz, use_bias=False),
                 normalization(norm, k * widths[0]), hidden())
            for c_in, c_out in zip(widths, widths[1:]):
                add_layers(self.body, Conv2DTranspose(k * c_out, 4, 2, 1, in_channels=c_in, use_bias=False),
                     normalization(norm, k * c_out), hidden())
            for _ in range(n_extra_layers):
                add_layers(self.body, Conv2D(k * widths[-1], 3, 1, 1, in_channels=widths[-1], use_bias=False),
                     normalization(norm, k * widths[-1]), hidden())
            add_layers(self.body, Conv2DTranspose(nc, 4, 2, 1, in_channels=widths[-1], use_bias=False),
                 _generator_tanh())

    def hybrid_forward(self, F, z):
        return self.body(F.reshape(z, shape=(0, -1, 1, 1)))


class DCGANCritic(nn.HybridBlock):
    """Images (N, nc, image_size, image_size) -> scores (N,): one per sample, never a batch mean.

    Parameters
    ----------
    image_size : int
        Power of two >= 16.
    ndf : int
        Filters of the first layer; doubling at every stride-2 layer.
    nc : int
        Input channels.
    n_extra_layers : int
        3x3 stride-1 layers after the first layer (where the reference code puts them).
    norm : {'batch', 'layer', 'none'}
        'batch' is what the WGAN paper's LSUN runs used; the gradient penalty needs 'layer' or
        'none' (a BatchNorm critic's score of one sample depends on the others).
    use_bias : bool
        Biases on the convolutions (the reference code has none; the WGAN-GP code has them).
    activation : {'dcgan', 'tanh', 'gated'}
        LeakyReLU(0.2) after every hidden layer (DCGAN), tanh, or `Gate` after hidden layers (and
        normalizations) of twice the width (WGAN-GP paper, Fig. 2).
    """

    def __init__(self, image_size=64, ndf=64, nc=3, n_extra_layers=0, norm="batch", use_bias=False,
                 activation="dcgan", **kwargs):
        super().__init__(**kwargs)
        check_network("critic", "dcgan", image_size=image_size, width=ndf, n_extra_layers=n_extra_layers,
                      activation=activation)
        if norm not in CRITIC_NORMS:
            raise ValueError(f"critic norm must be one of {CRITIC_NORMS}, got {norm!r}")
        depth = _pyramid_depth(image_size)
        leaky = lambda: nn.LeakyReLU(0.2)  # noqa: E731
        _hidden_activation(activation, leaky)
        k = _widening(activation)
        with self.name_scope():
            self.body = nn.HybridSequential(prefix="")
            add_layers(self.body, Conv2D(k * ndf, 4, 2, 1, in_channels=nc, use_bias=use_bias),
                 _hidden_activation(activation, leaky))
            for _ in range(n_extra_layers):
                add_layers(self.body, Conv2D(k * ndf, 3, 1, 1, in_channels=ndf, use_bias=use_bias),
                     normalization(norm, k * ndf), _hidden_activation(activation, leaky))
            width = ndf
            for _ in range(depth):
                add_layers(self.body, Conv2D(k * width * 2, 4, 2, 1, in_channels=width, use_bias=use_bias),
                     normalization(norm, k * width * 2), _hidden_activation(activation, leaky))
                width *= 2
            add_layers(self.body, Conv2D(1, 4, 1, 0, in_channels=width, use_bias=use_bias))

    def hybrid_forward(self, F, x):
        return F.reshape(self.body(x), shape=(-1,))  # (N, 1, 1, 1) -> (N,)
