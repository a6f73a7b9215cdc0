"""The transpose of each MXNet operator a critic may be built from, for the penalty's input gradient.

`graph_transpose` reads a critic's symbol graph and calls one rule per operator. A rule receives
the operator's inputs (NDArrays), which of them depend on the critic's input ("live"), and its
attributes as the symbol's JSON spells them. It computes the operator's outputs and returns them
with a transpose: a function from d sum(scores) / d output (one array or None per output) to
d sum(scores) / d input (one array or None per input; None for inputs that are not live).

Transposes are written with first-order operators on the recorded forward values, so ordinary
autograd differentiates them exactly: that is what makes the penalty's parameter gradients right.
The derivative of a smooth operator (tanh, a norm's statistics) is therefore recorded, while the
masks of piecewise-linear ones (ReLU, max pooling) are computed under `autograd.pause()`: their
derivative is zero almost everywhere, so leaving them out of the graph is exact. An operator with no
rule here, or with attributes its rule does not cover, is refused by `problem`, never approximated.
"""
import ast
import math

import numpy as np
from mxnet import autograd, nd

from . import compat, native
from .transposes import ConvTranspose

BATCHNORM_REASON = (
    "BatchNorm normalizes with the batch's statistics, so one sample's score depends on the other "
    "samples and the per-sample gradient the penalty constrains is not defined (Gulrajani et al. "
    "2017, section 4); use LayerNorm, InstanceNorm or no normalization in the critic")

# Outputs that do not change with their inputs' values: no gradient flows through them.
CONSTANT_OPS = {"BlockGrad", "stop_gradient", "ones_like", "zeros_like", "shape_array", "size_array",
                "argmax", "argmin", "argsort", "argmax_channel", "one_hot", "round", "floor", "ceil",
                "sign", "trunc", "fix", "rint"}

# Operators that draw random numbers: the critic would differ between its own call and the penalty's.
RANDOM_PREFIXES = ("_random_", "_sample_", "random_", "sample_", "_npi_random")


# ------------------------------------------------------------------------------- attributes

def literal(attrs, key, default=None):
    """An attribute's Python value ('(2, 2)' -> (2, 2), 'True' -> True, '0.2' -> 0.2)."""
    if key not in attrs:
        return default
    text = attrs[key]
    if text in ("None", ""):
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _axes(attrs, ndim, key="axis"):
    """The reduction axes of sum/mean-like operators, as non-negative ints (None = all)."""
    axis = literal(attrs, key)
    if axis is None or axis == ():
        axes = tuple(range(ndim))
    else:
        axes = tuple(a % ndim for a in (axis if isinstance(axis, tuple) else (axis,)))
    if literal(attrs, "exclude", False):
        axes = tuple(a for a in range(ndim) if a not in axes)
    return axes


def _mixes_batch_axes(attrs):
    """A reduction over the batch axis (or over every axis) makes one score depend on many samples."""
    axis = literal(attrs, "axis")
    if literal(attrs, "exclude", False):
        return axis is not None and 0 not in (axis if isinstance(axis, tuple) else (axis,))
    return axis is None or axis == () or 0 in (axis if isinstance(axis, tuple) else (axis,))


MIXES_SAMPLES = ("it acts across the batch axis, so a sample's score would depend on other samples "
                 "and the per-sample gradient the penalty constrains is not defined")


# ------------------------------------------------------------------------------ helpers

def _reduce_to(g, shape):
    """Sum g over the axes along which an input of `shape` was broadcast to g's shape."""
    if g.shape == tuple(shape):
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1)
    return nd.sum(g, axis=axes, keepdims=True).reshape(shape) if axes else g.reshape(shape)


def _mul(a, b):
    return nd.elemwise_mul(a, b) if a.shape == b.shape else nd.broadcast_mul(a, b)


def invoke(op, inputs, attrs):
    """Run the MXNet operator `op` imperatively on `inputs` with the symbol's attributes."""
    return compat.imperative_operator(op)(*inputs, **{k: v for k, v in attrs.items() if not k.startswith("__")})


# ---------------------------------------------------------------------- rule constructors

