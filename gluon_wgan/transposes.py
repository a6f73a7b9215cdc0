"""The input gradient of each critic layer type, written with first-order operators.

`input_grad(critic, x)` is d sum(critic(x)) / dx as an ordinary recorded computation of the critic's
parameters: one forward pass through `critic.body` that keeps what each layer's transpose needs,
then the transposed pass from d score / d(body output) = 1 back to the input. Ordinary first-order
autograd then differentiates it, which gives the gradient penalty's exact parameter gradients where
MXNet 1.9.1's `autograd.grad(create_graph=True)` cannot (docs/gradient_penalty.md).

Each entry of `_TRANSPOSES` runs one layer forward on h and returns (output, transpose), where
transpose(g) maps d sum(scores) / d output to d sum(scores) / d h. Masks of piecewise-linear
activations are computed under `autograd.pause()`: their derivative is zero almost everywhere, so
leaving them out of the graph is exact.
"""
import contextlib
import functools

import numpy as np
from mxnet import autograd, nd
from mxnet.gluon import nn

from . import compat, native
from .models.layers import ChannelLayerNorm, Gate, ReLU, Tanh, row_ops
from .models.precision import BFLOAT16, Conv2D, Dense


def input_grad(critic, x):
    """d sum(critic(x)) / dx, shape of `x`, differentiable with respect to the critic's parameters.

    Each sample's score depends on that sample only (see `penalty.check_penalty_support`), so this
    is the stack of the per-sample gradients grad D(x_i).
    """
    layers = list(critic.body)
    # Only the transposes of ChannelLayerNorm, Tanh and Gate use activations differentiably; after
    # the last of those, activations feed masks only, so that part of the forward pass need not be
    # recorded (with norm='none' and piecewise-linear activations, none of it).
    recorded = 1 + max((i for i, layer in enumerate(layers)
                        if isinstance(layer, (ChannelLayerNorm, Tanh, Gate))), default=-1)
    transposes = []
    h = x
    recording = autograd.is_recording()
    for i, layer in enumerate(layers):
        with autograd.pause(train_mode=True) if i >= recorded else contextlib.nullcontext():
            h, transpose = _layer(layer, h, recording)
        if isinstance(transpose, _Elementwise) and i and isinstance(layers[i - 1], ChannelLayerNorm):
            # An activation after a layer norm: its derivative is applied inside the layer norm's
            # transpose, after the per-channel gain (the products commute), so that the
            # Deconvolution's blocked MKL-DNN output is converted to the plain layout once.
            transposes[-1] = functools.partial(transposes[-1], deriv=transpose.deriv)
        else:
            transposes.append(transpose)
    grad = nd.ones(h.shape, ctx=h.context, dtype=h.dtype)
    for transpose in reversed(transposes):
        grad = transpose(grad)
    return grad


def layer_problem(layer):
    """Why `layer` has no exact transpose here, or '' if it has one."""
    if isinstance(layer, nn.BatchNorm):
        return ("BatchNorm mixes the samples of a batch, so the per-sample gradient the penalty "
                "constrains is not defined (Gulrajani et al. 2017, section 4); build the critic "
                "with norm='layer' or norm='none'")
    if type(layer) not in _TRANSPOSES:   # exact types: a subclass may change the forward
        return ("no first-order input gradient is written for this layer type (supported: "
                f"{', '.join(t.__name__ for t in _TRANSPOSES)}); build the critic with "
                "norm='layer' or norm='none' and gluon_wgan.models.layers.ReLU for ReLUs")
    if getattr(layer, "act", None) is not None:
        return (f"{type(layer).__name__}(activation=...) has no first-order input gradient here; "
                "add the activation as its own layer (gluon_wgan.models.layers.ReLU)")
    if isinstance(layer, nn.Conv2D):
        kw = compat.conv_options(layer)
        if kw["layout"] != "NCHW" or kw["num_group"] != 1 or tuple(kw["dilate"]) != (1, 1):
            return "only NCHW, ungrouped, undilated convolutions are supported"
    if isinstance(layer, nn.Dense) and not compat.dense_flattens(layer):
        return "only Dense(flatten=True) is supported"
    return ""


