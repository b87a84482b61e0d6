"""Two sessions of one topology side by side, and a running session saved and restored."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tarfile

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
        image = b._disk_image("h1")
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
        moved = restored._disk_image("h1")
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
