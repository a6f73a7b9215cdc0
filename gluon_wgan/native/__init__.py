"""Fused C++ layer-norm kernels, compiled on first use and loaded as MXNet operators.

`layer_norm.cc` registers two operators through MXNet's external operator library API (the
`lib_api.h` and `lib_api.cc` shipped in the mxnet wheel):

- ``gluon_wgan_layer_norm(x, gamma, beta, eps)`` -> (out, normed, inv_std): `ChannelLayerNorm`.
- ``gluon_wgan_ln_transpose(g, gamma, normed, inv_std[, deriv], with_deriv)`` -> dx: its input
  gradient as a differentiable function, for the gradient penalty.

Each has a hand-written first-order backward. Together they replace about twenty plain operators
and their layout conversions; a DCGAN-64 WGAN-GP critic iteration takes longer without
them (docs/native.md). MXNet's external-operator dispatcher does not pass the gradient request to
the library, so the kernels always write their input gradients: callers give them copies
(`identity`) of the leaves they read, whose backward honours grad_req='add'.

The library is built once per source, MXNet, compiler and CPU into the package's cache folder
(`gluon_wgan.utils.cache.cache_path`) with ``$CXX`` (default ``c++``), beside a ``.sha256`` stamp of
its bytes: a cached library that does not match its stamp (cut short by a full disk, say) is rebuilt,
never loaded. Without a compiler, or with ``GLUON_WGAN_NATIVE=0``, `available()` is False and the callers
use their plain-operator versions, which compute the same values (tests/test_native.py checks both
against each other).
"""
import contextlib
import functools
import hashlib
import logging
import os
import platform
import subprocess
import tempfile
import threading
import warnings

from ..utils.cache import cache_path

log = logging.getLogger(__name__)
SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "layer_norm.cc")


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


def used_on(contexts):
    """Whether a layer norm on these devices runs as the kernels: they are available and every
    device is a CPU (they are CPU code). The one place that decision is made."""
    return available() and all(ctx.device_type == "cpu" for ctx in contexts)


@contextlib.contextmanager
def plain_operators():
    """Inside, `available()` is False. What asks inside uses the plain operators: a layer called
    imperatively, a hybridized graph built by its first call inside (it keeps that choice until
    the next `hybridize()`), and the penalty. For comparisons and tests."""
    _forced_off.append(True)
    try:
        yield
    finally:
        _forced_off.pop()


_LOCK = threading.Lock()


@functools.lru_cache(maxsize=None)
def _load():
    with _LOCK:   # MXNet registers a library's operators once: never load twice
        try:
            import mxnet as mx
            path = _library_path(mx)
            if not _intact(path):   # loading a truncated library is a SIGBUS, not an error to catch
                log.info("compiling the fused layer-norm kernels into %s (once per machine and MXNet, "
                         "about 10 s)", path)
                _build(mx, path)
            try:
                mx.library.load(path, verbose=False)
            except Exception:  # noqa: BLE001  MXNetError: e.g. a cached file from another machine
                _build(mx, path)
                mx.library.load(path, verbose=False)
        except Exception as err:  # noqa: BLE001  compiler missing or failing, MXNetError on load
            warnings.warn(f"gluon_wgan: fused layer-norm kernels unavailable ({_last_line(err)}); "
                          "using plain MXNet operators (slower)", RuntimeWarning, stacklevel=4)
            return False
        return True


def _mxnet_dir(mx):
    return os.path.dirname(os.path.abspath(mx.__file__))


def _library_path(mx):
    """Cache file named by a hash of what the binary depends on: the source, MXNet's API and
    version, the compiler, the machine and (with -march=native) the CPU's features."""
    key = hashlib.sha256()
    for path in (SOURCE, os.path.join(_mxnet_dir(mx), "include", "mxnet", "lib_api.h")):
        with open(path, "rb") as f:
            key.update(f.read())
    for part in (mx.__version__, _compiler(), platform.machine(), _cpu_features()):
        key.update(part.encode() + b"\0")
    return cache_path(f"layer_norm_{key.hexdigest()[:16]}.so")


def cached_library():
    """Where the kernels are cached for this MXNet, compiler and CPU (built there on first use)."""
    import mxnet as mx
    return _library_path(mx)


def _stamp_path(path):
    return path + ".sha256"


def _digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _intact(path):
    """Whether the cached library at `path` is the file its build wrote: its SHA-256 matches the
    stamp written beside it (a library cut short by a full disk, or copied in part, does not)."""
    try:
        with open(_stamp_path(path)) as f:
            return f.read().strip() == _digest(path)
    except (OSError, UnicodeDecodeError):
        return False


def _compiler():
    return os.environ.get("CXX", "c++")


def _cpu_features():
    """The CPU's feature list from /proc/cpuinfo (x86 'flags', Arm 'Features'), or '' when unknown;
    the build uses -march=native only when it is known, so the cache key can tell CPUs apart."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((line for line in f if line.startswith(("flags", "Features"))), "")
    except OSError:
        return ""


def _build(mx, path):
    """Compile layer_norm.cc with lib_api.cc into `path`, written whole or not at all (distributed
    workers may build at the same time; each renames its own complete file into place)."""
    root = _mxnet_dir(mx)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=os.path.dirname(path))
    os.close(fd)
    tuning = ["-march=native"] if _cpu_features() else []   # faster kernels (docs/native.md)
    cmd = [_compiler(), "-O3", *tuning, "-fopenmp", "-shared", "-fPIC", "-std=c++17",
           "-I", os.path.join(root, "include"), SOURCE, os.path.join(root, "src", "lib_api.cc"),
           "-o", tmp]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if result.returncode:
            raise RuntimeError(f"{cmd[0]} exited with {result.returncode}: "
                               f"{_last_line(result.stderr) or 'no message'}")
        os.chmod(tmp, 0o755)   # mkstemp made it private; a shared cache must be readable
        stamp = _digest(tmp)
        os.replace(tmp, path)
        _write_stamp(_stamp_path(path), stamp)   # last: a kill before it leaves a library that is rebuilt
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _write_stamp(path, digest):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".stamp-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(digest + "\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _last_line(err):
    text = str(err).strip()
    return text.splitlines()[-1] if text else ""
