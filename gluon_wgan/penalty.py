"""WGAN-GP's gradient penalty (Gulrajani et al. 2017, Algorithm 1 lines 4-7, eq. 3).

    penalty = lambda * mean_i (||grad_x D(x_hat_i)||_2 - 1)^2,   x_hat_i = a_i real_i + (1 - a_i) fake_i

Training the critic on it needs the gradient of a gradient, which MXNet 1.9.1's
`autograd.grad(create_graph=True)` refuses or gets wrong (docs/gradient_penalty.md). So grad_x D is
written with first-order operators (`input_gradient`), and ordinary autograd differentiates it:
after `backward()` on any loss containing the penalty, every critic parameter's `.grad()` holds the
exact gradient, as with any other Gluon loss. Any HybridBlock critic built from the operators that
`op_transposes` has rules for is accepted; anything else is refused by name.
"""
import warnings

from mxnet import autograd, nd
from mxnet.gluon import nn

from . import compat, graph_transpose, native
from .objectives import GP_MODES, GP_WEIGHT
from .models.cifar import CIFARCritic
from .models.dcgan import DCGANCritic
from .models.layers import ReLU, Tanh
from .models.mlp import MLPCritic
from .transposes import input_grad, layer_problem

PATHS = ("auto", "explicit", "autograd")
MODES = GP_MODES

# The package's critics, whose output is `reshape(body(x), (-1,))`: their layers have hand-fused
# transposes (`transposes.input_grad`), faster than the general graph's. Any other critic goes
# through its symbol graph (`graph_transpose`).
_CRITICS = (DCGANCritic, MLPCritic, CIFARCritic)

# Under the square root: sqrt's derivative at 0 is infinite, and an MLP critic whose ReLUs are all
# off for a sample has a gradient of exactly 0 there (torch.norm's gradient is 0 too).
NORM_EPS = 1e-12