def elementwise(deriv, mask=False):
    """A one-input elementwise operator whose transpose multiplies by `deriv(x, y, attrs)`.

    `mask=True`: the derivative is piecewise constant and is computed under `pause()`.
    """
    def rule(ins, live, attrs, op):
        (x,) = ins
        y = invoke(op, ins, attrs)
        if mask:
            with autograd.pause():
                d = deriv(x, y, attrs)
        else:
            d = deriv(x, y, attrs)
        return y, lambda gs: [nd.elemwise_mul(gs[0], d)]
    return rule


def linear(transpose):
    """A one-input linear operator (no parameters) whose transpose is `transpose(g, x, attrs)`."""
    def rule(ins, live, attrs, op):
        y = invoke(op, ins, attrs)
        return y, lambda gs: [transpose(gs[0], ins[0], attrs)] + [None] * (len(ins) - 1)
    return rule


class _LinearTranspose(autograd.Function):
    """g -> the transpose of a parameter-free linear operator L applied to g, with L as its backward.

    The forward asks first-order autograd for the transpose (the gradient of <L x, g> in x, which
    MXNet computes correctly); the backward of the transpose is L itself.
    """

    def __init__(self, apply, shapes, live, dtype, ctx):
        super().__init__()
        self.apply, self.shapes, self.live, self.dtype, self.ctx = apply, shapes, live, dtype, ctx

    def _zeros(self, i):
        return nd.zeros(self.shapes[i], ctx=self.ctx, dtype=self.dtype)

    def forward(self, g):
        xs = [self._zeros(i) for i in range(len(self.shapes))]
        for x, is_live in zip(xs, self.live):
            if is_live:
                x.attach_grad()
        with autograd.record():
            y = self.apply(*xs)
        y.backward(g)
        return tuple(x.grad.copy() for x, is_live in zip(xs, self.live) if is_live)

    def backward(self, *ds):
        ds = iter(ds)
        xs = [next(ds) if is_live else self._zeros(i) for i, is_live in enumerate(self.live)]
        out = self.apply(*xs)
        out.wait_to_read()     # before MXNet takes the incoming gradients' memory back
        return out


def generic_linear(fixed=None):
    """A parameter-free operator linear in its live inputs (which it may sum), any number of them.

    `fixed`: attributes replaced in the transpose's backward (a padding value of 0 instead of c,
    so that the backward applies the linear part of an affine operator).
    """
    def rule(ins, live, attrs, op):
        y = invoke(op, ins, attrs)
        linear_attrs = {**attrs, **(fixed or {})}

        def transpose(gs):
            f = _LinearTranspose(lambda *xs: invoke(op, xs, linear_attrs), [x.shape for x in ins], live,
                                 ins[0].dtype, ins[0].context)
            grads = iter(_as_tuple(f(gs[0])))
            return [next(grads) if is_live else None for is_live in live]
        return y, transpose
    return rule


def _as_tuple(value):
    return value if isinstance(value, (tuple, list)) else (value,)


# ----------------------------------------------------------------------------- the rules

def _deriv_tanh(x, y, attrs):
    return 1 - nd.square(y)


def _deriv_sigmoid(x, y, attrs):
    return y * (1 - y)


def _deriv_softrelu(x, y, attrs):
    return nd.sigmoid(x)


def _deriv_softsign(x, y, attrs):
    return 1 / nd.square(1 + nd.abs(x))


_ACTIVATIONS = {
    "relu": dict(deriv=lambda x, y, a: x > 0, mask=True),
    "sigmoid": dict(deriv=_deriv_sigmoid),
    "tanh": dict(deriv=_deriv_tanh),
    "softrelu": dict(deriv=_deriv_softrelu),
    "softsign": dict(deriv=_deriv_softsign),
}


def _activation(ins, live, attrs, op):
    spec = _ACTIVATIONS[attrs["act_type"]]
    return elementwise(**spec)(ins, live, attrs, op)


SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def _leaky_relu(ins, live, attrs, op):
    """LeakyReLU's act_types, computed in the input's precision (the operator rounds its negative
    side through float32, which would show in float64 checks)."""
    kind = attrs.get("act_type", "leaky")
    x = ins[0]
    slope = float(np.float32(literal(attrs, "slope", 0.25)))   # the C float MXNet's operator uses
    if kind == "prelu":
        gamma = ins[1].reshape((1, -1) + (1,) * (x.ndim - 2)) if ins[1].size > 1 else ins[1].reshape((1,) * x.ndim)
        with autograd.pause():
            positive = x > 0
        factor = nd.broadcast_add(positive, nd.broadcast_mul(1 - positive, gamma))
        return _mul(x, factor), lambda gs: [_mul(gs[0], factor), None]
    with autograd.pause():
        positive = x > 0
    if kind == "leaky":
        with autograd.pause():
            factor = positive * (1.0 - slope) + slope
        if x.dtype == np.float32:   # the operator keeps MKL-DNN's blocked layout, same values
            return nd.LeakyReLU(x, act_type="leaky", slope=slope), lambda gs: [nd.elemwise_mul(gs[0], factor)]
        return nd.elemwise_mul(x, factor), lambda gs: [nd.elemwise_mul(gs[0], factor)]
    if kind in ("elu", "selu"):
        alpha, scale = (slope, 1.0) if kind == "elu" else (SELU_ALPHA, SELU_SCALE)
        negative = alpha * (nd.exp(nd.minimum(x, 0)) - 1)                  # exp of x <= 0 only
        y = scale * nd.where(positive, x, negative)
        d = scale * nd.where(positive, nd.ones_like(x), negative + alpha)  # alpha e^x on x <= 0
        return y, lambda gs: [nd.elemwise_mul(gs[0], d)]
    if kind == "gelu":                                                    # x Phi(x), Phi the normal CDF
        cdf = 0.5 * (1 + nd.erf(x * (1 / math.sqrt(2))))
        d = cdf + x * nd.exp(-0.5 * nd.square(x)) * (1 / math.sqrt(2 * math.pi))
        return x * cdf, lambda gs: [nd.elemwise_mul(gs[0], d)]
    raise AssertionError(kind)   # problem() refuses the others


def _leaky_relu_problem(attrs, live):
    kind = attrs.get("act_type", "leaky")
    if kind not in ("leaky", "elu", "selu", "gelu", "prelu"):
        return f"act_type {kind!r} ({'random slopes' if kind == 'rrelu' else 'no rule written'})"
    if kind == "prelu" and len(live) > 1 and live[1]:
        return "a PReLU slope computed from the input"
    return ""


def _scalar(attrs):
    return float(literal(attrs, "scalar"))


def _sum_mean(ins, live, attrs, op):
    (x,) = ins
    y = invoke(op, ins, attrs)
    axes = _axes(attrs, x.ndim)
    kept = tuple(1 if i in axes else n for i, n in enumerate(x.shape))
    scale = 1.0 / max(1, int(np.prod([x.shape[i] for i in axes]))) if op == "mean" else 1.0

    def transpose(gs):
        g = nd.broadcast_to(gs[0].reshape(kept), shape=x.shape)
        return [g * scale if scale != 1.0 else g]
    return y, transpose


def _add_sub(sign):
    def rule(ins, live, attrs, op):
        a, b = ins
        y = invoke(op, ins, attrs)
        return y, lambda gs: [_reduce_to(gs[0], a.shape) if live[0] else None,
                              _reduce_to(sign * gs[0] if sign != 1 else gs[0], b.shape) if live[1] else None]
    return rule


def _multiply(ins, live, attrs, op):
    a, b = ins
    y = invoke(op, ins, attrs)
    return y, lambda gs: [_reduce_to(_mul(gs[0], b), a.shape) if live[0] else None,
                          _reduce_to(_mul(gs[0], a), b.shape) if live[1] else None]


def _divide(ins, live, attrs, op):
    a, b = ins
    y = invoke(op, ins, attrs)
    inv_b = 1 / b

    def transpose(gs):
        g_over_b = _mul(gs[0], inv_b)
        return [_reduce_to(g_over_b, a.shape) if live[0] else None,
                _reduce_to(-_mul(g_over_b, y), b.shape) if live[1] else None]
    return y, transpose


