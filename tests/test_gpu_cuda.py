"""gluon_wgan.cuda without a GPU: fat binaries built byte by byte in nvcc's layout, and a fake install
compiled here (a libmxnet.so with a .nv_fatbin section, pip-style nvidia/*/lib folders, a libcuda.so.1
whose answers the test sets) that the checks read, load and ask like the real ones."""
import json
import os
import shutil
import struct
import subprocess
import sys

import pytest

from gluon_wgan.cuda import GPUProblem, checks, elf, fatbin, libs
from gluon_wgan.cuda.driver import Driver
from gluon_wgan.cuda.fatbin import Targets

CUBIN, PTX = 2, 1


def fat_binary(entries, payload=b"\x7fELF-or-PTX-text"):
    """One fat binary: its 16-byte header, then per (kind, arch) a 64-byte entry header and a payload."""
    body = b""
    for kind, arch in entries:
        header = bytearray(64)
        struct.pack_into("<HHIQ", header, 0, kind, 0x0101, len(header), len(payload))
        struct.pack_into("<I", header, 28, arch)
        body += bytes(header) + payload
    return struct.pack("<IHHQ", fatbin.MAGIC, 1, 16, len(body)) + body


def targets(cubin=(), ptx=()):
    return Targets(frozenset(cubin), frozenset(ptx))


def test_parse_reads_each_fat_binary_and_skips_padding():
    data = (b"\0" * 8 + fat_binary([(CUBIN, 50), (CUBIN, 86)]) + b"\0" * 24
            + fat_binary([(CUBIN, 50), (CUBIN, 86)]) + fat_binary([(CUBIN, 70), (PTX, 80), (7, 90)]))
    found, count = fatbin.parse(data)
    assert count == 3
    assert found == (targets([50, 86]), targets([70], [80]))     # distinct, kind 7 ignored


