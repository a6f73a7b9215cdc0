"""LSUN: the official release's lmdb databases, read lazily per process, with a cached key index.

Each category is a database ``<category>_train_lmdb`` mapping a key (the image's SHA-1, 40 ASCII bytes)
to the encoded image: JPEG at quality 75, shorter side 256, in the official release; exported copies
are often WebP, so records are decoded by content. Listing the keys of bedroom (3 million records)
takes a while, so the list is saved once as ``<db>.keys.npz`` beside the database (or, where the
database's folder is read-only, under ``lsun/`` in the package's cache folder,
`gluon_wgan.utils.cache.cache_path`) and reused while the database is unchanged.
"""
import hashlib
import io
import logging
import os
import struct

import numpy as np
from mxnet.gluon.data import Dataset

from ..utils.cache import cache_path
from ..utils.files import atomic_write
from .transforms import BadRecord, decode

log = logging.getLogger(__name__)
_CACHE_VERSION = 1


def is_lmdb(path):
    """True if `path` is an lmdb environment: a folder holding data.mdb, or such a data file itself."""
    return os.path.isfile(os.path.join(path, "data.mdb")) or (os.path.isfile(path) and path.endswith(".mdb"))


# LMDB's meta page (lmdb.h, mdb.c: MDB_page header, then MDB_meta), 64-bit little-endian, the only
# layout this machine's lmdb reads: page flags at byte 10, then magic, version, ..., the free DB's
# md_pad (which holds the page size), the last page number and the transaction id.
_META_FLAG, _MAGIC, _DATA_VERSION = 0x08, 0xBEEFC0DE, 1
_META = struct.Struct("<10xH4xIIQQI92xQQ")   # flags, magic, version, address, mapsize, psize, last_pg, txnid


def data_file(path):
    """The data file of the lmdb environment at `path`: ``path/data.mdb``, or `path` itself."""
    return os.path.join(path, "data.mdb") if os.path.isdir(path) else path


def check_data_file(path):
    """Raise ValueError unless the lmdb data file at `path` is as long as its own header says.

    lmdb maps the file into memory and reads pages where the header puts them; a page past the end
    of a truncated copy is a SIGBUS that kills the process without a message. So the two meta
    pages are read first, as lmdb's ``mdb_env_read_header`` reads them (page flag, magic number,
    version, page size), and the file must reach the last page of the newer one.

    Raises
    ------
    ValueError
        One line naming the file and what is wrong with it.
    """
    where = f"the lmdb data file {path!r}"
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            first = f.read(_META.size)
            metas = [_META.unpack(first)] if len(first) == _META.size else []
            if metas and _valid_page_size(metas[0][5]):
                f.seek(metas[0][5])
                second = f.read(_META.size)
                if len(second) == _META.size:
                    metas.append(_META.unpack(second))
    except OSError as err:
        raise ValueError(f"{where} cannot be read ({err.strerror or type(err).__name__})") from None
    if not metas:
        raise ValueError(f"{where} is not a readable lmdb database ({size} bytes, shorter than an lmdb header)")
    for i, (flags, magic, version, _, _, psize, _, _) in enumerate(metas):
        if not flags & _META_FLAG or magic != _MAGIC:
            raise ValueError(f"{where} is not a readable lmdb database (meta page {i} has no lmdb magic "
                             "number)")
        if version != _DATA_VERSION:
            raise ValueError(f"{where} has lmdb data format version {version}; this lmdb reads "
                             f"version {_DATA_VERSION}")
    psize = metas[0][5]
    if not _valid_page_size(psize):
        raise ValueError(f"{where} has a damaged header (page size {psize})")
    if len(metas) < 2:
        raise ValueError(f"{where} is truncated: {size} bytes, less than its two meta pages "
                         f"({2 * psize} bytes); copy it again")
    last_page = max(metas, key=lambda meta: meta[7])[6]   # the newer transaction's, as lmdb picks
    needed = (last_page + 1) * psize
    if size < needed:
        raise ValueError(f"{where} is truncated: {size} bytes, but its header says the database fills "
                         f"{needed} ({last_page + 1} pages of {psize}); copy it again")


def _valid_page_size(psize):
    return 512 <= psize <= 0x10000 and not psize & (psize - 1)


def open_lmdb(path):
    """Open an lmdb environment read-only, without a lock file or readahead (safe in many processes).

    The data file is checked against its header first (`check_data_file`): lmdb itself would map a
    truncated file and die of SIGBUS on the first page past its end.
    """
    import lmdb
    try:
        check_data_file(data_file(path))
    except ValueError as err:
        raise ValueError(f"--dataroot: {err}") from None
    try:
        return lmdb.open(path, subdir=os.path.isdir(path), readonly=True, lock=False, readahead=False,
                         meminit=False)
    except lmdb.Error as err:
        raise ValueError(f"--dataroot {path!r} is not a readable lmdb database ({err})") from None


def _fingerprint(path, env):
    """Numbers that change when the database does: record count, data file size and mtime."""
    stat = os.stat(data_file(path))
    return np.array([_CACHE_VERSION, env.stat()["entries"], stat.st_size, stat.st_mtime_ns], dtype=np.int64)


def cache_paths(path, cache_dir=None):
    """Where the key index of the database at `path` is looked for, in order: beside it, then the cache."""
    path = os.path.abspath(path).rstrip(os.sep)
    digest = hashlib.sha1(path.encode()).hexdigest()[:12]
    home = os.path.expanduser(cache_dir) if cache_dir else cache_path("lsun")
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
        Folder for the key index; default beside the database, else ``lsun/`` in the
        package's cache folder (`gluon_wgan.utils.cache.cache_path`).

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
