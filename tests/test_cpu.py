"""gluon_wgan.utils.cpu: the CPU's flags, bfloat16 support, AMX switched on before MXNet loads (the user's
setting wins), and the instruction set oneDNN computes with, checked against oneDNN's own verbose line."""
import json
import os
import subprocess
import sys

import pytest

from gluon_wgan.utils import cpu
from gluon_wgan.utils.cpu import AMX_FLAGS, bfloat16_problem, cpu_flags, enable_amx, isa_summary
from gluon_wgan.utils.threads import use_threads

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cpuinfo(model, flags):
    """Two processors of /proc/cpuinfo, abridged, with `flags`."""
    return "".join(f"processor\t: {n}\nvendor_id\t: x\nmodel name\t: {model}\nflags\t\t: {flags}\n"
                   f"bugs\t\t: spectre_v1\n\n" for n in range(2))


# An Intel Xeon Platinum 8480+ (Sapphire Rapids: AMX), this suite's AMD EPYC (avx512_bf16, no AMX) and an
# Intel Xeon E5-2676 v3 (Haswell: AVX2).
SAPPHIRE_RAPIDS = cpuinfo("Intel(R) Xeon(R) Platinum 8480+", (
    "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx fxsr sse sse2 ss "
    "ht tm pbe syscall nx pdpe1gb rdtscp lm constant_tsc art arch_perfmon pebs bts rep_good nopl xtopology "
    "nonstop_tsc cpuid aperfmperf tsc_known_freq pni pclmulqdq dtes64 monitor ds_cpl vmx smx est tm2 ssse3 sdbg "
    "fma cx16 xtpr pdcm pcid dca sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand "
    "lahf_lm abm 3dnowprefetch cpuid_fault epb cat_l3 cat_l2 cdp_l3 invpcid_single intel_ppin cdp_l2 ssbd mba "
    "ibrs ibpb stibp ibrs_enhanced fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid cqm rdt_a avx512f "
    "avx512dq rdseed adx smap avx512ifma clflushopt clwb intel_pt avx512cd sha_ni avx512bw avx512vl xsaveopt "
    "xsavec xgetbv1 xsaves split_lock_detect avx_vnni avx512_bf16 wbnoinvd dtherm ida arat pln pts hfi "
    "avx512vbmi umip pku ospke waitpkg avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni avx512_bitalg tme "
    "avx512_vpopcntdq la57 rdpid bus_lock_detect cldemote movdiri movdir64b enqcmd fsrm md_clear serialize "
    "tsxldtrk pconfig arch_lbr ibt amx_bf16 avx512_fp16 amx_tile amx_int8 flush_l1d arch_capabilities"))
AMD_EPYC = cpuinfo("AMD EPYC", (
    "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall "
    "nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology nonstop_tsc cpuid extd_apicid "
    "tsc_known_freq pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes "
    "xsave avx f16c rdrand hypervisor lahf_lm cmp_legacy cr8_legacy abm sse4a misalignsse 3dnowprefetch osvw "
    "topoext cpuid_fault vmmcall fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid avx512f avx512dq rdseed "
    "adx smap avx512ifma clflushopt clwb avx512cd sha_ni avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves "
    "avx512_bf16 clzero xsaveerptr arat avx512vbmi umip avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni "
    "avx512_bitalg avx512_vpopcntdq rdpid fsrm"))
HASWELL = cpuinfo("Intel(R) Xeon(R) CPU E5-2676 v3 @ 2.40GHz", (
    "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall "
    "nx rdtscp lm constant_tsc rep_good nopl xtopology cpuid pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 "
    "x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand hypervisor lahf_lm abm cpuid_fault "
    "invpcid_single pti fsgsbase bmi1 avx2 smep bmi2 erms invpcid xsaveopt"))
SPR, EPYC, OLD = (cpu_flags(text) for text in (SAPPHIRE_RAPIDS, AMD_EPYC, HASWELL))

