"""Turning unpacked packages into a root tree: merged /usr, busybox applets, guest files,
pruning, and a check that every program finds its shared libraries.
"""

from __future__ import annotations

import os
import platform
import shutil
from collections.abc import Iterable
from pathlib import Path

from engine.errors import NemuError
from engine.hosts import Host
from engine.images.elf import read_elf

# Where the dynamic loader of each guest architecture looks for libraries, and the loader.
LIB_DIRS_BY_ARCH = {
    "x86_64": ("usr/lib/x86_64-linux-gnu", "usr/lib", "usr/lib64", "usr/local/lib"),
    "i386": ("usr/lib/i386-linux-gnu", "usr/lib", "usr/local/lib"),
}
LOADER = {"x86_64": "usr/lib64/ld-linux-x86-64.so.2", "i386": "usr/lib/ld-linux.so.2"}
LIB_DIRS = LIB_DIRS_BY_ARCH["x86_64"]
MERGED = ("bin", "sbin", "lib", "lib64")


class RootfsError(NemuError):
    """A root tree that cannot work, e.g. a program whose library no package provides."""


def _move_merge(src: Path, dst: Path) -> None:
    """Move the contents of directory `src` into `dst`, merging subdirectories."""
    dst.mkdir(parents=True, exist_ok=True)
    for entry in list(src.iterdir()):
        target = dst / entry.name
        if entry.is_dir() and not entry.is_symlink() and target.is_dir() \
                and not target.is_symlink():
            _move_merge(entry, target)
        else:
            if target.is_symlink() or target.exists():
                if target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target)
                else:
                    target.unlink()
            entry.rename(target)
    src.rmdir()


def merge_usr(root: Path) -> None:
    """Move /bin, /sbin, /lib, /lib64 into /usr and leave symlinks, as Debian's merged /usr."""
    for top in MERGED:
        path = root / top
        if path.is_dir() and not path.is_symlink():
            _move_merge(path, root / "usr" / top)
        elif not path.exists():
            (root / "usr" / top).mkdir(parents=True, exist_ok=True)
        if not path.is_symlink():
            path.symlink_to(f"usr/{top}")


SKELETON = ("dev", "proc", "sys", "run", "tmp", "mnt", "root", "home", "etc", "var/log",
            "var/lib", "var/tmp", "usr/local/bin")


def make_skeleton(root: Path) -> None:
    """The directories every Linux root needs (Debian's base-files would make them)."""
    for d in SKELETON:
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    (root / "root").chmod(0o700)


def copy_tree(src: Path, root: Path) -> None:
    """Copy a guest-files directory over the root tree, keeping modes and symlinks."""
    for dirpath, dirnames, filenames in os.walk(src):
        rel = Path(dirpath).relative_to(src)
        for d in list(dirnames):
            s = Path(dirpath) / d
            if s.is_symlink():
                filenames.append(d)
                dirnames.remove(d)
        (root / rel).mkdir(parents=True, exist_ok=True)
        for name in filenames:
            s = Path(dirpath) / name
            t = _inside(root, rel / name)
            if t.is_symlink() or t.is_file():
                t.unlink()
            if s.is_symlink():
                t.symlink_to(s.readlink())
            else:
                shutil.copy2(s, t)
                t.chmod(guest_mode(rel / name, s.stat().st_mode))


PRIVATE = {"etc/shadow"}   # guest files readable by root only, whatever the checkout's umask


def guest_mode(rel: Path, mode: int) -> int:
    """A guest file's mode from what git keeps of it (the executable bit), not from the umask
    of the checkout it came from: every clone builds the same image."""
    if rel.as_posix() in PRIVATE:
        return 0o600
    return 0o755 if mode & 0o100 else 0o644


def _inside(root: Path, rel: Path) -> Path:
    """`root/rel` with a leading merged directory mapped into /usr (bin/x -> usr/bin/x)."""
    parts = rel.parts
    if parts and parts[0] in MERGED:
        return root / "usr" / rel
    return root / rel