def _layer(layer, h, recording):
    """(output, transpose) of one layer. A layer computing in bfloat16 (`models.precision`) runs
    forward and transpose on bfloat16 casts, float32 in and out, as its own forward does; the casts
    of its parameters are recorded whenever the caller records, also where the forward is not."""
    rule = _TRANSPOSES[type(layer)]
    if getattr(layer, "compute_dtype", "float32") == "float32":
        return rule(layer, h)

    def cast(param, low):
        with autograd.record(train_mode=True) if recording else contextlib.nullcontext():
            return nd.amp_cast(_value(param, low), dtype=BFLOAT16)
    out, transpose = rule(layer, nd.amp_cast(h, dtype=BFLOAT16), cast)
    return (nd.amp_cast(out, dtype="float32"),
            lambda g: nd.amp_cast(transpose(nd.amp_cast(g, dtype=BFLOAT16)), dtype="float32"))


def _value(param, h):
    """A layer parameter's value on h's device."""
    return param.data(h.context)


def row_matmul(g, w):
    """g (N, K) times w (K, M), in g's dtype, as FullyConnected(g, w^T): oneDNN's forward and backward,
    where `dot` runs (forward and backward) in the wheel's OpenBLAS, several times slower on Intel
    CPUs, and has no bfloat16. The transposed copy of w costs little beside the product
    (benchmarks/README.md)."""
    return nd.FullyConnected(g, _transposed(w), no_bias=True, num_hidden=w.shape[1])


def _transposed(w):
    """w^T; a bfloat16 w through float32 (exact both ways): MXNet 1.9.1's `transpose` of a bfloat16
    array crashes in backward, and its `swapaxes` is far slower (benchmarks/README.md)."""
    if w.dtype != BFLOAT16:
        return nd.transpose(w)
    return nd.amp_cast(nd.transpose(nd.amp_cast(w, dtype="float32")), dtype=BFLOAT16)


def _conv2d(layer, h, value=_value):
    kw = compat.conv_options(layer)
    weight = value(layer.weight, h)
    biases = () if layer.bias is None else (value(layer.bias, h),)
    out = nd.Convolution(h, weight, *biases, **kw)

    def transpose(g):
        if g.shape[2:] == (1, 1) and tuple(kw["pad"]) == (0, 0) and tuple(kw["kernel"]) == h.shape[2:]:
            # A kernel that covers its whole unpadded input (the critic's last layer) is a dense
            # layer on the flattened input; oneDNN runs that Deconvolution in a slow reference kernel.
            return row_matmul(g.reshape((g.shape[0], -1)), weight.reshape((weight.shape[0], -1))
                              ).reshape(h.shape)
        return ConvTranspose(kw, h.shape)(g, weight)
    return out, transpose


