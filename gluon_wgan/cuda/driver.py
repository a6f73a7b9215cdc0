"""The NVIDIA driver's CUDA library (libcuda.so.1), asked through ctypes.

The driver API answers what MXNet cannot say before it loads, or says only as a C++ error: the
CUDA version the driver supports, the GPUs it sees, and each one's name and compute capability.
"""
import ctypes

LIBRARY = "libcuda.so.1"

SUCCESS = 0
NO_DEVICE = 100                        # CUDA_ERROR_NO_DEVICE: the driver runs and sees no GPU
_CAPABILITY_MAJOR, _CAPABILITY_MINOR = 75, 76   # CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_*

# What to do about a failing cuInit, by CUresult (cuda.h); anything else gets the last line.
INIT_FIXES = {
    34: "this libcuda.so.1 is the CUDA toolkit's stub, not the driver's: take the stubs folder "
        "out of LD_LIBRARY_PATH",
    35: "the installed NVIDIA driver is older than its own CUDA library: reinstall the driver",
    803: "the driver's kernel module and its libcuda.so.1 are different versions: reboot, or "
         "reinstall the NVIDIA driver",
    999: "the driver is in a bad state: reboot, or reload the nvidia kernel module",
}
OTHER_FIX = "nvidia-smi must list the GPU; if it does not, reinstall the NVIDIA driver"


class CudaError(RuntimeError):
    """A driver call returned `code` (a CUresult), named `name`."""

    def __init__(self, call, code, name):
        super().__init__(f"{call} returned {name} ({code})")
        self.code, self.name = code, name


class Driver:
    """libcuda.so.1 through ctypes. `Driver.load()` raises OSError where there is no NVIDIA driver."""

    def __init__(self, lib):
        self.lib = lib

    @classmethod
    def load(cls, name=LIBRARY):
        return cls(ctypes.CDLL(name))

    def version(self):
        """The newest CUDA version the driver supports, as 1000 * major + 10 * minor (12080 = 12.8)."""
        return self._int("cuDriverGetVersion")

    def init(self):
        """cuInit(0): the CUresult, 0 when the driver is up (NO_DEVICE when it sees no GPU)."""
        return self.lib.cuInit(0)

    def device_count(self):
        return self._int("cuDeviceGetCount")

    def capability(self, ordinal):
        """(major, minor) compute capability of GPU `ordinal`, e.g. (8, 6)."""
        device = self._int("cuDeviceGet", ordinal)
        return (self._int("cuDeviceGetAttribute", _CAPABILITY_MAJOR, device),
                self._int("cuDeviceGetAttribute", _CAPABILITY_MINOR, device))

    def name(self, ordinal):
        device = self._int("cuDeviceGet", ordinal)
        buffer = ctypes.create_string_buffer(256)
        self._call("cuDeviceGetName", buffer, len(buffer), device)
        return buffer.value.decode("utf-8", "replace")

    def error_name(self, code):
        name = ctypes.c_char_p()
        if self.lib.cuGetErrorName(code, ctypes.byref(name)) != SUCCESS or not name.value:
            return f"CUresult {code}"
        return name.value.decode()

    def _int(self, call, *args):
        value = ctypes.c_int()
        self._call(call, ctypes.byref(value), *args)
        return value.value

    def _call(self, call, *args):
        code = getattr(self.lib, call)(*args)
        if code != SUCCESS:
            raise CudaError(call, code, self.error_name(code))


def version_text(version):
    """11080 -> '11.8'."""
    return f"{version // 1000}.{version % 1000 // 10}"
