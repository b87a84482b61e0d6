"""Just enough ELF reading to check that every program in an image finds its shared libraries.

Reads DT_NEEDED and DT_RUNPATH/DT_RPATH of 64-bit little-endian ELF files (the only kind an
amd64 Debian image holds) and whether a file is a dynamically linked program (has PT_INTERP).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

_PT_INTERP = 3
_SHT_DYNAMIC = 6
_DT_NEEDED, _DT_RPATH, _DT_RUNPATH = 1, 15, 29


@dataclass(frozen=True)
class ElfInfo:
    needed: tuple[str, ...]
    runpath: tuple[str, ...]
    is_program: bool


def read_elf(path: Path) -> ElfInfo | None:
    """The dynamic-linking facts of `path`, or None when it is not a 64-bit ELF file."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
                return None
            data = head + f.read()
    except OSError:
        return None
    (e_phoff, e_shoff) = struct.unpack_from("<QQ", data, 0x20)
    (e_phentsize, e_phnum, e_shentsize, e_shnum) = struct.unpack_from("<HHHH", data, 0x36)
    is_program = any(
        struct.unpack_from("<I", data, e_phoff + i * e_phentsize)[0] == _PT_INTERP
        for i in range(e_phnum))
    sections = []
    for i in range(e_shnum):
        off = e_shoff + i * e_shentsize
        if off + 64 > len(data):
            break
        _, sh_type, _, _, sh_offset, sh_size, sh_link, _, _, _ = struct.unpack_from(
            "<IIQQQQIIQQ", data, off)
        sections.append((sh_type, sh_offset, sh_size, sh_link))
    needed: list[str] = []
    runpath: list[str] = []
    for sh_type, offset, size, link in sections:
        if sh_type != _SHT_DYNAMIC or link >= len(sections):
            continue
        str_off = sections[link][1]
        for pos in range(offset, offset + size, 16):
            tag, val = struct.unpack_from("<qQ", data, pos)
            if tag == 0:
                break
            if tag in (_DT_NEEDED, _DT_RPATH, _DT_RUNPATH):
                end = data.index(b"\0", str_off + val)
                s = data[str_off + val:end].decode(errors="replace")
                if tag == _DT_NEEDED:
                    needed.append(s)
                else:
                    runpath.extend(s.split(":"))
    return ElfInfo(tuple(needed), tuple(runpath), is_program)
