"""Two sessions of one topology side by side, and a running session saved and restored."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tarfile
import time

import psutil
import pytest

from engine import examples
from engine.errors import NemuError
from engine.hosts import LocalHost
from engine.images import Builder
from engine.session import archive
from engine.session.session import Session

pytestmark = pytest.mark.qemu


def test_twin_sessions_are_isolated_and_a_saved_session_restores(engine, tmp_path,
                                                                  monkeypatch):
    # this "machine"'s image cache: a linked copy of the real one, deleted before the restore
    real = engine.run(Builder(LocalHost()).build("host"))
    copy = tmp_path / "cache-a" / "images" / real.directory.name
    copy.mkdir(parents=True)
    for f in real.directory.iterdir():
        os.link(f, copy / f.name)
    monkeypatch.setenv("NEMU_CACHE_DIR", str(tmp_path / "cache-a"))
    base = tmp_path / "sessions"
    a = Session.create(examples.two_hosts(), "twin", base)
    b = Session.create(examples.two_hosts(), "twin", base)
    restored = None
    assert (a.dir.name, b.dir.name) == ("twin", "twin-2")
    assert a.dir.sockets != b.dir.sockets
    try:
        async def both_up():
            await asyncio.gather(a.up(), b.up())
        engine.run(both_up())
        for s in (a, b):
            assert engine.run(s.node("h1").run("ping -c 1 -W 3 10.0.0.2")).exitcode == 0
        # kill a's h2: b's network does not notice, a's h1 has lost its peer
        os.kill(a.process("h2").pid, signal.SIGKILL)
        assert engine.run(b.node("h1").run("ping -c 2 -W 2 10.0.0.2")).exitcode == 0
        assert engine.run(a.node("h1").run("ping -c 2 -W 2 10.0.0.2")).exitcode != 0

        # save b while it runs, with a file written in h1's disk
        engine.run(b.node("h1").write_file("/root/marker", b"written before save\n"))
        # and a sparse file beside its disk (as a raw disk mostly never written would be)
        with open(b.dir.node_dir("h1") / "sparse.raw", "wb") as f:
            f.truncate(256 * 2**20)
            f.seek(100 * 2**20)
            f.write(b"x" * 4096)
        saved = engine.run(archive.save(b, tmp_path / "twin.tar.gz"))
        assert engine.run(b.node("h1").run("true")).exitcode == 0      # resumed after save
        with tarfile.open(saved) as tar:
            names = tar.getnames()
        assert "./topology.yaml" in names and "./nodes/h1/disk.qcow2" in names
        assert not any(n.endswith(".sock") for n in names)
        image = b.lifecycle.disk_image("h1")
        assert image is not None            # the base the disks need travels with them
        assert f"images/{image.directory.name}/base.qcow2" in names
        assert not (tmp_path / "twin.tar.gz.part.tar").exists()
        engine.run(a.down())
        engine.run(b.down())

        # restore "on another machine": the disks' base is gone, the cache is empty
        shutil.rmtree(tmp_path / "cache-a")
        monkeypatch.setenv("NEMU_CACHE_DIR", str(tmp_path / "other-cache"))
        restored = engine.run(archive.restore(saved, "again", tmp_path / "elsewhere"))
        assert restored.dir.root.parent == tmp_path / "elsewhere"
        assert not (restored.dir.root / "images").exists()
        events: list = []
        restored.subscribe(events.append)
        engine.run(restored.up())
        assert not [e for e in events if "building image" in str(e)]
        moved = restored.lifecycle.disk_image("h1")
        assert moved is not None and moved.directory == (
            tmp_path / "other-cache" / "images" / image.directory.name)
        assert moved.kernel.exists() and moved.initrd.exists()
        got = engine.run(restored.node("h1").read_file("/root/marker"))
        assert got == b"written before save\n"
        sparse = restored.dir.node_dir("h1") / "sparse.raw"
        assert sparse.stat().st_size == 256 * 2**20
        assert sparse.stat().st_blocks * 512 < 8 * 2**20, "the restored file lost its holes"
        with open(sparse, "rb") as f:
            f.seek(100 * 2**20)
            assert f.read(4096) == b"x" * 4096
        assert engine.run(restored.node("h1").run("ping -c 1 -W 3 10.0.0.2")).exitcode == 0
    finally:
        pids = []
        for s in (a, b, restored):
            if s is not None:
                pids += [p.pid for _, p in s.registry.items()]
                engine.run(s.down())
        for pid in pids:
            assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"


def test_restore_refuses_a_disk_whose_base_image_is_nowhere(tmp_path, monkeypatch):
    """An archive made before images travelled with it, restored where its base is missing:
    a clear error rather than an overlay re-pointed at some other base (a corrupt disk)."""
    import subprocess

    from engine import topofile
    monkeypatch.setenv("NEMU_CACHE_DIR", str(tmp_path / "cache"))
    src = tmp_path / "src"
    (src / "nodes" / "h1").mkdir(parents=True)
    (src / "topology.yaml").write_text(topofile.dumps(examples.two_hosts()))
    gone = tmp_path / "gone" / "host-00000000deadbeef"
    gone.mkdir(parents=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(gone / "base.qcow2"), "16M"],
                   check=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b",
                    str(gone / "base.qcow2"), str(src / "nodes" / "h1" / "disk.qcow2")],
                   check=True)
    shutil.rmtree(gone)
    old = tmp_path / "old.tar.gz"
    subprocess.run(["tar", "-czf", str(old), "-C", str(src), "."], check=True)
    with pytest.raises(NemuError, match=r"h1: its disk is built on image host-00000000deadbeef, "
                                        r"which is neither in the archive nor"):
        asyncio.run(archive.restore(old, "old", tmp_path / "sessions"))
    assert not list((tmp_path / "sessions").iterdir())      # nothing half-restored is left


def test_an_archive_carries_the_users_own_disks_and_folders(engine, tmp_path, boot_sector):
    """A lab whose host boots the user's own disk, and whose other host has an extra disk, a
    9p folder and a squashfs image (relative paths, next to the lab file): saved while
    running, every original deleted, restored elsewhere, it boots with all of them and the
    guest's writes."""
    import subprocess

    from engine import topofile
    from engine.model import Storage, StorageKind

    marker = b"restored from the archive"
    lab = tmp_path / "lab"
    (lab / "share").mkdir(parents=True)
    (lab / "share" / "hello.txt").write_text("shared\n")
    (lab / "tree").mkdir()
    (lab / "tree" / "inside.txt").write_text("squashed\n")
    subprocess.run(["mksquashfs", str(lab / "tree"), str(lab / "ro.sqfs"), "-quiet",
                    "-noappend"], check=True)
    (lab / "own.img").write_bytes(boot_sector(marker) + bytes(2**20 - 512))
    with open(lab / "data.img", "wb") as f:                 # 64 MiB, sparse
        f.write(b"ORIGINAL")
        f.truncate(64 * 2**20)
    t = examples.two_hosts()
    t.update_node("h1", image="own.img")
    t.update_node("h2", storages=[Storage(StorageKind.DISK, "data.img"),         # /dev/vdb
                                  Storage(StorageKind.VIRTFS, "share", tag="share"),
                                  Storage(StorageKind.SQUASHFS, "ro.sqfs")])     # /dev/vdc
    topofile.save(t, lab / "lab.yaml")
    s = Session.create(topofile.load(lab / "lab.yaml"), "own", tmp_path / "sessions")
    restored = None
    pids: list[int] = []

    def sh(session: Session, command: str) -> str:
        r = engine.run(session.node("h2").run(command, timeout=60))
        assert r.exitcode == 0, (command, r.stdout, r.stderr)
        return r.stdout.decode()

    try:
        engine.run(s.up(), timeout=600)
        sh(s, "printf CHANGED! | dd of=/dev/vdb conv=notrunc 2>/dev/null; sync")
        saved = engine.run(archive.save(s, tmp_path / "own.tar.gz"), timeout=600)
        pids += [p.pid for _, p in s.registry.items()]
        engine.run(s.down())
        with tarfile.open(saved) as tar:
            names = set(tar.getnames())
        assert {"./files/h1/image/own.img", "./files/h2/storage0/data.img",
                "./files/h2/storage1/share/hello.txt",
                "./files/h2/storage2/ro.sqfs"} <= {n if n.startswith("./") else "./" + n
                                                    for n in names}
        shutil.rmtree(lab)                                  # "another machine": none of them

        restored = engine.run(archive.restore(saved, "back", tmp_path / "elsewhere"))
        h1, h2 = restored.topo.node("h1"), restored.topo.node("h2")
        assert h1.image == "files/h1/image/own.img"
        assert [st.source for st in h2.storages] == [
            "files/h2/storage0/data.img", "files/h2/storage1/share", "files/h2/storage2/ro.sqfs"]
        data = restored.dir.root / "files" / "h2" / "storage0" / "data.img"
        assert data.stat().st_blocks * 512 < 8 * 2**20, "the user's disk lost its holes"
        engine.run(restored.up(), timeout=600)
        pids += [p.pid for _, p in restored.registry.items()]
        console = restored.dir.node_dir("h1") / "console.log"
        deadline = time.monotonic() + 60
        while marker not in (console.read_bytes() if console.exists() else b""):
            assert time.monotonic() < deadline, "the user's own disk did not boot after restore"
            time.sleep(0.2)
        assert sh(restored, "dd if=/dev/vdb bs=8 count=1 2>/dev/null") == "CHANGED!"
        sh(restored, "modprobe 9pnet_virtio && modprobe 9p && mkdir -p /mnt/s && "
                     "mount -t 9p -o trans=virtio share /mnt/s")
        assert sh(restored, "cat /mnt/s/hello.txt") == "shared\n"
        sh(restored, "modprobe squashfs && mkdir -p /mnt/q && mount -t squashfs /dev/vdc /mnt/q")
        assert sh(restored, "cat /mnt/q/inside.txt") == "squashed\n"
    finally:
        for session in (s, restored):
            if session is not None:
                engine.run(session.down())
    assert not [p for p in pids if psutil.pid_exists(p)
                and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