class ConvTranspose(autograd.Function):
    """g -> the transpose of a convolution applied to g (a Deconvolution with its weight), with a
    backward of its own.

    MXNet 1.9.1's MKL-DNN Deconvolution backward fails ("could not execute a primitive") whenever
    its weight gradient goes to an array that autograd allocates during `backward()`: a weight that
    also feeds the forward Convolution, any non-leaf weight, `autograd.grad` (delayed allocation,
    docs/gradient_penalty.md). Here the weight gradient is computed into a leaf of this function's
    own and returned, and autograd adds it to the parameter's gradient like any other.
    """

    def __init__(self, conv_options, in_shape):
        super().__init__()
        self.kw, self.in_shape = conv_options, in_shape
        self.dilate = tuple(conv_options.get("dilate") or (1,) * len(conv_options["kernel"]))
        self.groups = conv_options.get("num_group", 1)

    def forward(self, g, weight):
        # A copy now: backward runs later, on MXNet's custom-operator thread, where reading the
        # parameter itself could see (and wait behind) the optimizer's update of it.
        weight = weight.copy()
        self.save_for_backward(g, weight)
        kw = self.kw
        # adj recovers the input size lost to the floor in
        # out = (in + 2 pad - dilate (kernel - 1) - 1) // stride + 1.
        adj = tuple(i - ((o - 1) * s - 2 * p + d * (k - 1) + 1) for i, o, s, p, d, k in
                    zip(self.in_shape[2:], g.shape[2:], kw["stride"], kw["pad"], self.dilate, kw["kernel"]))
        with autograd.train_mode():   # inference mode would re-lay the weight out for MKL-DNN in place
            return nd.Deconvolution(g, weight, kernel=kw["kernel"], stride=kw["stride"], pad=kw["pad"],
                                    dilate=self.dilate, adj=adj, num_filter=self.in_shape[1],
                                    num_group=self.groups, no_bias=True)

    def backward(self, d_out):
        g, weight = self.saved_tensors
        weight.attach_grad()
        # The input gradient of a Deconvolution is the Convolution of d_out with the same weight,
        # and that Convolution's weight gradient against g is the Deconvolution's.
        with autograd.record():
            d_g = nd.Convolution(d_out, weight, kernel=self.kw["kernel"], stride=self.kw["stride"],
                                 pad=self.kw["pad"], dilate=self.dilate, num_group=self.groups,
                                 num_filter=g.shape[1], no_bias=True)
        d_g.backward(g)
        # Done before returning: MXNet takes d_out's memory back when this returns (its engine does
        # not know that the operators pushed here read it), and may hand it to another array.
        d_g.wait_to_read()
        weight.grad.wait_to_read()
        return d_g.detach(), weight.grad


def _dense(layer, h, value=_value):
    weight = value(layer.weight, h)
    biases = () if layer.bias is None else (value(layer.bias, h),)
    out = nd.FullyConnected(h, weight, *biases, no_bias=layer.bias is None, num_hidden=weight.shape[0])
    return out, lambda g: row_matmul(g, weight).reshape(h.shape)


def _leaky_relu(layer, h):
    # The slope is float32(alpha), the C float MXNet's operator uses, so the input gradient equals
    # first-order autograd's; the factor is also the derivative.
    slope = float(np.float32(compat.leaky_slope(layer)))
    with autograd.pause():
        factor = (h > 0) * (1.0 - slope) + slope
    if h.dtype == np.float32:
        # Same values as h * factor, but MKL-DNN keeps the Convolution's blocked layout.
        return nd.LeakyReLU(h, act_type="leaky", slope=slope), _Elementwise(factor)
    # For float64 the operator computes the negative side in float32 (docs/examples/).
    return nd.elemwise_mul(h, factor), _Elementwise(factor)


def _relu(layer, h):
    with autograd.pause():
        mask = h > 0
    return nd.relu(h), _Elementwise(mask)


def _tanh(layer, h):
    # 1 - tanh(h)^2 depends on the parameters: recorded, it is the second-order term the penalty needs.
    out = nd.tanh(h)
    return out, _Elementwise(1 - nd.square(out))


def _gate(layer, h):
    # y = sigmoid(a) * tanh(b), a and b the even and odd channels (models.layers.Gate): recorded,
    # like tanh's; the transpose interleaves the two halves back.
    a, b = Gate.halves(nd, h)
    gate, value = nd.sigmoid(a), nd.tanh(b)
    d_a = gate * (1 - gate) * value
    d_b = gate * (1 - nd.square(value))
    return gate * value, lambda g: nd.stack(g * d_a, g * d_b, axis=2).reshape(h.shape)


