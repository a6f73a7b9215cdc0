"""The FID Inception network (TensorFlow graph of 2015-12-05) in Gluon, and its weights read without PyTorch.

FID (Heusel et al. 2017, section 3) and the Inception Score (Salimans et al. 2016, section 4) as papers
report them come from one network: the TensorFlow Inception graph ``inception-2015-12-05`` (bioinf-jku/TTUR,
openai/improved-gan). mseitzer/pytorch-fid ported its weights to ``pt_inception-2015-12-05-6726825d.pth``
and describes the graph as torchvision's InceptionV3 with four changes, transcribed here:

- the average pools of the A, C and first E blocks (Mixed_5b-d, 6b-e, 7b) leave the zero padding out of
  the mean (TensorFlow's 'SAME' average pooling);
- the pool branch of the last E block (Mixed_7c) takes a 3 x 3 *max* pool (an oddity of that graph);
- 1008 logits (ImageNet's 1000 classes plus unused ones, as the graph has them);
- inputs resized to 299 x 299 bilinearly with half-pixel centres (PyTorch's ``align_corners=False``),
  then scaled to [-1, 1].

The user downloads the ``.pth`` file (docs/metrics.md); `read_torch_state_dict` reads it through a
restricted unpickler that runs nothing from the file, and `load_weights` converts it once into a ``.npz``
of this package whose SHA-256 is recorded next to it, so later runs never parse the ``.pth`` again.
"""
import collections
import hashlib
import io
import json
import logging
import os
import pickle
import struct
import zipfile

import mxnet as mx
import numpy as np
from mxnet.gluon import HybridBlock, nn

from ..utils.files import atomic_write

log = logging.getLogger(__name__)

WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + WEIGHTS_FILE
# torch.hub names a file <name>-<first 8 hex digits of its SHA-256>.pth and checks that prefix.
PUBLISHED_SHA256_PREFIX = "6726825d"
INPUT_SIZE = 299
NUM_CLASSES = 1008
# pytorch-fid's --dims: channels after the first max pool, the second max pool, Mixed_6e and the final
# average pool ('pool_3', the standard FID features); the value is the stage whose output is tapped.
FEATURE_TAPS = {64: 0, 192: 1, 768: 2, 2048: 3}
CACHE_FORMAT = 1       # bump when the converted file's layout changes
BN_EPS = 1e-3          # BatchNorm epsilon of torchvision's BasicConv2d, which pytorch-fid loads the weights into


# --------------------------------------------------------------------------------------------- network

class _ConvBN(HybridBlock):
    """Convolution without bias, BatchNorm with the stored statistics, ReLU (one 'BasicConv2d')."""

    def __init__(self, in_channels, channels, kernel, stride=1, padding=0, prefix=None):
        super().__init__(prefix=prefix)
        with self.name_scope():
            self.conv = nn.Conv2D(channels, kernel, strides=stride, padding=padding, use_bias=False,
                                  in_channels=in_channels, prefix="conv.")
            # use_global_stats: running statistics even inside autograd.record() (a metric never trains).
            self.bn = nn.BatchNorm(epsilon=BN_EPS, in_channels=channels, use_global_stats=True, prefix="bn.")

    def hybrid_forward(self, F, x):
        return F.relu(self.bn(self.conv(x)))


def _conv(name, c_in, c_out, kernel, stride=1, padding=0):
    return _ConvBN(c_in, c_out, kernel, stride, padding, prefix=name + ".")


class _Mixed(HybridBlock):
    """An Inception block: branches of `_ConvBN` chains and one pool branch, concatenated on channels.

    `chains` lists the branches in output order, each a list of `_ConvBN`; a pair stands for the (1, 3)
    and (3, 1) convolutions that end the E block's branches, side by side. `pool` is 'avg' (3 x 3,
    stride 1, the padding left out of the mean), 'max' (3 x 3, stride 1, padding 1) or 'max2' (3 x 3,
    stride 2, no convolution after it: the B and D blocks).
    """

    def __init__(self, chains, pool, pool_conv=None):
        super().__init__(prefix="")        # the layers carry their full names already
        self.pool = pool
        self.chains = chains
        self.pool_conv = pool_conv
        for chain in chains:
            for layer in chain:
                for block in (layer if isinstance(layer, tuple) else (layer,)):
                    self.register_child(block)

    def hybrid_forward(self, F, x):
        outputs = []
        for chain in self.chains:
            y = x
            for layer in chain:
                y = F.concat(layer[0](y), layer[1](y), dim=1) if isinstance(layer, tuple) else layer(y)
            outputs.append(y)
        if self.pool == "avg":     # TensorFlow's 'SAME' average pool: padded zeros are not counted
            pooled = F.Pooling(x, kernel=(3, 3), stride=(1, 1), pad=(1, 1), pool_type="avg",
                               count_include_pad=False)
        elif self.pool == "max":
            pooled = F.Pooling(x, kernel=(3, 3), stride=(1, 1), pad=(1, 1), pool_type="max")
        else:
            pooled = F.Pooling(x, kernel=(3, 3), stride=(2, 2), pool_type="max")
        outputs.append(self.pool_conv(pooled) if self.pool_conv is not None else pooled)
        return F.concat(*outputs, dim=1)


