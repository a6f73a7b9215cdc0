"""Image folders (nested, common extensions) and CIFAR-10 through Gluon's dataset."""
import contextlib
import io
import logging
import os

import numpy as np
from mxnet.gluon.data import Dataset

from .transforms import load

log = logging.getLogger(__name__)
EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".ppm", ".pgm", ".pbm")


def list_images(root, extensions=EXTENSIONS):
    """Paths of the files under `root` (recursively) whose extension is in `extensions`, sorted.

    Hidden files and folders (a leading dot, e.g. macOS ``._x.jpg``) are left out. The extension only
    selects candidates; the content decides whether a file is an image (see `transforms.decode`).
    Symbolic links to folders are followed, but each real folder (device, inode) is read once: a link
    to the folder itself or to an ancestor would otherwise make the walk endless.
    """
    found, seen = [], set()
    for folder, subfolders, files in os.walk(root, followlinks=True):
        try:
            stat = os.stat(folder)
        except OSError:   # vanished during the walk
            subfolders[:] = []
            continue
        if (stat.st_dev, stat.st_ino) in seen:
            subfolders[:] = []
            continue
        seen.add((stat.st_dev, stat.st_ino))
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        found.extend(os.path.join(folder, f) for f in files
                     if not f.startswith(".") and os.path.splitext(f)[1].lower() in extensions)
    return sorted(found)


class ImageFolder(Dataset):
    """Every image under a folder, at any depth, without labels.

    Parameters
    ----------
    root : str
        The folder.
    transform : callable
        PIL RGB image -> array; normally an `ImageTransform`.
    limit : int, optional
        Use only the first `limit` images (in sorted path order).

    Raises
    ------
    ValueError
        If `root` is not a folder or holds no file with an image extension (--dataroot).
    """

    def __init__(self, root, transform, limit=None):
        if not os.path.isdir(root):
            raise ValueError(f"--dataroot {root!r} is not a folder")
        self.root, self.transform = root, transform
        self.paths = list_images(root)[:limit]
        if not self.paths:
            raise ValueError(f"--dataroot {root!r} holds no images ({', '.join(EXTENSIONS)}, at any depth)")

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        """The transformed image; raises `BadRecord` if the file is not a readable image."""
        return self.transform(load(self.paths[index]))

    def describe(self, index):
        return os.path.relpath(self.paths[index], self.root)


class CIFAR10(Dataset):
    """The 50,000 CIFAR-10 training images (32 x 32) without labels, via ``mx.gluon.data.vision.CIFAR10``.

    Gluon downloads the archive (170 MB) into `root` when it is missing.

    Parameters
    ----------
    root : str, optional
        Download/cache folder; default Gluon's ``$MXNET_HOME/datasets/cifar10``.
    transform : callable
        uint8 (32, 32, 3) RGB array -> array; normally an `ImageTransform`.
    limit : int, optional
        Use only the first `limit` images.

    Raises
    ------
    ValueError
        If the data is not in `root` and cannot be downloaded (offline), or is corrupt.
    """

    def __init__(self, root, transform, limit=None):
        from mxnet.gluon.data.vision import CIFAR10 as GluonCIFAR10

        from .. import compat
        kwargs = {} if root is None else {"root": os.path.expanduser(root)}
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):  # Gluon prints each download attempt
                images = compat.dataset_images(GluonCIFAR10(train=True, **kwargs))
        # gluon.utils.download raises requests' errors (OSErrors) offline, RuntimeError on an HTTP status
        # other than 200, and *raises* UserWarning when the downloaded file's SHA-1 does not match.
        except (OSError, RuntimeError, UserWarning) as err:
            where = kwargs.get("root", "Gluon's default folder ($MXNET_HOME/datasets/cifar10)")
            reason = str(err).splitlines()[0][:160] if str(err) else type(err).__name__
            raise ValueError(f"--dataset cifar10: CIFAR-10 is not in {where} and could not be downloaded "
                             f"({type(err).__name__}: {reason}); connect to the internet once or copy "
                             "data_batch_1..5.bin and test_batch.bin of cifar-10-binary there (--dataroot)") from None
        finally:
            for line in printed.getvalue().splitlines():
                log.info("%s", line)
        self.images = images.asnumpy()[:limit]
        self.transform = transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        return self.transform(np.ascontiguousarray(self.images[index]))

    def describe(self, index):
        return f"cifar10[{index}]"
