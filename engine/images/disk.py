"""Root disks: an ext4 file system made from a tree (`mke2fs -d`), owned by root even when the
builder is not root (fixed with `debugfs`), converted to a compressed qcow2 base image; and
per-node copy-on-write overlays on top of a base.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.hosts import Host
from engine.images.rootfs import tree_size

ROOT_LABEL = "nemu-root"


async def make_ext4(host: Host, tree: Path, out: Path, extra_mb: int) -> int:
    """Make `out` an ext4 image holding `tree` plus `extra_mb` free; return its size in MiB."""
    used = tree_size(tree)
    inodes = sum(1 for _ in tree.rglob("*")) + 4096
    size_mb = int(used * 1.15 / 2**20) + extra_mb + 16
    if out.exists():
        out.unlink()
    await host.run(["mke2fs", "-q", "-F", "-t", "ext4", "-L", ROOT_LABEL, "-b", "4096",
                    "-N", str(inodes), "-J", "size=4", "-m", "0",
                    "-E", "root_owner=0:0,lazy_itable_init=0",
                    "-d", str(tree), str(out), f"{size_mb}M"], timeout=600)
    await _own_by_root(host, tree, out)
    return size_mb


async def _own_by_root(host: Host, tree: Path, image: Path) -> None:
    """`mke2fs -d` copies owners from the tree; a non-root builder's files become root's."""
    cmds = []
    for dirpath, dirnames, filenames in os.walk(tree):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            if st.st_uid or st.st_gid:
                guest = "/" + p.relative_to(tree).as_posix()
                cmds.append(f'sif "{guest}" uid 0')
                cmds.append(f'sif "{guest}" gid 0')
    if not cmds:
        return
    script = image.with_suffix(".debugfs")
    script.write_text("\n".join(cmds) + "\n")
    try:
        await host.run(["debugfs", "-w", "-f", str(script), str(image)], timeout=600)
    finally:
        script.unlink()


async def to_qcow2(host: Host, raw: Path, out: Path, compress: bool = True) -> int:
    """Convert a raw image to (compressed) qcow2; return the qcow2 size in bytes."""
    argv = ["qemu-img", "convert", "-O", "qcow2"]
    if compress:
        # zstd: ~3 % smaller than zlib here and much faster to decompress on every read.
        argv += ["-c", "-o", "compression_type=zstd"]
    await host.run([*argv, str(raw), str(out)], timeout=900)
    return out.stat().st_size


async def create_overlay(host: Host, base: Path, overlay: Path) -> Path:
    """A sparse qcow2 overlay whose reads fall through to the read-only `base` image."""
    overlay.parent.mkdir(parents=True, exist_ok=True)
    fmt = "qcow2" if base.suffix == ".qcow2" else "raw"
    await host.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", fmt,
                    "-b", str(base.resolve()), str(overlay)], timeout=60)
    return overlay


def backing_file(overlay: Path) -> Path | None:
    """The image a qcow2 overlay reads through to, from its header (no process started: this
    runs over every node of every session); None for a raw or stand-alone disk."""
    try:
        with overlay.open("rb") as f:
            header = f.read(20)
            if len(header) < 20 or header[:4] != b"QFI\xfb":
                return None
            offset = int.from_bytes(header[8:16], "big")
            size = int.from_bytes(header[16:20], "big")
            if offset == 0 or size == 0 or size > 4096:
                return None
            f.seek(offset)
            name = f.read(size).decode(errors="replace")
    except OSError:
        return None
    path = Path(name)
    return path if path.is_absolute() else overlay.parent / path