def _add_n(ins, live, attrs, op):
    y = invoke(op, ins, attrs)
    return y, lambda gs: [gs[0] if is_live else None for is_live in live]


def _concat(ins, live, attrs, op):
    y = invoke(op, ins, attrs)
    axis = literal(attrs, "dim", 1) % y.ndim
    bounds = np.cumsum([0] + [x.shape[axis] for x in ins])

    def transpose(gs):
        return [nd.slice_axis(gs[0], axis=axis, begin=int(lo), end=int(hi)) if is_live else None
                for lo, hi, is_live in zip(bounds, bounds[1:], live)]
    return y, transpose


def _split(ins, live, attrs, op):
    (x,) = ins
    outs = _as_tuple(invoke(op, ins, attrs))
    axis = literal(attrs, "axis", 1) % x.ndim
    squeeze = literal(attrs, "squeeze_axis", False)

    def transpose(gs):
        pieces = []
        for g, out in zip(gs, outs):
            g = nd.zeros_like(out) if g is None else g
            pieces.append(nd.expand_dims(g, axis=axis) if squeeze else g)
        return [nd.concat(*pieces, dim=axis)]
    return list(outs), transpose


def _reshaped_back(g, x, attrs):
    return g.reshape(x.shape)


def _transposed_back(g, x, attrs):
    axes = literal(attrs, "axes") or tuple(reversed(range(x.ndim)))
    return nd.transpose(g, axes=tuple(int(i) for i in np.argsort([a % x.ndim for a in axes])))


def _swapped_back(g, x, attrs):
    return nd.SwapAxis(g, dim1=literal(attrs, "dim1", 0), dim2=literal(attrs, "dim2", 0))


def _scaled(factor):
    return lambda g, x, attrs: g * factor(attrs)


def _upsampled_back(g, x, attrs):
    s = literal(attrs, "scale")
    return nd.Pooling(g, kernel=(s, s), stride=(s, s), pool_type="sum")


def _upsampling_problem(attrs, live):
    if attrs.get("sample_type") != "nearest":
        return "only sample_type='nearest' (bilinear upsampling learns a Deconvolution weight)"
    if literal(attrs, "num_args", 1) != 1:
        return "several inputs at different scales"
    return ""


def _casted_back(g, x, attrs):
    return g.astype(x.dtype)


def _pooling(ins, live, attrs, op):
    kind = attrs.get("pool_type", "max")
    if kind == "max":
        return _max_pooling(ins, attrs)
    (x,) = ins
    spatial = x.shape[2:]
    if literal(attrs, "global_pool", False):
        y = invoke(op, ins, attrs)
        scale = 1.0 / np.prod(spatial) if kind == "avg" else 1.0
        return y, lambda gs: [nd.broadcast_to(gs[0], shape=x.shape) * scale]
    kernel = literal(attrs, "kernel")
    if (len(set(kernel)) == 1 and tuple(literal(attrs, "stride") or ()) == kernel and not any(literal(attrs, "pad") or ())
            and all(n % k == 0 for n, k in zip(spatial, kernel)) and len(kernel) == 2):
        # Non-overlapping windows tiling the input (mean pooling in residual critics): each input
        # receives its window's gradient, divided by the window's size for the mean.
        y = invoke(op, ins, attrs)
        scale = 1.0 / np.prod(kernel) if kind == "avg" else 1.0
        return y, lambda gs: [nd.UpSampling(gs[0], scale=kernel[0], sample_type="nearest") * scale]
    return generic_linear()(ins, live, attrs, op)


