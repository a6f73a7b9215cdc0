"""Decoding, mode conversion, named resize filters, shorter-side resize + centre crop, scaling."""
import io

import cv2
import mxnet as mx
import numpy as np
import pytest
from PIL import Image

from gluon_wgan.data import transforms
from gluon_wgan.data.transforms import (BadRecord, ImageTransform, center_crop, decode, resize,
                                        resize_and_crop, resized_shape, to_rgb, to_tensor)


def encode(image, fmt, **kw):
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kw)
    return buffer.getvalue()


@pytest.mark.parametrize("name,constant", [("nearest", "INTER_NEAREST"), ("bilinear", "INTER_LINEAR"),
                                           ("bicubic", "INTER_CUBIC"), ("area", "INTER_AREA"),
                                           ("lanczos", "INTER_LANCZOS4")])
def test_opencv_and_mxnet_codes_are_cv2s(name, constant):
    assert transforms.FILTERS["opencv"][name].code == getattr(cv2, constant)
    assert transforms.FILTERS["mxnet"][name].code == getattr(cv2, constant)  # imresize takes OpenCV's codes
    assert transforms.FILTERS["opencv"][name].constant == f"cv2.{constant}"


def test_pillow_area_is_box_and_bicubic_is_3():
    assert transforms.FILTERS["pillow"]["area"].code == Image.Resampling.BOX
    assert transforms.FILTERS["pillow"]["bicubic"].code == Image.Resampling.BICUBIC == 3


def test_numeric_codes_are_refused():
    with pytest.raises(ValueError, match="--interpolation"):
        resize(np.zeros((8, 8, 3), np.uint8), 4, 4, "mxnet", 3)
    with pytest.raises(ValueError, match="--interpolation 'cubic'"):
        ImageTransform(8, "pillow", "cubic")
    with pytest.raises(ValueError, match="--resize-backend 'torch'"):
        ImageTransform(8, "torch", "bicubic")
    with pytest.raises(ValueError, match="--image-size"):
        ImageTransform(0)


def photo(h=96, w=80, seed=0):
    """A smooth image with detail at every scale: resize filters give visibly different results."""
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (3, 3), 0.8)


def test_gluoncv_interp_3_is_opencv_area_not_bicubic():
    """Regression (GluonCV train_wgan.py): mx.image.imresize(..., 3) is INTER_AREA, not Pillow's BICUBIC."""
    src = photo()
    gluoncv = mx.image.imresize(mx.nd.array(src, dtype=np.uint8), 20, 24, interp=3).asnumpy()
    np.testing.assert_array_equal(gluoncv, cv2.resize(src, (20, 24), interpolation=cv2.INTER_AREA))
    np.testing.assert_array_equal(resize(src, 24, 20, "mxnet", "area"), gluoncv)
    assert np.abs(resize(src, 24, 20, "pillow", "bicubic").astype(int) - gluoncv).max() > 10
    np.testing.assert_array_equal(resize(src, 24, 20, "mxnet", "bicubic"),
                                  cv2.resize(src, (20, 24), interpolation=cv2.INTER_CUBIC))


@pytest.mark.parametrize("backend", transforms.BACKENDS)
def test_each_backend_calls_its_library(backend):
    src = photo()
    expected = {"pillow": np.asarray(Image.fromarray(src).resize((30, 36), Image.Resampling.LANCZOS)),
                "opencv": cv2.resize(src, (30, 36), interpolation=cv2.INTER_LANCZOS4),
                "mxnet": mx.image.imresize(mx.nd.array(src, dtype=np.uint8), 30, 36, interp=4).asnumpy()}
    np.testing.assert_array_equal(resize(src, 36, 30, backend, "lanczos"), expected[backend])


def test_resized_shape_and_crop_follow_torchvision():
    # torchvision Resize(64) on 256 x 341 (w x h): short side 64, long int(64 * 341 / 256) = 85
    assert resized_shape(341, 256, 64) == (85, 64)
    assert resized_shape(107, 64, 32) == (53, 32)       # int(53.5): truncated, not rounded, when portrait
    assert resized_shape(64, 107, 32) == (32, 53)       # and when landscape
    assert resized_shape(100, 150, 64) == (64, 96)
    assert resized_shape(64, 64, 64) == (64, 64)
    a = np.arange(7 * 10).reshape(7, 10)
    # offsets round((7 - 4) / 2) = 2 and round((10 - 4) / 2) = 3
    np.testing.assert_array_equal(center_crop(a, 4), a[2:6, 3:7])
    with pytest.raises(ValueError):
        center_crop(a, 8)


def test_to_tensor_scales_to_minus_one_one():
    x = to_tensor(np.array([[[0, 255, 51]]], np.uint8))
    assert x.dtype == np.float32 and x.shape == (3, 1, 1)
    np.testing.assert_allclose(x.ravel(), [-1.0, 1.0, 51 / 127.5 - 1], atol=1e-7)


