"""Parse `--ctx` strings into MXNet contexts, and refuse a GPU that is not there."""
import re

import mxnet as mx

_DEVICE = re.compile(r"^(cpu|gpu)(?:\((\s*\d+\s*(?:,\s*\d+\s*)*)?\))?$")


def parse_ctx(text):
    """Turn 'cpu', 'gpu(0)', 'gpu(0,1)' or 'cpu(0),cpu(1)' into a list of `mx.Context`.

    Raises
    ------
    ValueError
        For text that names no device, and for a GPU when MXNet was built without CUDA (the CPU wheel
        `mxnet`) or sees fewer GPUs than asked for.
    """
    contexts = []
    for device, ids in _split_devices(text):
        for i in ids:
            contexts.append(mx.gpu(i) if device == "gpu" else mx.cpu(i))
    if len(set(contexts)) != len(contexts) or len({c.device_id for c in contexts}) != len(contexts):
        # MXNet's optimizers keep their step counts per device id: each id must name one device.
        raise ValueError(f"--ctx {text!r} names a device twice, or a CPU and a GPU with the same id")
    if any(c.device_type == "gpu" for c in contexts):
        _check_gpus(max(c.device_id for c in contexts if c.device_type == "gpu") + 1)
    return contexts


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
        yield match.group(1), ids


def _check_gpus(needed):
    if not mx.runtime.Features().is_enabled("CUDA"):
        raise ValueError("--ctx asks for a GPU but this MXNet was built without CUDA "
                         "(the CPU wheel `mxnet`); install requirements-gpu.txt (mxnet-cu112)")
    found = mx.context.num_gpus()
    if found < needed:
        raise ValueError(f"--ctx asks for gpu({needed - 1}) but MXNet sees {found} GPU(s)")
