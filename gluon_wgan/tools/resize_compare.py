"""The numbers of compare_resize.py: the same images resized by Pillow, OpenCV and mx.image.imresize,
filter by filter, compared pair by pair and against the PyTorch reference pipeline's output.

`measure(Source(path, limit), size, progress)` resizes each image of an image file, a folder or an lmdb database
the way training does (shorter side to `size`, centre crop) with every backend and every
interpolation name; resize_report.py writes what it finds. docs/resize.md explains the numbers.

Metrics, for two uint8 images a and b of shape (size, size, 3), d = |a - b| per channel value:
``max_abs`` = max d; ``mean_abs`` = mean d; ``l1`` = sum d; ``share_gt10`` = share of pixels whose
largest channel difference exceeds 10; ``psnr`` = 10 log10(255^2 / mean(d^2)) in dB (inf if equal).
"""
import os
from collections import namedtuple

import numpy as np

from ..data.folder import list_images
from ..data.lsun import LMDBImages, available_categories, category_path, check_data_file, data_file, is_lmdb
from ..data.transforms import BACKENDS, FILTERS, INTERPOLATIONS, BadRecord, load, resize_and_crop

PAIRS = (("pillow", "opencv"), ("pillow", "mxnet"), ("opencv", "mxnet"))
METRICS = ("max_abs", "mean_abs", "l1", "share_gt10", "psnr")
# GluonCV's WGAN script meant Pillow's BICUBIC (3) but passed 3 to mx.image.imresize: INTER_AREA.
GLUONCV_MEANT, GLUONCV_GOT = ("pillow", "bicubic"), ("mxnet", "area")
# The WGAN reference code (martinarjovsky/WassersteinGAN, main.py) resizes PIL images with torchvision's
# transforms.Scale(64), whose default filter is PIL.Image.BILINEAR: Pillow's widened (antialiased) bilinear.
REFERENCE = ("pillow", "bilinear")
FIGURE_KEY = ("pillow", "opencv", "bicubic")  # figures show the image where this pair differs most

Report = namedtuple("Report", "rows summary reference gluoncv images skipped figure_image paths converted")
Report.__doc__ = """What `resize_report.run` measured: CSV rows, per-comparison summaries, every variant against the
reference pipeline and the GluonCV comparison (rows per image), the number of images compared, the
unreadable records skipped, the image shown in the figures, and the files written."""


def difference(a, b):
    """The five metrics between two uint8 images of equal shape (see the module docstring)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"cannot compare images of shapes {a.shape} and {b.shape}")
    d = np.abs(a.astype(np.int32) - b.astype(np.int32))
    per_pixel = d.max(axis=-1) if d.ndim == 3 else d
    mse = float(np.mean(d.astype(np.float64) ** 2))
    return dict(max_abs=int(d.max()), mean_abs=float(d.mean()), l1=int(d.sum()),
                share_gt10=float(np.mean(per_pixel > 10)),
                psnr=float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse)))



def resize_variants(image, size):
    """{(backend, interpolation): uint8 (size, size, 3)} for every backend and interpolation name."""
    return {(backend, name): resize_and_crop(image, size, backend, name)
            for backend in BACKENDS for name in INTERPOLATIONS}



def compare_variants(variants, image_name):
    """CSV rows comparing `variants` pair by pair for each interpolation."""
    rows = []
    for name in INTERPOLATIONS:
        for a, b in PAIRS:
            rows.append(dict(image=image_name, backend_a=a, backend_b=b, interpolation=name,
                             **difference(variants[a, name], variants[b, name]),
                             constant_a=FILTERS[a][name].constant, constant_b=FILTERS[b][name].constant))
    return rows



def compare_to_reference(variants, image_name):
    """Rows comparing every (backend, interpolation) with the `REFERENCE` pipeline's output."""
    return [dict(image=image_name, backend=backend, interpolation=name,
                 **difference(variants[backend, name], variants[REFERENCE]))
            for backend in BACKENDS for name in INTERPOLATIONS if (backend, name) != REFERENCE]



