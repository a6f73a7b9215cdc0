"""Optimizers: PyTorch's RMSprop and Adam as registered MXNet optimizers, and `make_optimizer`.

The WGAN reference code (Arjovsky et al. 2017, Algorithm 1) trains with PyTorch's `RMSprop` and its
defaults (alpha = 0.99, eps = 1e-8). MXNet 1.9.1's `RMSProp` differs in where eps sits: read from
`optimizer.py` and the `rmsprop_update` kernel (src/operator/optimizer_op-inl.h, `RMSPropUpdateKernel`)
and checked numerically in `tests/test_optim.py`, with ``g = clip(rescale_grad * grad + wd * w,
clip_gradient)``::

    MXNet   RMSProp:  n = gamma1 * n + (1 - gamma1) * g**2;   w -= lr * g / sqrt(n + eps)
    PyTorch RMSprop:  n = alpha  * n + (1 - alpha)  * g**2;   w -= lr * g / (sqrt(n) + eps)

Inside the square root eps floors the denominator at sqrt(eps) = 1e-4, which is not small next to a
clipped critic's gradients; see docs/optimizers.md for the numbers. `TorchRMSProp` is the second line.

MXNet's `Adam` folds the bias corrections into the learning rate, ``lr_t = lr * sqrt(1 - beta2**t) /
(1 - beta1**t)``, and then divides by ``sqrt(v) + eps`` (its docstring swaps beta1 and beta2 in that
formula; the code is as written here). PyTorch divides by ``sqrt(v / (1 - beta2**t)) + eps``, so MXNet's
eps, in PyTorch's terms, is ``eps / sqrt(1 - beta2**t)``: 31.6 eps at step 1 with beta2 = 0.999, 3.2 eps
with beta2 = 0.9, tending to eps. MXNet's form is TensorFlow's ("epsilon hat"), which is what the
WGAN-GP reference code (TensorFlow) used, so `make_optimizer("adam", ...)` returns MXNet's `Adam`;
`make_optimizer("torch-adam", ...)` returns `TorchAdam`, PyTorch's form, for following PyTorch ports
(tests/test_lockstep_wgan_gp.py steps it against `torch.optim.Adam`).
"""
import math

import mxnet as mx

from .. import compat
from .choices import ADAM_BETA1, ADAM_BETA2, ADAM_EPS, RMSPROP_ALPHA, RMSPROP_EPS, optimizer_problems


def _clip_gradient(value):
    """MXNet's convention: a falsy clip_gradient means no clipping; the update kernels want -1 for that."""
    return value if value else -1.0


@mx.optimizer.register
class TorchRMSProp(mx.optimizer.Optimizer):
    """PyTorch's non-centered RMSprop (Tieleman & Hinton 2012) as an MXNet optimizer: eps outside the root.

    For each parameter ``w`` with gradient ``grad`` and state ``n`` (zeros at the start)::

        g = clip(rescale_grad * grad + wd * w, clip_gradient)
        n = alpha * n + (1 - alpha) * g**2
        w = w - lr * g / (sqrt(n) + epsilon)

    Weight decay is added to the gradient as PyTorch does (L2, not decoupled). `rescale_grad` and
    `clip_gradient` are applied as in MXNet's own `RMSProp` (clipping after weight decay), so with the
    same `alpha` the two differ only in where epsilon sits. Registered as ``'torchrmsprop'``:
    ``gluon.Trainer(params, 'torchrmsprop', {'learning_rate': 5e-5})`` works.

    The update is one fused kernel: MXNet's `adam_update` with ``beta1 = 0`` is exactly this formula (its
    first moment becomes ``g`` itself). It needs a buffer for that first moment; the buffer holds nothing
    between steps, so it lives outside the optimizer state (allocated once per parameter and device, never
    pickled) and the state that `Trainer.save_states` writes is ``n`` alone, one NDArray per parameter.

    Parameters
    ----------
    learning_rate : float, default 0.01
        PyTorch's default; the WGAN paper uses 5e-5.
    alpha : float, default 0.99
        Decay of the squared-gradient average, in (0, 1).
    epsilon : float, default 1e-8
        Added to ``sqrt(n)``; >= 0.
    **kwargs
        `mx.optimizer.Optimizer` arguments: `wd`, `rescale_grad`, `clip_gradient`, `lr_scheduler`, ...

    Raises
    ------
    ValueError
        If `alpha` is not in (0, 1) or `epsilon` is negative (`optimizer_problems`, which names them
        --rmsprop-alpha and --rmsprop-eps).
    """

    def __init__(self, learning_rate=0.01, alpha=RMSPROP_ALPHA, epsilon=RMSPROP_EPS, **kwargs):
        problems = optimizer_problems(rmsprop_alpha=alpha, rmsprop_eps=epsilon)
        if problems:
            raise ValueError(problems[0])
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.alpha = alpha
        self.epsilon = epsilon
        self._first_moment = {}

    def create_state(self, index, weight):
        return mx.nd.zeros(weight.shape, weight.context, dtype=weight.dtype)

    def update(self, index, weight, grad, state):
        self._update_count(index)
        # Keyed by device too: a Trainer over several devices shares this optimizer between its updaters.
        key = (index, weight.context)
        first_moment = self._first_moment.get(key)
        if first_moment is None:
            # zeros, not empty: the kernel computes 0 * buffer, and garbage could be NaN.
            first_moment = mx.nd.zeros(weight.shape, weight.context, dtype=weight.dtype)
            self._first_moment[key] = first_moment
        mx.nd.adam_update(weight, grad, first_moment, state, out=weight, lr=self._get_lr(index),
                          wd=self._get_wd(index), beta1=0.0, beta2=self.alpha, epsilon=self.epsilon,
                          rescale_grad=self.rescale_grad, clip_gradient=_clip_gradient(self.clip_gradient),
                          lazy_update=False)

    def __getstate__(self):
        state = super().__getstate__()
        del state["_first_moment"]           # scratch, not state: keep it out of save_states files
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self._first_moment = {}


