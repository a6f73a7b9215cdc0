"""A reader of PyTorch state-dict files (``.pth``) that needs no PyTorch and runs nothing from the file.

The security boundary. A ``.pth`` is a pickle, and an ordinary unpickler calls whatever the file
names (``os.system``, ``builtins.eval``, any importable callable) while loading it: reading a
downloaded ``.pth`` with ``pickle.load`` or ``torch.load(weights_only=False)`` runs code of the file's
author. This module reads such a file for its tensors only, and what it enforces is:

- **Nothing of the file's choosing is imported or called.** `_StateDictUnpickler.find_class` admits
  exactly three kinds of global (``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2``,
  the ``torch.<Type>Storage`` classes of `_STORAGE_DTYPES`) and returns for the last two inert
  stand-ins that check and record their arguments; every other name is refused before anything is
  called, including one nested inside an admitted dict. ``persistent_load`` admits only the plain
  storage record ``('storage', type, key, location, numel)`` (the legacy format's sixth field, a
  view's metadata, must be None). PyTorch is never imported.
- **The result is a dict of tensors and nothing else.** A pickle that is not a ``{str: tensor}``
  mapping (a whole model, a training checkpoint, a list) is refused.
- **Sizes are checked before memory is spent.** A zip record must hold exactly the bytes its storage
  declares (checked from the archive's directory, before the record is read: no zip bomb); a legacy
  storage must fit in what is left of the file before it is read; a tensor's offset, size and stride
  must stay inside its storage before a view of it is made. Arrays come out as copies in native order.
- **Every failure is one ValueError naming the file**: ``refusing <module>.<name>`` for a refused
  name, ``not a PyTorch state dict (...)`` for the errors that parsing a damaged file raises.

What it does not promise: that the tensors are the ones a caller expects (names, shapes, values).
`gluon_wgan.metrics.fid_weights.convert` checks those against the network. Anything added here (a
new admitted name, a new format) widens the boundary: tests/test_fid_inception.py holds the crafted
files that must stay refused, and tests/test_fid_inception_torch.py the files torch itself writes.
"""
import collections
import io
import os
import pickle
import struct
import zipfile

import numpy as np

_STORAGE_DTYPES = {"FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "LongStorage": "<i8",
                   "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1",
                   "BoolStorage": "?"}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C     # torch's legacy (pre-1.6) format: five pickles, then raw storages
_LEGACY_PROTOCOL = 1001
_ADMITTED = "collections.OrderedDict, torch._utils._rebuild_tensor_v2 and torch.<Type>Storage"


class _StorageType(str):
    """Stands for a ``torch.<Type>Storage`` class in the pickle; holds the numpy dtype string."""


_StorageRef = collections.namedtuple("_StorageRef", "key dtype numel")
_TensorRef = collections.namedtuple("_TensorRef", "storage offset size stride")


class _Refused(ValueError):
    """A name or record that a tensor state dict does not need."""


def _rebuild_tensor(storage, storage_offset, size, stride, requires_grad, backward_hooks, metadata=None):
    """Stands in for ``torch._utils._rebuild_tensor_v2``: checks and records its arguments, nothing else."""
    ok = (isinstance(storage, _StorageRef) and isinstance(storage_offset, int) and storage_offset >= 0
          and isinstance(size, tuple) and isinstance(stride, tuple) and len(size) == len(stride)
          and all(isinstance(v, int) and v >= 0 for v in size + stride))
    if not ok:
        raise _Refused("_rebuild_tensor_v2 with arguments that are not a storage, offset, size and stride")
    return _TensorRef(storage, storage_offset, size, stride)


class _StateDictUnpickler(pickle.Unpickler):
    """Unpickles a tensor state dict and nothing else: `find_class` admits only the names such a file
    holds and maps them to inert stand-ins, so no callable of the file's choosing ever runs."""

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        raise _Refused(f"refusing {module}.{name}: only {_ADMITTED} are admitted")

    def persistent_load(self, pid):
        # ('storage', type, key, location, numel) in the zip format; the legacy one adds view metadata.
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[2], str) and isinstance(pid[4], int)
                and pid[4] >= 0 and (len(pid) == 5 or pid[5] is None)):
            raise _Refused(f"refusing persistent id {str(pid)[:80]!r}: not a plain tensor storage")
        return _StorageRef(pid[2], str(pid[1]), pid[4])


def _unpickle(stream):
    return _StateDictUnpickler(stream).load()


