"""WGAN-GP gradient penalty (Gulrajani et al. 2017, Algorithm 1 and eq. 3) that MXNet 1.9.1 gets right.

The penalty lambda * mean_i (||grad_x D(x_i)||_2 - 1)^2 needs a gradient of a gradient to train the
critic. In MXNet 1.9.1 `autograd.grad(..., create_graph=True)` raises for Convolution, LeakyReLU and
BatchNorm (apache/mxnet issue 10002), cannot go through a hybridized block, and through a Dense +
relu MLP it returns exactly zero for every weight but the first layer's (docs/gradient_penalty.md,
docs/examples/). So the default path writes grad_x D out with first-order operators: a forward pass
through `critic.body` that keeps what each layer's input gradient needs, then the transposed pass
from dD/d(output) = 1 (Deconvolution for Conv2D, or dot for one whose kernel covers its input; dot
for Dense; masks for the activations; the layer-norm backward in closed form). Ordinary first-order
autograd then differentiates that computation with respect to the parameters.

With MKL-DNN, a weight read by both a Convolution and a Deconvolution in one recorded graph makes
`backward()` crash (docs/examples/mkldnn_shared_weight.py). The transposed pass therefore reads a
copy of each convolution weight, made for this call and marked as its own autograd leaf; after
`backward()`, `fold_copy_grads_(critic)` adds the copies' gradients into the parameters' gradients.
"""
import contextlib
import functools
import weakref

import numpy as np
from mxnet import autograd, nd
from mxnet.gluon import nn

from . import native
from .models.dcgan import DCGANCritic
from .models.layers import ChannelLayerNorm, Gate, ReLU, Tanh, row_ops
from .models.mlp import MLPCritic

PATHS = ("auto", "explicit", "autograd")

# Critic classes whose output is known to be `reshape(body(x), (-1,))`: the explicit path rebuilds
# exactly that, so a critic with any other forward is refused rather than silently mis-modelled.
_CRITICS = (DCGANCritic, MLPCritic)

# Added under the square root of the per-sample squared norm: the derivative of sqrt at 0 is
# infinite, and an MLP critic whose ReLUs are all off for a sample has a gradient of exactly 0.
# With it that sample contributes a finite (zero) parameter gradient, as torch.norm's does.
NORM_EPS = 1e-12

# critic -> [(Parameter, weight copy whose gradient is still to be folded into the Parameter)]
_PENDING = weakref.WeakKeyDictionary()


def check_penalty_support(critic):
    """Raise `ValueError` unless `gradient_penalty(critic, ...)` can compute an exact penalty.

    Call it when the critic is built, so a wrong configuration fails before training starts.

    Parameters
    ----------
    critic : DCGANCritic or MLPCritic
        Built with ``norm='layer'`` or ``norm='none'`` (DCGANCritic); initialized or not.

    Raises
    ------
    ValueError
        Naming the first layer of ``critic.body`` without an input gradient here (a BatchNorm
        critic: rebuild it with norm='layer' or norm='none'), or the critic class.
    """
    if type(critic).hybrid_forward not in {c.hybrid_forward for c in _CRITICS}:
        raise ValueError(
            f"gradient_penalty supports critics whose output is body(x) reshaped to (N,) "
            f"({', '.join(c.__name__ for c in _CRITICS)}), got {type(critic).__name__}")
    for layer in critic.body:
        problem = _layer_problem(layer)
        if problem:
            raise ValueError(f"gradient_penalty cannot use critic layer {layer.name!r} "
                             f"({type(layer).__name__}): {problem}")


def _layer_problem(layer):
    """Why `layer` has no exact input gradient in `_TRANSPOSES`, or '' if it has one."""
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
        kw = layer._kwargs
        if kw["layout"] != "NCHW" or kw["num_group"] != 1 or tuple(kw["dilate"]) != (1, 1):
            return "only NCHW, ungrouped, undilated convolutions are supported"
    if isinstance(layer, nn.Dense) and not layer._flatten:
        return "only Dense(flatten=True) is supported"
    return ""