# oneDNN 2.4's verbose line ("dnnl_verbose,info,cpu,isa:...") for each ISA `isa_summary` names.
VERBOSE_ISA = {
    "Intel AVX-512 with Intel DL Boost and bfloat16 support and Intel AMX with bfloat16 and 8-bit integer support":
        "avx512_core_amx",
    "Intel AVX-512 with Intel DL Boost and bfloat16 support": "avx512_core_bf16",
    "Intel AVX-512 with Intel DL Boost and bfloat16 support on Ymm/Zmm": "avx512_core_bf16",
    "Intel AVX-512 with Intel DL Boost": "avx512_core_vnni",
    "Intel AVX-512 with AVX512BW, AVX512VL, and AVX512DQ extensions": "avx512_core",
    "Intel AVX-512 with AVX512_4FMAPS and AVX512_4VNNIW extensions": "avx512_mic_4ops",
    "Intel AVX-512 with AVX512CD, AVX512ER, and AVX512PF extensions": "avx512_mic",
    "Intel AVX-512": "avx512_common",
    "Intel AVX2 with Intel DL Boost": "avx2_vnni",
    "Intel AVX2": "avx2",
    "Intel AVX": "avx",
    "Intel SSE4.1": "sse41",
    "Intel 64": "any",
}
ISA_VARIABLES = ("DNNL_MAX_CPU_ISA", "MKLDNN_MAX_CPU_ISA")


def test_flags_from_cpuinfo_texts_and_files(tmp_path):
    assert {"amx_tile", "amx_int8", "amx_bf16", "avx512_bf16", "avx512_vnni"} <= SPR
    assert "avx512_bf16" in EPYC and not EPYC & AMX_FLAGS and "avx512_vnni" in EPYC
    assert "avx2" in OLD and not {"avx512f", "avx512_bf16"} & OLD
    assert "spectre_v1" not in OLD and "Xeon(R)" not in OLD      # the flags line only
    path = tmp_path / "cpuinfo"
    path.write_text(AMD_EPYC)
    assert cpu_flags(path=str(path)) == EPYC
    assert cpu_flags(path=str(tmp_path / "missing")) == frozenset()
    assert cpu_flags("processor\t: 0\nFeatures\t: fp asimd\n") == frozenset()     # an ARM CPU: no x86 flags


def test_bfloat16_is_native_with_avx512_bf16_or_amx_else_refused_in_one_line():
    assert bfloat16_problem(SPR) == "" and bfloat16_problem(EPYC) == ""
    assert bfloat16_problem({"amx_bf16", "amx_tile"}) == ""
    for flags in (OLD, frozenset()):
        problem = bfloat16_problem(flags)
        assert problem.startswith("--dtype bfloat16 needs a CPU with bfloat16 instructions (avx512_bf16 or "
                                  "amx_bf16") and "\n" not in problem
    assert "this CPU has neither" in bfloat16_problem(OLD)
    assert "lists no CPU flags here" in bfloat16_problem(frozenset())


@pytest.mark.parametrize("flags,environ,tile_data,summary", [
    (EPYC, {}, False, "avx512_core_bf16 (bfloat16 native; no AMX on this CPU)"),
    (OLD, {}, False, "avx2 (no bfloat16 instructions; no AMX on this CPU)"),
    (EPYC, {"DNNL_MAX_CPU_ISA": "AVX2"}, False,
     "avx2 (no bfloat16 instructions at this ISA; DNNL_MAX_CPU_ISA=AVX2 set by the user; no AMX on this CPU)"),
    (EPYC, {"DNNL_MAX_CPU_ISA": "avx2"}, False,    # oneDNN reads the names in capitals only
     "avx512_core_bf16 (bfloat16 native; DNNL_MAX_CPU_ISA='avx2' ignored, not a oneDNN 2.4 name such as AVX2; "
     "no AMX on this CPU)"),
    (EPYC, {"MKLDNN_MAX_CPU_ISA": "AVX2"}, False,
     "avx512_core_bf16 (bfloat16 native; MKLDNN_MAX_CPU_ISA=AVX2 ignored: oneDNN 2.4 reads DNNL_MAX_CPU_ISA; "
     "no AMX on this CPU)"),
    (EPYC, {"DNNL_MAX_CPU_ISA": "AVX512_MIC"}, False, "avx512_common (no bfloat16 instructions at this ISA; "
                                                      "DNNL_MAX_CPU_ISA=AVX512_MIC set by the user; no AMX on this CPU)"),
    (SPR, {"DNNL_MAX_CPU_ISA": "AVX512_CORE_AMX"}, True, "avx512_core_amx (AMX on)"),
    (SPR, {"DNNL_MAX_CPU_ISA": "AVX512_CORE_BF16"}, True,
     "avx512_core_bf16 (bfloat16 native; AMX off: DNNL_MAX_CPU_ISA=AVX512_CORE_BF16 set by the user)"),
    (SPR, {"DNNL_MAX_CPU_ISA": "ALL"}, True,         # oneDNN 2.4's "all" leaves AMX out
     "avx512_core_bf16 (bfloat16 native; AMX off: DNNL_MAX_CPU_ISA=ALL set by the user)"),
    (SPR, {"DNNL_MAX_CPU_ISA": "AVX2_VNNI"}, True,
     "avx2_vnni (no bfloat16 instructions at this ISA; AMX off: DNNL_MAX_CPU_ISA=AVX2_VNNI set by the user)"),
    (SPR, {}, False, "avx512_core_bf16 (bfloat16 native; AMX off: the kernel did not grant the AMX tile state, "
                     "which needs Linux 5.16 or newer)"),
    (SPR, {}, True, "avx512_core_bf16 (bfloat16 native; AMX off: DNNL_MAX_CPU_ISA was not set before MXNet loaded)"),
    (SPR, {"DNNL_MAX_CPU_ISA": "AVX512_CORE_AMX"}, False,
     "avx512_core_amx (AMX on, but the kernel did not grant the tile state: the first AMX instruction will stop "
     "the process; unset DNNL_MAX_CPU_ISA)"),
    (frozenset(), {}, False, "unknown (no CPU flags in /proc/cpuinfo)"),
])
def test_isa_summary_follows_onednn_dispatch(flags, environ, tile_data, summary):
    assert isa_summary(environ, flags, tile_data=tile_data) == summary


