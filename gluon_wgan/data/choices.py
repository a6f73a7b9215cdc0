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
