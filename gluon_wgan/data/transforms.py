"""Decode, convert to RGB, resize, centre-crop and scale images; the resize filter is chosen by name.

Three libraries can resize, and they disagree on purpose-critical details:

* Pillow's BILINEAR / BICUBIC / LANCZOS widen their kernel by the scale factor when shrinking, so they
  average over every source pixel (antialiasing); BOX is an exact area average.
* OpenCV's INTER_LINEAR / INTER_CUBIC / INTER_LANCZOS4 sample a fixed 2x2 / 4x4 / 8x8 neighbourhood
  whatever the scale, so shrinking by 4 skips most source pixels (aliasing); INTER_AREA is close to
  Pillow's BOX when shrinking.
* ``mx.image.imresize`` is MXNet's own, statically linked OpenCV and takes OpenCV's integer codes.

The integer codes clash: 3 is ``Image.BICUBIC`` in Pillow but ``INTER_AREA`` in OpenCV, which is how
GluonCV's WGAN script came to resize with the area filter while believing it bicubic. This module never
accepts a number: `resize` takes a backend name and an interpolation name and looks the constant up in
`FILTERS`. See docs/resize.md and Parmar et al., "On Aliased Resizing and Surprising Subtleties in GAN
Evaluation", CVPR 2022.
"""
import io
import os
import stat
import warnings
from collections import namedtuple

import numpy as np
from PIL import Image

from .choices import BACKENDS, INTERPOLATIONS, data_problems

Filter = namedtuple("Filter", "code constant")
Filter.__doc__ = "A library's resize constant: its integer value and its spelled-out name."

# name -> (integer the library receives, how that library spells it). The only place codes appear.
FILTERS = {
    "pillow": {
        "nearest": Filter(int(Image.Resampling.NEAREST), "PIL.Image.Resampling.NEAREST"),
        "bilinear": Filter(int(Image.Resampling.BILINEAR), "PIL.Image.Resampling.BILINEAR"),
        "bicubic": Filter(int(Image.Resampling.BICUBIC), "PIL.Image.Resampling.BICUBIC"),
        "area": Filter(int(Image.Resampling.BOX), "PIL.Image.Resampling.BOX"),
        "lanczos": Filter(int(Image.Resampling.LANCZOS), "PIL.Image.Resampling.LANCZOS"),
    },
    # cv2's values, written out so that this table needs no import of cv2 (checked by a test).
    "opencv": {
        "nearest": Filter(0, "cv2.INTER_NEAREST"),
        "bilinear": Filter(1, "cv2.INTER_LINEAR"),
        "bicubic": Filter(2, "cv2.INTER_CUBIC"),
        "area": Filter(3, "cv2.INTER_AREA"),
        "lanczos": Filter(4, "cv2.INTER_LANCZOS4"),
    },
    # mx.image.imresize(src, w, h, interp=code) forwards `interp` to OpenCV's cv::resize.
    "mxnet": {
        "nearest": Filter(0, "mx.image.imresize interp=0 (OpenCV INTER_NEAREST)"),
        "bilinear": Filter(1, "mx.image.imresize interp=1 (OpenCV INTER_LINEAR)"),
        "bicubic": Filter(2, "mx.image.imresize interp=2 (OpenCV INTER_CUBIC)"),
        "area": Filter(3, "mx.image.imresize interp=3 (OpenCV INTER_AREA)"),
        "lanczos": Filter(4, "mx.image.imresize interp=4 (OpenCV INTER_LANCZOS4)"),
    },
}

ALPHA_BACKGROUND = (255, 255, 255)
# The most pixels an image may have, as stored and once resized (8192 x 8192: 192 MiB as RGB). A
# file's header states its size, and a few hundred bytes can claim 60000 x 60000 or 1 x 80,000,000,
# whose resized copy (shorter side to --image-size) is wider still; such a record is refused from the
# header, before anything is allocated, and counted as a bad record.
MAX_PIXELS = 2 ** 26


class BadRecord(Exception):
    """A record that is not a decodable image (corrupt, truncated, empty, or another file type)."""


def check_resize_options(backend, interpolation):
    """Raise ValueError naming the flag if `backend` or `interpolation` is not a known name."""
    for problem in data_problems(resize_backend=backend, interpolation=interpolation):
        raise ValueError(problem)


