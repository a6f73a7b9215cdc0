"""Optimizers: PyTorch's RMSprop and Adam as registered MXNet optimizers, and `make_optimizer`
(`optimizers`; docs/optimizers.md).

The names are imported on first use (`gluon_wgan.utils.lazy`), so that `optim.choices`, which the
config and the command line read, does not load MXNet.
"""
from ..utils.lazy import lazy_exports

_EXPORTS = {
    "make_optimizer": ".optimizers", "TorchRMSProp": ".optimizers", "TorchAdam": ".optimizers",
    "OPTIMIZERS": ".choices", "RMSPROP_EPS_MODES": ".choices",
}

__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
