"""Parse `--ctx` strings into MXNet contexts, and refuse a GPU that cannot run, in one line.

MXNet is loaded here, on the first `parse_ctx`, which is where the training script first needs it:
with MXNet's CUDA wheel, the pip CUDA libraries are loaded before it (`gluon_wgan.cuda.preload`),
since libmxnet.so cannot find them itself, and a GPU is checked before MXNet loads, so that a
missing library or driver is one line naming the fix rather than an OSError from `import mxnet`.
"""
import re

from ..cuda import GPUProblem, check, gist, preload

# MXNet sizes per-device tables by the largest id it is given: cpu(2147483647) made it allocate until
# the machine swapped. A device id only names a share of the batch (or a GPU), so a small bound is enough.
MAX_DEVICE_ID = 1023
_DEVICE = re.compile(r"^(cpu|gpu)(?:\((\s*\d+\s*(?:,\s*\d+\s*)*)?\))?$")


def parse_ctx(text):
    """Turn 'cpu', 'gpu(0)', 'gpu(0,1)' or 'cpu(0),cpu(1)' into a list of `mx.Context`.

    Raises
    ------
    ValueError
        For text that names no device or a device id twice, for a GPU that cannot run (one line
        naming the fix: the CPU wheel, no driver, a missing library, no such device, no kernels
        for it; see `gluon_wgan.cuda.check`), and when MXNet does not load.
    """
    devices = [(device, i) for device, ids in _split_devices(text) for i in ids]
    if len({i for _, i in devices}) != len(devices):
        # MXNet's optimizers keep their step counts per device id: each id must name one device.
        raise ValueError(f"--ctx {text!r} names a device twice, or a CPU and a GPU with the same id")
    gpus = [i for device, i in devices if device == "gpu"]
    if gpus:
        _check_gpus(gpus)
    mx = load_mxnet()
    return [mx.gpu(i) if device == "gpu" else mx.cpu(i) for device, i in devices]


def load_mxnet():
    """``import mxnet``, after loading the pip CUDA libraries that its CUDA wheel needs.

    Raises
    ------
    GPUProblem
        A ValueError: MXNet does not load (the CUDA wheel on a machine without its libraries or driver).
    """
    preload()   # does nothing with the CPU wheel, or once MXNet is loaded
    try:
        import mxnet
    except OSError as err:
        raise GPUProblem(load_failure(err)) from None
    return mxnet


def load_failure(err):
    """The one line for `import mxnet`'s OSError `err`: a library of MXNet's CUDA wheel is missing."""
    if "libcuda.so.1" in str(err):
        return (f"MXNet does not load ({err}): its CUDA wheel needs the NVIDIA driver even for --ctx cpu; "
                "install the driver, or for the CPU alone: pip uninstall -y mxnet-cu112, then pip install "
                "-r requirements.txt")
    return f"MXNet does not load ({err}): python scripts/check_gpu.py names what is missing and the fix"


def _split_devices(text):
    """Yield (device, [ids]) for each 'cpu(...)'/'gpu(...)' group of `text`."""
    groups = re.findall(r"(?:cpu|gpu)(?:\([^)]*\))?|[^,\s]+", text.replace(" ", "").lower())
    if not groups:
        raise ValueError(f"--ctx {text!r} names no device; use cpu, gpu(0) or gpu(0,1)")
    for group in groups:
        match = _DEVICE.match(group)
        if not match:
            raise ValueError(f"--ctx {text!r}: cannot read {group!r}; use cpu, gpu(0) or gpu(0,1)")
        ids = [int(i) for i in match.group(2).split(",")] if match.group(2) else [0]
        if max(ids) > MAX_DEVICE_ID:
            raise ValueError(f"--ctx {text!r}: device ids run from 0 to {MAX_DEVICE_ID}, got {max(ids)}; "
                             "use cpu, gpu(0) or gpu(0,1)")
        yield match.group(1), ids


def check_gpus(ids):
    """Whether MXNet can run on GPUs `ids`: the checks of `gluon_wgan.cuda.check`, then MXNet's own count.

    Checked once per process (the loop parses ``--ctx`` again after the command line did). The
    numerical check (a small step on the GPU equals the CPU's) is `gluon_wgan.tools.doctor`'s, above
    this module in the layering.

    Returns
    -------
    list of (str, str)
        What was found, as (subject, finding) lines; one line saying so when `ids` passed before.

    Raises
    ------
    GPUProblem
        One line naming the fix.
    """
    ids = sorted(set(ids))
    if set(ids) <= _CHECKED:
        return [("GPU", f"gpu({','.join(map(str, ids))}) passed these checks before, in this process")]
    found = check(ids)
    mx = load_mxnet()
    try:
        count = mx.context.num_gpus()
    except mx.base.MXNetError as err:    # the CUDA runtime refuses the driver
        raise GPUProblem(f"MXNet cannot use the NVIDIA driver ({gist(err)}): update the NVIDIA driver") from None
    if count <= max(ids):
        raise GPUProblem(f"gpu({max(ids)}) was asked for but MXNet sees {count} GPU(s) (the driver sees more): "
                         f"use an id below {count}, or check CUDA_VISIBLE_DEVICES")
    _CHECKED.update(ids)
    return found + [("devices", f"MXNet sees {count} GPU(s)")]


def _check_gpus(ids):
    try:
        check_gpus(ids)
    except ValueError as err:
        raise ValueError(f"--ctx gpu({','.join(map(str, sorted(set(ids))))}): {err}") from None


_CHECKED = set()   # GPU ids that passed `_check_gpus` in this process
