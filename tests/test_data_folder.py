"""Image folders (nested, by content, bad files counted) and CIFAR-10 through Gluon, offline included."""
import os

import numpy as np
import pytest
import requests
from PIL import Image

from gluon_wgan.data import BadRecord, BatchStream, get_dataset
from gluon_wgan.data.folder import CIFAR10, ImageFolder, list_images
from gluon_wgan.data.transforms import ImageTransform


def save(path, array, fmt=None, mode=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array, mode).save(path, format=fmt)


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "images"
    save(str(root / "a.png"), np.full((20, 30, 3), 200, np.uint8))
    save(str(root / "deep" / "er" / "b.JPG"), np.full((30, 20, 3), 50, np.uint8), fmt="JPEG")
    save(str(root / "deep" / "c.jpg"), np.full((8, 8, 3), 100, np.uint8), fmt="WEBP")  # WebP named .jpg
    save(str(root / "gray.png"), np.full((16, 16), 30, np.uint8), mode="L")
    (root / "broken.jpeg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (root / "notes.txt").write_text("not an image")
    save(str(root / ".hidden" / "x.png"), np.zeros((4, 4, 3), np.uint8))
    save(str(root / "._a.png"), np.zeros((4, 4, 3), np.uint8))
    return str(root)


def test_lists_nested_images_by_extension_sorted(folder):
    names = [os.path.relpath(p, folder) for p in list_images(folder)]
    assert names == ["a.png", "broken.jpeg", os.path.join("deep", "c.jpg"),
                     os.path.join("deep", "er", "b.JPG"), "gray.png"]


def test_items_decoded_by_content_and_bad_files_raise(folder):
    data = ImageFolder(folder, ImageTransform(8, "pillow", "bilinear"))
    assert len(data) == 5
    np.testing.assert_allclose(data[0], 200 / 127.5 - 1, atol=1e-6)            # a.png
    np.testing.assert_allclose(data[2], 100 / 127.5 - 1, atol=0.02)           # WebP behind .jpg
    np.testing.assert_allclose(data[4], 30 / 127.5 - 1, atol=1e-6)            # grayscale -> 3 channels
    assert data[4].shape == (3, 8, 8)
    with pytest.raises(BadRecord):
        data[1]
    assert data.describe(3) == os.path.join("deep", "er", "b.JPG")


def test_bad_file_is_skipped_and_counted_in_a_stream(folder):
    stream = BatchStream(get_dataset("folder", root=folder, image_size=8), batch_size=5, seed=0)
    batch = next(stream)  # one epoch: every file once, the broken one replaced
    assert batch.shape == (5, 3, 8, 8) and stream.skipped == 1
    assert list(stream.bad_records) == ["broken.jpeg"]


def test_unreadable_file_is_skipped_and_counted(folder):
    """A file listed at start but unreadable later (here a dangling link) must not end a long run."""
    os.symlink(os.path.join(folder, "no-such-target.png"), os.path.join(folder, "gone.png"))
    data = get_dataset("folder", root=folder, image_size=8)
    assert data.describe(4) == "gone.png"                 # listed: its extension is an image's
    with pytest.raises(BadRecord, match=r"^cannot read the file \(No such file or directory\)$"):
        data[4]
    stream = BatchStream(data, batch_size=6, seed=1)     # seed 1: neither bad file stands in for the other
    assert next(stream).shape == (6, 3, 8, 8) and stream.skipped == 2
    assert sorted(stream.bad_records) == ["broken.jpeg", "gone.png"]


def test_empty_or_missing_folders_are_one_line_errors(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "readme.txt").write_text("hi")
    cases = [(dict(root=str(tmp_path / "empty")), r"^--dataroot '.*empty' holds no images \("),
             (dict(root=str(tmp_path / "nope")), r"^--dataroot '.*nope' does not exist$"),
             (dict(root=None), r"^--dataset folder needs --dataroot$")]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message) as err:
            get_dataset("folder", **kwargs)
        assert "\n" not in str(err.value)


def test_cifar10_offline_is_a_one_line_value_error(tmp_path, monkeypatch):
    """This machine has no internet; the test forces the same failure so it holds anywhere."""
    from mxnet.gluon.data.vision import datasets

    def offline(url, path=None, **kw):
        raise requests.exceptions.ConnectionError(f"Failed to resolve host for {url}\nsecond line")
    monkeypatch.setattr(datasets, "download", offline)
    with pytest.raises(ValueError, match=r"^--dataset cifar10: CIFAR-10 is not in .*could not be downloaded "
                                         r"\(ConnectionError: Failed to resolve") as err:
        get_dataset("cifar10", root=str(tmp_path / "cifar"))
    assert "\n" not in str(err.value) and "--dataroot" in str(err.value)


def test_cifar10_from_local_files(tmp_path, monkeypatch):
    """Gluon's binary format: per image a label byte then 3 x 32 x 32 channel-major pixels."""
    from mxnet.gluon.data.vision import datasets
    root = tmp_path / "cifar"
    root.mkdir()
    for b in range(1, 6):
        records = np.zeros((2, 1 + 3072), np.uint8)
        records[:, 1:1025] = 10 * b          # red plane
        records[:, 1025:2049] = 255          # green plane
        (root / f"data_batch_{b}.bin").write_bytes(records.tobytes())
    (root / "test_batch.bin").write_bytes(np.zeros((1, 3073), np.uint8).tobytes())
    monkeypatch.setattr(datasets, "check_sha1", lambda path, sha1: True)
    data = CIFAR10(str(root), ImageTransform(64, "pillow", "bicubic"), limit=None)
    assert len(data) == 10
    item = data[2]  # batch 2: red 20, green 255, blue 0, upscaled 32 -> 64
    assert item.shape == (3, 64, 64)
    np.testing.assert_allclose(item[:, 5, 5], [20 / 127.5 - 1, 1.0, -1.0], atol=1e-6)
    assert len(get_dataset("cifar10", root=str(root), image_size=32, limit=3)) == 3

