"""Which instructions MXNet's oneDNN computes with on this CPU: bfloat16 support, AMX, and what to tell the user.

MXNet 1.9.1 ships oneDNN 2.4, which picks its instruction set (ISA) once, from the CPU's flags capped by
``DNNL_MAX_CPU_ISA``. Two things about AMX (Intel's tile units, Sapphire Rapids and newer) decide the
set-up here:

- oneDNN 2.4 treats AMX as initial support: off unless ``DNNL_MAX_CPU_ISA=AVX512_CORE_AMX`` is set before
  its first primitive.
- Linux 5.16+ gives a process the AMX tile state only after it asks (``arch_prctl(ARCH_REQ_XCOMP_PERM,
  XFEATURE_XTILEDATA)``); oneDNN 2.4 does not ask, and its first AMX instruction without the permission
  kills the process with SIGILL.

So `enable_amx`, called by `utils.threads.use_threads` before MXNet loads, asks the kernel and sets the
variable only once the kernel said yes. The user's ``DNNL_MAX_CPU_ISA`` always wins: setting
``DNNL_MAX_CPU_ISA=AVX512_CORE_BF16`` turns AMX off. oneDNN 2.4 reads that name only: the older
``MKLDNN_MAX_CPU_ISA`` changes nothing in it (``DNNL_VERBOSE=1`` shows so), but a user who set it
still keeps the package's hands off. The C function that reports the ISA oneDNN chose
(``dnnl_get_effective_cpu_isa``) is not exported by libmxnet.so, so `isa_summary` predicts it the way
oneDNN 2.4's dispatcher decides (``src/cpu/x64/cpu_isa_traits.hpp``); tests/test_cpu.py checks the
prediction against ``DNNL_VERBOSE=1`` on the machine that runs them.
"""
import os
import platform
import sys

CPUINFO = "/proc/cpuinfo"
ISA_VARIABLE = "DNNL_MAX_CPU_ISA"
OLD_ISA_VARIABLE = "MKLDNN_MAX_CPU_ISA"
AMX_VALUE = "AVX512_CORE_AMX"
AMX_FLAGS = frozenset({"amx_tile", "amx_int8", "amx_bf16"})
BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")

# x86-64 Linux: arch_prctl is system call 158; ARCH_GET_XCOMP_PERM / ARCH_REQ_XCOMP_PERM and the tile
# data's state component, XFEATURE_XTILEDATA (arch/x86/include/uapi/asm/prctl.h).
_ARCH_PRCTL = 158
_ARCH_GET_XCOMP_PERM = 0x1022
_ARCH_REQ_XCOMP_PERM = 0x1023
_XFEATURE_XTILEDATA = 18

# oneDNN 2.4's ISAs: the capability bits of each (`_BITS`) and, best first as its verbose line tries
# them, the /proc/cpuinfo flags each needs (`_ISAS`). An ISA runs when the CPU has its flags and the cap
# (``DNNL_MAX_CPU_ISA``, by default every ISA but AMX) holds all of its bits.
_BITS = {"sse41": {"sse41"}}
_BITS["avx"] = _BITS["sse41"] | {"avx"}
_BITS["avx2"] = _BITS["avx"] | {"avx2"}
_BITS["avx2_vnni"] = _BITS["avx2"] | {"avx_vnni"}
_BITS["avx512_common"] = _BITS["avx2"] | {"avx512_common"}
_BITS["avx512_mic"] = _BITS["avx512_common"] | {"avx512_mic"}
_BITS["avx512_mic_4ops"] = _BITS["avx512_mic"] | {"avx512_mic_4ops"}
_BITS["avx512_core"] = _BITS["avx512_common"] | {"avx512_core"}
_BITS["avx512_core_vnni"] = _BITS["avx512_core"] | {"avx512_core_vnni"}
_BITS["avx512_core_bf16"] = _BITS["avx512_core_vnni"] | {"avx512_core_bf16"}
_BITS["avx512_core_amx"] = _BITS["avx512_core_bf16"] | AMX_FLAGS
_CORE_FLAGS = {"avx512f", "avx512bw", "avx512vl", "avx512dq"}
_MIC_FLAGS = {"avx512f", "avx512cd", "avx512er", "avx512pf"}
_ISAS = [
    ("avx512_core_amx", _CORE_FLAGS | {"avx512_vnni", "avx512_bf16"} | AMX_FLAGS),
    ("avx512_core_bf16", _CORE_FLAGS | {"avx512_vnni", "avx512_bf16"}),
    ("avx512_core_vnni", _CORE_FLAGS | {"avx512_vnni"}),
    ("avx512_core", _CORE_FLAGS),
    ("avx512_mic_4ops", _MIC_FLAGS | {"avx512_4fmaps", "avx512_4vnniw"}),
    ("avx512_mic", _MIC_FLAGS),
    ("avx512_common", {"avx512f"}),
    ("avx2_vnni", {"avx2", "avx_vnni"}),
    ("avx2", {"avx2"}),
    ("avx", {"avx"}),
    ("sse41", {"sse4_1"}),
]
# The values oneDNN 2.4 accepts for DNNL_MAX_CPU_ISA (exactly so: "avx2" is ignored like any other
# text) and the bits each lets through.
_CAPS = {"ALL": set().union(*_BITS.values()) - AMX_FLAGS,
         **{name.upper(): _BITS[name] for name in ("sse41", "avx", "avx2", "avx2_vnni", "avx512_mic",
                                                   "avx512_mic_4ops", "avx512_core", "avx512_core_vnni",
                                                   "avx512_core_bf16", "avx512_core_amx")}}


