"""Hand-written PyTorch files for the tests: a state dict pickled as `torch.save` writes one (zip and
legacy layouts), without PyTorch, and random FID Inception weights in pytorch-fid's names. Shared by
tests/test_fid_inception.py and tests/test_evaluate.py."""
import pickle
import struct
import zipfile

import numpy as np

from gluon_wgan.metrics import fid_network

TYPES = {np.dtype("float32"): "FloatStorage", np.dtype("float64"): "DoubleStorage", np.dtype("int64"): "LongStorage"}


def op_global(module, name):
    """Pickle opcodes: GLOBAL module.name."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def op_str(text):
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def op_int(value):
    return b"J" + struct.pack("<i", value)


def op_ints(values):
    return b"(" + b"".join(op_int(v) for v in values) + b"t" if values else b")"


def state_dict_pickle(tensors):
    """A protocol-2 pickle of an OrderedDict of tensors, as torch.save writes one.

    `tensors`: list of (name, storage key, storage (1-D array), offset, size, stride); tensors may share a
    storage key. Returns (pickle bytes, {key: storage}).
    """
    out, storages = [b"\x80\x02", op_global("collections", "OrderedDict"), b")R"], {}
    for name, key, storage, offset, size, stride in tensors:
        storages[key] = storage
        pid = b"(" + op_str("storage") + op_global("torch", TYPES[storage.dtype]) + op_str(key) + op_str("cpu") \
            + op_int(storage.size) + b"tQ"                                   # TUPLE, BINPERSID
        out += [op_str(name), op_global("torch._utils", "_rebuild_tensor_v2"), b"(", pid, op_int(offset), op_ints(size),
                op_ints(stride), b"\x89", op_global("collections", "OrderedDict"), b")R", b"tRs"]  # args, REDUCE, SETITEM
    out.append(b".")
    return b"".join(out), storages


def write_zip(path, data_pkl, storages, root="archive"):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{root}/data.pkl", data_pkl)
        archive.writestr(f"{root}/byteorder", "little")
        for key, storage in storages.items():
            archive.writestr(f"{root}/data/{key}", storage.astype(storage.dtype.newbyteorder("<")).tobytes())


def write_legacy(path, data_pkl, storages):
    """torch's pre-1.6 layout: magic number, protocol, system info, the object, storage keys, raw storages."""
    keys = sorted(storages)
    with open(path, "wb") as f:
        for header in (0x1950A86A20F9469CFC6C, 1001, dict(protocol_version=1001, little_endian=True,
                                                          type_sizes=dict(short=2, int=4, long=4))):
            f.write(pickle.dumps(header, protocol=2))
        f.write(data_pkl)
        f.write(pickle.dumps(keys, protocol=2))
        for key in keys:
            storage = storages[key]
            f.write(struct.pack("<q", storage.size) + storage.astype(storage.dtype.newbyteorder("<")).tobytes())


def write_state_dict(path, arrays, layout="zip"):
    """{name: contiguous array} -> a .pth file, one storage per tensor."""
    assert all(a.flags.c_contiguous for a in arrays.values())
    tensors = [(name, str(i), a.ravel(), 0, a.shape, tuple(s // a.itemsize for s in a.strides))
               for i, (name, a) in enumerate(arrays.items())]
    data, storages = state_dict_pickle(tensors)
    (write_zip if layout == "zip" else write_legacy)(path, data, storages)


def random_weights(seed=0):
    """Small random values in the network's layout, as pytorch-fid names them (torch's bn.weight/bias)."""
    rng = np.random.default_rng(seed)
    torch_names = {name.replace(".bn.gamma", ".bn.weight").replace(".bn.beta", ".bn.bias"): shape
                   for name, shape in fid_network.parameter_shapes().items()}
    arrays = {}
    for name, shape in torch_names.items():
        if name.endswith("running_var"):
            arrays[name] = np.ones(shape, np.float32)
        else:
            arrays[name] = (0.1 * rng.standard_normal(shape)).astype(np.float32)
        if name.endswith("running_var"):    # torch's BatchNorm state dicts carry this counter too
            arrays[name.replace("running_var", "num_batches_tracked")] = np.zeros((), np.int64)
    return arrays