ROW7, COL7 = dict(kernel=(1, 7), padding=(0, 3)), dict(kernel=(7, 1), padding=(3, 0))   # factorised 7 x 7
ROW3, COL3 = dict(kernel=(1, 3), padding=(0, 1)), dict(kernel=(3, 1), padding=(1, 0))   # factorised 3 x 3


def _block_a(n, c_in, pool_features):
    """Mixed_5b-d: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avg pool-1x1."""
    return _Mixed([[_conv(n + ".branch1x1", c_in, 64, 1)],
                   [_conv(n + ".branch5x5_1", c_in, 48, 1), _conv(n + ".branch5x5_2", 48, 64, 5, padding=2)],
                   [_conv(n + ".branch3x3dbl_1", c_in, 64, 1), _conv(n + ".branch3x3dbl_2", 64, 96, 3, padding=1),
                    _conv(n + ".branch3x3dbl_3", 96, 96, 3, padding=1)]],
                  "avg", _conv(n + ".branch_pool", c_in, pool_features, 1))


def _block_b(n, c_in):
    """Mixed_6a, the 35 -> 17 reduction: 3x3/2 | 1x1-3x3-3x3/2 | max pool/2."""
    return _Mixed([[_conv(n + ".branch3x3", c_in, 384, 3, stride=2)],
                   [_conv(n + ".branch3x3dbl_1", c_in, 64, 1), _conv(n + ".branch3x3dbl_2", 64, 96, 3, padding=1),
                    _conv(n + ".branch3x3dbl_3", 96, 96, 3, stride=2)]],
                  "max2")


def _block_c(n, c_in, c7):
    """Mixed_6b-e: 1x1 | 1x1-1x7-7x1 | 1x1-7x1-1x7-7x1-1x7 | avg pool-1x1."""
    return _Mixed([[_conv(n + ".branch1x1", c_in, 192, 1)],
                   [_conv(n + ".branch7x7_1", c_in, c7, 1), _conv(n + ".branch7x7_2", c7, c7, **ROW7),
                    _conv(n + ".branch7x7_3", c7, 192, **COL7)],
                   [_conv(n + ".branch7x7dbl_1", c_in, c7, 1), _conv(n + ".branch7x7dbl_2", c7, c7, **COL7),
                    _conv(n + ".branch7x7dbl_3", c7, c7, **ROW7), _conv(n + ".branch7x7dbl_4", c7, c7, **COL7),
                    _conv(n + ".branch7x7dbl_5", c7, 192, **ROW7)]],
                  "avg", _conv(n + ".branch_pool", c_in, 192, 1))


def _block_d(n, c_in):
    """Mixed_7a, the 17 -> 8 reduction: 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | max pool/2."""
    return _Mixed([[_conv(n + ".branch3x3_1", c_in, 192, 1), _conv(n + ".branch3x3_2", 192, 320, 3, stride=2)],
                   [_conv(n + ".branch7x7x3_1", c_in, 192, 1), _conv(n + ".branch7x7x3_2", 192, 192, **ROW7),
                    _conv(n + ".branch7x7x3_3", 192, 192, **COL7), _conv(n + ".branch7x7x3_4", 192, 192, 3, stride=2)]],
                  "max2")


def _block_e(n, c_in, pool):
    """Mixed_7b-c: 1x1 | 1x1-(1x3, 3x1) | 1x1-3x3-(1x3, 3x1) | pool-1x1; Mixed_7c's pool is a max pool."""
    return _Mixed([[_conv(n + ".branch1x1", c_in, 320, 1)],
                   [_conv(n + ".branch3x3_1", c_in, 384, 1),
                    (_conv(n + ".branch3x3_2a", 384, 384, **ROW3), _conv(n + ".branch3x3_2b", 384, 384, **COL3))],
                   [_conv(n + ".branch3x3dbl_1", c_in, 448, 1), _conv(n + ".branch3x3dbl_2", 448, 384, 3, padding=1),
                    (_conv(n + ".branch3x3dbl_3a", 384, 384, **ROW3),
                     _conv(n + ".branch3x3dbl_3b", 384, 384, **COL3))]],
                  pool, _conv(n + ".branch_pool", c_in, 192, 1))


