"""Everything a GPU run needs that can be checked before MXNet touches a GPU, in the order that
makes the first failure the one to fix: the wheel, the driver, the runtime libraries, the device,
the kernels. Each failure is one `GPUProblem` line that names the fix.

The numerical check (a small convolution and gradient penalty step, GPU against CPU) needs the
package's models and penalty and lives in `gluon_wgan.tools.doctor`.
"""
import ctypes
import importlib.metadata
import os
import re
import sys

from . import fatbin, libs
from .driver import INIT_FIXES, NO_DEVICE, OTHER_FIX, CudaError, Driver, version_text

# Cubin architectures of libmxnet.so in each CUDA wheel of MXNet 1.9.1; none carries PTX. Read from
# the wheels with fatbin.read_targets, and for cu110 to cu117 also with cuobjdump --list-elf (docs/gpu.md).
WHEEL_CUBINS = {
    "mxnet-cu101": (30, 50, 60, 70, 75), "mxnet-cu102": (30, 50, 60, 70, 75),
    "mxnet-cu110": (50, 60, 70, 80),
    **{f"mxnet-cu11{i}": (50, 60, 70, 80, 86) for i in range(1, 8)},
}

# Oldest Linux driver of each CUDA 11 release (CUDA Toolkit release notes, "CUDA Toolkit and
# Corresponding Driver Versions"), to name the update in the message.
MIN_DRIVER = {11000: "450.36.06", 11010: "455.23", 11020: "460.27.03", 11030: "465.19.01",
              11040: "470.42.01", 11050: "495.29.05", 11060: "510.39.01", 11070: "515.43.04",
              11080: "520.61.05"}

INSTALL = "pip install -r requirements-gpu.txt"


class GPUProblem(ValueError):
    """One line: what stops MXNet from computing on the GPU, and what to do about it."""


def check(gpus, library=None, dirs=None, load_driver=Driver.load, loaded=None, wheel=None, nvrtc=None,
          load=None):
    """Checks 1-5 for GPU ids `gpus`, in order; raise `GPUProblem` at the first failure.

    1. the NVIDIA driver loads and starts (first: without one, nothing else matters); 2. MXNet is a
    CUDA wheel, and the driver is at least as new as the NVRTC
    installed (MXNet compiles its fused kernels at run time with NVRTC, into PTX that the driver then
    compiles: a driver older than that NVRTC refuses the PTX); 3. every library MXNet needs loads;
    4. the driver sees each GPU; 5. MXNet has kernels for each one's compute capability (cubins, or
    PTX that the driver compiles at the first start).

    Parameters
    ----------
    gpus : iterable of int
        GPU ids, as in ``--ctx gpu(0,1)``.
    library, dirs : str, list of str, optional
        libmxnet.so and the folders of the pip CUDA libraries; default: the installed ones.
    load_driver : callable, default `Driver.load`
        Returns a `Driver` or raises OSError.
    loaded : dict, optional
        What `libs.preload` did (soname -> path or OSError); default: preload now (does nothing
        once MXNet is loaded: then it found its libraries itself).
    wheel : str, optional
        The MXNet distribution, e.g. 'mxnet-cu112 1.9.1'; default: read from the installed one.
    nvrtc : int, optional
        The NVRTC's CUDA version (11080 = 11.8); default: `nvrtc_version(wheel)`.
    load : callable, optional
        Loads a library that was not preloaded (a path, or a soname to search), raising OSError;
        default: `ctypes.CDLL`.

    Returns
    -------
    list of (str, str)
        What was found, as (subject, finding) lines for a report.
    """
    gpus = sorted(set(gpus))
    # The driver first: on a machine without one, installing the GPU wheels (2.3 GB) would not help.
    driver, driver_version, started = _driver(load_driver)
    library = library or libs.mxnet_library()
    if library is None:
        raise GPUProblem(f"MXNet is not installed: {INSTALL} -e .")
    wheel = wheel or installed_wheel()
    needed = libs.needed(library)
    if not any(name.startswith("libcudart.so") for name in needed):
        raise GPUProblem(f"no GPU support: the installed MXNet ({wheel}) is the CPU wheel, built without "
                         f"CUDA; pip uninstall -y mxnet, then {INSTALL}")
    found = [("MXNet", f"{wheel}, {library}")]

    if loaded is None:
        libs.preload(library, dirs)
        loaded = libs.LOADED
    nvrtc = nvrtc or nvrtc_version(wheel)
    if driver_version < nvrtc:
        raise GPUProblem(f"the NVIDIA driver supports CUDA up to {version_text(driver_version)}, older than "
                         f"the NVRTC of CUDA {version_text(nvrtc)} that MXNet compiles kernels with: update "
                         f"the NVIDIA driver to {MIN_DRIVER.get(nvrtc, 'a newer release')} or newer")
    found.append(("driver", f"supports CUDA {version_text(driver_version)} (MXNet's NVRTC: CUDA "
                            f"{version_text(nvrtc)})"))

    found.append(("libraries", _check_libraries(needed, loaded, os.path.dirname(library), load or ctypes.CDLL)))

    count = 0 if started == NO_DEVICE else _device_count(driver)
    missing = [i for i in gpus if i >= count]
    if missing:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        where = f" (CUDA_VISIBLE_DEVICES={visible!r})" if visible is not None else ""
        raise GPUProblem(f"gpu({missing[0]}) was asked for but the NVIDIA driver sees {count} GPU(s){where}: "
                         f"nvidia-smi lists them; use an id below {count}" if count else
                         f"gpu({missing[0]}) was asked for but the NVIDIA driver sees no GPU{where}: "
                         f"{OTHER_FIX}")

    targets, _ = fatbin.read_targets(library)
    for i in gpus:
        capability = driver.capability(i)
        how = fatbin.how_it_runs(targets, capability)
        gpu = f"{driver.name(i)}, compute capability {capability[0]}.{capability[1]}"
        if how is None:
            raise GPUProblem(f"gpu({i}) {gpu}: {wheel} has no kernels for it (its libmxnet.so holds "
                             f"{fatbin.describe(targets)}), " + _other_wheels(capability))
        found.append((f"gpu({i})", f"{gpu}: " + ("MXNet's kernels run natively" if how == "native" else
                      "MXNet's kernels are PTX that the driver compiles at the first start (slower, then cached)")))
    return found