def _max_pooling(ins, attrs):
    """Max pooling's transpose routes g to each window's maximum, found under pause(): an im2col
    view of the input (shifted above the zero padding), a one-hot mask, col2im back."""
    (x,) = ins
    y = nd.Pooling(x, **{k: v for k, v in attrs.items() if not k.startswith("__")})
    n, c = x.shape[:2]
    if literal(attrs, "global_pool", False):
        with autograd.pause():
            flat = x.reshape((n, c, -1))
            mask = nd.one_hot(nd.argmax(flat, axis=2), depth=flat.shape[2], dtype=x.dtype).reshape(x.shape)
        return y, lambda gs: [nd.broadcast_mul(mask, gs[0].reshape((n, c) + (1,) * (x.ndim - 2)))]
    kw = dict(kernel=literal(attrs, "kernel"), stride=literal(attrs, "stride") or (1,) * (x.ndim - 2),
              pad=literal(attrs, "pad") or (0,) * (x.ndim - 2))
    k = int(np.prod(kw["kernel"]))
    with autograd.pause():
        cols = nd.im2col(x - nd.min(x) + 1, **kw)                       # (N, C*K, L), padding 0 < values
        windows = cols.shape[2]
        if windows != int(np.prod(y.shape[2:])):
            raise ValueError("max pooling whose windows overhang the input (pooling_convention='full') "
                             "has no transpose here; use pooling_convention='valid' or padding")
        picks = nd.argmax(cols.reshape((n, c, k, windows)), axis=2)    # (N, C, L)
        mask = nd.one_hot(picks, depth=k, dtype=x.dtype).transpose((0, 1, 3, 2))   # (N, C, K, L)

    def transpose(gs):
        routed = nd.broadcast_mul(mask, gs[0].reshape((n, c, 1, windows))).reshape((n, c * k, windows))
        return [nd.col2im(routed, output_size=x.shape[2:], **kw)]
    return y, transpose


def _pooling_problem(attrs, live):
    kind = attrs.get("pool_type", "max")
    if kind not in ("max", "avg", "sum"):
        return f"pool_type {kind!r} (no rule written)"
    if attrs.get("layout", "NCHW") not in ("NCHW", "NCW", "NCDHW", "None"):
        return "only channels-first layouts"
    if kind == "max" and not literal(attrs, "global_pool", False) and literal(attrs, "dilate"):
        return "dilated max pooling"
    return ""


def _fully_connected(ins, live, attrs, op):
    x, w = ins[:2]
    y = invoke(op, ins, attrs)
    flatten = literal(attrs, "flatten", True)

    def transpose(gs):
        g = gs[0]
        rows = g.reshape((-1, g.shape[-1]))
        # rows W as FullyConnected(rows, W^T): oneDNN, where dot is the wheel's OpenBLAS (transposes._dense).
        d_x = nd.FullyConnected(rows, nd.transpose(w), no_bias=True, num_hidden=w.shape[1]
                                ).reshape(x.shape) if live[0] else None
        d_w = nd.dot(rows, x.reshape((x.shape[0], -1)) if flatten else x.reshape((-1, x.shape[-1])),
                     transpose_a=True) if live[1] else None
        d_b = nd.sum(rows, axis=0) if len(ins) > 2 and live[2] else None
        return [d_x, d_w] + ([d_b] if len(ins) > 2 else [])
    return y, transpose


def _dot(ins, live, attrs, op):
    a, b = ins
    ta, tb = literal(attrs, "transpose_a", False), literal(attrs, "transpose_b", False)
    y = invoke(op, ins, attrs)

    def transpose(gs):
        g = gs[0]
        # y = A' B' with A' = A^T if ta, B' = B^T if tb: dA' = g B'^T, dB' = A'^T g.
        d_a = (nd.dot(b, g, transpose_a=tb, transpose_b=True) if ta else
               nd.dot(g, b, transpose_b=not tb)) if live[0] else None
        d_b = (nd.dot(g, a, transpose_a=True, transpose_b=ta) if tb else
               nd.dot(a, g, transpose_a=not ta)) if live[1] else None
        return [d_a, d_b]
    return y, transpose