def gradient_penalty(critic, real, fake, weight=10.0, alpha=None, return_norms=False, path="auto"):
    """WGAN-GP penalty `weight * mean_i (||grad D(x_hat_i)||_2 - 1)^2` (Gulrajani et al. 2017, eq. 3).

    x_hat_i = alpha_i * real_i + (1 - alpha_i) * fake_i, with one alpha_i ~ U[0, 1] per sample;
    the norm of each sample's gradient is taken over all its non-batch axes. Call it inside
    `autograd.record()` to train the critic with it, and call `fold_copy_grads_(critic)` after
    `backward()` and before `trainer.step()`. Nothing here waits for the device.

    Parameters
    ----------
    critic : DCGANCritic or MLPCritic
        Hybridized or not; see `check_penalty_support`.
    real, fake : NDArray, shape (N, ...)
        Same shape, dtype and context (the penalty is computed on that context). Both are treated
        as constants: no gradient reaches the generator through `fake`.
    weight : float, default 10.0
        lambda of the paper.
    alpha : NDArray of shape (N,), optional
        Interpolation coefficients; drawn from U[0, 1] on `real`'s context when None.
    return_norms : bool, default False
        Also return the per-sample gradient norms, shape (N,), detached (for logging).
    path : {'auto', 'explicit', 'autograd'}, default 'auto'
        'explicit' writes grad D with first-order operators (exact; checked by finite differences
        in tests/test_penalty.py). 'autograd' is the textbook `autograd.grad(create_graph=True)`,
        kept as a cross-check only: on MXNet 1.9.1 it fails on convolutional or hybridized critics
        and silently returns zero gradients for all but the first Dense layer of an MLP. 'auto' is
        'explicit', after `check_penalty_support`.

    Returns
    -------
    NDArray of shape (1,), or (penalty, norms) when `return_norms`.

    Raises
    ------
    ValueError
        Unsupported critic (see `check_penalty_support`), mismatched `real`/`fake`, an `alpha`
        not of shape (N,), or an unknown `path`.
    """
    if path not in PATHS:
        raise ValueError(f"path must be one of {PATHS}, got {path!r}")
    x_hat = interpolate(real, fake, alpha)
    if path == "autograd":
        grad = _autograd_input_grad(critic, x_hat)
    else:
        check_penalty_support(critic)
        grad = explicit_input_grad(critic, x_hat)
    n = grad.shape[0]
    squares = nd.square(grad.reshape((n, -1)))
    ones = nd.ones((1, squares.shape[1]), ctx=grad.context, dtype=grad.dtype)
    # Over all non-batch axes; FullyConnected with a row of ones: a fast backward (see row_ops).
    sum_sq = nd.FullyConnected(squares, ones, no_bias=True, num_hidden=1).reshape((n,))
    norms = nd.sqrt(sum_sq + NORM_EPS)
    penalty = weight * nd.mean(nd.square(norms - 1))
    return (penalty, norms.detach()) if return_norms else penalty


def interpolate(real, fake, alpha=None):
    """x_hat = alpha * real + (1 - alpha) * fake with one alpha per sample, as a constant.

    Parameters
    ----------
    real, fake : NDArray, shape (N, ...)
        Same shape, dtype and context; treated as constants (detached).
    alpha : NDArray of shape (N,), optional
        Drawn from U[0, 1] on `real`'s context and dtype when None. Any other shape is refused: an
        alpha per pixel, or a (N,) alpha broadcast numpy-style against the last axis, are the usual
        porting bugs (the paper samples one epsilon per sample, Algorithm 1 line 4).

    Returns
    -------
    NDArray, shape of `real`.
    """
    if real.shape != fake.shape or real.dtype != fake.dtype or real.context != fake.context:
        raise ValueError(f"real and fake must match in shape, dtype and context, got {real.shape} "
                         f"{real.dtype} {real.context} and {fake.shape} {fake.dtype} {fake.context}")
    n = real.shape[0]
    if alpha is None:
        alpha = nd.random.uniform(shape=(n,), ctx=real.context, dtype=real.dtype)
    elif alpha.shape != (n,):
        raise ValueError(f"alpha must have shape (N,) = ({n},): one coefficient per sample, "
                         f"got {alpha.shape}")
    real, fake = real.detach(), fake.detach()
    alpha = alpha.detach().reshape((n,) + (1,) * (real.ndim - 1))
    return nd.broadcast_add(fake, nd.broadcast_mul(alpha, real - fake))


def fold_copy_grads_(critic):
    """Add the weight copies' gradients of this critic's penalties into its parameters' `.grad()`.

    Call after `backward()` and before `trainer.step()`, once per backward; a no-op when no
    penalty was recorded since the last call. If the backward did not reach a parameter itself
    (a loss that is the penalty alone, on a norm='none' critic), its gradient is set rather than
    added to, so no stale gradient survives.
    """
    pending = _PENDING.pop(critic, ())
    with autograd.pause():
        for param, copy in pending:
            data, grad = param.data(copy.context), param.grad(copy.context)
            if param.grad_req == "add" or data._fresh_grad:   # written by this backward
                grad += copy.grad
            else:
                copy.grad.copyto(grad)
                data._fresh_grad = True        # what backward would have set; Trainer checks it