def cpu_flags(text=None, path=CPUINFO):
    """The CPU's feature flags: the first ``flags`` line of `text` (the contents of /proc/cpuinfo), or
    of the file at `path` when `text` is None. An empty set when there is none (not Linux, not x86)."""
    if text is None:
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def bfloat16_problem(flags=None):
    """'' when the CPU computes bfloat16 natively (``avx512_bf16`` or ``amx_bf16``), else the one line
    that refuses ``--dtype bfloat16``. `flags`: the CPU's flags (default: this machine's, `cpu_flags`)."""
    flags = cpu_flags() if flags is None else flags
    if any(flag in flags for flag in BFLOAT16_FLAGS):
        return ""
    found = "this CPU has neither" if flags else f"{CPUINFO} lists no CPU flags here"
    return ("--dtype bfloat16 needs a CPU with bfloat16 instructions (avx512_bf16 or amx_bf16: Intel Cooper "
            f"Lake, Sapphire Rapids or newer, AMD Zen 4 or newer) and {found}; train with --dtype float32")


def enable_amx(environ=os.environ, flags=None, syscall=None):
    """Let oneDNN compute with AMX when the CPU has it: ask the kernel for the tile state and, once it
    agreed, set ``DNNL_MAX_CPU_ISA=AVX512_CORE_AMX`` in `environ`. Call it before MXNet loads.

    Nothing happens (no system call) on a CPU without AMX, or when the user set ``DNNL_MAX_CPU_ISA`` or
    ``MKLDNN_MAX_CPU_ISA``: their setting wins, and ``DNNL_MAX_CPU_ISA=AVX512_CORE_BF16`` is how to turn
    AMX off. A user's ``DNNL_MAX_CPU_ISA=AVX512_CORE_AMX`` gets the kernel's permission asked too, since
    oneDNN's AMX instructions die without it (SIGILL). A refused request leaves oneDNN's default ISA.

    Parameters
    ----------
    environ : mapping, default os.environ
    flags : set of str or None
        The CPU's flags (default: this machine's, `cpu_flags`).
    syscall : callable or None
        ``syscall(number, *arguments) -> int``, 0 on success (default: the C library's ``syscall``).

    Returns whether oneDNN may now use AMX: ``DNNL_MAX_CPU_ISA`` asks for it and the kernel granted
    the tile state.
    """
    flags = cpu_flags() if flags is None else flags
    if not AMX_FLAGS <= flags:
        return False
    users = environ.get(ISA_VARIABLE)
    if users is not None and users != AMX_VALUE or users is None and OLD_ISA_VARIABLE in environ:
        return False
    if not _request_tile_data(syscall):
        return False
    environ.setdefault(ISA_VARIABLE, AMX_VALUE)
    return True