def _convolution(ins, live, attrs, op):
    x, w = ins[:2]
    y = invoke(op, ins, attrs)
    nd_ = x.ndim - 2
    kw = dict(kernel=literal(attrs, "kernel"), stride=literal(attrs, "stride") or (1,) * nd_,
              pad=literal(attrs, "pad") or (0,) * nd_, dilate=literal(attrs, "dilate") or (1,) * nd_,
              num_group=literal(attrs, "num_group", 1))

    def transpose(gs):
        g = gs[0]
        whole = (g.shape[2:] == (1,) * nd_ and tuple(kw["pad"]) == (0,) * nd_ and kw["num_group"] == 1
                 and tuple(kw["kernel"]) == x.shape[2:])
        if whole:
            # A kernel covering its whole unpadded input (a critic's last layer) is a dense layer
            # on the flattened input; oneDNN runs that Deconvolution in a slow reference kernel.
            d_x = nd.dot(g.reshape((g.shape[0], -1)), w.reshape((w.shape[0], -1))).reshape(x.shape)
        else:
            d_x = ConvTranspose(kw, x.shape)(g, w)
        return [d_x] + [None] * (len(ins) - 1)
    return y, transpose


def _convolution_problem(attrs, live):
    if any(live[1:]):
        return "a weight or bias computed from the input"
    if attrs.get("layout", "None") not in ("None", "NCW", "NCHW", "NCDHW"):
        return "only channels-first layouts (NCHW)"
    return ""


def _weights_not_live(attrs, live):
    return "a scale or shift computed from the input" if any(live[1:]) else ""


def _normalize(x, gamma, beta, axes, channel_axis, eps):
    """(y, transpose) of (x - mean) / sqrt(var + eps) * gamma + beta, statistics over `axes` and
    gamma, beta along `channel_axis`, all recorded (the statistics' derivatives are second-order
    terms of the penalty)."""
    mean = nd.mean(x, axis=axes, keepdims=True)
    centred = nd.broadcast_sub(x, mean)
    inv_std = nd.rsqrt(nd.mean(nd.square(centred), axis=axes, keepdims=True) + eps)
    normed = nd.broadcast_mul(centred, inv_std)
    shape = [1] * x.ndim
    shape[channel_axis] = -1
    scale = gamma.reshape(shape)
    y = nd.broadcast_add(nd.broadcast_mul(normed, scale), beta.reshape(shape))

    def transpose(gs):
        g = nd.broadcast_mul(gs[0], scale)
        spread = nd.mean(g, axis=axes, keepdims=True)
        along = nd.mean(g * normed, axis=axes, keepdims=True)
        d_x = nd.broadcast_mul(nd.broadcast_sub(g, spread) - nd.broadcast_mul(normed, along), inv_std)
        return [d_x, None, None]
    return y, transpose


def _layer_norm(ins, live, attrs, op):
    x, gamma, beta = ins
    axis = literal(attrs, "axis", -1) % x.ndim
    return _normalize(x, gamma, beta, (axis,), axis, float(literal(attrs, "eps", 1e-5)))


def _layer_norm_problem(attrs, live):
    if literal(attrs, "axis", -1) == 0:
        return "LayerNorm over the batch axis " + MIXES_SAMPLES
    if literal(attrs, "output_mean_var", False):
        return "output_mean_var=True"
    return _weights_not_live(attrs, live)


def _instance_norm(ins, live, attrs, op):
    x, gamma, beta = ins
    return _normalize(x, gamma, beta, tuple(range(2, x.ndim)), 1, float(literal(attrs, "eps", 1e-3)))


def _channel_layer_norm(ins, live, attrs, op):
    """The package's fused layer norm (`models.layers.ChannelLayerNorm` on a CPU): its own transpose."""
    x, gamma, beta = ins
    out, normed, inv_std = invoke(op, ins, attrs)

    def transpose(gs):
        return [nd.gluon_wgan_ln_transpose(gs[0], gamma, normed, inv_std, with_deriv=False), None, None]
    return [out, normed, inv_std], transpose


def _channel_layer_norm_problem(attrs, live):
    if not native.available():
        return "the package's layer-norm kernels are not loaded"
    return _weights_not_live(attrs, live)


def _dropout(ins, live, attrs, op):
    (x,) = ins
    return nd.identity(x), lambda gs: [gs[0]]


