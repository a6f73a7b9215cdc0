"""`get_dataset(name, ...)`: the training images a --dataset name stands for."""
import os

from .choices import EMBEDDED, data_problems
from .folder import CIFAR10, ImageFolder
from .lsun import LSUN
from .shapes import Shapes
from .stream import check_readable
from .transforms import ImageTransform


def get_dataset(name, root=None, image_size=64, resize_backend="pillow", interpolation="bicubic",
                lsun_category="bedroom", limit=None):
    """The training images called `name`, resized to `image_size` by the named backend and filter.

    Parameters
    ----------
    name : {'shapes', 'shapes-simple', 'folder', 'lsun', 'cifar10'}
        'shapes' and 'shapes-simple' are embedded (10,000 drawn images each, no download; see
        `data.shapes`); 'folder' reads every image under
        `root`; 'lsun' reads ``root/<lsun_category>_train_lmdb``; 'cifar10' uses Gluon's CIFAR-10
        (downloaded into `root`, or Gluon's default folder, when missing).
    root : str, optional
        The data folder (--dataroot); required by 'folder' and 'lsun'.
    image_size : int, default 64
        Height = width of the items.
    resize_backend : {'pillow', 'opencv', 'mxnet'}, default 'pillow'
    interpolation : {'nearest', 'bilinear', 'bicubic', 'area', 'lanczos'}, default 'bicubic'
        See `transforms` and docs/resize.md; the defaults follow the project's design card.
    lsun_category : str, default 'bedroom'
    limit : int, optional
        Use only the first `limit` records.

    Returns
    -------
    Dataset
        Items are float32 (3, image_size, image_size) in [-1, 1]; a bad record raises `BadRecord`
        (`BatchStream` skips, replaces and counts those).

    Raises
    ------
    ValueError
        One line naming the flag: unknown --dataset, --resize-backend or --interpolation; missing or
        non-existent --dataroot; a folder without images; a missing --lsun-category; CIFAR-10 offline;
        `UnreadableData` when the records of a folder or lmdb database are not images (`check_readable`).
    """
    for problem in data_problems(name, root, resize_backend, interpolation):
        raise ValueError(problem)
    if limit is not None and (int(limit) != limit or limit < 1):
        raise ValueError(f"--limit must be a positive integer, got {limit!r}")
    transform = ImageTransform(image_size, resize_backend, interpolation)
    if name in EMBEDDED:
        return Shapes(transform, size=min(limit or Shapes.size_default, Shapes.size_default),
                      simple=name == "shapes-simple")
    if name == "cifar10":
        return CIFAR10(root, transform, limit)
    if not os.path.exists(root):
        raise ValueError(f"--dataroot {root!r} does not exist")
    if name == "folder":
        dataset = ImageFolder(root, transform, limit)
    elif name == "lsun":
        dataset = LSUN(root, lsun_category, transform, limit)
    else:
        raise ValueError(f"--dataset {name!r} is in DATASETS but get_dataset does not read it")
    check_readable(dataset)   # files from outside: refuse data with no image before any work
    return dataset
