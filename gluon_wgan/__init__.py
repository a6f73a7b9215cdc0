"""gluon_wgan: WGAN and WGAN-GP in MXNet/Gluon, built to reproduce the papers' experiments.

The main entry points are re-exported here and imported on first use, so that `import gluon_wgan`
(and `scripts/train_wgan.py --help`) does not pay for importing MXNet.
"""
from .cuda import preload
from .numpy_aliases import restore_before_mxnet
from .utils.lazy import lazy_exports

__version__ = "0.1.0"

# numpy 1.24 and newer (Python 3.12 and newer get 1.26.4) lack aliases that MXNet 1.9.1 uses: they
# are put back when MXNet is first imported, by whichever module (gluon_wgan/numpy_aliases.py).
restore_before_mxnet()
# With MXNet's CUDA wheel, the pip CUDA libraries must be loaded before MXNet is, whichever of the
# package's modules imports it first (docs/gpu.md); with the CPU wheel this finds nothing to load.
preload()

_EXPORTS = {
    "get_model": "gluon_wgan.models",
    "TrainConfig": "gluon_wgan.config",
    "train": "gluon_wgan.training.loop",
    "gradient_penalty": "gluon_wgan.penalty",
    "input_gradient": "gluon_wgan.penalty",
}

__all__ = ["__version__", *_EXPORTS]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
