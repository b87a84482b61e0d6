"""The seed paper's extra storages in a running guest: a disk through a copy-on-write overlay
(the guest's writes stay with the node, across a restart, and the user's file never changes), a
host directory over virtio-9p (both ways), a host directory as a read-only FAT disk, a
squashfs image, and a network block device served by a real `qemu-nbd` on loopback (both
ways); their paths written relative to the lab file, nemu run from elsewhere."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from engine import topofile
from engine.model import Node, NodeKind, Storage, StorageKind, Topology
from engine.session.session import Session

pytestmark = pytest.mark.qemu


def sh(engine, s: Session, command: str) -> str:
    r = engine.run(s.node("h1").run(command, timeout=60))
    if r.exitcode != 0:
        log = engine.run(s.node("h1").run("dmesg | tail -5")).stdout
        raise AssertionError(f"{command!r}: {r.stdout!r} {r.stderr!r}; kernel: {log!r}")
    return r.stdout.decode(errors="replace")


@contextlib.contextmanager
def serving_nbd(image, name: str) -> Iterator[int]:
    """qemu-nbd exporting `image` as `name` on a free loopback port (yielded once it accepts),
    stopped at the end."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(["qemu-nbd", "--persistent", "--format=raw", "--bind=127.0.0.1",
                               f"--port={port}", f"--export-name={name}", str(image)])
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"qemu-nbd did not serve on port {port}") from None
                time.sleep(0.05)
        yield port
    finally:
        server.kill()
        server.wait(10)


def test_disk_9p_fat_squashfs_and_nbd_storages(engine, tmp_path, monkeypatch):
    with contextlib.ExitStack() as stack:
        storages_in_a_guest(engine, tmp_path, monkeypatch, stack)


def storages_in_a_guest(engine, tmp_path, monkeypatch, stack: contextlib.ExitStack) -> None:
    disk = tmp_path / "data.img"
    disk.write_bytes(b"ORIGINAL" + bytes(4 * 2**20 - 8))
    share = tmp_path / "share"
    share.mkdir()
    (share / "hello.txt").write_text("from the host\n")
    fat = tmp_path / "fat"
    fat.mkdir()
    (fat / "note.txt").write_text("a fat file\n")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "inside.txt").write_text("squashed\n")
    sqfs = tmp_path / "ro.sqfs"
    subprocess.run(["mksquashfs", str(tree), str(sqfs), "-quiet", "-noappend"], check=True)
    exported = tmp_path / "exported.img"
    exported.write_bytes(b"OVER-NBD" + bytes(2**20 - 8))
    port = stack.enter_context(serving_nbd(exported, "blk"))

    t = Topology(name="storages")
    t.add_node(Node("h1", NodeKind.HOST, storages=[     # paths relative to the lab file
        Storage(StorageKind.DISK, "data.img"),                    # /dev/vdb
        Storage(StorageKind.VIRTFS, "share", tag="share"),        # no block device
        Storage(StorageKind.FAT, "fat", readonly=True),           # /dev/vdc, FAT on vdc1
        Storage(StorageKind.SQUASHFS, "ro.sqfs"),                 # /dev/vdd
        Storage(StorageKind.NBD, f"nbd://127.0.0.1:{port}/blk"),  # /dev/vde
    ]))
    topofile.save(t, tmp_path / "lab.yaml")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)                     # nemu runs from another folder
    s = Session.create(topofile.load(tmp_path / "lab.yaml"), base=tmp_path / "sessions")
    try:
        engine.run(s.up(), timeout=600)
        assert sh(engine, s, "dd if=/dev/vdb bs=8 count=1 2>/dev/null") == "ORIGINAL"
        sh(engine, s, "printf CHANGED! | dd of=/dev/vdb conv=notrunc 2>/dev/null; sync")

        sh(engine, s, "modprobe 9pnet_virtio && modprobe 9p && mkdir -p /mnt/share && "
                      "mount -t 9p -o trans=virtio share /mnt/share")
        assert sh(engine, s, "cat /mnt/share/hello.txt") == "from the host\n"
        sh(engine, s, "echo from the guest > /mnt/share/back.txt; sync")
        assert (share / "back.txt").read_text() == "from the guest\n"

        sh(engine, s, "modprobe vfat && mkdir -p /mnt/fat && "
                      "mount -t vfat -o ro /dev/vdc1 /mnt/fat")
        assert sh(engine, s, "cat /mnt/fat/note.txt") == "a fat file\n"

        sh(engine, s, "modprobe squashfs && mkdir -p /mnt/sq && mount -t squashfs /dev/vdd /mnt/sq")
        assert sh(engine, s, "cat /mnt/sq/inside.txt") == "squashed\n"

        assert sh(engine, s, "dd if=/dev/vde bs=8 count=1 2>/dev/null") == "OVER-NBD"
        sh(engine, s, "printf FROM-VM! | dd of=/dev/vde conv=notrunc oflag=direct 2>/dev/null")
        assert exported.read_bytes()[:8] == b"FROM-VM!"     # written on the NBD server's disk

        engine.run(s.restart_node("h1"))
        assert sh(engine, s, "dd if=/dev/vdb bs=8 count=1 2>/dev/null") == "CHANGED!"
        assert disk.read_bytes()[:8] == b"ORIGINAL"          # the user's file is untouched
        assert (s.dir.node_dir("h1") / "storage0.qcow2").exists()
    finally:
        engine.run(s.down())
