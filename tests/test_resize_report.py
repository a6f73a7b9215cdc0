"""Backend-vs-backend resize comparison: metrics against hand-computed values on synthetic images."""
import csv
import math
import os

import numpy as np
import pytest
from PIL import Image

from gluon_wgan.tools import resize_compare, resize_report
from gluon_wgan.data.transforms import BACKENDS, INTERPOLATIONS, resize
from gluon_wgan.tools.resize_compare import PAIRS, compare_variants, difference, resize_variants
from gluon_wgan.tools.resize_report import COLUMNS, run


def rgb(gray):
    return np.repeat(np.asarray(gray, np.uint8)[..., None], 3, axis=2)


def checkerboard(n):
    i, j = np.indices((n, n))
    return rgb((i + j) % 2 * 255)


def blocks(n_blocks, seed=0):
    """Random 2 x 2 blocks: an exact 2x downscale has one right answer, the block values."""
    values = np.random.default_rng(seed).integers(0, 256, (n_blocks, n_blocks, 3), dtype=np.uint8)
    return np.repeat(np.repeat(values, 2, axis=0), 2, axis=1), values


def test_difference_by_hand():
    a = np.zeros((2, 2, 3), np.uint8)
    b = np.array([[[0, 0, 0], [12, 0, 0]], [[0, 5, 0], [255, 255, 255]]], np.uint8)
    m = difference(a, b)
    assert m["max_abs"] == 255
    assert m["l1"] == 12 + 5 + 3 * 255 == 782
    assert m["mean_abs"] == pytest.approx(782 / 12)
    assert m["share_gt10"] == 0.5                       # pixels off by 12 and 255; not the one off by 5
    mse = (12 ** 2 + 5 ** 2 + 3 * 255 ** 2) / 12
    assert m["psnr"] == pytest.approx(10 * math.log10(255 ** 2 / mse))
    assert difference(b, b) == dict(max_abs=0, mean_abs=0.0, l1=0, share_gt10=0.0, psnr=float("inf"))
    with pytest.raises(ValueError):
        difference(a, b[:1])


def test_every_method_agrees_on_a_constant_image():
    rows = compare_variants(resize_variants(Image.new("RGB", (70, 45), (9, 120, 250)), 16), "flat")
    assert len(rows) == len(INTERPOLATIONS) * len(PAIRS) == 15
    assert all(r["max_abs"] == 0 and r["psnr"] == float("inf") for r in rows)


@pytest.mark.parametrize("interpolation", ["nearest", "area"])
def test_exact_2x_downscale_of_blocks_agrees_for_nearest_and_area(interpolation):
    image, values = blocks(16)
    variants = resize_variants(image, 16)
    for backend in BACKENDS:
        np.testing.assert_array_equal(variants[backend, interpolation], values)
    assert all(r["max_abs"] == 0 for r in compare_variants(variants, "b") if r["interpolation"] == interpolation)


