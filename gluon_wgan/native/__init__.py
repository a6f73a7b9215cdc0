"""Fused C++ layer-norm kernels, compiled on first use and loaded as MXNet operators.

`layer_norm.cc` registers two operators through MXNet's external operator library API (the
`lib_api.h` and `lib_api.cc` shipped in the mxnet wheel):

- ``gluon_wgan_layer_norm(x, gamma, beta, eps)`` -> (out, normed, inv_std): `ChannelLayerNorm`.
- ``gluon_wgan_ln_transpose(g, gamma, normed, inv_std[, deriv], with_deriv)`` -> dx: its input
  gradient as a differentiable function, for the gradient penalty.

Each has a hand-written first-order backward. Together they replace about twenty plain operators
and their layout conversions (the layer norm was ~30% of a DCGAN-64 WGAN-GP critic iteration, where
PyTorch's GroupNorm costs ~3%; benchmarks/README.md).

The library is built once per source, MXNet and CPU into ``$GLUON_WGAN_CACHE`` (default
``~/.cache/gluon_wgan``) with ``$CXX`` (default ``c++``). Without a compiler, or with
``GLUON_WGAN_NATIVE=0``, `available()` is False and the callers use their plain-operator versions,
which compute the same values (tests/test_native.py checks both against each other).
"""
import contextlib
import functools
import hashlib
import os
import subprocess
import tempfile
import warnings

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "layer_norm.cc")
LAYER_NORM = "gluon_wgan_layer_norm"
TRANSPOSE = "gluon_wgan_ln_transpose"


_forced_off = []   # non-empty inside plain_operators()


def enabled():
    """False when the user turned the kernels off with GLUON_WGAN_NATIVE=0."""
    return os.environ.get("GLUON_WGAN_NATIVE", "1") != "0"


def available():
    """True when the kernels are loaded into MXNet (building them first if needed) and not
    switched off; then `ChannelLayerNorm` and the penalty use them on CPU devices.

    The first call builds and loads; when that fails it warns once, with the reason.
    """
    return enabled() and not _forced_off and _load()


@contextlib.contextmanager
def plain_operators():
    """Inside, `available()` is False: layers built and graphs hybridized inside use the plain
    operators, and so do penalties computed inside (for comparisons and tests)."""
    _forced_off.append(True)
    try:
        yield
    finally:
        _forced_off.pop()


@functools.lru_cache(maxsize=None)
def _load():
    try:
        import mxnet as mx
        path = _library_path(mx)
        if not os.path.exists(path):
            _build(mx, path)
        mx.library.load(path, verbose=False)
    except (OSError, subprocess.CalledProcessError, RuntimeError, ValueError) as err:
        warnings.warn(f"gluon_wgan: fused layer-norm kernels unavailable ({_last_line(err)}); "
                      "using plain MXNet operators (slower)", RuntimeWarning, stacklevel=3)
        return False
    except Exception as err:   # noqa: BLE001  MXNetError from library.load
        warnings.warn(f"gluon_wgan: fused layer-norm kernels failed to load ({_last_line(err)}); "
                      "using plain MXNet operators (slower)", RuntimeWarning, stacklevel=3)
        return False
    return True


def _mxnet_dir(mx):
    return os.path.dirname(os.path.abspath(mx.__file__))


def _library_path(mx):
    """Cache file named by a hash of what the binary depends on: source, MXNet's API, the CPU."""
    key = hashlib.sha256()
    for path in (SOURCE, os.path.join(_mxnet_dir(mx), "include", "mxnet", "lib_api.h")):
        with open(path, "rb") as f:
            key.update(f.read())
    key.update(mx.__version__.encode())
    key.update(_cpu_flags().encode())
    cache = os.environ.get("GLUON_WGAN_CACHE") or os.path.join(os.path.expanduser("~"), ".cache",
                                                                 "gluon_wgan")
    return os.path.join(os.path.abspath(cache), f"layer_norm_{key.hexdigest()[:16]}.so")


def _cpu_flags():
    """The CPU's feature flags (the build uses -march=native), or '' where /proc is not there."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return ""


def _build(mx, path):
    """Compile layer_norm.cc with lib_api.cc into `path` (written atomically: workers may race)."""
    root = _mxnet_dir(mx)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=os.path.dirname(path))
    os.close(fd)
    cmd = [os.environ.get("CXX", "c++"), "-O3", "-march=native", "-fopenmp", "-shared", "-fPIC",
           "-std=c++17", "-I", os.path.join(root, "include"), SOURCE,
           os.path.join(root, "src", "lib_api.cc"), "-o", tmp]
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        os.replace(tmp, path)
    except subprocess.CalledProcessError as err:
        raise RuntimeError(f"{cmd[0]} failed: {_last_line(err.stderr)}") from err
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _last_line(err):
    text = str(err).strip()
    return text.splitlines()[-1] if text else type(err).__name__