def run_in_tree(root: Path, program: Path, arch: str = "x86_64") -> list[str]:
    """The argv running a dynamically linked `program` of the tree on the build machine: as is
    for the build machine's own architecture, else through the tree's own loader and libraries
    (an i386 tree on an amd64 machine, which runs 32-bit programs but has no i386 libc)."""
    if arch == platform.machine():
        return [str(program)]
    libs = ":".join(str(root / d) for d in LIB_DIRS_BY_ARCH[arch])
    return [str(_resolve_in(root, root / LOADER[arch])), "--library-path", libs, str(program)]


async def busybox_links(host: Host, root: Path, arch: str = "x86_64") -> int:
    """Link every busybox applet whose name no real program already takes; return the count."""
    busybox = root / "usr/bin/busybox"
    res = await host.run([*run_in_tree(root, busybox, arch), "--list-full"], timeout=30)
    made = 0
    for line in res.text.split():
        target = _inside(root, Path(line))
        if target.exists() or target.is_symlink():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to("/usr/bin/busybox")
        made += 1
    return made


def prune(root: Path, patterns: Iterable[str]) -> int:
    """Remove what matches the globs (relative to root); return the bytes freed."""
    freed = 0
    for pattern in patterns:
        for p in list(root.glob(pattern.lstrip("/"))):
            if p.is_symlink() or p.is_file():
                freed += p.lstat().st_size
                p.unlink()
            elif p.is_dir():
                freed += sum(f.lstat().st_size for f in p.rglob("*") if f.is_file())
                shutil.rmtree(p)
    return freed


def _resolve_in(root: Path, path: Path) -> Path:
    """Follow symlinks of a path inside the root tree as the guest would (absolute = root)."""
    for _ in range(40):
        if not path.is_symlink():
            return path
        link = path.readlink()
        path = root / str(link).lstrip("/") if link.is_absolute() else path.parent / link
    return path


def missing_libraries(root: Path, lib_dirs: tuple[str, ...] = LIB_DIRS) -> dict[str, list[str]]:
    """{library: [programs needing it]} for libraries no directory of the tree provides."""
    found: dict[str, Path | None] = {}

    def locate(lib: str, runpath: tuple[str, ...], origin: Path) -> Path | None:
        dirs = [origin / r.replace("$ORIGIN", "").lstrip("/") if "$ORIGIN" in r
                else root / r.lstrip("/") for r in runpath]
        dirs += [root / d for d in lib_dirs]
        for d in dirs:
            cand = d / lib
            if cand.exists() or cand.is_symlink():
                real = _resolve_in(root, cand)
                if real.exists():
                    return real
        return None

    missing: dict[str, list[str]] = {}
    programs = []
    for top in ("usr/bin", "usr/sbin", "usr/libexec", "usr/lib"):
        base = root / top
        if not base.exists():
            continue
        for p in base.rglob("*"):
            if p.is_file() and not p.is_symlink() and os.access(p, os.X_OK):
                info = read_elf(p)
                if info and info.is_program:
                    programs.append((p, info))
    for prog, info in programs:
        todo = [(lib, info.runpath, prog.parent) for lib in info.needed]
        seen: set[str] = set()
        while todo:
            lib, runpath, origin = todo.pop()
            if lib in seen:
                continue
            seen.add(lib)
            if lib not in found:
                found[lib] = locate(lib, runpath, origin)
            where = found[lib]
            if where is None:
                missing.setdefault(lib, []).append(prog.relative_to(root).as_posix())
                continue
            sub = read_elf(where)
            if sub:
                todo.extend((n, sub.runpath, where.parent) for n in sub.needed)
    return missing


def check_libraries(root: Path, recipe_name: str, arch: str = "x86_64") -> None:
    """Raise RootfsError naming each missing library and who needs it."""
    missing = missing_libraries(root, LIB_DIRS_BY_ARCH[arch])
    if missing:
        lines = [f"  {lib}: needed by {', '.join(sorted(set(progs))[:4])}"
                 for lib, progs in sorted(missing.items())]
        raise RootfsError(
            f"image {recipe_name!r}: programs need shared libraries that no package in the recipe "
            "provides; add the Debian package shipping each (see `apt-file search LIB` or "
            "packages.debian.org) to `packages:`, or remove it from `exclude:`:\n"
            + "\n".join(lines))


def tree_size(root: Path) -> int:
    """Bytes of regular files under root (symlinks not followed)."""
    return sum(p.lstat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())
