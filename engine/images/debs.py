"""Debian packages without root: resolve dependencies, download `.deb`s, unpack them.

`apt-get download` fetches a package but not its dependencies, so `resolve()` walks
`apt-cache depends` itself, one batched call per level. It takes the first acceptable alternative
of each or-group and skips packages in the recipe's `exclude` list (maintainer-script helpers such
as debconf or adduser that a tiny guest does not need); anything skipped that a binary really needs
is caught later by the ELF check in `rootfs.py`, which names the missing library.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.errors import CommandError, NemuError
from engine.hosts import Host
from engine.images.paths import apt_dir

ProgressFn = Callable[[str, int, int], None]
DOWNLOAD_BATCH = 12      # packages per `apt-get download`: a progress step, few processes
# `-o` options for apt-get/apt-cache; empty means the system's own configuration (native arch).
AptOptions = Sequence[str]
# Package lists of a foreign architecture are refreshed when older than this.
APT_LISTS_MAX_AGE = 24 * 3600

_DEPENDS_FLAGS = ("--no-recommends", "--no-suggests", "--no-conflicts", "--no-breaks",
                  "--no-replaces", "--no-enhances")


class PackageError(NemuError):
    """A Debian package that cannot be found or fetched; says what to do about it."""


@dataclass(frozen=True)
class Deb:
    package: str
    filename: str
    url: str
    size: int


def parse_depends(text: str) -> dict[str, list[list[str]]]:
    """Parse `apt-cache depends` output into {package: [or-group, ...]}.

    Each or-group lists alternatives in order; a virtual package (`<name>` or a name followed by
    indented providers) is replaced by its providers.
    """
    result: dict[str, list[list[str]]] = {}
    current: list[list[str]] | None = None
    group: list[str] = []
    open_group = False
    last_alt: str | None = None
    insert_at = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line.startswith(" "):
            current = result.setdefault(line.strip(), [])
            group, open_group, last_alt = [], False, None
            continue
        if current is None:
            continue
        m = re.match(r"^ (\|| )(PreDepends|Depends): (.+)$", line)
        if m:
            bar, _, name = m.groups()
            if not open_group:
                group = []
                current.append(group)
            name = name.strip()
            last_alt = name
            group.append(name)
            insert_at = len(group)
            open_group = bar == "|"
            continue
        if line.startswith("    ") and last_alt is not None and group:
            # providers of a virtual name: insert them right after it, in order
            group.insert(insert_at, line.strip())
            insert_at += 1
            continue
        # another relation kind (e.g. Recommends if not filtered): ends the group
        open_group, last_alt = False, None
    return result


def _choose(group: list[str], chosen: set[str], exclude: set[str]) -> str | None:
    """The member of an or-group to install, or None when it is satisfied or excluded."""
    real = [n for n in group if not n.startswith("<")]
    if any(n in chosen for n in real):
        return None
    for n in real:
        if n not in exclude:
            return n
    return None


def foreign_apt_options(debian_arch: str, base: Path | None = None) -> list[str]:
    """apt `-o` options that read and write package lists of `debian_arch` (e.g. i386) in
    nemu's cache instead of the system's: any user can `update` them, nothing of the system's
    apt state changes. The sources (`/etc/apt/sources.list*`) are the system's."""
    d = base or apt_dir(debian_arch)
    return ["-o", f"Dir::State={d / 'state'}", "-o", f"Dir::State::status={d / 'state/status'}",
            "-o", f"Dir::Cache={d / 'cache'}", "-o", f"APT::Architecture={debian_arch}",
            "-o", f"APT::Architectures::={debian_arch}"]


async def foreign_apt(host: Host, debian_arch: str, base: Path | None = None,
                      progress: ProgressFn | None = None) -> list[str]:
    """The apt options for `debian_arch`, its package lists fetched when missing or older than
    a day. A partly failed `update` (e.g. one index with a size mismatch on the mirror) is
    tolerated when lists arrived: `check_available` then names any package still unknown."""
    d = base or apt_dir(debian_arch)
    options = foreign_apt_options(debian_arch, d)
    lists = d / "state/lists"
    stamp = d / "updated"
    fresh = stamp.exists() and time.time() - stamp.stat().st_mtime < APT_LISTS_MAX_AGE
    if fresh and any(lists.glob("*_Packages*")):
        return options
    (lists / "partial").mkdir(parents=True, exist_ok=True)
    (d / "cache/archives/partial").mkdir(parents=True, exist_ok=True)
    (d / "state/status").touch()
    if progress:
        progress(f"fetching Debian {debian_arch} package lists", 0, 1)
    res = await host.run(["apt-get", "-q", *options, "update"], timeout=600, check=False)
    if not any(lists.glob("*_Packages*")):
        raise PackageError(f"`apt-get update` for Debian {debian_arch} fetched no package lists "
                           f"(into {lists}): {res.text.strip()[-500:]}")
    stamp.touch()
    return options


