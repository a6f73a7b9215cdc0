"""The CUDA 11 libraries that MXNet's CUDA wheel links against, from the nvidia-*-cu11 wheels.

`libmxnet.so` of mxnet-cu112 1.9.1 needs (``readelf -d``) libcudart.so.11.0, libcublas.so.11,
libcudnn.so.8, libcufft.so.10, libcurand.so.10, libcusolver.so.11, libnccl.so.2, libnvrtc.so.11.2,
libnvToolsExt.so.1 and the driver's libcuda.so.1; only its own folder is on its search path.
requirements-gpu.txt installs the first nine as pip wheels, under ``site-packages/nvidia/*/lib``,
where the dynamic loader does not look. Loading each of them by path with ``RTLD_GLOBAL``, libraries
before the libraries that need them, makes them loaded objects with those sonames, and the loader
uses an already loaded object before searching any path: `import mxnet` then resolves everything
but the driver. It must happen before MXNet loads (PyTorch's pip wheels load their nvidia wheels the
same way). cuDNN's and NVRTC's libraries open their companions themselves from their own
folder (their RUNPATH is ``$ORIGIN``), so they need nothing more.
"""
import ctypes
import glob
import importlib.util
import os
import sys

from . import elf

DRIVER = "libcuda.so.1"

# soname -> path (or the OSError of loading it) of every library `preload` loaded in this process.
LOADED = {}

# soname -> the pip wheel that provides it (pinned in requirements-gpu.txt; a test keeps them equal).
PROVIDERS = {
    "libcudart.so.11.0": "nvidia-cuda-runtime-cu11",
    "libcublas.so.11": "nvidia-cublas-cu11",
    "libcublasLt.so.11": "nvidia-cublas-cu11",
    "libcudnn.so.8": "nvidia-cudnn-cu11",
    "libcufft.so.10": "nvidia-cufft-cu11",
    "libcurand.so.10": "nvidia-curand-cu11",
    "libcusolver.so.11": "nvidia-cusolver-cu11",
    "libcusparse.so.11": "nvidia-cusparse-cu11",     # needed by mxnet-cu111, -cu113 and later wheels
    "libnvrtc.so.11.2": "nvidia-cuda-nvrtc-cu11",
    "libnccl.so.2": "nvidia-nccl-cu11",
    "libnvToolsExt.so.1": "nvidia-nvtx-cu11",
}


def mxnet_library():
    """Path of the installed MXNet's libmxnet.so, found without importing MXNet; None without MXNet."""
    spec = importlib.util.find_spec("mxnet")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "libmxnet.so")
    return path if os.path.exists(path) else None


def nvidia_dirs(paths=None):
    """The ``nvidia/*/lib`` folders of the pip CUDA wheels under each entry of `paths` (sys.path)."""
    found = []
    for entry in sys.path if paths is None else paths:
        for folder in sorted(glob.glob(os.path.join(entry or ".", "nvidia", "*", "lib"))):
            if os.path.isdir(folder) and folder not in found:
                found.append(folder)
    return found


def find(soname, dirs):
    """The first ``dir/soname`` that exists among `dirs`, or None."""
    for folder in dirs:
        path = os.path.join(folder, soname)
        if os.path.exists(path):
            return path
    return None


def needed(path):
    """The sonames the shared library at `path` needs."""
    data = elf.open_map(path)
    try:
        return elf.needed(data)
    finally:
        data.close()


def load_order(library, dirs, needs=needed):
    """[(soname, path)] of the libraries in `dirs` that `library` needs, directly or through each
    other, each after those it needs itself (depth first, in NEEDED order)."""
    order, seen = [], set()

    def visit(path):
        for soname in needs(path):
            if soname in seen:
                continue
            seen.add(soname)
            found = find(soname, dirs)
            if found:
                visit(found)
                order.append((soname, found))

    visit(library)
    return order


def load_global(path):
    """dlopen `path` with RTLD_GLOBAL, so later libraries resolve their needs against it."""
    return ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)


def preload(library=None, dirs=None, load=load_global, needs=needed):
    """Load the pip CUDA libraries that MXNet's library needs, by path, before MXNet loads.

    Call it before the first ``import mxnet``; after it, it does nothing (MXNet has resolved its
    libraries, or failed to). With the CPU wheel, or without the nvidia wheels, nothing is found
    and nothing is loaded.

    Parameters
    ----------
    library : str, optional
        Path of libmxnet.so; default: the installed MXNet's.
    dirs : list of str, optional
        Folders to take libraries from; default: `nvidia_dirs()`.
    load : callable, default `load_global`
        Called with each path, in dependency order.

    Returns
    -------
    dict
        soname -> path for each library loaded, or -> the OSError that loading it raised (a
        damaged file, or a library it needs that is missing from the host); empty if nothing was
        to be done.
    """
    if "mxnet" in sys.modules:
        return {}
    library = library or mxnet_library()
    dirs = nvidia_dirs() if dirs is None else dirs
    if library is None or not dirs:
        return {}
    results = {}
    for soname, path in load_order(library, dirs, needs):
        try:
            load(path)
            results[soname] = path
        except OSError as err:
            results[soname] = err
    if results:
        # MXNet warns at every start that the cuDNN it runs with (8.9, the last cuDNN 8 on pip) is
        # not the one it was compiled with; that is the choice made here, and cuDNN 8 keeps its ABI.
        os.environ.setdefault("MXNET_CUDNN_LIB_CHECKING", "0")
    LOADED.update(results)
    return results