def _dropout_problem(attrs, live):
    if float(literal(attrs, "p", 0.5)) > 0:
        return ("Dropout in training mode makes the critic random: its gradient at x would differ "
                "between the critic's call and the penalty's")
    return ""


def _batch_axis_problem(key, default):
    def problem(attrs, live):
        return MIXES_SAMPLES if literal(attrs, key, default) in (0,) else ""
    return problem


def _reduce_problem(attrs, live):
    return MIXES_SAMPLES if _mixes_batch_axes(attrs) else ""


def _pad_problem(attrs, live):
    return "" if attrs.get("mode", "constant") in ("constant", "edge", "reflect") else "unknown mode"


def _power_deriv(x, y, attrs):
    s = _scalar(attrs)
    return s * nd.power(x, s - 1)


class Rule:
    """How one operator is differentiated: `apply(ins, live, attrs, op)` -> (outputs, transpose);
    `problem(attrs, live)` -> why these attributes are refused, or ''; `reads(attrs, live)` -> whether
    the transpose reads forward values differentiably (a smooth derivative, a product's other factor,
    a norm's statistics), so that they, and what they are computed from, must be recorded."""

    def __init__(self, apply, problem=None, reads=False):
        self.apply = apply
        self.problem = problem or (lambda attrs, live: "")
        self.reads = reads if callable(reads) else (lambda attrs, live: reads)


def _smooth_activation(attrs, live):
    return attrs.get("act_type") != "relu"


def _smooth_leaky(attrs, live):
    return attrs.get("act_type", "leaky") in ("elu", "selu", "gelu")


def _several_live(attrs, live):
    return sum(live) > 1