@mx.optimizer.register
class TorchAdam(mx.optimizer.Adam):
    """PyTorch's Adam (Kingma & Ba 2015, Algorithm 1) as an MXNet optimizer: eps after bias correction.

    At step ``t``, with ``g = clip(rescale_grad * grad + wd * w, clip_gradient)``::

        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        w = w - lr * (m / (1 - beta1**t)) / (sqrt(v / (1 - beta2**t)) + epsilon)

    which is MXNet's `adam_update` with ``lr * sqrt(1 - beta2**t) / (1 - beta1**t)`` as the learning rate
    and ``epsilon * sqrt(1 - beta2**t)`` as epsilon. MXNet's `Adam` passes `epsilon` unscaled (see the
    module docstring). Weight decay is L2 added to the gradient (`torch.optim.Adam`, not `AdamW`).
    Registered as ``'torchadam'``. Parameters are those of `mx.optimizer.Adam`, without `lazy_update`.
    """

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8, **kwargs):
        super().__init__(learning_rate=learning_rate, beta1=beta1, beta2=beta2, epsilon=epsilon,
                         lazy_update=False, **kwargs)

    def update(self, index, weight, grad, state):
        self._update_count(index)
        t = compat.current_update_count(self, index)
        root_c2 = math.sqrt(1.0 - self.beta2 ** t)
        lr = self._get_lr(index) * root_c2 / (1.0 - self.beta1 ** t)
        mean, var = state
        mx.nd.adam_update(weight, grad, mean, var, out=weight, lr=lr, wd=self._get_wd(index),
                          beta1=self.beta1, beta2=self.beta2, epsilon=self.epsilon * root_c2,
                          rescale_grad=self.rescale_grad, clip_gradient=_clip_gradient(self.clip_gradient),
                          lazy_update=False)


def make_optimizer(name, lr, *, rmsprop_eps=RMSPROP_EPS, rmsprop_eps_mode="torch", rmsprop_alpha=RMSPROP_ALPHA,
                   beta1=ADAM_BETA1, beta2=ADAM_BETA2, adam_eps=ADAM_EPS, wd=0.0):
    """The optimizer called `name`, for a `gluon.Trainer`.

    Parameters
    ----------
    name : str
        One of `OPTIMIZERS`: ``'rmsprop'`` (WGAN, Arjovsky et al. 2017, Algorithm 1), ``'adam'`` (WGAN-GP,
        Gulrajani et al. 2017, Algorithm 1, with the TensorFlow reference's epsilon), ``'torch-adam'``
        (the same with PyTorch's epsilon, `TorchAdam`) or ``'sgd'`` (no momentum).
    lr : float
        Learning rate, > 0.
    rmsprop_eps : float, default 1e-8
        RMSprop epsilon, >= 0.
    rmsprop_eps_mode : {'torch', 'mxnet'}, default 'torch'
        ``'torch'``: `TorchRMSProp`, ``w -= lr * g / (sqrt(n) + eps)``, as in the WGAN reference code.
        ``'mxnet'``: MXNet's ``RMSProp(centered=False)``, ``w -= lr * g / sqrt(n + eps)``.
    rmsprop_alpha : float, default 0.99
        Decay of the squared-gradient average, in (0, 1); PyTorch's default. Passed as `alpha` in
        ``'torch'`` mode and as `gamma1` in ``'mxnet'`` mode (whose own default, 0.9, is not used), so the
        two modes differ only in where epsilon sits.
    beta1, beta2 : float, default 0.5, 0.999
        Adam's moment decays, in [0, 1) (the WGAN-GP paper uses 0 and 0.9).
    adam_eps : float, default 1e-8
        Adam's epsilon, >= 0: in MXNet's (TensorFlow's) convention for ``'adam'``, in PyTorch's for
        ``'torch-adam'`` (see the module docstring).
    wd : float, default 0
        L2 weight decay, >= 0.

    Returns
    -------
    mx.optimizer.Optimizer

    Raises
    ------
    ValueError
        One line naming the flag, for an unknown name or a value out of range.
    """
    problems = optimizer_problems(name, {"the learning rate (--lr-d, --lr-g)": lr}, rmsprop_eps, rmsprop_eps_mode,
                                  rmsprop_alpha, beta1, beta2, adam_eps, wd)
    if problems:
        raise ValueError(problems[0])

    if name == "rmsprop" and rmsprop_eps_mode == "torch":
        return TorchRMSProp(learning_rate=lr, alpha=rmsprop_alpha, epsilon=rmsprop_eps, wd=wd)
    if name == "rmsprop":
        return mx.optimizer.RMSProp(learning_rate=lr, gamma1=rmsprop_alpha, epsilon=rmsprop_eps,
                                    centered=False, wd=wd)
    if name == "adam":
        return mx.optimizer.Adam(learning_rate=lr, beta1=beta1, beta2=beta2, epsilon=adam_eps, wd=wd)
    if name == "torch-adam":
        return TorchAdam(learning_rate=lr, beta1=beta1, beta2=beta2, epsilon=adam_eps, wd=wd)
    if name == "sgd":
        return mx.optimizer.SGD(learning_rate=lr, momentum=0.0, wd=wd)
    raise ValueError(f"--optimizer {name!r} is in OPTIMIZERS but make_optimizer does not build it")