class FIDInceptionV3(HybridBlock):
    """The FID Inception network: images in [-1, 1] -> (features, logits, logits without bias).

    Parameter names are those of pytorch-fid's state dict (``Mixed_5b.branch1x1.conv.weight``), with
    BatchNorm's ``weight``/``bias`` called ``gamma``/``beta`` as in Gluon; the default prefix is empty so
    that the names match exactly.

    Parameters
    ----------
    dims : {64, 192, 768, 2048}, default 2048
        Which features to return, averaged over their spatial positions: 2048 is ``pool_3``, the FID
        features of TTUR and pytorch-fid; the others tap earlier stages like pytorch-fid's ``--dims``.

    Inputs: images (N, 3, H, W), RGB in [-1, 1], any H and W (resized to 299 x 299).
    Outputs: features (N, dims); logits (N, 1008) = ``pool_3 W^T + b`` (pytorch-fid's ``fc``); logits
    (N, 1008) without the bias, ``pool_3 W^T``, from which openai/improved-gan's Inception Score takes its
    softmax (``tf.matmul(pool3, w)`` with ``w`` the graph's 'softmax/logits/MatMul' weights).

    Raises
    ------
    ValueError
        For a `dims` that is not a tap.
    """

    def __init__(self, dims=2048, prefix="", **kwargs):
        super().__init__(prefix=prefix, **kwargs)
        if dims not in FEATURE_TAPS:
            raise ValueError(f"dims must be one of {', '.join(map(str, FEATURE_TAPS))}, got {dims!r}")
        self.tap = FEATURE_TAPS[dims]
        with self.name_scope():
            self.stage0 = nn.HybridSequential(prefix="")      # 299 -> 73, 64 channels
            self.stage0.add(_conv("Conv2d_1a_3x3", 3, 32, 3, stride=2), _conv("Conv2d_2a_3x3", 32, 32, 3),
                            _conv("Conv2d_2b_3x3", 32, 64, 3, padding=1), nn.MaxPool2D(3, 2))
            self.stage1 = nn.HybridSequential(prefix="")      # 73 -> 35, 192 channels
            self.stage1.add(_conv("Conv2d_3b_1x1", 64, 80, 1), _conv("Conv2d_4a_3x3", 80, 192, 3),
                            nn.MaxPool2D(3, 2))
            self.stage2 = nn.HybridSequential(prefix="")      # 35 -> 17, 768 channels
            self.stage2.add(_block_a("Mixed_5b", 192, 32), _block_a("Mixed_5c", 256, 64),
                            _block_a("Mixed_5d", 288, 64), _block_b("Mixed_6a", 288),
                            _block_c("Mixed_6b", 768, 128), _block_c("Mixed_6c", 768, 160),
                            _block_c("Mixed_6d", 768, 160), _block_c("Mixed_6e", 768, 192))
            self.stage3 = nn.HybridSequential(prefix="")      # 17 -> 8, 2048 channels
            self.stage3.add(_block_d("Mixed_7a", 768), _block_e("Mixed_7b", 1280, "avg"),
                            _block_e("Mixed_7c", 2048, "max"))
            self.fc_weight = self.params.get("fc.weight", shape=(NUM_CLASSES, 2048))
            self.fc_bias = self.params.get("fc.bias", shape=(NUM_CLASSES,))

    def hybrid_forward(self, F, x, fc_weight, fc_bias):
        # pytorch-fid takes [0, 1] images, resizes, then maps to [-1, 1]: the same steps in the same order.
        x = (x + 1) / 2
        x = F.contrib.BilinearResize2D(x, height=INPUT_SIZE, width=INPUT_SIZE, align_corners=False)
        x = 2 * x - 1
        features = None
        for i, stage in enumerate((self.stage0, self.stage1, self.stage2, self.stage3)):
            x = stage(x)
            if i == self.tap:
                features = F.mean(x, axis=(2, 3))             # average over positions ('pool_3' at 8 x 8)
        pool3 = F.mean(x, axis=(2, 3))
        unbiased = F.FullyConnected(pool3, fc_weight, no_bias=True, num_hidden=NUM_CLASSES)
        return features, F.broadcast_add(unbiased, F.reshape(fc_bias, (1, -1))), unbiased


def parameter_shapes():
    """{Gluon parameter name: shape} of `FIDInceptionV3`, i.e. what a converted file must hold."""
    return {name: tuple(p.shape) for name, p in FIDInceptionV3().collect_params().items()}


