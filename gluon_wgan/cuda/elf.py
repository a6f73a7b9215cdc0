"""The little of a 64-bit little-endian ELF shared library that the GPU checks read: the libraries
it needs (``readelf -d``'s NEEDED lines) and where a named section lies.

Read with `struct` from a memory map, so a 900 MB libmxnet.so costs a few page reads, and nothing is
loaded or executed.
"""
import mmap
import struct

_SHT_DYNAMIC = 6
_DT_NEEDED = 1


class NotELF(ValueError):
    """The file is not a 64-bit little-endian ELF file."""


def open_map(path):
    """A read-only memory map of the file at `path`."""
    with open(path, "rb") as f:
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)


def sections(data):
    """{name: (file offset, size)} of the sections of the ELF image `data` (bytes or mmap)."""
    headers = _section_headers(data)
    names = headers[struct.unpack_from("<H", data, 0x3E)[0]]["offset"]
    return {_string(data, names + h["name"]): (h["offset"], h["size"]) for h in headers}


def needed(data):
    """The sonames the ELF image `data` needs (its DT_NEEDED entries, in order)."""
    headers = _section_headers(data)
    for h in headers:
        if h["type"] == _SHT_DYNAMIC:
            strings = headers[h["link"]]["offset"]          # sh_link: the section's string table
            entries = (struct.unpack_from("<qQ", data, h["offset"] + 16 * i) for i in range(h["size"] // 16))
            return [_string(data, strings + value) for tag, value in entries if tag == _DT_NEEDED]
    return []


def _section_headers(data):
    if bytes(data[:6]) != b"\x7fELF\x02\x01":
        raise NotELF("not a 64-bit little-endian ELF file")
    table, = struct.unpack_from("<Q", data, 0x28)
    entry_size, count = struct.unpack_from("<HH", data, 0x3A)
    keys = ("name", "type", "flags", "addr", "offset", "size", "link", "info", "align", "entsize")
    return [dict(zip(keys, struct.unpack_from("<IIQQQQIIQQ", data, table + i * entry_size)))
            for i in range(count)]


def _string(data, offset):
    return bytes(data[offset:data.find(b"\0", offset)]).decode("utf-8", "replace")
