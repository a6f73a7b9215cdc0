"""Training images: the embedded shapes, image folders, LSUN lmdb databases and CIFAR-10.

``get_dataset(name, ...)`` builds one; items are float32 arrays (3, image_size, image_size) in [-1, 1].
``BatchStream(dataset, batch_size, seed, workers, start)`` turns it into an endless, resumable,
deterministic stream of batches that skips and counts bad records.

The names below are imported on first use (`gluon_wgan.utils.lazy`), so that `data.choices`, which
the config and the command lines read, loads neither numpy nor MXNet.
"""
from ..utils.lazy import lazy_exports

_EXPORTS = {
    "DATASETS": ".choices", "EMBEDDED": ".choices", "BACKENDS": ".choices", "INTERPOLATIONS": ".choices",
    "get_dataset": ".catalog", "FILTERS": ".transforms", "BadRecord": ".transforms",
    "ImageTransform": ".transforms", "BatchStream": ".stream", "UnreadableData": ".stream",
    "check_readable": ".stream", "loader_workers": ".stream", "Shapes": ".shapes", "ImageFolder": ".folder",
    "CIFAR10": ".folder",
    "LSUN": ".lsun", "LMDBImages": ".lsun",
}

__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
