"""Kernel modules: pick the ones a recipe names, with their dependencies, and index them.

Module entries in a recipe are either names (`virtio_net`, `sch_netem`) or path globs relative to
`lib/modules/<version>/kernel` (`net/netfilter/*.ko`, `fs/nfsd/**`). Indexing uses the `depmod`
applet of the image's own busybox, so the build machine needs no kmod.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

from engine.errors import NemuError
from engine.hosts import Host


class ModuleError(NemuError):
    """A kernel module a recipe names that the kernel package does not have."""


def kernel_version(kernel_root: Path) -> str:
    """The one `lib/modules/<version>` directory of an unpacked kernel package."""
    versions = [p.name for p in (kernel_root / "lib/modules").iterdir() if p.is_dir()]
    if len(versions) != 1:
        raise ModuleError(f"{kernel_root}: expected one kernel version, found {versions}")
    return versions[0]


async def depmod(host: Host, busybox: Path, root: Path, version: str) -> None:
    """Write modules.dep/alias/symbols for `root/lib/modules/<version>`."""
    await host.run([str(busybox), "depmod", "-b", str(root), version], timeout=600)


def read_dep(moddir: Path) -> dict[str, list[str]]:
    """modules.dep as {relative path: [dependency paths]}."""
    deps: dict[str, list[str]] = {}
    for line in (moddir / "modules.dep").read_text().splitlines():
        if ":" in line:
            mod, rest = line.split(":", 1)
            deps[mod.strip()] = rest.split()
    return deps


def _modname(path: str) -> str:
    return Path(path).name.removesuffix(".ko").replace("-", "_")


def select(moddir: Path, wanted: Iterable[str]) -> list[str]:
    """Relative paths of the wanted modules plus everything they depend on.

    Names of modules built into the kernel (listed in modules.builtin) are accepted and skipped.
    """
    deps = read_dep(moddir)
    by_name = {_modname(p): p for p in deps}
    builtin = set()
    builtin_file = moddir / "modules.builtin"
    if builtin_file.exists():
        builtin = {_modname(p) for p in builtin_file.read_text().split()}
    chosen: set[str] = set()
    missing = []
    for entry in wanted:
        if "/" in entry or "*" in entry:
            hits = [p.relative_to(moddir).as_posix() for p in moddir.glob("kernel/" + entry)
                    if p.suffix == ".ko"]
            if not hits:
                missing.append(entry)
            chosen.update(hits)
        else:
            name = entry.replace("-", "_")
            if name in by_name:
                chosen.add(by_name[name])
            elif name not in builtin:
                missing.append(entry)
    if missing:
        raise ModuleError(f"kernel modules not in {moddir.name}: {', '.join(missing)}")
    todo = list(chosen)
    while todo:
        for dep in deps.get(todo.pop(), []):
            if dep not in chosen:
                chosen.add(dep)
                todo.append(dep)
    return sorted(chosen)


_SIG_MARKER = b"~Module signature appended~\n"


def strip_signature(data: bytes) -> bytes:
    """A module without its appended signature (struct module_signature + marker).

    Checking an RSA signature on every module load is slow under TCG; Debian's kernels do not
    enforce signatures (CONFIG_MODULE_SIG_FORCE unset), so an unsigned module loads and the
    kernel only records an 'E' taint.
    """
    if not data.endswith(_SIG_MARKER):
        return data
    info_end = len(data) - len(_SIG_MARKER)
    sig_len = int.from_bytes(data[info_end - 4:info_end], "big")
    return data[:info_end - 12 - sig_len]


def copy_modules(src_moddir: Path, dst_moddir: Path, modules: Iterable[str],
                 strip: bool = True) -> int:
    """Copy the chosen modules (signatures stripped) and the kernel's builtin lists; return
    the bytes copied."""
    total = 0
    dst_moddir.mkdir(parents=True, exist_ok=True)
    for name in ("modules.builtin", "modules.builtin.modinfo", "modules.order"):
        if (src_moddir / name).exists():
            shutil.copy2(src_moddir / name, dst_moddir / name)
    for rel in modules:
        dst = dst_moddir / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if strip:
            dst.write_bytes(strip_signature((src_moddir / rel).read_bytes()))
        else:
            shutil.copy2(src_moddir / rel, dst)
        total += dst.stat().st_size
    return total
