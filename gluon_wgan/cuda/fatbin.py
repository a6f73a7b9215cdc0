"""Which GPUs a CUDA library's kernels can run on, read from its ``.nv_fatbin`` section.

nvcc stores each compiled source file's kernels as one fat binary: a 16-byte header (magic
0xBA55ED50, version, header size, size of what follows) and entries, each a header (kind 1 = PTX
text, 2 = ELF cubin; the target architecture as 10 * major + minor at byte 28; its own size and the
payload's size) followed by its payload. ``cuobjdump --list-elf/--list-ptx`` print the same list
(docs/gpu.md compares the two on MXNet's wheels).

CUDA's rules (CUDA C++ Programming Guide, "Binary Compatibility" and "PTX Compatibility"): a cubin
for sm_XY runs on a GPU of compute capability X.Z with Z >= Y (same major version); PTX for
compute_XY is compiled by the driver, when a program first loads it, for any GPU of capability
>= X.Y. A library runs on a GPU only if every one of its fat binaries does.
"""
import struct
from typing import FrozenSet, NamedTuple

from . import elf

MAGIC = 0xBA55ED50
_MAGIC_BYTES = struct.pack("<I", MAGIC)
KINDS = {1: "ptx", 2: "cubin"}


class Targets(NamedTuple):
    """The architectures of one fat binary: cubin and PTX, each as 10 * major + minor (86 = sm_86)."""
    cubin: FrozenSet[int]
    ptx: FrozenSet[int]


def read_targets(path):
    """The distinct `Targets` of the fat binaries in the ELF library at `path` (an empty tuple for a
    library without CUDA kernels), and how many fat binaries there are."""
    data = elf.open_map(path)
    try:
        where = elf.sections(data).get(".nv_fatbin")
        if where is None:
            return (), 0
        offset, size = where
        return parse(data, offset, offset + size)
    finally:
        data.close()


def parse(data, start=0, end=None):
    """(distinct `Targets`, sorted; number of fat binaries) of the fat binaries in `data[start:end]`.

    Fat binaries follow one another, sometimes with zero padding between them; entries of a kind
    other than PTX or cubin are skipped.
    """
    end = len(data) if end is None else end
    found, count = set(), 0
    position = data.find(_MAGIC_BYTES, start, end)
    while position != -1:
        _, _, header_size, body_size = struct.unpack_from("<IHHQ", data, position)
        stop = position + header_size + body_size
        if stop > end:
            raise ValueError(f"fat binary at byte {position} runs past the end of its section")
        kinds = {"cubin": set(), "ptx": set()}
        entry = position + header_size
        while entry < stop:
            kind, _, entry_header, payload = struct.unpack_from("<HHIQ", data, entry)
            arch, = struct.unpack_from("<I", data, entry + 28)
            if kind in KINDS:
                kinds[KINDS[kind]].add(arch)
            if entry_header == 0:
                raise ValueError(f"fat binary entry at byte {entry} has a zero-sized header")
            entry += entry_header + payload
        found.add(Targets(frozenset(kinds["cubin"]), frozenset(kinds["ptx"])))
        count += 1
        position = data.find(_MAGIC_BYTES, stop, end)
    return tuple(sorted(found, key=lambda t: (sorted(t.cubin), sorted(t.ptx)))), count


def how_it_runs(targets, capability):
    """'native', 'ptx' (some kernels compiled by the driver at first start) or None (cannot run):
    how kernels with these `targets` (a sequence of `Targets`) run on a GPU of `capability`, a
    (major, minor) pair such as (8, 6)."""
    major, minor = capability
    device = 10 * major + minor
    worst = "native"
    for t in targets:
        if any(arch // 10 == major and arch % 10 <= minor for arch in t.cubin):
            continue
        if any(arch <= device for arch in t.ptx):
            worst = "ptx"
            continue
        return None
    return worst


def describe(targets):
    """'sm_50, sm_60 cubins and compute_80 PTX' for the union of `targets`."""
    cubin = sorted(set().union(*(t.cubin for t in targets))) if targets else []
    ptx = sorted(set().union(*(t.ptx for t in targets))) if targets else []
    return " and ".join([", ".join(f"sm_{a}" for a in cubin) + " cubins" if cubin else "no cubins",
                         ", ".join(f"compute_{a}" for a in ptx) + " PTX" if ptx else "no PTX"])