def test_parse_stops_at_the_section_end():
    data = fat_binary([(CUBIN, 60)]) + fat_binary([(CUBIN, 70)])
    assert fatbin.parse(data, 0, len(data) // 2) == ((targets([60]),), 1)


def test_parse_refuses_a_truncated_fat_binary():
    data = fat_binary([(CUBIN, 60)])
    with pytest.raises(ValueError, match="past the end"):
        fatbin.parse(data[:-1])


# MXNet 1.9.1's CUDA 11.1-11.7 wheels: sm_50..86 cubins, no PTX (docs/gpu.md).
MXNET_CU11 = [targets([50, 60, 70, 80, 86])]


@pytest.mark.parametrize("capability,expected", [
    ((5, 0), "native"), ((5, 2), "native"), ((6, 1), "native"), ((7, 5), "native"),   # sm_70 cubin on 7.5
    ((8, 0), "native"), ((8, 6), "native"), ((8, 9), "native"),                        # Ada runs sm_86
    ((3, 7), None), ((9, 0), None), ((10, 0), None), ((12, 0), None),                  # Kepler, Hopper, Blackwell
])
def test_how_it_runs_by_cubin_rules(capability, expected):
    assert fatbin.how_it_runs(MXNET_CU11, capability) == expected


def test_ptx_runs_on_newer_gpus_only():
    with_ptx = [targets([50, 86], [80])]
    assert fatbin.how_it_runs(with_ptx, (9, 0)) == "ptx"
    assert fatbin.how_it_runs(with_ptx, (12, 0)) == "ptx"
    assert fatbin.how_it_runs([targets([], [80])], (7, 5)) is None   # PTX compiles forward, never back


def test_every_fat_binary_must_run():
    assert fatbin.how_it_runs([targets([86]), targets([80])], (8, 9)) == "native"
    assert fatbin.how_it_runs([targets([86]), targets([], [80])], (8, 6)) == "ptx"     # the worst one decides
    assert fatbin.how_it_runs([targets([90]), targets([], [80])], (9, 0)) == "ptx"
    assert fatbin.how_it_runs([targets([86]), targets([70])], (8, 6)) is None


def test_describe():
    described = fatbin.describe([targets([60, 50]), targets([70], [80])])
    assert described == "sm_50, sm_60, sm_70 cubins and compute_80 PTX"
    assert fatbin.describe(()) == "no cubins and no PTX"


@pytest.mark.parametrize("capability,names", [
    ((3, 5), ["mxnet-cu101", "mxnet-cu102", "10.1 or 10.2"]),
    ((9, 0), ["nor does any MXNet 1.9.1 wheel", "--ctx cpu"]),
])
def test_the_message_for_an_uncovered_gpu_names_what_would_run_it(capability, names):
    text = checks._other_wheels(capability)
    for name in names:
        assert name in text


# --- A fake install, compiled ---------------------------------------------------------------------

CC = shutil.which("cc") or shutil.which("gcc")
needs_cc = pytest.mark.skipif(CC is None, reason="builds fake shared libraries with a C compiler")

# The driver API calls the checks make, answering from FAKE_CUDA_* variables (read at each call).
DRIVER_SOURCE = r"""
#include <stdlib.h>
#include <string.h>
static int env(const char *name, int fallback) { const char *v = getenv(name); return v ? atoi(v) : fallback; }
static int started = -1;
int cuDriverGetVersion(int *v) { *v = env("FAKE_CUDA_VERSION", 12040); return 0; }
int cuInit(unsigned flags) { return started = env("FAKE_CUDA_INIT", 0); }
int cuDeviceGetCount(int *n) { if (started != 0) return 3; *n = env("FAKE_CUDA_COUNT", 1); return 0; }
int cuDeviceGet(int *d, int ordinal) { if (ordinal >= env("FAKE_CUDA_COUNT", 1)) return 101; *d = ordinal; return 0; }
int cuDeviceGetAttribute(int *value, int attribute, int device) {
    if (attribute == 75) { *value = env("FAKE_CUDA_MAJOR", 8); return 0; }
    if (attribute == 76) { *value = env("FAKE_CUDA_MINOR", 6); return 0; }
    return 1;
}
int cuDeviceGetName(char *name, int len, int device) { strncpy(name, "Fake GPU", len); return 0; }
int cuGetErrorName(int code, const char **name) {
    *name = code == 100 ? "CUDA_ERROR_NO_DEVICE" : code == 803 ? "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH" : "CUDA_ERROR_UNKNOWN";
    return 0;
}
"""


def build(path, needs=(), search=(), source="int gluon_wgan_fake(void) { return 0; }\n"):
    """A shared library at `path`, named (soname) by its file name, that needs (DT_NEEDED) `needs`."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".c", "w") as f:
        f.write(source)
    subprocess.run([CC, "-shared", "-fPIC", "-o", path, path + ".c", f"-Wl,-soname,{os.path.basename(path)}",
                    "-Wl,--no-as-needed", *(f"-L{d}" for d in search), *(f"-l:{n}" for n in needs)],
                   check=True, capture_output=True)
    os.remove(path + ".c")
    return path


def c_bytes(data):
    return ",".join(str(b) for b in data)


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    """site/mxnet/libmxnet.so needing a runtime, cuBLAS (which needs cuBLASLt) and the driver, as
    mxnet-cu112's does; the pip wheels' folders under site/nvidia; the driver in its own folder."""
    root = tmp_path_factory.mktemp("fake_cuda")
    site, driver_dir = root / "site", str(root / "driver")
    runtime, cublas = str(site / "nvidia" / "cuda_runtime" / "lib"), str(site / "nvidia" / "cublas" / "lib")
    driver = build(os.path.join(driver_dir, "libcuda.so.1"), source=DRIVER_SOURCE)
    build(os.path.join(runtime, "libcudart.so.11.0"))
    build(os.path.join(cublas, "libcublasLt.so.11"))
    build(os.path.join(cublas, "libcublas.so.11"), needs=["libcublasLt.so.11"], search=[cublas])
    kernels = fat_binary([(CUBIN, 50), (CUBIN, 86)]) + fat_binary([(CUBIN, 50), (CUBIN, 86)])
    source = ("__attribute__((used, section(\".nv_fatbin\"))) static const unsigned char fatbin[] = {"
              + c_bytes(kernels) + "};\nint gluon_wgan_fake(void) { return 0; }\n")
    library = build(str(site / "mxnet" / "libmxnet.so"), source=source, search=[runtime, cublas, driver_dir],
                    needs=["libcudart.so.11.0", "libcublas.so.11", "libcuda.so.1"])
    return dict(library=library, dirs=[cublas, runtime], driver=driver, driver_dir=driver_dir, site=str(site))


@needs_cc
def test_elf_reads_what_readelf_reads(fake):
    data = elf.open_map(fake["library"])
    try:
        assert elf.needed(data)[:3] == ["libcudart.so.11.0", "libcublas.so.11", "libcuda.so.1"]
        assert ".nv_fatbin" in elf.sections(data)
    finally:
        data.close()
    readelf = shutil.which("readelf")
    if readelf:
        out = subprocess.run([readelf, "-d", fake["library"]], capture_output=True, text=True).stdout
        listed = [line.split("[")[1].rstrip("]") for line in out.splitlines() if "(NEEDED)" in line]
        assert libs.needed(fake["library"]) == listed


@needs_cc
def test_fatbin_section_read_from_the_library(fake):
    assert fatbin.read_targets(fake["library"]) == ((targets([50, 86]),), 2)
    assert fatbin.read_targets(fake["driver"]) == ((), 0)          # no CUDA kernels at all


def test_elf_refuses_other_files(tmp_path):
    path = tmp_path / "libnot.so"
    path.write_bytes(b"#!/bin/sh\n" * 10)
    with pytest.raises(elf.NotELF):
        libs.needed(str(path))


@needs_cc
def test_load_order_puts_a_library_after_what_it_needs(fake):
    order = [soname for soname, _ in libs.load_order(fake["library"], fake["dirs"])]
    assert order == ["libcudart.so.11.0", "libcublasLt.so.11", "libcublas.so.11"]   # no driver: not in dirs


def test_nvidia_dirs_finds_the_pip_wheels_folders(tmp_path):
    for name in ("cublas", "cudnn"):
        (tmp_path / "site" / "nvidia" / name / "lib").mkdir(parents=True)
    (tmp_path / "site" / "nvidia" / "__init__.py").write_text("")
    found = libs.nvidia_dirs([str(tmp_path / "nowhere"), str(tmp_path / "site")])
    assert [os.path.relpath(d, tmp_path) for d in found] == ["site/nvidia/cublas/lib", "site/nvidia/cudnn/lib"]


def run_python(code, env=None):
    """`code` in a fresh interpreter (no MXNet loaded, nothing preloaded yet); its printed JSON."""
    full_env = {**os.environ, **(env or {})}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


LOAD_AFTER_PRELOAD = """
import ctypes, json, sys
from gluon_wgan.cuda import libs
loaded = {{}} if {skip} else libs.preload({library!r}, {dirs!r})
try:
    ctypes.CDLL({library!r})
    error = None
except OSError as err:
    error = str(err)
print(json.dumps(dict(loaded={{k: v if isinstance(v, str) else "error: " + str(v) for k, v in loaded.items()}},
                      error=error,
                      check=sys.modules.get("mxnet") is None)))
"""


@needs_cc
def test_preload_lets_the_library_resolve_everything_but_the_driver(fake):
    """The fake libmxnet.so cannot load by itself; after preload only the driver is missing, and with
    a driver on the loader's path it loads."""
    code = dict(library=fake["library"], dirs=fake["dirs"])
    alone = run_python(LOAD_AFTER_PRELOAD.format(skip=True, **code))
    assert "libcudart.so.11.0" in alone["error"] or "libcublas.so.11" in alone["error"]
    preloaded = run_python(LOAD_AFTER_PRELOAD.format(skip=False, **code))
    assert sorted(preloaded["loaded"]) == ["libcublas.so.11", "libcublasLt.so.11", "libcudart.so.11.0"]
    assert "libcuda.so.1" in preloaded["error"]
    with_driver = run_python(LOAD_AFTER_PRELOAD.format(skip=False, **code),
                             env=dict(LD_LIBRARY_PATH=fake["driver_dir"]))
    assert with_driver["error"] is None


@needs_cc
def test_preload_records_a_library_that_does_not_load(fake, tmp_path):
    broken = tmp_path / "nvidia" / "cublas" / "lib"
    shutil.copytree(fake["dirs"][0], broken)
    (broken / "libcublasLt.so.11").write_bytes(b"\x7fELF\x02\x01" + b"\0" * 100)   # a damaged download
    dirs = [str(broken), fake["dirs"][1]]
    result = run_python(LOAD_AFTER_PRELOAD.format(skip=False, library=fake["library"], dirs=dirs))
    assert result["loaded"]["libcudart.so.11.0"].endswith("libcudart.so.11.0")
    assert result["loaded"]["libcublasLt.so.11"].startswith("error: ")      # the OSError, not a path
    assert "libcublasLt.so.11" in result["loaded"]["libcublasLt.so.11"]


def test_preload_does_nothing_once_mxnet_is_loaded_or_without_cuda(tmp_path):
    import mxnet  # noqa: F401  (the suite's MXNet: loaded)
    assert libs.preload(dirs=[str(tmp_path)]) == {}


def test_providers_are_the_pins_of_requirements_gpu():
    """Every nvidia-*-cu11 pin provides a soname the checks know, and every provider MXNet's default
    wheel needs is pinned (cuSPARSE only for the cu111 and cu113+ wheels)."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "requirements-gpu.txt")
    pins = {line.split("==")[0].strip() for line in open(path) if line.startswith("nvidia-")}
    assert pins == set(libs.PROVIDERS.values()) - {"nvidia-cusparse-cu11"}
    assert "mxnet-cu112==1.9.1" in open(path).read().split()


# --- The checks, in order, on the fake install ---------------------------------------------------

class FakeDriver:
    """A `Driver` that answers from its arguments."""

    def __init__(self, version=12040, init=0, count=1, capability=(8, 6)):
        self._version, self._init, self._count, self._capability = version, init, count, capability

    def version(self):
        return self._version

    def init(self):
        return self._init

    def device_count(self):
        return self._count

    def capability(self, ordinal):
        return self._capability

    def name(self, ordinal):
        return "Fake GPU"

    def error_name(self, code):
        return f"CUresult {code}"


def run_check(fake, gpus=(0,), driver=None, loaded=None, **kw):
    """checks.check on the fake install, the fake libraries counted as preloaded."""
    if loaded is None:
        loaded = {"libcudart.so.11.0": "x", "libcublas.so.11": "x", "libcublasLt.so.11": "x"}
    return checks.check(gpus, library=fake["library"], dirs=fake["dirs"], wheel="mxnet-cu112 1.9.1",
                        loaded=loaded, load_driver=(lambda: driver or FakeDriver()), nvrtc=11080, **kw)


def test_the_cpu_wheel_is_named_once_a_driver_is_there():
    library = libs.mxnet_library()           # the suite runs on the CPU wheel
    with pytest.raises(GPUProblem, match="is the CPU wheel.*pip uninstall -y mxnet, then pip install -r "
                                         "requirements-gpu.txt"):
        checks.check([0], library=library, load_driver=FakeDriver)


def test_no_driver_is_named_before_the_wheel():
    """Without a driver, the GPU wheels (2.3 GB) would not help: the check says so first."""
    def missing():
        raise OSError("libcuda.so.1: cannot open shared object file: No such file or directory")
    library = libs.mxnet_library()           # the CPU wheel
    with pytest.raises(GPUProblem, match=r"^no NVIDIA GPU/driver on this machine \(libcuda.so.1: .*\): train "
                                         r"with --ctx cpu"):
        checks.check([0], library=library, load_driver=missing)


def test_mxnet_missing(monkeypatch):
    monkeypatch.setattr(libs, "mxnet_library", lambda: None)
    with pytest.raises(GPUProblem, match="MXNet is not installed: pip install -r requirements-gpu.txt"):
        checks.check([0], load_driver=FakeDriver)


@needs_cc
def test_no_driver(fake):
    def missing():
        raise OSError("libcuda.so.1: cannot open shared object file: No such file or directory")
    with pytest.raises(GPUProblem, match="no NVIDIA GPU/driver on this machine .*install its driver, nothing else"):
        checks.check([0], library=fake["library"], dirs=fake["dirs"], loaded={}, load_driver=missing)


@needs_cc
@pytest.mark.parametrize("version,nvrtc,ok", [(11040, 11080, False), (11080, 11080, True), (13000, 11080, True),
                                              (11010, 11020, False)])
def test_driver_older_than_nvrtc(fake, version, nvrtc, ok):
    driver = FakeDriver(version=version)
    if ok:
        found = checks.check([0], library=fake["library"], wheel="w", loaded={"libcudart.so.11.0": "x",
                             "libcublas.so.11": "x"}, load_driver=lambda: driver, nvrtc=nvrtc)
        assert dict(found)["driver"].startswith(f"supports CUDA {version // 1000}.")
    else:
        with pytest.raises(GPUProblem, match=f"update the NVIDIA driver to {checks.MIN_DRIVER[nvrtc]} or newer"):
            checks.check([0], library=fake["library"], wheel="w", loaded={}, load_driver=lambda: driver,
                         nvrtc=nvrtc)


@needs_cc
@pytest.mark.parametrize("code,fix", [(803, "reboot"), (34, "stub"), (2, "nvidia-smi must list the GPU")])
def test_driver_that_does_not_start(fake, code, fix):
    with pytest.raises(GPUProblem, match=f"does not start .*{fix}"):
        run_check(fake, driver=FakeDriver(init=code))


@needs_cc
def test_a_library_that_does_not_load_names_its_wheel(fake):
    loaded = {"libcudart.so.11.0": OSError("libcudart.so.11.0: invalid ELF header")}
    with pytest.raises(GPUProblem, match="libcudart.so.11.0 does not load .*pip install --force-reinstall "
                                         "nvidia-cuda-runtime-cu11"):
        run_check(fake, loaded=loaded)


@needs_cc
def test_a_library_missing_names_the_install(fake, monkeypatch):
    monkeypatch.delitem(sys.modules, "mxnet", raising=False)    # as before `import mxnet`
    tried = []

    def load(name):
        tried.append(name)
        raise OSError(f"{name}: cannot open shared object file")
    with pytest.raises(GPUProblem, match="libcudart.so.11.0 is missing: pip install -r requirements-gpu.txt "
                                         r"\(it brings nvidia-cuda-runtime-cu11\)"):
        run_check(fake, loaded={}, load=load)
    assert tried == ["libcudart.so.11.0"]         # not in libmxnet.so's folder: searched by name


@needs_cc
def test_libraries_found_by_the_system_count(fake, monkeypatch):
    monkeypatch.delitem(sys.modules, "mxnet", raising=False)
    tried = []
    found = run_check(fake, loaded={"libcudart.so.11.0": "x"}, load=tried.append)
    assert "libcublas.so.11" in tried and "libcuda.so.1" not in tried
    assert ", 1 from the pip CUDA wheels" in dict(found)["libraries"]


@needs_cc
@pytest.mark.parametrize("count,gpus,message", [
    (0, [0], "sees no GPU"), (2, [0, 2], r"gpu\(2\) was asked for .* sees 2 GPU\(s\).*use an id below 2")])
def test_missing_device(fake, count, gpus, message):
    with pytest.raises(GPUProblem, match=message):
        run_check(fake, gpus=gpus, driver=FakeDriver(count=count))


@needs_cc
def test_no_device_after_cuinit(fake):
    """cuInit's CUDA_ERROR_NO_DEVICE is a running driver without GPUs, not a driver failure."""
    with pytest.raises(GPUProblem, match="sees no GPU"):
        run_check(fake, driver=FakeDriver(init=100, count=None))


@needs_cc
@pytest.mark.parametrize("capability", [(9, 0), (12, 0), (7, 5)])
def test_uncovered_architecture_from_the_parsed_fatbin(fake, capability):
    """The fake library holds sm_50 and sm_86 cubins: Hopper, Blackwell and (here) Turing cannot run."""
    with pytest.raises(GPUProblem, match=rf"gpu\(0\) Fake GPU, compute capability {capability[0]}.{capability[1]}: "
                                         "mxnet-cu112 1.9.1 has no kernels for it .*sm_50, sm_86 cubins"):
        run_check(fake, driver=FakeDriver(capability=capability))


@needs_cc
@pytest.mark.parametrize("capability,how", [((8, 6), "natively"), ((8, 9), "natively"), ((5, 3), "natively")])
def test_covered_architecture(fake, capability, how):
    found = dict(run_check(fake, driver=FakeDriver(capability=capability)))
    assert how in found["gpu(0)"]
    assert list(found) == ["MXNet", "driver", "libraries", "gpu(0)"]


@needs_cc
def test_driver_binding_against_a_compiled_driver(fake, monkeypatch):
    """`Driver` calls the real C entry points (here a compiled stand-in) with the right arguments."""
    monkeypatch.setenv("FAKE_CUDA_VERSION", "12080")
    monkeypatch.setenv("FAKE_CUDA_MAJOR", "9")
    monkeypatch.setenv("FAKE_CUDA_MINOR", "0")
    monkeypatch.setenv("FAKE_CUDA_COUNT", "2")
    driver = Driver.load(fake["driver"])
    assert driver.version() == 12080 and driver.init() == 0 and driver.device_count() == 2
    assert driver.capability(1) == (9, 0) and driver.name(0) == "Fake GPU"
    assert driver.error_name(803) == "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH"
    with pytest.raises(GPUProblem, match="has no kernels for it .*nor does any MXNet 1.9.1 wheel"):
        checks.check([1], library=fake["library"], wheel="w", loaded={"libcudart.so.11.0": "x",
                     "libcublas.so.11": "x"}, load_driver=lambda: Driver.load(fake["driver"]), nvrtc=11080)


@needs_cc
def test_driver_binding_no_device(fake, monkeypatch):
    monkeypatch.setenv("FAKE_CUDA_INIT", "100")
    with pytest.raises(GPUProblem, match="sees no GPU"):
        checks.check([0], library=fake["library"], wheel="w", loaded={"libcudart.so.11.0": "x",
                     "libcublas.so.11": "x"}, load_driver=lambda: Driver.load(fake["driver"]), nvrtc=11080)


def test_nvrtc_version_from_the_wheel_name(monkeypatch):
    def absent(name):
        raise checks.importlib.metadata.PackageNotFoundError(name)
    monkeypatch.setattr(checks.importlib.metadata, "version", absent)
    assert checks.nvrtc_version("mxnet-cu112 1.9.1") == 11020
    assert checks.nvrtc_version("mxnet-cu102 1.9.1") == 10020