@pytest.mark.parametrize("k", [2, 4, 8])
def test_nearest_at_integer_factors_picks_different_pixels(k):
    """Shrinking by an integer k, Pillow's NEAREST samples the pixel centre, source pixel k * i + k // 2;
    OpenCV's INTER_NEAREST (and so imresize interp=0) floors k * i. They agree only on images constant
    over k x k blocks (the test above), so on a photograph nearest differs as much as any filter."""
    image = np.random.default_rng(k).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    n = 64 // k
    np.testing.assert_array_equal(resize(image, n, n, "pillow", "nearest"), image[k // 2::k, k // 2::k])
    for backend in ("opencv", "mxnet"):
        np.testing.assert_array_equal(resize(image, n, n, backend, "nearest"), image[::k, ::k])


@pytest.mark.parametrize("k", [2, 4, 8])
def test_area_at_integer_factors_is_the_block_mean_up_to_rounding(k):
    """Pillow's BOX and OpenCV's INTER_AREA both average each k x k block; OpenCV rounds the mean
    correctly, Pillow's fixed-point arithmetic is within 1 grey level: they never differ by more than 1."""
    image = np.random.default_rng(k).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    n = 64 // k
    mean = image.reshape(n, k, n, k, 3).mean(axis=(1, 3))
    for backend in BACKENDS:
        out = resize(image, n, n, backend, "area").astype(float)
        assert np.abs(out - mean).max() <= (1.0 if backend == "pillow" else 0.5)
    assert difference(resize(image, n, n, "pillow", "area"), resize(image, n, n, "opencv", "area"))["max_abs"] <= 1


def test_exact_2x_bilinear_opencv_averages_two_pixels_pillow_widens():
    """OpenCV samples x = 2i + 0.5, halfway inside a block: the block value. Pillow's bilinear, widened
    to a 4-pixel triangle when shrinking by 2, also mixes in the neighbouring blocks."""
    image, values = blocks(16)
    np.testing.assert_array_equal(resize(image, 16, 16, "opencv", "bilinear"), values)
    assert difference(resize(image, 16, 16, "pillow", "bilinear"), values)["max_abs"] > 20


def test_fine_checkerboard_bilinear_pillow_vs_opencv_by_hand():
    """A 1-pixel checkerboard shrunk 3x (192 -> 64).

    OpenCV's INTER_LINEAR samples source x = 3i + 1 exactly: the checkerboard survives as 0 / 255
    (aliasing). Pillow's BILINEAR is a triangle of half-width 3 source pixels: taps at -2..2 around 3i + 1
    with weights 1, 2, 3, 2, 1 (/9), so a row averages 255 * 5/9 (centre white) or 255 * 4/9, rounded
    to 142 / 113; the vertical pass gives (5 * 142 + 4 * 113) / 9 = 129.1 -> 129 and
    (5 * 113 + 4 * 142) / 9 = 125.9 -> 126. Every interior pixel is therefore off by exactly 126.
    """
    image = checkerboard(192)
    cv = resize(image, 64, 64, "opencv", "bilinear").astype(int)
    pil = resize(image, 64, 64, "pillow", "bilinear").astype(int)
    i, j = np.indices((64, 64))
    white = (i + j) % 2 == 1                             # parity of (3i + 1) + (3j + 1)
    np.testing.assert_array_equal(cv[..., 0], np.where(white, 255, 0))
    inner = (slice(1, -1), slice(1, -1))                 # Pillow renormalizes its kernel at the border
    np.testing.assert_array_equal(pil[inner][..., 0], np.where(white, 129, 126)[inner])
    m = difference(pil[inner].astype(np.uint8), cv[inner].astype(np.uint8))
    assert m["max_abs"] == 126 and m["mean_abs"] == 126.0 and m["share_gt10"] == 1.0
    assert m["l1"] == 126 * 62 * 62 * 3
    assert m["psnr"] == pytest.approx(20 * math.log10(255 / 126))
    whole = difference(pil.astype(np.uint8), cv.astype(np.uint8))
    assert whole["max_abs"] >= 126 and whole["share_gt10"] == 1.0


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    Image.fromarray(checkerboard(192)).save(root / "checker.png")
    Image.fromarray(blocks(64)[0]).save(root / "sub" / "blocks.png")
    Image.new("RGB", (100, 80), (40, 50, 60)).save(root / "flat.png")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    return str(root)


def test_run_over_a_folder_writes_everything(folder, tmp_path):
    out = str(tmp_path / "out")
    calls = []
    report = run(folder, size=64, outdir=out, progress=lambda it, total: calls.append(total) or it)
    assert calls == [4] and report.images == 3 and len(report.rows) == 3 * 15
    assert report.skipped == [("broken.jpg", "not an image format Pillow recognises")]
    assert report.figure_image == "checker.png"  # the largest Pillow-vs-OpenCV bicubic difference
    for name in ("report.md", "report.csv", "heatmap.png", "crops.png"):
        assert os.path.getsize(os.path.join(out, name)) > 0
    for name in ("heatmap.png", "crops.png"):
        with Image.open(os.path.join(out, name)) as figure:
            assert figure.format == "PNG" and figure.mode == "RGB"
    with open(os.path.join(out, "report.csv")) as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == COLUMNS and len(rows) == 45
    flat = [r for r in rows if r["image"] == "flat.png"]
    assert {r["max_abs"] for r in flat} == {"0"} and {r["psnr"] for r in flat} == {"inf"}
    checker = next(r for r in rows if r["image"] == "checker.png" and r["interpolation"] == "bilinear"
                   and (r["backend_a"], r["backend_b"]) == ("pillow", "opencv"))
    assert checker["constant_a"] == "PIL.Image.Resampling.BILINEAR" and checker["constant_b"] == "cv2.INTER_LINEAR"
    assert int(checker["max_abs"]) >= 126

    summary = {(s["backend_a"], s["backend_b"], s["interpolation"]): s for s in report.summary}
    per_image = {r["image"]: r["mean_abs"] for r in report.rows
                 if (r["backend_a"], r["backend_b"], r["interpolation"]) == ("pillow", "opencv", "bilinear")}
    low, mid, high = sorted(per_image.values())
    s = summary["pillow", "opencv", "bilinear"]
    assert low == 0.0 and s["images"] == 3
    assert s["mean_abs_median"] == mid
    assert s["mean_abs_p95"] == pytest.approx(mid + 0.9 * (high - mid))  # linear interpolation, 3 values
    assert s["worst_image"] == "checker.png" and s["worst_mean_abs"] == high
    assert summary["pillow", "opencv", "area"]["max_abs_p95"] == 0.0      # exact 2x / 3x / flat: all agree

    text = (tmp_path / "out" / "report.md").read_text()
    assert "`PIL.Image.Resampling.BICUBIC` = 3" in text and "`cv2.INTER_AREA` = 3" in text
    assert "The integer 3 is `PIL.Image.Resampling.BICUBIC` to Pillow but `cv2.INTER_AREA`" in text
    assert "`broken.jpg`" in text and "heatmap.png" in text and "crops.png" in text


def test_run_on_one_image_and_on_an_lmdb(tmp_path):
    import lmdb
    path = tmp_path / "photo.png"
    Image.fromarray(blocks(40)[0]).save(path)
    single = run(str(path), size=32, outdir=str(tmp_path / "one"))
    assert single.images == 1 and single.rows[0]["image"] == "photo.png"
    text = (tmp_path / "one" / "report.md").read_text()
    assert "| max_abs | mean_abs | l1 | share_gt10 | PSNR (dB) |" in text
    env = lmdb.open(str(tmp_path / "church_outdoor_train_lmdb"), map_size=1 << 22)
    with env.begin(write=True) as txn:
        txn.put(b"k1", path.read_bytes())
        txn.put(b"k2", b"corrupt")
        txn.put(b"k3", path.read_bytes())
    env.close()
    report = run(str(tmp_path / "church_outdoor_train_lmdb"), size=32, limit=2, outdir=str(tmp_path / "db"))
    assert report.images == 1 and [name for name, _ in report.skipped] == ["church_outdoor_train_lmdb/k2"]


@pytest.mark.parametrize("kwargs,message", [
    (dict(source="/no/such/file.jpg"), r"^input '/no/such/file.jpg' does not exist$"),
    (dict(size=0), r"^--size must be a positive integer"),
    (dict(limit=0), r"^--limit must be a positive integer"),
])
def test_bad_arguments(kwargs, message, tmp_path):
    kwargs = {"source": str(tmp_path), "outdir": str(tmp_path / "o"), **kwargs}
    with pytest.raises(ValueError, match=message):
        run(**kwargs)


def test_inputs_without_images(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no images"):
        run(str(tmp_path / "empty"), outdir=str(tmp_path / "o"))
    (tmp_path / "note.png").write_text("text")
    with pytest.raises(ValueError, match=r"^input '.*note.png': none of its 1 records is a readable image "
                                         r"\(not an image format"):
        run(str(tmp_path / "note.png"), outdir=str(tmp_path / "o"))


def test_every_variant_is_compared_with_the_reference_pipeline(tmp_path):
    """torchvision's Scale on PIL images is Pillow BILINEAR: the row for it is left out, the others are
    its differences; a flat image is reproduced exactly by every variant."""
    image, _ = blocks(32)
    variants = resize_variants(image, 32)
    rows = resize_compare.compare_to_reference(variants, "b")
    assert len(rows) == len(BACKENDS) * len(INTERPOLATIONS) - 1
    assert ("pillow", "bilinear") not in {(r["backend"], r["interpolation"]) for r in rows}
    row = next(r for r in rows if (r["backend"], r["interpolation"]) == ("opencv", "area"))
    assert row == dict(image="b", backend="opencv", interpolation="area",
                       **difference(variants["opencv", "area"], variants["pillow", "bilinear"]))
    flat = resize_compare.compare_to_reference(resize_variants(Image.new("RGB", (40, 30), (1, 2, 3)), 8), "f")
    assert all(r["max_abs"] == 0 for r in flat)
    Image.fromarray(image).save(tmp_path / "in.png")
    run(str(tmp_path / "in.png"), size=32, outdir=str(tmp_path / "out"))
    text = (tmp_path / "out" / "report.md").read_text()
    table = text.split("## Against the PyTorch reference pipeline")[1].split("\n## ")[0]
    assert "`PIL.Image.Resampling.BILINEAR`" in table                      # named as the reference
    body = [line for line in table.splitlines() if line.startswith("| `")]
    assert len(body) == 14
    assert any("`PIL.Image.Resampling.BICUBIC`" in line and "this project's default" in line for line in body)
    assert any("`mx.image.imresize interp=3 (OpenCV INTER_AREA)`" in line and "GluonCV" in line for line in body)
    means = [float(line.split("|")[2]) for line in body]
    assert means == sorted(means)                                           # closest first


def test_an_lsun_root_names_its_databases(tmp_path):
    import lmdb
    env = lmdb.open(str(tmp_path / "bedroom_train_lmdb"), map_size=1 << 20)
    env.close()
    with pytest.raises(ValueError, match=r"holds no images .*e\.g\. .*bedroom_train_lmdb$"):
        run(str(tmp_path), outdir=str(tmp_path / "o"))


def test_filter_table_names_every_constant():
    table = resize_report.filter_table()
    for needle in ("`PIL.Image.Resampling.BOX` = 4", "`cv2.INTER_CUBIC` = 2", "`cv2.INTER_LANCZOS4` = 4",
                   "`mx.image.imresize interp=3 (OpenCV INTER_AREA)`", "`PIL.Image.Resampling.LANCZOS` = 1"):
        assert needle in table