def explicit_input_grad(critic, x):
    """d sum(critic(x)) / dx, shape of `x`, written with first-order operators only.

    Each sample's score depends on that sample only (see `check_penalty_support`), so this is the
    stack of the per-sample gradients grad D(x_i). Inside `autograd.record()` it is differentiable
    with respect to the critic's parameters (fold the copies' gradients with `fold_copy_grads_`).
    """
    layers = list(critic.body)
    # Only the transposes of ChannelLayerNorm, Tanh and Gate use activations differentiably; after
    # the last of those, activations feed masks only, so that part of the forward pass need not be
    # recorded (with norm='none' and piecewise-linear activations, none of it).
    recorded = 1 + max((i for i, layer in enumerate(layers)
                        if isinstance(layer, (ChannelLayerNorm, Tanh, Gate))), default=-1)
    transposes = []
    h = x
    for i, layer in enumerate(layers):
        with autograd.pause(train_mode=True) if i >= recorded else contextlib.nullcontext():
            h, transpose = _TRANSPOSES[type(layer)](layer, h, critic)
        if isinstance(transpose, _Elementwise) and i and isinstance(layers[i - 1], ChannelLayerNorm):
            # An activation after a layer norm: its derivative is applied inside the layer norm's
            # transpose, after the per-channel gain (the two products commute). That product then
            # converts the convolution transpose's output from MKL-DNN's blocked layout once, for
            # all the plain-layout operators after it (with the Reshape operator in the layer norm's
            # forward: -1.5% to -3.6% on a DCGAN-64 WGAN-GP critic iteration, benchmarks/compare.py).
            transposes[-1] = functools.partial(transposes[-1], deriv=transpose.deriv)
        else:
            transposes.append(transpose)
    grad = nd.ones(h.shape, ctx=h.context, dtype=h.dtype)  # d sum(scores) / d body output
    for transpose in reversed(transposes):
        grad = transpose(grad)
    return grad


def _autograd_input_grad(critic, x):
    """Textbook d sum(critic(x)) / dx with `autograd.grad(create_graph=True)` (see the warning)."""
    x = x.detach()
    x.attach_grad()
    with autograd.record():
        # body, not critic: the critic's final reshape has no second-order gradient either, and
        # the (N, 1, ...) body output has the same gradient.
        score = critic.body(x)
        (grad,) = autograd.grad(score, [x], head_grads=nd.ones_like(score), create_graph=True,
                                retain_graph=True)
    return grad


def _weight_for_transpose(param, ctx, critic):
    """`param`'s data on `ctx`, as a separate autograd leaf while recording (MKL-DNN, see top)."""
    data = param.data(ctx)
    with autograd.pause():
        # Also outside record(): an inference-mode Convolution may have re-laid `data` out in
        # MKL-DNN's blocked format, which Deconvolution then rejects; a copy has the plain layout.
        copy = data.copy()
    if not autograd.is_recording():
        return copy
    copy.attach_grad()
    if param.grad_req != "null":
        data._fresh_grad = False    # set again by backward() if it reaches the parameter itself
        _PENDING.setdefault(critic, []).append((param, copy))
    return copy


# Each function below runs one layer forward on h and returns (output, transpose), where
# transpose(g) maps d sum(scores) / d output to d sum(scores) / d h using first-order operators.
# Masks of piecewise-linear activations are computed under autograd.pause(): their derivative is
# zero almost everywhere, so leaving them out of the graph is exact.

def _conv2d(layer, h, critic):
    kw = layer._kwargs
    weight = layer.weight.data(h.context)
    if layer.bias is None:
        out = nd.Convolution(h, weight, **kw)
    else:
        out = nd.Convolution(h, weight, layer.bias.data(h.context), **kw)

    def transpose(g):
        weight_t = _weight_for_transpose(layer.weight, h.context, critic)
        if g.shape[2:] == (1, 1) and tuple(kw["pad"]) == (0, 0) and tuple(kw["kernel"]) == h.shape[2:]:
            # A convolution whose kernel covers its whole unpadded input (the critic's last layer)
            # is a dense layer on the flattened input: its transpose is one small matrix product.
            # oneDNN 2.x runs that Deconvolution (to 512 channels from 1) in its reference
            # implementation: measured 10x slower than this, forward + backward.
            return nd.dot(g.reshape((g.shape[0], -1)), weight_t.reshape((weight_t.shape[0], -1))
                          ).reshape(h.shape)
        # Deconvolution with the convolution's weight is its transpose; adj recovers the input
        # size lost to the floor in out = (in + 2 pad - kernel) // stride + 1.
        adj = tuple(i - ((o - 1) * s - 2 * p + k) for i, o, s, p, k in
                    zip(h.shape[2:], g.shape[2:], kw["stride"], kw["pad"], kw["kernel"]))
        return nd.Deconvolution(g, weight_t, kernel=kw["kernel"], stride=kw["stride"], pad=kw["pad"],
                                adj=adj, num_filter=h.shape[1], no_bias=True)
    return out, transpose


