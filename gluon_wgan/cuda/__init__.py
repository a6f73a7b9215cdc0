"""What MXNet's CUDA wheel needs from the machine, found, loaded and checked before MXNet loads.

Standard library only (ctypes, struct), so it runs before ``import mxnet`` and on a machine without
a GPU. `preload()` loads the CUDA 11 libraries of the pip nvidia-*-cu11 wheels so that the CUDA
wheel of MXNet resolves them (`libs`); `check()` tells, in one line naming the fix, what stops a GPU
run (`checks`), reading the driver (`driver`) and the kernels' architectures in libmxnet.so
(`fatbin`, `elf`). docs/gpu.md has the measurements behind them.
"""
from .checks import GPUProblem, check, gist
from .libs import preload

__all__ = ["GPUProblem", "check", "gist", "preload"]