async def resolve(host: Host, packages: Iterable[str], exclude: Iterable[str],
                  apt: AptOptions = ()) -> list[str]:
    """The packages plus their dependency closure (minus `exclude`), sorted."""
    excluded = set(exclude)
    wanted = list(dict.fromkeys(packages))
    chosen: set[str] = set(wanted)
    todo = list(wanted)
    await check_available(host, wanted, apt)
    while todo:
        res = await host.run(["apt-cache", *apt, "depends", *_DEPENDS_FLAGS, *todo],
                             timeout=120)
        deps = parse_depends(res.text)
        todo = []
        for pkg in sorted(deps):
            for group in deps[pkg]:
                pick = _choose(group, chosen, excluded)
                if pick is not None:
                    chosen.add(pick)
                    todo.append(pick)
    return sorted(chosen)


async def check_available(host: Host, packages: Iterable[str], apt: AptOptions = ()) -> None:
    """Raise PackageError naming every package apt does not know (with the fix)."""
    names = list(packages)
    res = await host.run(["apt-cache", *apt, "policy", *names], timeout=120)
    candidates: dict[str, str] = {}
    current = ""
    for line in res.text.splitlines():
        if line and not line.startswith(" "):
            current = line.rstrip(":")
        elif line.strip().startswith("Candidate:"):
            candidates[current] = line.split(":", 1)[1].strip()
    missing = [n for n in names if candidates.get(n, "(none)") == "(none)"]
    if missing:
        raise PackageError(
            f"Debian package(s) not available: {', '.join(missing)}. Run `apt-get update` (as "
            "root) so apt knows them, or fix the name in the recipe.")


async def kernel_package(host: Host, name: str, apt: AptOptions = ()) -> str:
    """Resolve a kernel metapackage (`linux-image-amd64`) to the real one it depends on."""
    if re.match(r"^linux-image-\d+\.\d", name):    # versioned (not `linux-image-686`)
        return name
    await check_available(host, [name], apt)
    res = await host.run(["apt-cache", *apt, "depends", *_DEPENDS_FLAGS, name], timeout=60)
    for group in parse_depends(res.text).get(name, []):
        for n in group:
            if n.startswith("linux-image-"):
                return n
    raise PackageError(f"{name}: does not depend on a linux-image-<version> package")


async def uris(host: Host, packages: Iterable[str], apt: AptOptions = ()) -> list[Deb]:
    """Where each package's `.deb` comes from and the file name it is saved as."""
    names = list(packages)
    res = await host.run(["apt-get", *apt, "download", "--print-uris", *names], timeout=120)
    debs = []
    for line in res.text.splitlines():
        m = re.match(r"^'([^']+)' (\S+) (\d+)", line)
        if m:
            url, filename, size = m.groups()
            pkg = filename.split("_", 1)[0]
            debs.append(Deb(pkg, filename, url, int(size)))
    return debs


async def download(host: Host, packages: Iterable[str], dest: Path,
                   progress: ProgressFn | None = None, apt: AptOptions = ()) -> list[Path]:
    """Fetch the `.deb`s not already in `dest` (a shared cache); return all their paths."""
    dest.mkdir(parents=True, exist_ok=True)
    debs = await uris(host, packages, apt)
    missing = [d for d in debs if not (dest / d.filename).exists()]
    if missing:
        total = sum(d.size for d in missing)
        done = 0
        # in batches, so the progress bar moves by bytes fetched (the longest step of a build)
        for i in range(0, len(missing), DOWNLOAD_BATCH):
            batch = missing[i:i + DOWNLOAD_BATCH]
            if progress:
                progress(f"downloading {len(missing)} packages: {done / 1e6:.1f} of "
                         f"{total / 1e6:.1f} MB", done, total)
            try:
                await host.run(["apt-get", *apt, "download", *[d.package for d in batch]],
                               cwd=dest, timeout=1800)
            except CommandError as e:
                raise PackageError(
                    f"downloading {', '.join(d.package for d in batch)} failed: {e}") from e
            done += sum(d.size for d in batch)
        if progress:
            progress(f"downloaded {len(missing)} packages ({total / 1e6:.1f} MB)", total, total)
    paths = [dest / d.filename for d in debs]
    absent = [p.name for p in paths if not p.exists()]
    if absent:
        raise PackageError(f"apt-get download did not produce: {', '.join(absent)}")
    return paths


async def extract(host: Host, debs: Iterable[Path], into: Path,
                  progress: ProgressFn | None = None) -> None:
    """Unpack each `.deb`'s data into `into` with `dpkg-deb -x` (no maintainer scripts)."""
    into.mkdir(parents=True, exist_ok=True)
    items = list(debs)
    for i, deb in enumerate(items):
        if progress:
            progress(f"unpacking {deb.name.split('_', 1)[0]}", i, len(items))
        await host.run(["dpkg-deb", "-x", str(deb), str(into)], timeout=600)
    if progress:
        progress("unpacked", len(items), len(items))
