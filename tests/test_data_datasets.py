"""get_dataset: names, errors naming their flag, and the embedded shapes dataset."""
import numpy as np
import pytest

from gluon_wgan.data import BatchStream, get_dataset
from gluon_wgan.data.shapes import HEIGHT, WIDTH, draw
from gluon_wgan.data.transforms import resize_and_crop, to_tensor


@pytest.mark.parametrize("kwargs,message", [
    (dict(name="imagenet"), r"^unknown --dataset 'imagenet'; choose from shapes, shapes-simple, folder, lsun, cifar10$"),
    (dict(name="lsun"), r"^--dataset lsun needs --dataroot$"),
    (dict(name="lsun", root="/no/such/dir"), r"^--dataroot '/no/such/dir' does not exist$"),
    (dict(name="shapes", resize_backend="cv2"), r"^unknown --resize-backend 'cv2'"),
    (dict(name="shapes", interpolation=3), r"^unknown --interpolation 3; .*never a library's integer code"),
    (dict(name="shapes", interpolation="box"), r"^unknown --interpolation 'box'"),
    (dict(name="shapes", image_size=0), r"^--image-size must be at least 1"),
    (dict(name="shapes", limit=0), r"^--limit must be a positive integer"),
])
def test_errors_are_one_line_and_name_the_flag(kwargs, message):
    with pytest.raises(ValueError, match=message) as err:
        get_dataset(**kwargs)
    assert "\n" not in str(err.value)


def test_shapes_items():
    data = get_dataset("shapes")
    assert len(data) == 10000
    item = data[123]
    assert item.shape == (3, 64, 64) and item.dtype == np.float32
    assert -1.0 <= item.min() < item.max() <= 1.0
    np.testing.assert_array_equal(item, get_dataset("shapes")[123])  # a pure function of the index
    assert len(get_dataset("shapes", image_size=32, limit=50)) == 50


@pytest.mark.parametrize("backend,interpolation", [("pillow", "bicubic"), ("opencv", "area"), ("mxnet", "bilinear")])
def test_shapes_go_through_the_real_data_transform(backend, interpolation):
    image = draw(5)
    assert image.size == (WIDTH, HEIGHT) and WIDTH > HEIGHT > 64  # drawn larger, not square
    item = get_dataset("shapes", image_size=32, resize_backend=backend, interpolation=interpolation)[5]
    np.testing.assert_array_equal(item, to_tensor(resize_and_crop(image, 32, backend, interpolation)))


def test_shapes_are_varied_shapes_on_varied_backgrounds():
    batch = next(BatchStream(get_dataset("shapes", image_size=32), 64, seed=0))
    means = batch.mean(axis=(2, 3))                       # (64, 3) average colours
    assert means.std(axis=0).min() > 0.05                  # backgrounds differ in colour
    spread = batch.reshape(64, 3, -1).std(axis=2).mean(axis=1)
    assert (spread > 0.05).all()                           # every image has a shape on its background
    assert len({tuple(np.round(m, 2)) for m in means}) == 64


def test_shapes_simple_is_one_large_shape_on_a_flat_background():
    """Every image: the four corners of the kept square share the background colour, a single shape
    covers a large part of it, and the images are pure functions of their index."""
    from gluon_wgan.data.shapes import draw_simple
    margin = (WIDTH - HEIGHT) // 2
    for index in range(40):
        pixels = np.asarray(draw_simple(index))[:, margin:margin + HEIGHT]
        corners = {tuple(pixels[y, x]) for y in (0, -1) for x in (0, -1)}
        assert len(corners) == 1, index
        background = np.all(pixels == pixels[0, 0], axis=-1)
        assert 0.08 < 1 - background.mean() < 0.75, index    # a ring of radius 30 covers ~10%
    np.testing.assert_array_equal(np.asarray(draw_simple(7)), np.asarray(draw_simple(7)))
    item = get_dataset("shapes-simple", image_size=32)[7]
    assert item.shape == (3, 32, 32) and not np.array_equal(item, get_dataset("shapes", image_size=32)[7])
