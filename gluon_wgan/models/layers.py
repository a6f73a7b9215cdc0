"""Small layers the generators and critics share.

The critic's layers are kept to operators whose input gradient can be written with first-order
operators (see `gluon_wgan.penalty`): `ReLU` calls `F.relu`, the one ReLU spelling MXNet 1.9.1 can
differentiate twice (`nn.Activation('relu')` and `Dense(activation=...)` cannot).
"""
from mxnet.gluon import nn

from .. import native


class ReLU(nn.HybridBlock):
    """max(x, 0) through `F.relu`."""

    def hybrid_forward(self, F, x):
        return F.relu(x)


class Tanh(nn.HybridBlock):
    """tanh(x) through `F.tanh`."""

    def hybrid_forward(self, F, x):
        return F.tanh(x)


class Gate(nn.HybridBlock):
    """sigmoid(a) * tanh(b), a the even and b the odd channels of x: half as many channels out.

    PixelCNN's gated unit (van den Oord et al. 2016), the "gated multiplicative nonlinearities" of
    the WGAN-GP paper's Fig. 2; its code gates ``output[:, ::2]`` with ``output[:, 1::2]`` in the
    same way, after layers of twice the width.
    """

    @staticmethod
    def halves(F, x):
        """(a, b): the even and the odd channels of x (the penalty's transpose splits x the same way)."""
        pairs = F.reshape(x, shape=(0, -4, -1, 2, -2))   # (N, C/2, 2, ...): channel 2k, then 2k + 1
        return F.split(pairs, num_outputs=2, axis=2, squeeze_axis=True)

    def hybrid_forward(self, F, x):
        a, b = self.halves(F, x)
        return F.sigmoid(a) * F.tanh(b)


class ChannelLayerNorm(nn.HybridBlock):
    """Layer normalization over all of (C, H, W) of each sample, with a scale and shift per channel.

    This is the critic normalization of the WGAN-GP paper's code (its `Layernorm` over axes
    [1, 2, 3]); Gluon's `nn.LayerNorm` normalizes over one axis only. Each sample is normalized on
    its own, so the gradient penalty stays a per-sample quantity (Gulrajani et al. 2017, section 4).
    """

    def __init__(self, channels, epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.channels, self.epsilon = channels, epsilon
        with self.name_scope():
            self.gamma = self.params.get("gamma", shape=(channels,), init=None)
            self.beta = self.params.get("beta", shape=(channels,), init=None)

    def hybrid_forward(self, F, x, gamma, beta):
        if self.fused():
            # identity: the kernel overwrites its input gradients, and gamma and beta may be
            # accumulated into (grad_req='add'); a copy's backward adds (gluon_wgan.native).
            return F.gluon_wgan_layer_norm(x, F.identity(gamma), F.identity(beta), eps=self.epsilon)[0]
        normed, _ = self.standardize(F, x, self.epsilon)
        return self.scale_shift(F, F.reshape_like(normed, x), gamma, beta, self.channels)

    def fused(self):
        """Whether this layer runs as the fused CPU kernel (`gluon_wgan.native`): when it loaded
        and every device of the layer is a CPU; otherwise the plain operators below compute it.
        A hybridized graph keeps the answer of its first call: after moving the layer between CPU
        and GPU, call `hybridize()` again. The fused kernel also writes (does not add) the
        gradient of its input x: an x that is itself an autograd leaf with grad_req='add' loses
        what it had accumulated (in the package's networks x is always a convolution's output)."""
        # available() first: traced for its operators alone (penalty.check_penalty_support, under
        # native.plain_operators()), an uninitialized layer has no devices to ask about.
        return native.available() and native.used_on(self.gamma.list_ctx())

    @staticmethod
    def standardize(F, x, epsilon):
        """(normed, inv_std): each sample of x as a row (N, C*H*W) with mean 0 and variance 1, and
        1 / sqrt(variance + epsilon) per row (N, 1). The penalty's transpose reads both."""
        # Written with operators whose backward is fast on the CPU: broadcast_* and mean backward
        # run a generic element-by-element reduction, and spelled with them this layer took several
        # times as long, forward + backward (MXNet 1.9.1; benchmarks/README.md, "What closed the
        # WGAN-GP gap"). Shape-free, so it hybridizes.
        rows = F.reshape(x, shape=(0, -1))                                      # (N, M)
        row_mean, spread = row_ops(F, rows)
        centred = F.elemwise_sub(rows, spread(row_mean(rows)))
        inv_std = F.rsqrt(row_mean(F.square(centred)) + epsilon)
        return F.elemwise_mul(centred, spread(inv_std)), inv_std

    @staticmethod
    def scale_shift(F, x, gamma, beta=None, channels=None):
        """gamma[c] * x[:, c] (+ beta[c]) for x (N, C, H, W): a depthwise 1x1 Convolution, whose
        backward is fast where broadcast_mul's reduction over (N, H, W) is not."""
        kernel = F.reshape(gamma, shape=(-1, 1, 1, 1))
        if beta is None:
            return F.Convolution(x, kernel, kernel=(1, 1), num_filter=channels, num_group=channels,
                                 no_bias=True)
        return F.Convolution(x, kernel, beta, kernel=(1, 1), num_filter=channels, num_group=channels)


def row_ops(F, rows):
    """(mean, spread) for rows (N, M): `mean` takes (N, M) to the row means (N, 1), `spread` takes
    (N, 1) to (N, M), each row constant. FullyConnected with a constant 1/M row and a rank-1 dot with a row of ones:
    both have fast backward passes on the CPU (the reductions of `mean`/`broadcast_*` do not)."""
    ones = F.BlockGrad(F.ones_like(F.slice_axis(rows, axis=0, begin=0, end=1)))    # (1, M)
    mean_row = F.BlockGrad(F.broadcast_div(ones, F.sum(ones)))                     # (1, M) of 1/M

    def mean(a):
        return F.FullyConnected(a, mean_row, no_bias=True, num_hidden=1)

    def spread(col):
        return F.dot(col, ones)
    return mean, spread


def add_layers(block, *layers):
    """Add `layers` to the sequential `block` in order, skipping None (an absent normalization)."""
    for layer in layers:
        if layer is not None:
            block.add(layer)


def normalization(kind, channels):
    """The critic/generator normalization layer named by `kind`, or None for 'none'."""
    if kind == "batch":
        # gamma/beta initializers left to the global DCGANInit (N(1, 0.02) and 0), see models.init.
        return nn.BatchNorm(in_channels=channels, gamma_initializer=None, beta_initializer=None)
    if kind == "layer":
        return ChannelLayerNorm(channels)
    if kind == "none":
        return None
    raise ValueError(f"norm must be 'batch', 'layer' or 'none', got {kind!r}")