def installed_wheel():
    """'mxnet-cu112 1.9.1': the installed MXNet's distribution name and version, or 'MXNet'."""
    distributions = getattr(importlib.metadata, "packages_distributions", None)    # Python 3.10+
    names = sorted(set(distributions().get("mxnet", []))) if distributions else []
    versions = []
    for name in names:
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    # Two wheels (mxnet and mxnet-cu112) share the folder mxnet/: the last one installed wins.
    return " and ".join(versions) or "MXNet"


def nvrtc_version(wheel):
    """The CUDA version of the NVRTC that MXNet will compile with, as 1000 * major + 10 * minor: the
    pip wheel's if installed (nvidia-cuda-nvrtc-cu11 11.8.89 -> 11080), else the CUDA the MXNet wheel
    was built for ('mxnet-cu112 1.9.1' -> 11020), with a system-wide CUDA of that version."""
    try:
        major, minor = importlib.metadata.version("nvidia-cuda-nvrtc-cu11").split(".")[:2]
        return 1000 * int(major) + 10 * int(minor)
    except importlib.metadata.PackageNotFoundError:
        match = re.search(r"cu(\d+?)(\d)\b", wheel)
        return 1000 * int(match.group(1)) + 10 * int(match.group(2)) if match else 11000


def _driver(load_driver):
    try:
        driver = load_driver()
        version = driver.version()
    except OSError as err:
        raise GPUProblem(f"no NVIDIA GPU/driver on this machine ({err}): train with --ctx cpu; where there "
                         f"is an NVIDIA GPU, install its driver, nothing else (CUDA itself comes from "
                         f"{INSTALL})") from None
    code = driver.init()
    if code not in (0, NO_DEVICE):
        raise GPUProblem(f"the NVIDIA driver does not start (cuInit: {driver.error_name(code)}): "
                         + INIT_FIXES.get(code, OTHER_FIX))
    return driver, version, code


def _device_count(driver):
    try:
        return driver.device_count()
    except CudaError as err:
        if err.code == NO_DEVICE:
            return 0
        raise GPUProblem(f"the NVIDIA driver cannot count the GPUs ({err}): {OTHER_FIX}") from None


def _check_libraries(needed, loaded, own_dir, load):
    """Raise GPUProblem for the first library of `needed` that does not load: those `loaded` by
    `libs.preload`, those in `own_dir` (libmxnet.so's folder, its RPATH), and the system's, which
    `load` tries as the dynamic loader would find them."""
    from_pip = 0
    for soname in needed:
        if soname == libs.DRIVER:
            continue
        result = loaded.get(soname)
        if isinstance(result, OSError):
            raise GPUProblem(f"{soname} does not load ({result}): "
                             + (f"pip install --force-reinstall {libs.PROVIDERS[soname]}, as pinned in "
                                "requirements-gpu.txt" if soname in libs.PROVIDERS else _system_fix(soname)))
        if result is not None:
            from_pip += 1
        elif "mxnet" not in sys.modules:    # once MXNet is loaded, every library it needs was found
            try:
                load(libs.find(soname, [own_dir]) or soname)
            except OSError:
                raise GPUProblem(f"{soname} is missing: "
                                 + (f"{INSTALL} (it brings {libs.PROVIDERS[soname]})" if soname in libs.PROVIDERS
                                    else _system_fix(soname))) from None
    return f"all {len(needed) - (libs.DRIVER in needed)} that MXNet needs load, {from_pip} from the pip CUDA wheels"


def _system_fix(soname):
    """The fix for a library that no pip wheel of requirements-gpu.txt provides."""
    if soname.startswith(("libcu", "libnv", "libnccl")):   # another CUDA than the pip wheels' 11.x
        return (f"this MXNet wheel needs the CUDA it was built for installed system-wide; or pip uninstall "
                f"it, then {INSTALL} (mxnet-cu112, whose CUDA libraries come from pip)")
    return "install the system package that provides it with the system's package manager"


def _other_wheels(capability):
    cover = [wheel for wheel, cubins in WHEEL_CUBINS.items()
             if fatbin.how_it_runs([fatbin.Targets(frozenset(cubins), frozenset())], capability)]
    if cover:
        return (f"but {' and '.join(cover)} {'does' if len(cover) == 1 else 'do'}, with CUDA "
                f"{' or '.join(w[-3:-1] + '.' + w[-1] for w in cover)} installed system-wide (docs/gpu.md)")
    return ("nor does any MXNet 1.9.1 wheel (sm_30 to sm_86 cubins, no PTX): train on the CPU with --ctx cpu "
            "(docs/gpu.md)")


def gist(error):
    """The line of an MXNet error that says what failed (its text also holds a C++ stack trace)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    for line in lines:
        if any(key in line for key in ("Check failed", "CUDA", "cuDNN", "CUDNN", "NVRTC", "Error")):
            return line[:300]
    return lines[0][:300] if lines else type(error).__name__
