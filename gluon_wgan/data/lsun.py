"""LSUN: the official release's lmdb databases, read lazily per process, with a cached key index.

Each category is a database ``<category>_train_lmdb`` mapping a key (the image's SHA-1, 40 ASCII bytes)
to the encoded image: JPEG at quality 75, shorter side 256, in the official release; exported copies
are often WebP, so records are decoded by content. Listing the keys of bedroom (3 million records)
takes a while, so the list is saved once as ``<db>.keys.npz`` beside the database (or under
``~/.cache/gluon_wgan/lsun/`` when that folder is read-only) and reused while the database is unchanged.
"""
import hashlib
import io
import logging
import os

import numpy as np
from mxnet.gluon.data import Dataset

from ..files import atomic_write
from .transforms import BadRecord, decode

log = logging.getLogger(__name__)
CACHE_DIR = os.path.join("~", ".cache", "gluon_wgan", "lsun")
_CACHE_VERSION = 1


def is_lmdb(path):
    """True if `path` is an lmdb environment: a folder holding data.mdb, or such a data file itself."""
    return os.path.isfile(os.path.join(path, "data.mdb")) or (os.path.isfile(path) and path.endswith(".mdb"))


def open_lmdb(path):
    """Open an lmdb environment read-only, without a lock file or readahead (safe in many processes)."""
    import lmdb
    try:
        return lmdb.open(path, subdir=os.path.isdir(path), readonly=True, lock=False, readahead=False,
                         meminit=False)
    except lmdb.Error as err:
        raise ValueError(f"--dataroot {path!r} is not a readable lmdb database ({err})") from None


def _fingerprint(path, env):
    """Numbers that change when the database does: record count, data file size and mtime."""
    data = os.path.join(path, "data.mdb") if os.path.isdir(path) else path
    stat = os.stat(data)
    return np.array([_CACHE_VERSION, env.stat()["entries"], stat.st_size, stat.st_mtime_ns], dtype=np.int64)


def cache_paths(path, cache_dir=None):
    """Where the key index of the database at `path` is looked for, in order: beside it, then the cache."""
    path = os.path.abspath(path).rstrip(os.sep)
    digest = hashlib.sha1(path.encode()).hexdigest()[:12]
    home = os.path.expanduser(cache_dir or CACHE_DIR)
    beside = [] if cache_dir else [path + ".keys.npz"]
    return beside + [os.path.join(home, f"{os.path.basename(path)}-{digest}.keys.npz")]


def _read_index(candidates, fingerprint):
    for candidate in candidates:
        try:
            with np.load(candidate) as saved:
                if np.array_equal(saved["fingerprint"], fingerprint):
                    return saved["blob"], saved["offsets"], candidate
        except (OSError, KeyError, ValueError):  # missing, partial or foreign file: scan again
            continue
    return None


def _write_index(candidates, fingerprint, blob, offsets):
    buffer = io.BytesIO()
    np.savez(buffer, fingerprint=fingerprint, blob=blob, offsets=offsets)
    for candidate in candidates:
        try:
            atomic_write(candidate, buffer.getvalue())
            return candidate
        except OSError as err:
            log.info("cannot write the key index to %s (%s)", candidate, err.strerror or err)
    return None


def scan_keys(env, limit=None):
    """The keys of an open lmdb environment in order, at most `limit` of them (a full pass otherwise)."""
    keys = []
    with env.begin(write=False) as txn:
        for key in txn.cursor().iternext(keys=True, values=False):
            keys.append(bytes(key))
            if limit is not None and len(keys) >= limit:
                break
    return keys


def key_index(path, env, cache_dir=None, limit=None):
    """The keys of the database at `path` as (blob, offsets): key i = blob[offsets[i]:offsets[i + 1]].

    Loaded from the cached index when it matches the database; otherwise the database is scanned and,
    unless `limit` stops the scan early, the index is saved for the next start.
    """
    candidates = cache_paths(path, cache_dir)
    fingerprint = _fingerprint(path, env)
    found = _read_index(candidates, fingerprint)
    if found is not None:
        log.info("read the key index of %s from %s", path, found[2])
        return found[0], found[1]
    log.info("listing the keys of %s (once; the list is cached)", path)
    keys = scan_keys(env, limit)
    lengths = np.fromiter((len(k) for k in keys), dtype=np.int64, count=len(keys))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    blob = np.frombuffer(b"".join(keys), dtype=np.uint8)
    if limit is None or len(keys) < limit:
        written = _write_index(candidates, fingerprint, blob, offsets)
        if written:
            log.info("saved the key index of %s to %s", path, written)
    return blob, offsets