class Source:
    """The images of an input path: one file, a folder (recursively), or an lmdb database."""

    def __init__(self, path, limit):
        if not os.path.exists(path):
            raise ValueError(f"input {path!r} does not exist")
        self.path = path
        if is_lmdb(path):
            try:
                check_data_file(data_file(path))   # before lmdb maps it: a truncated file is a SIGBUS
            except ValueError as err:
                raise ValueError(f"input: {err}") from None
            self.kind, self.db = "lmdb", LMDBImages(path, transform=None, limit=limit)
            self.names = None
        elif os.path.isdir(path):
            self.kind, self.names = "folder", list_images(path)[:limit]
            if not self.names:
                found = available_categories(path)
                hint = f"; pass one of its databases, e.g. {category_path(path, found[0])}" if found else ""
                raise ValueError(f"input folder {path!r} holds no images (and is no lmdb database){hint}")
        else:
            self.kind, self.names = "image", [path]

    def __len__(self):
        return len(self.db) if self.kind == "lmdb" else len(self.names)

    def name(self, index):
        if self.kind == "lmdb":
            return self.db.describe(index)
        return os.path.basename(self.path) if self.kind == "image" else os.path.relpath(self.names[index], self.path)

    def load(self, index):
        """PIL RGB image; raises BadRecord."""
        return self.db[index] if self.kind == "lmdb" else load(self.names[index])



def summarise(rows):
    """Per (backend_a, backend_b, interpolation): image count, median and 95th percentile of max_abs
    and mean_abs, median PSNR, and the worst image (largest mean_abs) with its mean_abs."""
    groups = {}
    for row in rows:
        groups.setdefault((row["backend_a"], row["backend_b"], row["interpolation"]), []).append(row)
    summary = []
    for (a, b, name), group in groups.items():
        max_abs = np.array([r["max_abs"] for r in group], dtype=np.float64)
        mean_abs = np.array([r["mean_abs"] for r in group], dtype=np.float64)
        worst = max(group, key=lambda r: r["mean_abs"])
        summary.append(dict(backend_a=a, backend_b=b, interpolation=name, images=len(group),
                            max_abs_median=float(np.median(max_abs)),
                            max_abs_p95=float(np.percentile(max_abs, 95)),
                            mean_abs_median=float(np.median(mean_abs)),
                            mean_abs_p95=float(np.percentile(mean_abs, 95)),
                            psnr_median=float(np.median([r["psnr"] for r in group])),
                            worst_image=worst["image"], worst_mean_abs=worst["mean_abs"]))
    return summary



def check_memory(size):
    """Refuse a `size` whose resized copies of one image alone exceed this machine's memory.

    Without this, Pillow asks for the memory bit by bit until the kernel kills the process, or, under
    a memory limit, fails with "image has wrong mode".
    """
    copies = len(BACKENDS) * len(INTERPOLATIONS)
    needed = copies * size * size * 3
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):   # not a POSIX system that reports it
        return
    if needed > memory:
        raise ValueError(f"--size {size} is too large: the {copies} resized copies of each image would take "
                         f"{needed / 2 ** 30:.0f} GiB ({size} x {size} pixels, 3 bytes each), more than this "
                         f"machine's {memory / 2 ** 30:.0f} GiB of memory")


def measure(images, size, progress):
    """Compare every readable image of `images` (a `Source`).

    Returns (pair rows, reference rows, GluonCV rows, [(name, reason) of unreadable records], index of
    the image where `FIGURE_KEY` differs most, [(name, original mode) of images converted to RGB]).
    """
    rows, reference, gluoncv, bad, converted = [], [], [], [], []
    worst = (-1.0, None)
    indices = range(len(images))
    for index in (progress(indices, total=len(images)) if progress else indices):
        name = images.name(index)
        try:
            image = images.load(index)
            variants = resize_variants(image, size)
        except BadRecord as err:
            bad.append((name, str(err)))
            continue
        except MemoryError as err:
            raise ValueError(f"--size {size}: out of memory resizing {name} ({str(err) or 'MemoryError'}); "
                             "choose a smaller --size") from None
        if "converted_from" in image.info:
            converted.append((name, image.info["converted_from"]))
        image_rows = compare_variants(variants, name)
        rows.extend(image_rows)
        reference.extend(compare_to_reference(variants, name))
        gluoncv.append(dict(image=name, **difference(variants[GLUONCV_MEANT], variants[GLUONCV_GOT])))
        key = next(r["mean_abs"] for r in image_rows
                   if (r["backend_a"], r["backend_b"], r["interpolation"]) == FIGURE_KEY)
        worst = max(worst, (key, index), key=lambda t: t[0])
    return rows, reference, gluoncv, bad, worst[1], converted
