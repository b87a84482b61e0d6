"""Saving a session (topology, disks, configuration) as one archive, and restoring it elsewhere.

The archive is a sparse-aware tar (`tar --sparse`), so a 2 GiB overlay with 30 MiB written
stays 30 MiB. Saving a running session first makes every guest write its cache to its disk
(`sync` through the agent), then pauses every QEMU (QMP `stop` drains pending I/O) for the copy,
then resumes them: the saved disks are consistent. Sockets, logs and process records are not
saved. The images the node disks are built on go in too (`images/<name>-<hash>/`, their shipped
files only), because an overlay is only meaningful on top of the exact base it was made on: on
restore they join the image cache unless it has them already, and the overlays are re-pointed to
them (`qemu-img rebase -u`, safe because the base is the same). The user's own files go in
too (`files/<node>/...`, listed in `files.json`): a disk used as a node's image, extra disks,
squashfs images, and the directories shared as FAT or 9p; on restore the topology points at
them inside the session directory and their overlays are re-pointed, so a lab restored on
another machine needs nothing from the first. The archive is written to a temporary name and
renamed when complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from engine import topofile
from engine.errors import NemuError
from engine.hosts import LocalHost
from engine.hosts.base import Host
from engine.images.builder import SHIPPED_FILES, install_image
from engine.images.disk import backing_file
from engine.images.paths import images_dir
from engine.images.qemu_boot import disk_format, socket_dir
from engine.model import StorageKind, Topology
from engine.qemu.qmp import Qmp
from engine.session.directory import SessionDir, create_session_dir
from engine.session.machines import is_disk_path
from engine.session.session import Session

EXCLUDE = ("./sockets", "./logs", "./state.json", "./*/*/*.sock", "./nodes/*/qemu.log",
           "./nodes/*/console.log")


async def save(session: Session, archive: Path) -> Path:
    archive = archive.resolve()
    tar = archive.with_name(archive.name + ".part.tar")
    try:
        await _copy_disks_paused(session, tar)
        for image in _base_images(session.dir.root):      # read-only: no need to pause for it
            await session.host.run(["tar", "-rf", str(tar), "-C", str(image.parent),
                                    "--transform", r"s,^,images/,",
                                    *[f"{image.name}/{f}" for f in SHIPPED_FILES]], timeout=600)
        await _add_user_files(session, tar)
        await session.host.run(["gzip", "-f", str(tar)], timeout=600)
        tar.with_name(tar.name + ".gz").rename(archive)   # complete: only now under its name
    finally:
        for leftover in (tar, tar.with_name(tar.name + ".gz")):
            leftover.unlink(missing_ok=True)       # a failed save leaves no partial file
    return archive


async def _copy_disks_paused(session: Session, tar: Path) -> None:
    """The session directory into `tar`, its running machines synced and paused meanwhile."""
    qmps: list[Qmp] = []
    try:
        if session.running:
            for name in list(session.agents):
                with contextlib.suppress(NemuError):
                    await session.node(name).run("sync", timeout=30)
                qmp = Qmp(name, socket_dir(session.dir.node_dir(name)) / "qmp.sock")
                await qmp.connect(timeout=5)
                await qmp.pause()
                qmps.append(qmp)
        args = ["tar", "--sparse", "-cf", str(tar), "-C", str(session.dir.root)]
        args += [f"--exclude={e}" for e in EXCLUDE] + ["."]
        await session.host.run(args, timeout=600)
    finally:
        for qmp in qmps:
            with contextlib.suppress(NemuError):
                await qmp.resume()
            await qmp.close()


def user_files(session: Session) -> dict[str, dict[str, str]]:
    """Where each user file of the lab goes in the archive: {node: {"image" or "storage<k>":
    "files/<node>/<key>/<name>"}}, for the files and folders that exist (an NBD export
    is another machine's, and stays there)."""
    out: dict[str, dict[str, str]] = {}
    for node in session.topo.nodes:
        wanted: dict[str, str] = {}
        if node.kind.is_machine and node.image and is_disk_path(node.image):
            wanted["image"] = node.image
        for k, st in enumerate(node.storages):
            if st.kind is not StorageKind.NBD:
                wanted[f"storage{k}"] = st.source
        for key, source in wanted.items():
            path = session.resolve_path(source).resolve()
            if path.exists():
                out.setdefault(node.name, {})[key] = str(path)
    return out


async def _add_user_files(session: Session, tar: Path) -> None:
    files = user_files(session)
    listing: dict[str, dict[str, str]] = {}
    for node, entries in files.items():
        for key, source in entries.items():
            path = Path(source)
            inside = f"files/{node}/{key}"
            listing.setdefault(node, {})[key] = f"{inside}/{path.name}"
            await session.host.run(["tar", "--sparse", "-rf", str(tar), "-C", str(path.parent),
                                    "--transform", f"s,^,{inside}/,", path.name], timeout=600)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "files.json").write_text(json.dumps(listing, indent=1))
        await session.host.run(["tar", "-rf", str(tar), "-C", tmp, "files.json"], timeout=60)