class LMDBImages(Dataset):
    """The images of one lmdb database (key -> encoded image bytes), in key order.

    Parameters
    ----------
    path : str
        The database folder (holding data.mdb), e.g. ``.../bedroom_train_lmdb``.
    transform : callable, optional
        PIL RGB image -> array, normally an `ImageTransform`; None returns the PIL image.
    limit : int, optional
        Use only the first `limit` keys.
    cache_dir : str, optional
        Folder for the key index; default beside the database, else ``~/.cache/gluon_wgan/lsun``.

    Raises
    ------
    ValueError
        If `path` is not a readable lmdb database or holds no records (--dataroot).
    """

    def __init__(self, path, transform=None, limit=None, cache_dir=None):
        self.path, self.transform = path, transform
        env = open_lmdb(path)
        try:
            self._blob, self._offsets = key_index(path, env, cache_dir, limit)
        finally:
            env.close()
        self._n = min(len(self._offsets) - 1, limit if limit is not None else len(self._offsets))
        if self._n == 0:
            raise ValueError(f"--dataroot: the lmdb database {path!r} holds no records")
        self._env = self._pid = None

    def __len__(self):
        return self._n

    def key(self, index):
        """The lmdb key (bytes) of record `index`."""
        if not 0 <= index < self._n:
            raise IndexError(f"index {index} out of range for {self._n} records")
        return self._blob[self._offsets[index]:self._offsets[index + 1]].tobytes()

    def read(self, index):
        """The encoded bytes of record `index` (None if the key has no value)."""
        if self._pid != os.getpid():  # first read in this process (e.g. a DataLoader worker)
            self._env, self._pid = open_lmdb(self.path), os.getpid()
        with self._env.begin(write=False, buffers=False) as txn:
            return txn.get(self.key(index))

    def __getitem__(self, index):
        """The transformed image; raises `BadRecord` for a missing, corrupt or non-image record."""
        data = self.read(index)
        if data is None:
            raise BadRecord("key without a value")
        image = decode(data)
        return image if self.transform is None else self.transform(image)

    def describe(self, index):
        return f"{os.path.basename(self.path.rstrip(os.sep))}/{self.key(index).decode('ascii', 'replace')}"

    def __getstate__(self):  # an lmdb environment cannot cross processes: each opens its own
        state = dict(self.__dict__)
        state["_env"] = state["_pid"] = None
        return state


def category_path(root, category):
    """``root/<category>_train_lmdb``; a category already ending in _train, _val or _test keeps it."""
    suffix = "" if category.endswith(("_train", "_val", "_test")) else "_train"
    return os.path.join(root, f"{category}{suffix}_lmdb")


def available_categories(root):
    """Categories whose databases are in `root`: 'bedroom' for bedroom_train_lmdb, 'bedroom_val', ..."""
    try:
        names = [name[:-len("_lmdb")] for name in os.listdir(root)
                 if name.endswith("_lmdb") and is_lmdb(os.path.join(root, name))]
    except OSError:
        return []
    return sorted(name[:-len("_train")] if name.endswith("_train") else name for name in names)


class LSUN(Dataset):
    """LSUN scene categories from the official lmdb release, concatenated in the order given.

    Parameters
    ----------
    root : str
        Folder holding ``<category>_train_lmdb`` databases, or one database itself.
    categories : str or sequence of str, default 'bedroom'
        'bedroom', 'church_outdoor', ...; 'bedroom_val' selects another split.
    transform : callable, optional
        PIL RGB image -> array, normally an `ImageTransform`; None returns PIL images.
    limit : int, optional
        Use only the first `limit` records overall.
    cache_dir : str, optional
        Where the key indices go (see `LMDBImages`).

    Raises
    ------
    ValueError
        If a category's database is not in `root` (--lsun-category), naming the ones that are.
    """

    def __init__(self, root, categories="bedroom", transform=None, limit=None, cache_dir=None):
        categories = [categories] if isinstance(categories, str) else list(categories)
        if is_lmdb(root):
            paths = [root]
        else:
            paths = [category_path(root, c) for c in categories]
            for category, path in zip(categories, paths):
                if not is_lmdb(path):
                    have = ", ".join(available_categories(root)) or "none"
                    raise ValueError(f"--lsun-category {category}: no lmdb database {os.path.basename(path)} "
                                     f"in --dataroot {root!r} (found: {have})")
        self.parts = []
        for path in paths:
            remaining = None if limit is None else limit - sum(len(p) for p in self.parts)
            if remaining is not None and remaining <= 0:
                break
            self.parts.append(LMDBImages(path, transform, remaining, cache_dir))
        self._ends = np.cumsum([len(p) for p in self.parts])

    def __len__(self):
        return int(self._ends[-1])

    def _locate(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} records")
        part = int(np.searchsorted(self._ends, index, side="right"))
        return self.parts[part], index - (int(self._ends[part - 1]) if part else 0)

    def __getitem__(self, index):
        part, local = self._locate(index)
        return part[local]

    def describe(self, index):
        part, local = self._locate(index)
        return part.describe(local)