def _dense(layer, h, critic):
    weight = layer.weight.data(h.context)
    if layer.bias is None:
        out = nd.FullyConnected(h, weight, no_bias=True, num_hidden=layer._units)
    else:
        out = nd.FullyConnected(h, weight, layer.bias.data(h.context), num_hidden=layer._units)

    def transpose(g):
        # dot(g, W) rather than FullyConnected(g, W.T): the transpose costs a copy of W and was
        # measured 2x slower for a 12288 -> 512 layer. Dense + dot on one weight does not crash.
        return nd.dot(g, weight).reshape(h.shape)
    return out, transpose


def _leaky_relu(layer, h, critic):
    # h * factor rather than nd.LeakyReLU: for float64 that operator computes the negative side in
    # float32 (docs/examples/leaky_relu_float64.py), noise that swamps finite differences. The
    # factor is also the derivative, so the transpose reuses it. The slope is float32(alpha), the
    # C float the operator's backward uses, so the input gradient equals first-order autograd's.
    slope = float(np.float32(layer._alpha))
    with autograd.pause():
        factor = (h > 0) * (1.0 - slope) + slope
    if h.dtype == np.float32:
        # The same values forward and backward (h or slope * h; g or slope * g), but MKL-DNN's
        # kernel keeps the Convolution's blocked layout: no layout conversion before and after.
        return nd.LeakyReLU(h, act_type="leaky", slope=slope), _Elementwise(factor)
    return nd.elemwise_mul(h, factor), _Elementwise(factor)


def _relu(layer, h, critic):
    with autograd.pause():
        mask = h > 0
    return nd.relu(h), _Elementwise(mask)


def _tanh(layer, h, critic):
    # d tanh(h) / dh = 1 - tanh(h)^2, a function of the parameters through `out`: recorded.
    out = nd.tanh(h)
    return out, _Elementwise(1 - nd.square(out))


def _gate(layer, h, critic):
    # y = sigmoid(a) * tanh(b), a and b the even and odd channels of h (models.layers.Gate):
    # dy/da = sigmoid'(a) tanh(b), dy/db = sigmoid(a) (1 - tanh(b)^2), both functions of the
    # parameters through h: recorded, like tanh's. The transpose interleaves them back.
    a, b = Gate.halves(nd, h)
    gate, value = nd.sigmoid(a), nd.tanh(b)
    d_a = gate * (1 - gate) * value
    d_b = gate * (1 - nd.square(value))
    return gate * value, lambda g: nd.stack(g * d_a, g * d_b, axis=2).reshape(h.shape)


def _channel_layer_norm(layer, h, critic):
    ctx = h.context
    gamma = layer.gamma.data(ctx)
    if native.used_on([ctx]):
        # The fused kernels: forward and transpose in two passes over each sample each, and
        # hand-written first-order backward passes (gluon_wgan/native/layer_norm.cc).
        # Copies of the parameters: the kernels write their input gradients (gluon_wgan.native).
        gamma = nd.identity(gamma)
        out, normed, inv_std = nd.gluon_wgan_layer_norm(h, gamma, nd.identity(layer.beta.data(ctx)),
                                                       eps=layer.epsilon)

        def fused_transpose(g, deriv=None):
            extra = () if deriv is None else (deriv,)
            return nd.gluon_wgan_ln_transpose(g, gamma, normed, inv_std, *extra,
                                              with_deriv=bool(extra))
        return out, fused_transpose
    # Elsewhere (a GPU, no compiler), plain operators. Forward and transpose each run as a small
    # hybridized graph (static memory): 1.9x faster than the same operators called one by one.
    # Convolutions stay outside: inside a graph the transposes' Deconvolutions were slower.
    forward = _graph(_LayerNormForward, h, layer.channels, layer.epsilon)
    out, normed, inv_std = forward(h, gamma, layer.beta.data(ctx))

    def transpose(g, deriv=None):
        # `deriv`: the derivative of an activation after the layer (see explicit_input_grad).
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
    nn.Dense: _dense,
    nn.LeakyReLU: _leaky_relu,
    ReLU: _relu,
    Tanh: _tanh,
    Gate: _gate,
    ChannelLayerNorm: _channel_layer_norm,
}
