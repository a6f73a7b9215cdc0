"""LSUN lmdb reading: records decoded by content, a corrupt record skipped and counted, workers, key cache."""
import hashlib
import io
import os
import pickle

import lmdb
import numpy as np
import pytest
from PIL import Image

from gluon_wgan.data import BatchStream, get_dataset, lsun
from gluon_wgan.data.lsun import LSUN, LMDBImages
from gluon_wgan.data.stream import batch_indices

N = 12
CORRUPT = 7  # index (in key order) of the truncated JPEG


def pixels(i, h=40, w=52):
    rng = np.random.default_rng(i)
    base = rng.integers(0, 256, 3)
    ramp = np.linspace(0, 60, w)[None, :, None] + np.linspace(0, 40, h)[:, None, None]
    return np.clip(base + ramp, 0, 255).astype(np.uint8)


def encoded(i):
    buffer = io.BytesIO()
    if i % 2:  # exported LSUN copies are often WebP; lossless here so the pixels can be checked exactly
        Image.fromarray(pixels(i)).save(buffer, format="WEBP", lossless=True)
    else:      # the official release: JPEG at quality 75
        Image.fromarray(pixels(i)).save(buffer, format="JPEG", quality=75)
    return buffer.getvalue()


def key(i):
    return hashlib.sha1(f"image-{i:03d}".encode()).hexdigest().encode()


def write_db(path, records):
    env = lmdb.open(str(path), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for k, v in records:
            txn.put(k, v)
    env.close()


@pytest.fixture
def lsun_root(tmp_path):
    """root/bedroom_train_lmdb with N records (WebP and JPEG); record CORRUPT is a truncated JPEG."""
    records = sorted((key(i), encoded(i)) for i in range(N))
    k, data = records[CORRUPT]
    records[CORRUPT] = (k, data[:len(data) // 3])
    write_db(tmp_path / "bedroom_train_lmdb", records)
    return str(tmp_path)


def test_records_are_decoded_by_content(lsun_root):
    db = LMDBImages(os.path.join(lsun_root, "bedroom_train_lmdb"))
    assert len(db) == N
    order = sorted(range(N), key=key)  # lmdb keeps keys sorted
    for index, i in enumerate(order):
        if index == CORRUPT:
            continue
        image = np.asarray(db[index])
        if i % 2:
            np.testing.assert_array_equal(image, pixels(i))           # lossless WebP
        else:
            assert np.abs(image.astype(int) - pixels(i)).mean() < 3   # JPEG q75 of a smooth image
        assert db.describe(index) == "bedroom_train_lmdb/" + key(i).decode()


def test_corrupt_record_is_skipped_and_counted_with_zero_and_two_workers(lsun_root):
    dataset = get_dataset("lsun", root=lsun_root, image_size=16)
    batch_size, batches = 6, 6  # 36 positions = 3 epochs of 12: the corrupt record is met 3 times
    serial = BatchStream(dataset, batch_size, seed=2)
    expected = [next(serial) for _ in range(batches)]
    assert serial.skipped == 3
    assert list(serial.bad_records) == ["bedroom_train_lmdb/" + sorted(map(key, range(N)))[CORRUPT].decode()]
    with BatchStream(dataset, batch_size, seed=2, workers=2) as parallel:
        got = [next(parallel) for _ in range(batches)]
        assert parallel.skipped == 3 and parallel.position == batches
    for a, b in zip(expected, got):
        assert a.shape == (batch_size, 3, 16, 16) and a.dtype == np.float32
        assert -1.0 <= a.min() and a.max() <= 1.0
        np.testing.assert_array_equal(a, b)
    # the slot of the corrupt record holds another record, as in a stream resumed there
    k = next(k for k in range(batches) if CORRUPT in batch_indices(N, batch_size, 2, k))
    resumed = BatchStream(dataset, batch_size, seed=2, start=k)
    np.testing.assert_array_equal(next(resumed), expected[k])
    assert resumed.skipped == 1


def test_environment_opens_lazily_per_process(lsun_root):
    db = LMDBImages(os.path.join(lsun_root, "bedroom_train_lmdb"))
    assert db._env is None  # the parent process has not opened it for reading
    db[0]
    assert db._pid == os.getpid() and db._env is not None
    clone = pickle.loads(pickle.dumps(db))
    assert clone._env is None
    np.testing.assert_array_equal(np.asarray(clone[0]), np.asarray(db[0]))


def test_key_index_is_cached_beside_the_db_and_refreshed_when_it_changes(lsun_root, monkeypatch):
    path = os.path.join(lsun_root, "bedroom_train_lmdb")
    LMDBImages(path)
    assert os.path.isfile(path + ".keys.npz")
    scans = []
    real_scan = lsun.scan_keys
    monkeypatch.setattr(lsun, "scan_keys", lambda env, limit=None: scans.append(1) or real_scan(env, limit))
    again = LMDBImages(path)
    assert scans == [] and len(again) == N
    assert [again.key(i) for i in range(N)] == sorted(map(key, range(N)))
    env = lmdb.open(path, map_size=1 << 24)
    with env.begin(write=True) as txn:
        txn.put(b"zzz-new-record", encoded(99))
    env.close()
    changed = LMDBImages(path)
    assert scans == [1] and len(changed) == N + 1 and changed.key(N) == b"zzz-new-record"


def test_key_index_in_a_cache_dir_and_limit(lsun_root, tmp_path):
    path = os.path.join(lsun_root, "bedroom_train_lmdb")
    limited = LMDBImages(path, limit=5, cache_dir=str(tmp_path / "cache"))
    assert len(limited) == 5 and not os.path.exists(tmp_path / "cache")  # a partial scan is not cached
    LMDBImages(path, cache_dir=str(tmp_path / "cache"))
    assert len(os.listdir(tmp_path / "cache")) == 1 and not os.path.exists(path + ".keys.npz")


def test_several_categories_are_concatenated(lsun_root):
    write_db(os.path.join(lsun_root, "church_outdoor_train_lmdb"), [(b"a", encoded(1)), (b"b", encoded(3))])
    data = LSUN(lsun_root, ["bedroom", "church_outdoor"])
    assert len(data) == N + 2
    assert data.describe(N + 1) == "church_outdoor_train_lmdb/b"
    np.testing.assert_array_equal(np.asarray(data[N]), pixels(1))
    assert len(LSUN(lsun_root, ["bedroom", "church_outdoor"], limit=13)) == 13


def test_missing_category_names_the_flag_and_what_is_there(lsun_root):
    with pytest.raises(ValueError, match=r"^--lsun-category kitchen: .*found: bedroom\)$"):
        get_dataset("lsun", root=lsun_root, lsun_category="kitchen")


def test_a_folder_that_is_not_lmdb(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "data.mdb").write_bytes(b"not a database")
    with pytest.raises(ValueError, match="--dataroot.* is not a readable lmdb database"):
        LMDBImages(str(tmp_path / "x"))
