"""Just enough ELF reading to check that every program in an image finds its shared libraries.

Reads DT_NEEDED and DT_RUNPATH/DT_RPATH of little-endian ELF files, 64-bit (amd64 images) or
32-bit (i386 images), and whether a file is a dynamically linked program (has PT_INTERP).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

_PT_INTERP = 3
_SHT_DYNAMIC = 6
_DT_NEEDED, _DT_RPATH, _DT_RUNPATH = 1, 15, 29
_ELFCLASS32, _ELFCLASS64 = 1, 2


@dataclass(frozen=True)
class _Layout:
    """Where the fields this reader needs sit, per ELF class."""

    offsets: str        # e_phoff, e_shoff (at 0x1c for 32-bit, 0x20 for 64-bit)
    offsets_at: int
    counts_at: int      # e_phentsize, e_phnum, e_shentsize, e_shnum
    section: str        # a section header, up to sh_entsize
    dyn: str            # one dynamic entry (d_tag, d_val)


_LAYOUTS = {
    _ELFCLASS64: _Layout("<QQ", 0x20, 0x36, "<IIQQQQIIQQ", "<qQ"),
    _ELFCLASS32: _Layout("<II", 0x1C, 0x2A, "<IIIIIIIIII", "<iI"),
}


@dataclass(frozen=True)
class ElfInfo:
    needed: tuple[str, ...]
    runpath: tuple[str, ...]
    is_program: bool
    bits: int = 64


def read_elf(path: Path) -> ElfInfo | None:
    """The dynamic-linking facts of `path`, or None when it is not a little-endian ELF file."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if len(head) < 52 or head[:4] != b"\x7fELF" or head[4] not in _LAYOUTS \
                    or head[5] != 1:
                return None
            data = head + f.read()
    except OSError:
        return None
    lay = _LAYOUTS[head[4]]
    try:
        (e_phoff, e_shoff) = struct.unpack_from(lay.offsets, data, lay.offsets_at)
        (e_phentsize, e_phnum, e_shentsize, e_shnum) = struct.unpack_from("<HHHH", data,
                                                                          lay.counts_at)
        is_program = any(
            struct.unpack_from("<I", data, e_phoff + i * e_phentsize)[0] == _PT_INTERP
            for i in range(e_phnum))
    except struct.error:
        return None
    sh_len = struct.calcsize(lay.section)
    dyn_len = struct.calcsize(lay.dyn)
    sections = []
    for i in range(e_shnum):
        off = e_shoff + i * e_shentsize
        if off + sh_len > len(data):
            break
        _, sh_type, _, _, sh_offset, sh_size, sh_link, _, _, _ = struct.unpack_from(
            lay.section, data, off)
        sections.append((sh_type, sh_offset, sh_size, sh_link))
    needed: list[str] = []
    runpath: list[str] = []
    for sh_type, offset, size, link in sections:
        if sh_type != _SHT_DYNAMIC or link >= len(sections):
            continue
        str_off = sections[link][1]
        for pos in range(offset, offset + size, dyn_len):
            tag, val = struct.unpack_from(lay.dyn, data, pos)
            if tag == 0:
                break
            if tag in (_DT_NEEDED, _DT_RPATH, _DT_RUNPATH):
                end = data.index(b"\0", str_off + val)
                s = data[str_off + val:end].decode(errors="replace")
                if tag == _DT_NEEDED:
                    needed.append(s)
                else:
                    runpath.extend(s.split(":"))
    return ElfInfo(tuple(needed), tuple(runpath), is_program, 64 if head[4] == 2 else 32)