def isa_summary(environ=os.environ, flags=None, tile_data=None):
    """The ISA oneDNN 2.4 computes with in this process, and why, in a few words: for the console header
    and env.json. For instance "avx512_core_amx (AMX on)", "avx512_core_bf16 (bfloat16 native; no AMX on
    this CPU)", "avx512_core_bf16 (bfloat16 native; AMX off: DNNL_MAX_CPU_ISA=AVX512_CORE_BF16 set by the
    user)". A prediction from `flags` and `environ` (oneDNN's own answer is not exported); it holds for
    the whole process when `environ` is as it was when MXNet loaded.

    `tile_data`: whether the kernel granted this process the AMX tile state (None: ask it, when the CPU
    has AMX).
    """
    flags = cpu_flags() if flags is None else flags
    if not flags:
        return f"unknown (no CPU flags in {CPUINFO})"
    value, old = environ.get(ISA_VARIABLE), environ.get(OLD_ISA_VARIABLE)
    isa = next((name for name, needs in _ISAS if needs <= flags and _BITS[name] <= _CAPS.get(value, _CAPS["ALL"])),
               "any")
    notes = []
    if isa != "avx512_core_amx":
        native = _BITS["avx512_core_bf16"] <= _BITS.get(isa, set())
        notes.append("bfloat16 native" if native else
                     "no bfloat16 instructions" + ("" if bfloat16_problem(flags) else " at this ISA"))
    if value is not None and value not in _CAPS:
        notes.append(f"{ISA_VARIABLE}={value!r} ignored, not a oneDNN 2.4 name such as AVX2")
    if old is not None:
        notes.append(f"{OLD_ISA_VARIABLE}={old} ignored: oneDNN 2.4 reads {ISA_VARIABLE}")
    if not AMX_FLAGS <= flags:
        if value in _CAPS and value not in ("ALL", AMX_VALUE):
            notes.append(f"{ISA_VARIABLE}={value} set by the user")
        notes.append("no AMX on this CPU")
    elif isa == "avx512_core_amx":
        tile_data = _tile_data_permitted() if tile_data is None else tile_data
        notes.append("AMX on" if tile_data else "AMX on, but the kernel did not grant the tile state: the first "
                                                f"AMX instruction will stop the process; unset {ISA_VARIABLE}")
    elif value is not None:
        notes.append(f"AMX off: {ISA_VARIABLE}={value} set by the user")
    elif old is not None:
        notes.append(f"AMX off: {OLD_ISA_VARIABLE} set by the user")
    elif not (_tile_data_permitted() if tile_data is None else tile_data):
        notes.append("AMX off: the kernel did not grant the AMX tile state, which needs Linux 5.16 or newer")
    else:
        notes.append(f"AMX off: {ISA_VARIABLE} was not set before MXNet loaded")
    return f"{isa} ({'; '.join(notes)})"


def _libc_syscall(*arguments):
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    # As C longs: the call is variadic, and a Python int would travel as a 32-bit int.
    return libc.syscall(*(ctypes.c_long(a) if isinstance(a, int) else a for a in arguments))


def _x86_64_linux():
    return sys.platform.startswith("linux") and platform.machine() == "x86_64"


def _request_tile_data(syscall=None):
    """arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA): whether the kernel granted the AMX tile
    state to this process (all its threads). Never asked off x86-64 Linux, where 158 is another call."""
    if syscall is None:
        if not _x86_64_linux():
            return False
        syscall = _libc_syscall
    return syscall(_ARCH_PRCTL, _ARCH_REQ_XCOMP_PERM, _XFEATURE_XTILEDATA) == 0


def _tile_data_permitted():
    """arch_prctl(ARCH_GET_XCOMP_PERM): whether this process may use the AMX tile state now."""
    if not _x86_64_linux():
        return False
    import ctypes
    permitted = ctypes.c_ulong(0)
    if _libc_syscall(_ARCH_PRCTL, _ARCH_GET_XCOMP_PERM, ctypes.byref(permitted)) != 0:
        return False
    return bool(permitted.value >> _XFEATURE_XTILEDATA & 1)