RULES = {
    # Elementwise, piecewise linear: masks.
    "relu": Rule(elementwise(lambda x, y, a: x > 0, mask=True)),
    "Activation": Rule(_activation, lambda a, l: "" if a.get("act_type") in _ACTIVATIONS
                       else f"act_type {a.get('act_type')!r} (no rule written)", reads=_smooth_activation),
    "LeakyReLU": Rule(_leaky_relu, _leaky_relu_problem, reads=_smooth_leaky),
    "abs": Rule(elementwise(lambda x, y, a: nd.sign(x), mask=True)),
    "clip": Rule(elementwise(lambda x, y, a: (x > float(literal(a, "a_min"))) * (x < float(literal(a, "a_max"))),
                             mask=True)),
    "_maximum_scalar": Rule(elementwise(lambda x, y, a: x > _scalar(a), mask=True)),
    "_minimum_scalar": Rule(elementwise(lambda x, y, a: x < _scalar(a), mask=True)),
    # Elementwise, smooth: recorded derivatives.
    "tanh": Rule(elementwise(_deriv_tanh), reads=True),
    "sigmoid": Rule(elementwise(_deriv_sigmoid), reads=True),
    "softrelu": Rule(elementwise(_deriv_softrelu), reads=True),
    "softsign": Rule(elementwise(_deriv_softsign), reads=True),
    "exp": Rule(elementwise(lambda x, y, a: y), reads=True),
    "log": Rule(elementwise(lambda x, y, a: 1 / x), reads=True),
    "square": Rule(elementwise(lambda x, y, a: 2 * x), reads=True),
    "sqrt": Rule(elementwise(lambda x, y, a: 0.5 / y), reads=True),
    "rsqrt": Rule(elementwise(lambda x, y, a: -0.5 * y * y * y), reads=True),
    "reciprocal": Rule(elementwise(lambda x, y, a: -nd.square(y)), reads=True),
    "_rdiv_scalar": Rule(elementwise(lambda x, y, a: -y / x), reads=True),
    "_power_scalar": Rule(elementwise(_power_deriv), reads=True),
    # Linear, one input.
    "_copy": Rule(linear(lambda g, x, a: g)),
    "identity": Rule(linear(lambda g, x, a: g)),
    "_plus_scalar": Rule(linear(lambda g, x, a: g)),
    "_minus_scalar": Rule(linear(lambda g, x, a: g)),
    "_rminus_scalar": Rule(linear(lambda g, x, a: -g)),
    "negative": Rule(linear(lambda g, x, a: -g)),
    "_mul_scalar": Rule(linear(_scaled(_scalar))),
    "_div_scalar": Rule(linear(_scaled(lambda a: 1 / _scalar(a)))),
    "Cast": Rule(linear(_casted_back)),
    "amp_cast": Rule(linear(_casted_back)),
    "Reshape": Rule(linear(_reshaped_back)),
    "reshape_like": Rule(linear(_reshaped_back)),
    "Flatten": Rule(linear(_reshaped_back)),
    "expand_dims": Rule(linear(_reshaped_back), _batch_axis_problem("axis", None)),
    "squeeze": Rule(linear(_reshaped_back), _batch_axis_problem("axis", None)),
    "transpose": Rule(linear(_transposed_back)),
    "SwapAxis": Rule(linear(_swapped_back)),
    "UpSampling": Rule(linear(_upsampled_back), _upsampling_problem),
    "sum": Rule(_sum_mean, _reduce_problem),
    "mean": Rule(_sum_mean, _reduce_problem),
    "Dropout": Rule(_dropout, _dropout_problem),
    # Linear, generic: the transpose asks first-order autograd.
    "Pooling": Rule(_pooling, _pooling_problem),
    "slice": Rule(generic_linear()),
    "slice_axis": Rule(generic_linear(), _batch_axis_problem("axis", None)),
    "slice_like": Rule(generic_linear()),
    "Pad": Rule(generic_linear(fixed={"constant_value": "0"}), _pad_problem),
    "depth_to_space": Rule(generic_linear()),
    "space_to_depth": Rule(generic_linear()),
    "tile": Rule(generic_linear()),
    "repeat": Rule(generic_linear()),
    "broadcast_to": Rule(generic_linear()),
    "broadcast_axis": Rule(generic_linear()),
    "broadcast_like": Rule(generic_linear()),
    "stack": Rule(generic_linear(), _batch_axis_problem("axis", 0)),
    # Several inputs.
    "elemwise_add": Rule(_add_sub(1)),
    "broadcast_add": Rule(_add_sub(1)),
    "elemwise_sub": Rule(_add_sub(-1)),
    "broadcast_sub": Rule(_add_sub(-1)),
    "elemwise_mul": Rule(_multiply, reads=True),
    "broadcast_mul": Rule(_multiply, reads=True),
    "elemwise_div": Rule(_divide, reads=True),
    "broadcast_div": Rule(_divide, reads=True),
    "add_n": Rule(_add_n),
    "ElementWiseSum": Rule(_add_n),
    "Concat": Rule(_concat, _batch_axis_problem("dim", 1)),
    "SliceChannel": Rule(_split, _batch_axis_problem("axis", 1)),
    "dot": Rule(_dot, reads=_several_live),
    # Layers with parameters.
    "Convolution": Rule(_convolution, _convolution_problem),
    "FullyConnected": Rule(_fully_connected, reads=_several_live),
    "LayerNorm": Rule(_layer_norm, _layer_norm_problem, reads=True),
    "InstanceNorm": Rule(_instance_norm, _weights_not_live, reads=True),
    "gluon_wgan_layer_norm": Rule(_channel_layer_norm, _channel_layer_norm_problem, reads=True),
}

# Operators refused by name, with the reason.
REFUSED = {
    "BatchNorm": BATCHNORM_REASON,
    "BatchNorm_v1": BATCHNORM_REASON,
    "_contrib_SyncBatchNorm": BATCHNORM_REASON,
    "SyncBatchNorm": BATCHNORM_REASON,
}


def problem(op, attrs, live):
    """Why the operator `op` with these attributes has no exact transpose here, or ''."""
    if op in REFUSED:
        return REFUSED[op]
    if op.startswith(RANDOM_PREFIXES):
        return "it draws random numbers, so the critic's gradient would differ from call to call"
    if op not in RULES:
        return (f"no transpose is written for operator {op!r} (gluon_wgan/op_transposes.py lists "
                "those supported: docs/gradient_penalty.md, 'Your own critic')")
    return RULES[op].problem(attrs, live)
