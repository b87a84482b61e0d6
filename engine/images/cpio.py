"""A gzip-compressed `newc` cpio archive, the format the Linux kernel unpacks as an initramfs.

Written in Python so building needs no `cpio` tool and every entry is owned by root whoever builds.
"""

from __future__ import annotations

import gzip
import os
import stat
from pathlib import Path


def _header(ino: int, mode: int, nlink: int, mtime: int, size: int, name: bytes) -> bytes:
    fields = (ino, mode, 0, 0, nlink, mtime, size, 0, 0, 0, 0, len(name) + 1, 0)
    head = b"070701" + b"".join(f"{v:08x}".encode() for v in fields) + name + b"\0"
    return head + b"\0" * (-len(head) % 4)


def write_initramfs(src: Path, out: Path, mtime: int = 0) -> int:
    """Archive the tree `src` (paths relative to it) into `out`; return the compressed size."""
    entries: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames.sort()
        base = Path(dirpath)
        entries.extend(base / d for d in dirnames)
        entries.extend(base / f for f in sorted(filenames))
    with gzip.open(out, "wb", compresslevel=6) as gz:
        for ino, path in enumerate(entries, start=1):
            st = path.lstat()
            name = path.relative_to(src).as_posix().encode()
            perm = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                data = os.readlink(path).encode()
                gz.write(_header(ino, stat.S_IFLNK | 0o777, 1, mtime, len(data), name))
            elif stat.S_ISDIR(st.st_mode):
                data = b""
                gz.write(_header(ino, stat.S_IFDIR | perm, 2, mtime, 0, name))
            else:
                data = path.read_bytes()
                gz.write(_header(ino, stat.S_IFREG | perm, 1, mtime, len(data), name))
            gz.write(data + b"\0" * (-len(data) % 4))
        gz.write(_header(0, 0, 1, 0, 0, b"TRAILER!!!"))
    return out.stat().st_size


def gunzip(src: Path, out: Path) -> None:
    """Write the uncompressed archive (QEMU loads it; the guest kernel need not inflate it)."""
    with gzip.open(src, "rb") as f:
        out.write_bytes(f.read())