def decode(data):
    """Decode encoded image bytes (JPEG, PNG, WebP, ... recognised by content, not by name) to RGB.

    Parameters
    ----------
    data : bytes
        The encoded file.

    Returns
    -------
    PIL.Image.Image
        Mode ``RGB``, fully loaded.

    Raises
    ------
    BadRecord
        If the bytes are not a complete image Pillow can decode, or their header claims more than
        `MAX_PIXELS` pixels (checked before the pixels are decoded).
    """
    if not data:
        raise BadRecord("empty record")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            check_pixels(*image.size)   # from the header, before the pixels are decoded
            image.load()  # Image.open only reads the header; truncation shows here
            return to_rgb(image)
    except Image.UnidentifiedImageError:  # an OSError; its message holds a memory address
        raise BadRecord("not an image format Pillow recognises") from None
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as err:
        raise BadRecord(f"{type(err).__name__}: {err}") from None


def check_pixels(width, height, what="its header claims"):
    """Raise BadRecord if a `width` x `height` image has more than `MAX_PIXELS` pixels."""
    if width * height > MAX_PIXELS:
        raise BadRecord(f"{what} {width} x {height} pixels, more than the {MAX_PIXELS:,} this package decodes "
                        "or resizes to")


def load(path):
    """`decode` the file at `path`; a file that cannot be read (vanished, dangling link) is a BadRecord too.

    Only a regular file is read: a FIFO, a socket or a device (or a link to one) in an image folder is
    a BadRecord, found without reading it (a FIFO's read waits for a writer forever). The file is
    opened with O_NONBLOCK, so that one swapped in after the check does not block either.
    """
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise BadRecord("not a regular file (a FIFO, socket or device); only files are read")
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with open(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise BadRecord("not a regular file (a FIFO, socket or device); only files are read")
            data = f.read()
    except OSError as err:
        raise BadRecord(f"cannot read the file ({err.strerror or type(err).__name__})") from None
    return decode(data)


def to_rgb(image):
    """Any Pillow image as mode ``RGB``.

    Transparent images (RGBA, LA, PA, palette with a transparent colour) are composited on white,
    not stripped of alpha: the colour under a fully transparent pixel is arbitrary (often black),
    while a viewer shows white there. Grayscale is replicated to three channels; 16-bit grayscale is
    scaled to 8 bits; CMYK and YCbCr use Pillow's conversion (no ICC colour management).

    Raises
    ------
    ValueError
        If Pillow cannot convert the mode (e.g. LAB); `decode` turns it into a BadRecord.
    """
    if image.mode == "RGB":
        return image
    rgb = _converted_to_rgb(image)
    rgb.info["converted_from"] = image.mode   # for reports that must say what the original was
    return rgb


def _converted_to_rgb(image):
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(image, dtype=np.float64)
        if image.mode != "F" and values.max(initial=0) > 255:
            values = values / 257.0  # 65535 -> 255
        return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), "L").convert("RGB")
    if has_alpha(image):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, ALPHA_BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def has_alpha(image):
    """Whether a Pillow image has transparency (an alpha channel, or a palette's transparent colour)."""
    return (image.mode == "P" and "transparency" in image.info) or image.mode in ("RGBA", "LA", "PA", "RGBa", "La")


def resized_shape(height, width, size):
    """(height, width) with the shorter side equal to `size` and the aspect ratio kept.

    The longer side is truncated, ``int(size * long / short)``, as torchvision's ``Scale(size)`` (used by
    the WGAN reference code) and ``Resize(size)`` do on both orientations.
    """
    if width <= height:
        return int(size * height / width), size
    return size, int(size * width / height)