class FakeSyscall:
    """arch_prctl as the kernel answers it: 0 (granted) or -1, with the calls recorded."""

    def __init__(self, result):
        self.result, self.calls = result, []

    def __call__(self, *arguments):
        self.calls.append(arguments)
        return self.result


def test_amx_is_asked_for_and_then_set_on_an_amx_cpu():
    granted, environ = FakeSyscall(0), {"OMP_NUM_THREADS": "2"}
    assert enable_amx(environ, SPR, syscall=granted) is True
    assert granted.calls == [(158, 0x1023, 18)]        # arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)
    assert environ == {"OMP_NUM_THREADS": "2", "DNNL_MAX_CPU_ISA": "AVX512_CORE_AMX"}
    assert isa_summary(environ, SPR, tile_data=True) == "avx512_core_amx (AMX on)"


def test_a_refused_request_leaves_onednns_default():
    refused, environ = FakeSyscall(-1), {}
    assert enable_amx(environ, SPR, syscall=refused) is False
    assert refused.calls == [(158, 0x1023, 18)] and environ == {}    # no AMX instruction: no SIGILL


@pytest.mark.parametrize("users", [{"DNNL_MAX_CPU_ISA": "AVX512_CORE_BF16"}, {"DNNL_MAX_CPU_ISA": "AVX2"},
                                   {"DNNL_MAX_CPU_ISA": "ALL"}, {"MKLDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"}])
def test_the_users_setting_wins(users):
    granted, environ = FakeSyscall(0), dict(users)
    assert enable_amx(environ, SPR, syscall=granted) is False
    assert granted.calls == [] and environ == users


def test_a_users_amx_setting_gets_the_kernels_permission_asked():
    """oneDNN's AMX instructions die without it (SIGILL); the variable stays the user's."""
    for result, on in ((0, True), (-1, False)):
        syscall, environ = FakeSyscall(result), {"DNNL_MAX_CPU_ISA": "AVX512_CORE_AMX"}
        assert enable_amx(environ, SPR, syscall=syscall) is on
        assert syscall.calls == [(158, 0x1023, 18)] and environ == {"DNNL_MAX_CPU_ISA": "AVX512_CORE_AMX"}


@pytest.mark.parametrize("flags", [EPYC, OLD, frozenset(), SPR - {"amx_int8"}])
def test_no_system_call_without_amx(flags):
    never = FakeSyscall(0)
    environ = {}
    assert enable_amx(environ, flags, syscall=never) is False
    assert never.calls == [] and environ == {}


@pytest.fixture
def before_mxnet(monkeypatch):
    monkeypatch.delitem(sys.modules, "mxnet", raising=False)


@pytest.mark.parametrize("flags,calls,isa", [(SPR, 1, {"DNNL_MAX_CPU_ISA": "AVX512_CORE_AMX"}), (EPYC, 0, {}),
                                             (OLD, 0, {})])