@pytest.mark.parametrize("backend", transforms.BACKENDS)
def test_small_images_are_upscaled(backend):
    """A 2 x 3 image becomes 4 x 6 (shorter side 2 -> 4) and the crop keeps columns 1..4.

    At an exact 2x enlargement every library's nearest maps output x to source x // 2 (Pillow samples
    pixel centres, floor((x + 0.5) / 2); OpenCV floors x / 2: the same here), so columns 0,1,1,2.
    """
    src = np.array([[[10, 0, 0], [20, 0, 0], [30, 0, 0]],
                    [[40, 0, 0], [50, 0, 0], [60, 0, 0]]], np.uint8)
    out = resize_and_crop(Image.fromarray(src), 4, backend, "nearest")
    expected = np.array([[10, 20, 20, 30], [10, 20, 20, 30], [40, 50, 50, 60], [40, 50, 50, 60]])
    np.testing.assert_array_equal(out[..., 0], expected)
    item = ImageTransform(32, backend, "bicubic")(Image.fromarray(src))
    assert item.shape == (3, 32, 32) and item.dtype == np.float32


def test_rgba_is_composited_on_white():
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (200, 0, 0, 255)     # opaque red stays
    rgba[0, 1] = (0, 0, 0, 0)         # transparent black becomes white
    rgba[1, 0] = (0, 0, 200, 128)     # half: 200 * 128/255 + 255 * 127/255
    out = np.asarray(to_rgb(Image.fromarray(rgba, "RGBA")))
    np.testing.assert_array_equal(out[0, 0], [200, 0, 0])
    np.testing.assert_array_equal(out[0, 1], [255, 255, 255])
    np.testing.assert_allclose(out[1, 0], [127, 127, 227], atol=1)
    assert out.dtype == np.uint8 and out.shape == (2, 2, 3)


def test_modes_become_rgb():
    gray = Image.fromarray(np.array([[0, 128]], np.uint8), "L")
    np.testing.assert_array_equal(np.asarray(to_rgb(gray)), [[[0, 0, 0], [128, 128, 128]]])
    la = Image.fromarray(np.array([[[90, 0], [90, 255]]], np.uint8), "LA")
    np.testing.assert_array_equal(np.asarray(to_rgb(la)), [[[255, 255, 255], [90, 90, 90]]])
    palette = Image.fromarray(np.array([[0, 1]], np.uint8), "P")
    palette.putpalette([255, 0, 0, 0, 0, 255])
    np.testing.assert_array_equal(np.asarray(to_rgb(palette)), [[[255, 0, 0], [0, 0, 255]]])
    palette.info["transparency"] = 1  # index 1 transparent -> white
    np.testing.assert_array_equal(np.asarray(to_rgb(palette)), [[[255, 0, 0], [255, 255, 255]]])
    cmyk = Image.new("CMYK", (1, 1), (0, 255, 255, 0))  # no black, full magenta and yellow: red
    np.testing.assert_array_equal(np.asarray(to_rgb(cmyk)), [[[255, 0, 0]]])
    wide = Image.fromarray(np.array([[0, 65535, 257 * 100]], np.uint16))  # 16-bit grayscale
    np.testing.assert_array_equal(np.asarray(to_rgb(wide))[0, :, 0], [0, 255, 100])


@pytest.mark.parametrize("fmt,kw", [("PNG", {}), ("WEBP", {"lossless": True}), ("BMP", {}), ("TIFF", {})])
def test_decode_by_content_is_exact_for_lossless_formats(fmt, kw):
    pixels = photo(12, 9)
    np.testing.assert_array_equal(np.asarray(decode(encode(Image.fromarray(pixels), fmt, **kw))), pixels)


def test_decode_cmyk_jpeg_and_grayscale_png():
    cmyk = decode(encode(Image.new("CMYK", (8, 8), (0, 0, 0, 0)), "JPEG", quality=95))
    assert cmyk.mode == "RGB" and np.asarray(cmyk).min() >= 250  # no ink: white
    assert decode(encode(Image.new("L", (3, 3), 7), "PNG")).getpixel((1, 1)) == (7, 7, 7)


@pytest.mark.parametrize("data", [b"", b"plain text, not an image", b"\x89PNG\r\n\x1a\n" + b"\0" * 20])
def test_non_images_are_bad_records(data):
    with pytest.raises(BadRecord):
        decode(data)


def test_truncated_jpeg_is_a_bad_record():
    data = encode(Image.fromarray(photo(64, 64)), "JPEG", quality=75)
    with pytest.raises(BadRecord):
        decode(data[:len(data) // 2])


def test_truncated_jpeg_stays_a_bad_record_once_gluoncv_is_loaded():
    """gluoncv's import sets Pillow's LOAD_TRUNCATED_IMAGES for the process; the package puts it back."""
    from gluon_wgan.metrics.inception import gluoncv_model_zoo
    gluoncv_model_zoo()
    data = encode(Image.fromarray(photo(64, 64)), "JPEG", quality=75)
    with pytest.raises(BadRecord):
        decode(data[:len(data) // 2])


def test_transform_default_is_pillow_bicubic_shorter_side_then_centre_crop():
    src = photo(90, 60)  # h x w: shorter side 60 -> 32, height int(32 * 90 / 60) = 48, crop rows 8:40
    expected = np.asarray(Image.fromarray(src).resize((32, 48), Image.Resampling.BICUBIC))[8:40]
    np.testing.assert_allclose(ImageTransform(32)(Image.fromarray(src)), to_tensor(expected))