def resize(image, height, width, backend="pillow", interpolation="bicubic"):
    """Resize an RGB image to exactly (height, width) with one library's filter, chosen by name.

    Parameters
    ----------
    image : PIL.Image.Image or numpy.ndarray
        RGB image; an array is uint8 of shape (H, W, 3) (or (H, W)).
    height, width : int
        Output size in pixels.
    backend : {'pillow', 'opencv', 'mxnet'}
        ``PIL.Image.resize``, ``cv2.resize`` or ``mx.image.imresize``.
    interpolation : {'nearest', 'bilinear', 'bicubic', 'area', 'lanczos'}
        Filter name; mapped to each library's own constant through `FILTERS` ('area' is Pillow's BOX).

    Returns
    -------
    numpy.ndarray
        uint8, shape (height, width, 3) (or (height, width) for a 2-D input).

    Raises
    ------
    ValueError
        For an unknown backend or interpolation name.
    MemoryError
        If the output does not fit in memory.
    """
    check_resize_options(backend, interpolation)
    code = FILTERS[backend][interpolation].code
    if backend == "pillow":
        if not isinstance(image, Image.Image):
            image = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8))
        try:
            return np.asarray(image.resize((width, height), resample=code))
        except ValueError as err:
            if "wrong mode" in str(err):   # what Pillow's resize says when it cannot allocate the output
                raise MemoryError(f"no memory for a {width} x {height} image") from None
            raise
    array = np.ascontiguousarray(np.asarray(image), dtype=np.uint8)
    if backend == "opencv":
        import cv2  # lazy: only this backend needs it
        return cv2.resize(array, (width, height), interpolation=code)
    import mxnet as mx  # lazy: imresize runs MXNet's bundled OpenCV
    squeeze = array.ndim == 2
    src = mx.nd.array(array[..., None] if squeeze else array, dtype=np.uint8)
    out = mx.image.imresize(src, width, height, interp=code).asnumpy()
    return out[..., 0] if squeeze else out


def center_crop(array, size):
    """The central `size` x `size` window of an (H, W, ...) array (torchvision's rounding of the offset)."""
    height, width = array.shape[:2]
    if height < size or width < size:
        raise ValueError(f"cannot crop {size}x{size} from a {height}x{width} image")
    top = int(round((height - size) / 2.0))
    left = int(round((width - size) / 2.0))
    return array[top:top + size, left:left + size]


def to_tensor(array):
    """uint8 (H, W, 3) -> float32 (3, H, W) in [-1, 1]: x / 127.5 - 1."""
    return (np.asarray(array, dtype=np.float32).transpose(2, 0, 1) / np.float32(127.5)) - np.float32(1.0)


def resize_and_crop(image, size, backend="pillow", interpolation="bicubic"):
    """Shorter side to `size` with the named filter, then the central `size` x `size` square.

    Parameters
    ----------
    image : PIL.Image.Image or numpy.ndarray
        Any Pillow mode (converted by `to_rgb`) or a uint8 (H, W, 3) RGB array.
    size : int
    backend, interpolation : str
        As in `resize`.

    Returns
    -------
    numpy.ndarray
        uint8, shape (size, size, 3).

    Raises
    ------
    BadRecord
        If the resized image (before the crop) would have more than `MAX_PIXELS` pixels: an extreme
        aspect ratio, such as 1 x 100,000.
    """
    if isinstance(image, Image.Image):
        image = to_rgb(image)
        width, height = image.size
    else:
        height, width = image.shape[:2]
    out_h, out_w = resized_shape(height, width, size)
    check_pixels(out_w, out_h, f"its shorter side resized to {size}, the {width} x {height} image would be")
    return center_crop(resize(image, out_h, out_w, backend, interpolation), size)


class ImageTransform:
    """RGB image -> float32 (3, size, size) in [-1, 1]: shorter side to `size`, centre crop, scale.

    Smaller images are upscaled by the same filter. Picklable, so DataLoader workers can use it.

    Parameters
    ----------
    size : int
        Output height = width.
    backend : {'pillow', 'opencv', 'mxnet'}, default 'pillow'
    interpolation : {'nearest', 'bilinear', 'bicubic', 'area', 'lanczos'}, default 'bicubic'
        The project default is Pillow bicubic (docs/resize.md explains why).

    Raises
    ------
    ValueError
        For a size below 1 (--image-size) or an unknown backend/interpolation name.
    """

    def __init__(self, size, backend="pillow", interpolation="bicubic"):
        if int(size) < 1:
            raise ValueError(f"--image-size must be at least 1, got {size}")
        check_resize_options(backend, interpolation)
        self.size, self.backend, self.interpolation = int(size), backend, interpolation

    def __call__(self, image):
        """`image`: a PIL image (any mode) or a uint8 (H, W, 3) RGB array."""
        return to_tensor(resize_and_crop(image, self.size, self.backend, self.interpolation))

    def __repr__(self):
        return f"ImageTransform(size={self.size}, backend={self.backend!r}, interpolation={self.interpolation!r})"
