"""Saving a session (topology, disks, configuration) as one archive, and restoring it elsewhere.

The archive is a sparse-aware tar (`tar --sparse`), so a 2 GiB overlay with 30 MiB written
stays 30 MiB. Saving a running session first makes every guest write its cache to its disk
(`sync` through the agent), then pauses every QEMU (QMP `stop` drains pending I/O) for the copy,
then resumes them: the saved disks are consistent. Sockets, logs and process records are not
saved. On restore, overlays whose base image lives elsewhere on this machine are re-pointed to
the image of the same name (`qemu-img rebase -u`).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from engine import topofile
from engine.errors import NemuError
from engine.hosts import LocalHost
from engine.hosts.base import Host
from engine.images.builder import find_image
from engine.images.qemu_boot import socket_dir
from engine.qemu.qmp import Qmp
from engine.session.directory import create_session_dir
from engine.session.session import Session

EXCLUDE = ("./sockets", "./logs", "./state.json", "./*/*/*.sock", "./nodes/*/qemu.log",
           "./nodes/*/console.log")


async def save(session: Session, archive: Path) -> Path:
    archive = archive.resolve()
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
        args = ["tar", "--sparse", "-czf", str(archive), "-C", str(session.dir.root)]
        args += [f"--exclude={e}" for e in EXCLUDE] + ["."]
        await session.host.run(args, timeout=600)
    finally:
        for qmp in qmps:
            with contextlib.suppress(NemuError):
                await qmp.resume()
            await qmp.close()
    return archive


async def restore(archive: Path, name: str | None = None, base: Path | None = None,
                  host: Host | None = None) -> Session:
    """Unpack an archive into a new session directory (not started: call `up()`)."""
    host = host or LocalHost()
    if not archive.is_file():
        raise NemuError(f"{archive}: no such archive")
    stem = name or archive.name.split(".")[0]
    sdir = create_session_dir(stem, base)
    await host.run(["tar", "--sparse", "-xzf", str(archive.resolve()), "-C", str(sdir.root)],
                   timeout=600)
    if not sdir.topology_path.exists():
        raise NemuError(f"{archive}: not a nemu session archive (no topology.yaml)")
    topo = topofile.load(sdir.topology_path)
    for node in topo.nodes:
        overlay = sdir.node_dir(node.name) / "disk.qcow2"
        if not overlay.exists():
            continue
        info = json.loads((await host.run(["qemu-img", "info", "--output=json",
                                           str(overlay)], timeout=30)).text)
        backing = info.get("full-backing-filename") or info.get("backing-filename")
        if backing and not Path(backing).exists() and node.image:
            image = find_image(node.image)
            if image is None:
                raise NemuError(f"{node.name}: its base image {node.image!r} is not built here "
                                f"(run `nemu images build {node.image}`)")
            fmt = json.loads((await host.run(["qemu-img", "info", "--output=json",
                                              str(image.disk)], timeout=30)).text)["format"]
            await host.run(["qemu-img", "rebase", "-u", "-F", fmt, "-b", str(image.disk),
                            str(overlay)], timeout=60)
    sdir.prepare()
    return Session(topo, sdir, host)