def gradient_penalty(critic, real, fake, weight=GP_WEIGHT, alpha=None, return_norms=False, path="auto",
                     mode="two-sided"):
    """WGAN-GP penalty `weight * mean_i (||grad D(x_hat_i)||_2 - 1)^2` (Gulrajani et al. 2017, eq. 3).

    Call it inside `autograd.record()` and `backward()` the loss it is part of: the critic's
    parameter gradients are then exact (one device or several, `grad_req` 'write' or 'add',
    hybridized or not). The norm of each sample's gradient is over all its non-batch axes.

    Parameters
    ----------
    critic : HybridBlock
        Any critic whose operators `check_penalty_support` accepts, hybridized or not; one that
        returns several outputs is judged by its first.
    real, fake : NDArray, shape (N, ...)
        Same shape, dtype and context. Both are constants: no gradient reaches the generator.
    weight : float, default `objectives.GP_WEIGHT`
        lambda of the paper (10 in its Algorithm 1).
    alpha : NDArray of shape (N,), optional
        Interpolation coefficients; drawn from U[0, 1] when None.
    return_norms : bool, default False
        Also return the per-sample gradient norms, shape (N,), detached (for logging).
    path : {'auto', 'explicit', 'autograd'}, default 'auto'
        'auto' and 'explicit': the exact first-order computation above. 'autograd': the textbook
        `autograd.grad(create_graph=True)`, for comparison only: MXNet 1.9.1 gives wrong parameter
        gradients through it (it warns) or refuses the critic (ValueError), docs/gradient_penalty.md.
    mode : {'two-sided', 'one-sided'}, default 'two-sided'
        'one-sided' penalizes only norms above 1, `weight * mean_i max(0, ||grad D(x_hat_i)|| - 1)^2`,
        the variant the paper's section 4 sets against its two-sided choice ("Two-sided penalty").

    Returns
    -------
    NDArray of shape (1,), or (penalty, norms) when `return_norms`.

    Raises
    ------
    ValueError
        An unsupported critic (see `check_penalty_support`), mismatched `real` and `fake`, an
        `alpha` not of shape (N,), an unknown `path` or `mode`, or a critic MXNet refuses on 'autograd'.
    """
    if path not in PATHS:
        raise ValueError(f"path must be one of {PATHS}, got {path!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    x_hat = interpolate(real, fake, alpha)                 # Algorithm 1, lines 4-6
    grad = autograd_input_grad(critic, x_hat) if path == "autograd" else input_gradient(critic, x_hat)
    norms = per_sample_norms(grad)
    excess = norms - 1 if mode == "two-sided" else nd.relu(norms - 1)
    penalty = weight * nd.mean(nd.square(excess))          # eq. 3, Algorithm 1 line 7
    return (penalty, norms.detach()) if return_norms else penalty


def input_gradient(critic, x):
    """grad_x sum(critic(x)): each sample's input gradient, differentiable once more.

    Call it inside `autograd.record()`: the result is an ordinary recorded function of the critic's
    parameters, so any loss built from it (a gradient penalty, R1, a Lipschitz bound) gets exact
    parameter gradients from `backward()`. MXNet 1.9.1's `autograd.grad(create_graph=True)` refuses
    or gets this wrong for most critics (docs/gradient_penalty.md).

    Parameters
    ----------
    critic : HybridBlock
        A critic `check_penalty_support` accepts; its first output is the score. Each sample's
        score must depend on that sample only (no BatchNorm), which makes the result the stack of
        the per-sample gradients grad D(x_i).
    x : NDArray, shape (N, ...)
        Treated as a constant (the gradient is not propagated into it).

    Returns
    -------
    NDArray of the shape of `x`.

    Raises
    ------
    ValueError
        An operator of the critic with no exact transpose, named with its layer.
    """
    x = x.detach()
    if _has_fused_transposes(critic):
        return input_grad(critic, x)
    return graph_transpose.input_gradient(critic, x)
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


def per_sample_norms(grad):
    """||grad_i||_2 over all non-batch axes of each sample, shape (N,)."""
    n = grad.shape[0]
    squares = nd.square(grad.reshape((n, -1)))
    # The sum as a product with a row of ones: FullyConnected's backward is the fast one (row_ops).
    ones = nd.ones((1, squares.shape[1]), ctx=grad.context, dtype=grad.dtype)
    sum_sq = nd.FullyConnected(squares, ones, no_bias=True, num_hidden=1).reshape((n,))
    return nd.sqrt(sum_sq + NORM_EPS)


def check_penalty_support(critic):
    """Raise `ValueError` unless `gradient_penalty(critic, ...)` is exact for this critic.

    Call it when the critic is built (initialized or not), so that a wrong configuration fails
    before training starts. The error names the first layer and operator without an exact
    transpose. A BatchNorm critic is refused: batch statistics make the per-sample gradient that
    the penalty constrains undefined (Gulrajani et al. 2017, section 4). So is Dropout, which makes
    the critic random.
    """
    if _has_fused_transposes(critic):
        return
    with native.plain_operators():   # its operators only: an uninitialized layer cannot tell
        graph = graph_transpose.CriticGraph(critic)      # whether it will run fused
    for i, reason in graph.problems():
        graph.refuse(i, reason)


def _has_fused_transposes(critic):
    """Whether `critic` is one of the package's critics with layers `transposes.input_grad` knows
    (a subclass may change the forward; another layer takes the general path). A BatchNorm there
    is refused with the package's own remedy."""
    if type(critic).hybrid_forward not in {c.hybrid_forward for c in _CRITICS}:
        return False
    for layer in critic.body:
        if isinstance(layer, nn.BatchNorm):
            raise ValueError(f"gradient_penalty cannot use critic layer {layer.name!r} (BatchNorm): "
                             f"{layer_problem(layer)}")
    return not any(layer_problem(layer) for layer in critic.body)


# ------------------------------------------------------------- the textbook path, for comparison

AUTOGRAD_WARNING = ("gradient_penalty(path='autograd') uses autograd.grad(create_graph=True), which in "
                    "MXNet 1.9.1 returns wrong parameter gradients (zero for all but the first layer of "
                    "an MLP); use path='auto' to train (docs/gradient_penalty.md)")

# The only critic layers whose backward MXNet 1.9.1 can differentiate again (apache/mxnet#10002).
_TWICE_DIFFERENTIABLE = (nn.Dense, ReLU, Tanh)
_warned = []


def autograd_input_grad(critic, x):
    """d sum(critic(x)) / dx through `autograd.grad(create_graph=True)`; warns once per process.

    Raises `ValueError` for a critic MXNet would refuse at `backward()`: a hybridized one, or one
    with a layer outside Dense, ReLU and Tanh.
    """
    refused = [type(layer).__name__ for layer in critic.body if not isinstance(layer, _TWICE_DIFFERENTIABLE)]
    if refused or compat.is_hybridized(critic):
        what = f"its {refused[0]} layers" if refused else "a hybridized critic"
        raise ValueError(f"gradient_penalty(path='autograd'): MXNet 1.9.1's autograd.grad(create_graph="
                         f"True) refuses {what} (apache/mxnet#10002); use path='auto' "
                         "(docs/gradient_penalty.md)")
    if not _warned:
        _warned.append(True)
        warnings.warn(AUTOGRAD_WARNING, RuntimeWarning, stacklevel=3)
    x = x.detach()
    x.attach_grad()
    with autograd.record():
        # body, not critic: the final reshape has no second-order gradient either.
        score = critic.body(x)
        (grad,) = autograd.grad(score, [x], head_grads=nd.ones_like(score), create_graph=True,
                                retain_graph=True)
    return grad
