"""The names the data package accepts, for the config and the command lines to offer.

No imports, so that reading them loads neither numpy nor MXNet (`scripts/train_wgan.py --help`
answers at once).
"""
# catalog.get_dataset(name): the first two are drawn by the package (no download, no --dataroot).
DATASETS = ("shapes", "shapes-simple", "folder", "lsun", "cifar10")
EMBEDDED = ("shapes", "shapes-simple")
# Held decoded in memory: loader workers would have nothing to decode, and each would get a copy.
IN_MEMORY = ("cifar10",)
# transforms.resize(backend=, interpolation=): names, never a library's integer code (docs/resize.md).
BACKENDS = ("pillow", "opencv", "mxnet")
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "area", "lanczos")
# toy.sample_toy(name): the WGAN-GP paper's 2-D distributions (section 4.1).
TOY_DATASETS = ("8gaussians", "25gaussians", "swissroll")


def loader_problems(batch_size=64, workers=0):
    """Messages for a batch size or worker count the data stream cannot use ([] when fine); the one
    statement of these bounds, for `TrainConfig.problems` and `stream.BatchStream`. `workers` may be
    None (its default, chosen for the devices)."""
    found = [] if int(batch_size) == batch_size and batch_size >= 1 else \
        [f"--batch-size must be at least 1, got {batch_size!r}"]
    if workers is not None and not (int(workers) == workers and workers >= 0):
        found.append(f"--workers must be >= 0, got {workers!r}")
    return found


def data_problems(dataset="shapes", dataroot=None, resize_backend="pillow", interpolation="bicubic", located=True):
    """One-line messages, named by flag, for each data option that cannot work ([] when all are fine).
    `located=False` leaves out where the data lies (--dataroot), for a dry run.

    The one statement of these rules: `TrainConfig.problems` reports them, `catalog.get_dataset` and
    `transforms.check_resize_options` raise the first. Whether --dataroot exists is the dataset's
    own check, at the time it is read.
    """
    found = []
    if dataset not in DATASETS:
        found.append(f"unknown --dataset {dataset!r}; choose from {', '.join(DATASETS)}")
    elif located and dataset not in EMBEDDED and dataset != "cifar10" and not dataroot:   # CIFAR-10: Gluon's own folder
        found.append(f"--dataset {dataset} needs --dataroot")
    if resize_backend not in BACKENDS:
        found.append(f"unknown --resize-backend {resize_backend!r}; choose from {', '.join(BACKENDS)}")
    if not isinstance(interpolation, str) or interpolation not in INTERPOLATIONS:
        found.append(f"unknown --interpolation {interpolation!r}; choose from {', '.join(INTERPOLATIONS)} (names, "
                     "never a library's integer code)")
    return found