def read_torch_state_dict(path):
    """The tensors of a PyTorch state-dict file, as numpy arrays, without PyTorch and without running
    anything from the file.

    Both of ``torch.save``'s formats are read: the zip archive (PyTorch >= 1.6: ``<name>/data.pkl`` and
    ``<name>/data/<key>`` records) and the legacy one (pickles followed by the raw storages). The
    pickle may name only ``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2`` and the
    ``torch.<Type>Storage`` classes; they are replaced by stand-ins that only record their arguments.

    Parameters
    ----------
    path : str

    Returns
    -------
    dict
        {key: numpy.ndarray} in the file's order.

    Raises
    ------
    ValueError
        One line naming the file: a refused name ("refusing os.system: ..."), a damaged or truncated
        file, or a pickle that is not a dict of tensors.
    """
    try:
        if zipfile.is_zipfile(path):
            return _read_zip(path)
        with open(path, "rb") as f:
            return _read_legacy(f)
    except _Refused as err:
        raise ValueError(f"{path}: {err} (nothing in the file was run)") from None
    except (pickle.UnpicklingError, EOFError, zipfile.BadZipFile, KeyError, IndexError, TypeError, ValueError,
            AttributeError, struct.error, OSError, OverflowError) as err:   # what damaged files raise
        raise ValueError(f"{path}: not a PyTorch state dict ({type(err).__name__}: {str(err)[:120]})") \
            from None


def _read_zip(path):
    with zipfile.ZipFile(path) as archive:
        roots = [n[:-len("/data.pkl")] for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(roots) != 1:
            raise _Refused(f"a zip file without exactly one <name>/data.pkl record ({len(roots)} found)")
        root = roots[0]
        order = "little"
        if f"{root}/byteorder" in archive.namelist():
            order = archive.read(f"{root}/byteorder").decode("ascii").strip()
        state = _unpickle(io.BytesIO(archive.read(f"{root}/data.pkl")))
        storages = {}
        for ref in _tensor_refs(state):
            key = ref.storage.key
            if key not in storages:
                dtype = np.dtype(ref.storage.dtype).newbyteorder("<" if order == "little" else ">")
                name = f"{root}/data/{key}"
                expected = ref.storage.numel * dtype.itemsize
                if archive.getinfo(name).file_size != expected:    # checked before reading: no zip bomb
                    raise _Refused(f"record {name} holds {archive.getinfo(name).file_size} bytes, "
                                   f"not the {expected} its storage declares")
                storages[key] = np.frombuffer(archive.read(name), dtype)
        return _materialise(state, storages)


def _read_legacy(f):
    head = f.read(2)
    f.seek(0)
    if head[:1] != b"\x80":
        raise _Refused("neither a zip archive nor a pickle (a tar file of an old PyTorch?)")
    if _unpickle(f) != _LEGACY_MAGIC or _unpickle(f) != _LEGACY_PROTOCOL:
        raise _Refused("a pickle, but not a torch.save file (wrong magic number or protocol)")
    sys_info = _unpickle(f)
    little = sys_info.get("little_endian", True) if isinstance(sys_info, dict) else True
    state = _unpickle(f)
    keys = _unpickle(f)
    if not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)):
        raise _Refused("the list of storage keys is not a list of strings")
    declared = {ref.storage.key: ref.storage for ref in _tensor_refs(state)}
    storages = {}
    for key in keys:     # each storage: its element count as int64, then its bytes
        (numel,) = struct.unpack("<q" if little else ">q", f.read(8))
        ref = declared.get(key)
        if ref is None or numel != ref.numel:
            raise _Refused(f"storage {key!r} is not the one the pickle declares")
        dtype = np.dtype(ref.dtype).newbyteorder("<" if little else ">")
        if numel * dtype.itemsize > os.fstat(f.fileno()).st_size - f.tell():   # before allocating it
            raise EOFError(f"storage {key!r} is truncated")
        data = f.read(numel * dtype.itemsize)
        storages[key] = np.frombuffer(data, dtype)
    return _materialise(state, storages)


def _tensor_refs(state):
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, _TensorRef)
                                              for k, v in state.items()):
        raise _Refused("the pickle is not a dict of tensors (a whole model or a training checkpoint?)")
    return state.values()


def _materialise(state, storages):
    """numpy arrays from (storage, offset, size, stride) records, with bounds checked."""
    out = {}
    for name, ref in state.items():
        flat = storages.get(ref.storage.key)
        if flat is None:
            raise _Refused(f"tensor {name!r} refers to a missing storage {ref.storage.key!r}")
        last = ref.offset + sum((s - 1) * st for s, st in zip(ref.size, ref.stride)) if all(ref.size) else -1
        if last >= len(flat) or int(np.prod(ref.size, dtype=np.float64)) > len(flat):
            raise _Refused(f"tensor {name!r} reaches past the end of its storage or holds more elements")
        view = np.lib.stride_tricks.as_strided(flat[ref.offset:], shape=ref.size,
                                               strides=[st * flat.itemsize for st in ref.stride])
        out[name] = view.astype(flat.dtype.newbyteorder("="))    # a copy in native order (0-d stays 0-d)
    return out