def test_use_threads_enables_amx_before_mxnet_loads(before_mxnet, monkeypatch, flags, calls, isa):
    """Every command's set-up (use_threads) asks for AMX on an AMX CPU and makes no system call elsewhere."""
    granted = FakeSyscall(0)
    monkeypatch.setattr(cpu, "cpu_flags", lambda *args, **kwargs: flags)
    monkeypatch.setattr(cpu, "_libc_syscall", granted)
    environ = {}
    use_threads(1, environ=environ)
    assert len(granted.calls) == calls
    assert environ == dict(isa, OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE")
    monkeypatch.setitem(sys.modules, "mxnet", object())          # too late once MXNet is loaded
    environ = {}
    use_threads(1, environ=environ)
    assert environ == {} and len(granted.calls) == calls


def _fresh(code, environ=None):
    """`code` run by a fresh Python (the package from this checkout), with `environ` (default: ours)."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env=environ)


def test_the_real_tile_data_request_is_harmless_on_this_cpu():
    """The true arch_prctl call, made as on an AMX CPU, on a CPU whose kernel refuses it: refused, no
    variable set, and the process carries on."""
    if AMX_FLAGS <= cpu_flags():
        pytest.skip("this CPU has AMX: the request is granted here")
    result = _fresh("from gluon_wgan.utils.cpu import AMX_FLAGS, cpu_flags, enable_amx\n"
                    "environ = {}\n"
                    "print(enable_amx(environ, flags=cpu_flags() | AMX_FLAGS), environ)\n"
                    "print('still running')\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["False {}", "still running"]


@pytest.mark.parametrize("users", [{}, {"DNNL_MAX_CPU_ISA": "AVX2"}, {"DNNL_MAX_CPU_ISA": "AVX512_CORE_VNNI"},
                                   {"DNNL_MAX_CPU_ISA": "AVX512_MIC"}, {"DNNL_MAX_CPU_ISA": "AVX512_CORE_AMX"},
                                   {"DNNL_MAX_CPU_ISA": "avx2"}, {"MKLDNN_MAX_CPU_ISA": "AVX2"}])
def test_the_summary_names_the_isa_onednn_reports(users):
    """On this machine: a fresh process set up by use_threads, as every command is, runs a convolution
    with DNNL_VERBOSE=1; oneDNN's own ISA line is the one isa_summary names."""
    environ = {k: v for k, v in os.environ.items() if k not in ISA_VARIABLES}
    environ.update(users, DNNL_VERBOSE="1", OMP_NUM_THREADS="1")
    result = _fresh("from gluon_wgan.utils.threads import use_threads\n"
                    "use_threads(1)\n"
                    "import mxnet as mx\n"
                    "x, w = mx.nd.ones((2, 3, 8, 8)), mx.nd.ones((4, 3, 3, 3))\n"
                    "mx.nd.Convolution(x, w, kernel=(3, 3), num_filter=4, no_bias=True).wait_to_read()\n"
                    "from gluon_wgan.utils.cpu import isa_summary\n"
                    "print('summary:' + isa_summary())\n", environ)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    reported = [line.split("isa:", 1)[1] for line in lines if line.startswith("dnnl_verbose,info,cpu,isa:")]
    summary = [line[len("summary:"):] for line in lines if line.startswith("summary:")]
    assert len(reported) == 1 and len(summary) == 1, result.stdout
    assert summary[0].split()[0] == VERBOSE_ISA[reported[0]], (reported[0], summary[0])


def test_a_runs_env_json_and_header_name_the_isa(tmp_path):
    outdir = str(tmp_path / "run")
    result = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "train_wgan.py"), "--image-size", "16",
                             "--ngf", "8", "--ndf", "8", "--nz", "16", "--batch-size", "8", "--warmup-iters", "0",
                             "--burst-every", "0", "--d-iters", "2", "--gen-iters", "1", "--quiet", "--threads", "1",
                             "--outdir", outdir], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    env = json.load(open(os.path.join(outdir, "env.json")))
    if not AMX_FLAGS <= cpu_flags():     # else the run, set up by use_threads, may have AMX on where we have not
        assert env["onednn_isa"] == isa_summary()
    assert env["onednn_isa"].split()[0] in VERBOSE_ISA.values()
    assert f"cpu         oneDNN computes with {env['onednn_isa']}" in result.stderr.splitlines()