def gluon_name(torch_name):
    """The Gluon parameter name of a pytorch-fid state-dict key (BatchNorm's weight/bias -> gamma/beta)."""
    for torch_suffix, gluon_suffix in ((".bn.weight", ".bn.gamma"), (".bn.bias", ".bn.beta")):
        if torch_name.endswith(torch_suffix):
            return torch_name[:-len(torch_suffix)] + gluon_suffix
    return torch_name


# ------------------------------------------------------------------------- reading a .pth without torch

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


# ----------------------------------------------------------------------------- conversion and its cache

def default_cache_dir():
    """``$XDG_CACHE_HOME/gluon_wgan/fid_inception`` (``~/.cache/...`` when the variable is unset)."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "gluon_wgan", "fid_inception")


def sha256_of(path):
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def convert(state_dict):
    """pytorch-fid's tensors -> {Gluon parameter name: float32 array}, checked against the network.

    Raises
    ------
    ValueError
        Naming the missing, unexpected or misshapen parameters (at most five of each).
    """
    shapes = parameter_shapes()
    arrays = {gluon_name(k): v for k, v in state_dict.items() if not k.endswith(".num_batches_tracked")}
    missing = sorted(set(shapes) - set(arrays))
    extra = sorted(set(arrays) - set(shapes))
    wrong = sorted(k for k in set(shapes) & set(arrays) if tuple(arrays[k].shape) != shapes[k])
    if missing or extra or wrong:
        parts = [f"{label} {', '.join(names[:5])}{' ...' if len(names) > 5 else ''}"
                 for label, names in (("missing", missing), ("unexpected", extra), ("misshapen", wrong)) if names]
        raise ValueError("not the FID Inception weights: " + "; ".join(parts))
    return {k: np.asarray(arrays[k], np.float32) for k in shapes}


def load_weights(path, cache_dir=None):
    """The FID Inception weights of `path`, converted once and then read from `cache_dir`.

    The first call reads the ``.pth`` (`read_torch_state_dict`), checks it against the network
    (`convert`), and writes ``fid_inception-<SHA-256 of the .pth, 16 digits>.npz`` plus a ``.json``
    manifest with both files' SHA-256. Later calls hash the ``.pth`` to find the entry, check the
    ``.npz`` against its recorded SHA-256, and never parse the ``.pth``.

    Parameters
    ----------
    path : str
        ``pt_inception-2015-12-05-6726825d.pth`` as downloaded (or any file of that layout).
    cache_dir : str, optional
        Where converted files live; default `default_cache_dir()`.

    Returns
    -------
    (dict, str)
        {Gluon parameter name: float32 array}, and the weights' identity for caches of statistics:
        ``pt_inception-2015-12-05-6726825d`` for the published file, else ``fid-inception:sha256:<hex>``.

    Raises
    ------
    ValueError
        A missing or unreadable file, refused contents, a layout that is not the network's, or a cached
        ``.npz`` whose SHA-256 differs from its manifest (one line: delete both files to convert again).
    """
    if not os.path.isfile(path):
        raise ValueError(f"--inception-weights {path!r} does not exist (download {WEIGHTS_URL} yourself: "
                         "see docs/metrics.md)")
    source_sha = sha256_of(path)
    published = source_sha.startswith(PUBLISHED_SHA256_PREFIX)
    identity = WEIGHTS_FILE[:-len(".pth")] if published else f"fid-inception:sha256:{source_sha}"
    if not published:
        log.warning("%s is not the published FID Inception file (SHA-256 %s... does not start with %s): its "
                    "numbers are not comparable with papers'", path, source_sha[:12], PUBLISHED_SHA256_PREFIX)
    cache_dir = cache_dir or default_cache_dir()
    npz = os.path.join(cache_dir, f"fid_inception-{source_sha[:16]}.npz")
    manifest = npz[:-len(".npz")] + ".json"
    if os.path.isfile(npz) and os.path.isfile(manifest):
        return _read_converted(npz, manifest, source_sha), identity
    try:
        arrays = convert(read_torch_state_dict(path))
    except ValueError as err:
        message = str(err)
        raise ValueError(message if message.startswith(path) else f"{path}: {message}") from None
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    data = buffer.getvalue()
    try:
        atomic_write(npz, data)       # the manifest last: without it the .npz is converted again
        atomic_write(manifest, json.dumps(dict(
            format=CACHE_FORMAT, source=os.path.basename(path), source_sha256=source_sha,
            sha256=hashlib.sha256(data).hexdigest()), indent=2, sort_keys=True).encode() + b"\n")
        log.info("converted %s to %s", path, npz)
    except OSError as err:    # a read-only or full cache costs a conversion per run, not the evaluation
        log.warning("cannot cache the converted weights in %s (%s); they will be converted again next time",
                    cache_dir, err)
    return arrays, identity


def _read_converted(npz, manifest, source_sha):
    """The arrays of a converted file, after checking it against its manifest."""
    try:
        with open(manifest) as f:
            meta = json.load(f)
        recorded = meta["sha256"], meta["source_sha256"], meta["format"]
    except (OSError, ValueError, KeyError, TypeError) as err:     # damaged or edited by hand
        raise ValueError(f"{manifest} is damaged ({type(err).__name__}); delete it and {npz} to convert "
                         "the weights again") from None
    actual = sha256_of(npz)
    if recorded != (actual, source_sha, CACHE_FORMAT):
        raise ValueError(f"{npz} has SHA-256 {actual[:16]}..., not the {str(recorded[0])[:16]}... recorded in "
                         f"{manifest} when it was converted (or another source or format); delete both to "
                         "convert the weights again")
    shapes = parameter_shapes()
    with np.load(npz, allow_pickle=False) as stored:
        if set(stored.files) != set(shapes):
            raise ValueError(f"{npz} does not hold the FID Inception parameters; delete it to convert again")
        return {k: stored[k] for k in shapes}


# ---------------------------------------------------------------------------------------- the extractor

class FIDInceptionFeatures:
    """The FID Inception network as a feature extractor: FID and IS comparable with the papers' numbers.

    Same interface as `gluon_wgan.metrics.inception.InceptionV3Features` (``__call__``, ``identity``,
    ``dims``, ``batch_size``, ``ctx``), so `gluon_wgan.training.evaluate` takes either.

    Parameters
    ----------
    weights : str
        ``pt_inception-2015-12-05-6726825d.pth`` (the user downloads it: docs/metrics.md).
    cache_dir : str, optional
        Where the converted weights are kept; default `default_cache_dir()`.
    ctx : mx.Context, default mx.cpu()
    batch_size : int, default 50
    dims : {64, 192, 768, 2048}, default 2048

    Attributes
    ----------
    identity : str
        ``pt_inception-2015-12-05-6726825d`` for the published file, else ``fid-inception:sha256:<hex>``.
    comparable_with_papers : bool
        True for the published file at 2048 dims: the numbers may stand next to papers' (docs/metrics.md).

    Raises
    ------
    ValueError
        As `load_weights`; a `batch_size` below 1 or an unknown `dims`.
    """

    name = "fid-inception"

    def __init__(self, weights, cache_dir=None, ctx=None, batch_size=50, dims=2048):
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.net = FIDInceptionV3(dims=dims)
        arrays, self.identity = load_weights(weights, cache_dir)
        self.comparable_with_papers = self.identity == WEIGHTS_FILE[:-len(".pth")] and dims == 2048
        self.ctx = ctx or mx.cpu()
        self.batch_size, self.dims = int(batch_size), int(dims)
        for name, param in self.net.collect_params().items():
            param.initialize(mx.init.Constant(0), ctx=self.ctx)
            param.set_data(mx.nd.array(arrays[name], ctx=self.ctx))
        self.net.hybridize(static_alloc=True)

    def outputs(self, images):
        """Features (N, dims), logits (N, 1008) and logits without bias (N, 1008), float32 numpy arrays.

        `images`: numpy array or NDArray (N, 3, H, W), RGB in [-1, 1].
        """
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must have shape (N, 3, H, W), got {tuple(images.shape)}")
        parts = []
        for start in range(0, images.shape[0], self.batch_size):
            batch = images[start:start + self.batch_size]
            batch = batch.as_in_context(self.ctx) if isinstance(batch, mx.nd.NDArray) else \
                mx.nd.array(batch, ctx=self.ctx)
            parts.append([out.asnumpy() for out in self.net(batch.astype("float32"))])  # host sync per batch
        return tuple(np.concatenate(column) for column in zip(*parts))

    def __call__(self, images):
        """Features (N, dims) and class probabilities (N, 1008) of `images` (N, 3, H, W) in [-1, 1].

        The probabilities are the softmax of the logits *without* the bias, as openai/improved-gan's
        Inception Score (and the WGAN-GP paper's copy of it) computes them; in float64.
        """
        features, _, unbiased = self.outputs(images)
        z = unbiased.astype(np.float64)
        z -= z.max(axis=1, keepdims=True)
        probs = np.exp(z)
        return features, probs / probs.sum(axis=1, keepdims=True)