def _channel_layer_norm(layer, h):
    ctx = h.context
    gamma = layer.gamma.data(ctx)
    if native.used_on([ctx]):
        # Fused C++ forward and transpose (gluon_wgan/native/). The kernels write their input
        # gradients rather than add to them, so they read copies of the parameters.
        gamma = nd.identity(gamma)
        out, normed, inv_std = nd.gluon_wgan_layer_norm(h, gamma, nd.identity(layer.beta.data(ctx)),
                                                       eps=layer.epsilon)

        def fused_transpose(g, deriv=None):
            extra = () if deriv is None else (deriv,)
            return nd.gluon_wgan_ln_transpose(g, gamma, normed, inv_std, *extra, with_deriv=bool(extra))
        return out, fused_transpose
    # Elsewhere (a GPU, no compiler): plain operators, each group a small hybridized graph.
    out, normed, inv_std = _graph(_LayerNormForward, h, layer.channels, layer.epsilon)(
        h, gamma, layer.beta.data(ctx))

    def transpose(g, deriv=None):
        # `deriv`: the derivative of an activation right after the layer (see input_grad).
        extra = () if deriv is None else (deriv,)
        return _graph(_LayerNormTranspose, g, layer.channels, bool(extra))(g, gamma, normed, inv_std,
                                                                            *extra)
    return out, transpose


class _LayerNormForward(nn.HybridBlock):
    """ChannelLayerNorm's forward, also returning what its transpose reads: (out, normed, inv_std)."""

    def __init__(self, channels, epsilon):
        super().__init__()
        self.channels, self.epsilon = channels, epsilon

    def hybrid_forward(self, F, h, gamma, beta):
        normed, inv_std = ChannelLayerNorm.standardize(F, h, self.epsilon)
        out = ChannelLayerNorm.scale_shift(F, F.reshape_like(normed, h), gamma, beta, self.channels)
        return out, normed, inv_std


class _LayerNormTranspose(nn.HybridBlock):
    """g -> d sum(scores) / d(layer input), given g = d sum(scores) / d(layer output) (N, C, H, W).

    y = gamma * x_hat + beta, x_hat = (x - mean) * inv_std over the M = C*H*W entries of a sample:
    dx = (g_hat - mean(g_hat) - x_hat * mean(g_hat * x_hat)) * inv_std, g_hat = gamma * g, times
    the derivative of a following activation when one is passed (the products commute).
    """

    def __init__(self, channels, with_deriv):
        super().__init__()
        self.channels, self.with_deriv = channels, with_deriv

    def hybrid_forward(self, F, g, gamma, normed, inv_std, *deriv):
        g_hat = ChannelLayerNorm.scale_shift(F, g, gamma, channels=self.channels)
        if self.with_deriv:
            g_hat = F.elemwise_mul(g_hat, deriv[0])
        rows = F.reshape(g_hat, shape=(0, -1))
        mean, spread = row_ops(F, rows)
        centred = F.elemwise_sub(F.elemwise_sub(rows, spread(mean(rows))),
                                 F.elemwise_mul(normed, spread(mean(F.elemwise_mul(rows, normed)))))
        return F.reshape_like(F.elemwise_mul(centred, spread(inv_std)), g)


@functools.lru_cache(maxsize=32)
def _hybridized(cls, channels, option, shape, dtype, ctx):
    block = cls(channels, option)
    block.hybridize(static_alloc=True, static_shape=True)
    return block


def _graph(cls, x, channels, option):
    """The hybridized `cls(channels, option)` for inputs like x (one per shape, dtype and device)."""
    return _hybridized(cls, channels, option, x.shape, np.dtype(x.dtype).str, x.context)


class _Elementwise:
    """The transpose of an elementwise layer: g -> g * deriv, its derivative at the layer's input."""

    def __init__(self, deriv):
        self.deriv = deriv

    def __call__(self, g):
        return nd.elemwise_mul(g, self.deriv)


_TRANSPOSES = {
    nn.Conv2D: _conv2d,
    Conv2D: _conv2d,          # the package's, which may compute in bfloat16 (`_layer`)
    nn.Dense: _dense,
    Dense: _dense,
    nn.LeakyReLU: _leaky_relu,
    ReLU: _relu,
    Tanh: _tanh,
    Gate: _gate,
    ChannelLayerNorm: _channel_layer_norm,
}