def _base_images(root: Path) -> list[Path]:
    """The cached image directories the session's node disks are built on."""
    found = {b.parent for d in (root / "nodes").glob("*/disk.qcow2")
             if (b := backing_file(d)) is not None and (b.parent / "manifest.json").exists()}
    return sorted(found)


async def restore(archive: Path, name: str | None = None, base: Path | None = None,
                  host: Host | None = None) -> Session:
    """Unpack an archive into a new session directory (not started: call `up()`)."""
    host = host or LocalHost()
    if not archive.is_file():
        raise NemuError(f"{archive}: no such archive")
    stem = name or archive.name.split(".")[0]
    sdir = create_session_dir(stem, base)
    try:
        return await _unpack(archive, sdir, host)
    except BaseException:
        shutil.rmtree(sdir.root, ignore_errors=True)    # no half-restored session left behind
        raise


async def _unpack(archive: Path, sdir: SessionDir, host: Host) -> Session:
    await host.run(["tar", "--sparse", "-xzf", str(archive.resolve()), "-C", str(sdir.root)],
                   timeout=600)
    if not sdir.topology_path.exists():
        raise NemuError(f"{archive}: not a nemu session archive (no topology.yaml)")
    topo = topofile.load(sdir.topology_path)
    shipped = sdir.root / "images"
    for d in sorted(shipped.iterdir()) if shipped.is_dir() else ():
        await asyncio.to_thread(install_image, d)   # copies and inflates: off the event loop
    shutil.rmtree(shipped, ignore_errors=True)
    await _adopt_user_files(sdir, topo, host)       # their overlays then find their base
    for node in topo.nodes:
        overlay = sdir.node_dir(node.name) / "disk.qcow2"
        backing = backing_file(overlay) if overlay.exists() else None
        if backing is None or backing.exists():
            continue
        base = images_dir() / backing.parent.name / backing.name
        if not base.exists():
            raise NemuError(f"{node.name}: its disk is built on image {backing.parent.name}, "
                            "which is neither in the archive nor in this machine's image cache "
                            "(an archive from an older nemu: restore it where it was saved)")
        await host.run(["qemu-img", "rebase", "-u", "-F", "qcow2", "-b", str(base),
                        str(overlay)], timeout=60)
    sdir.prepare()
    return Session(topo, sdir, host)


async def _adopt_user_files(sdir: SessionDir, topo: Topology, host: Host) -> None:
    """Point the topology at the user files unpacked under files/ (paths relative to the
    session directory, where a restored lab's relative paths start) and re-point the
    overlays made on them (the content is the same file, moved)."""
    listing_path = sdir.root / "files.json"
    if not listing_path.exists():
        return                                  # an archive from before files travelled
    listing: dict[str, dict[str, str]] = json.loads(listing_path.read_text())
    listing_path.unlink()
    for name, entries in listing.items():
        node = topo.node(name)
        overlays = {"image": "disk.qcow2"} | {f"storage{k}": f"storage{k}.qcow2"
                                              for k in range(len(node.storages))}
        storages = list(node.storages)
        for key, inside in entries.items():
            if key == "image":
                topo.update_node(name, image=inside)
            else:
                k = int(key.removeprefix("storage"))
                storages[k] = replace(storages[k], source=inside)
            overlay = sdir.node_dir(name) / overlays[key]
            if overlay.exists() and backing_file(overlay) is not None:
                fmt = await disk_format(host, sdir.root / inside)
                await host.run(["qemu-img", "rebase", "-u", "-F", fmt, "-b",
                                str(sdir.root / inside), str(overlay)], timeout=60)
        topo.update_node(name, storages=storages)
    topofile.save(topo, sdir.topology_path)
