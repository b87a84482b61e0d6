"""Datagram transports and pcap capture read back by tshark (trunks: test_trunk.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import subprocess
import time
from typing import Any

import pytest

from vswitch.capture import Capture
from vswitch.runtime import VSwitch


def listen(address: str) -> dict[str, Any]:
    return {"type": "stream", "mode": "listen", "address": address}


async def wait_for(cond: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def recv_dgram(sock: socket.socket, timeout: float = 5.0) -> bytes:
    loop = asyncio.get_running_loop()
    return await asyncio.wait_for(loop.sock_recv(sock, 70000), timeout)


@pytest.mark.parametrize("kind", ["udp", "unix"])
def test_dgram_link(kind, arun, tmp_sock_dir, peer_cls, eth) -> None:  # type: ignore[no-untyped-def]
    async def body() -> None:
        if kind == "udp":
            qemu = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            qemu.bind(("127.0.0.1", 0))
            remote = f"udp:127.0.0.1:{qemu.getsockname()[1]}"
            local = "udp:127.0.0.1:0"
        else:
            qemu = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            qpath = os.path.join(tmp_sock_dir, "qemu.dg")
            qemu.bind(qpath)
            remote = "unix:" + qpath
            local = "unix:" + os.path.join(tmp_sock_dir, "vs.dg")
        qemu.setblocking(False)
        vs = VSwitch()
        await vs.start()
        vs.add_device("l1", "link")
        info = await vs.add_port("l1", "a", {"type": "dgram", "local": local, "remote": remote})
        bound = info["transport"]["local"]
        await vs.add_port("l1", "b", listen("unix:" + os.path.join(tmp_sock_dir, "b")))
        b = await peer_cls.connect("unix:" + os.path.join(tmp_sock_dir, "b"))
        await wait_for(lambda: vs.devices["l1"].ports["b"].sink is not None)
        target = (bound.split(":")[1], int(bound.split(":")[2])) if kind == "udp" else \
            bound[5:]
        for i in range(5):
            qemu.sendto(eth(2, 1, bytes([i]) * 46), target)
        assert [f[14] for f in await b.recv(5)] == [0, 1, 2, 3, 4]
        await b.send([eth(1, 2), eth(1, 2, b"z" * 1000)])
        assert await recv_dgram(qemu) == eth(1, 2)
        assert await recv_dgram(qemu) == eth(1, 2, b"z" * 1000)
        qemu.sendto(b"short", target)                          # not a frame: counted
        await wait_for(lambda: vs.devices["l1"].ports["a"].cin.drop_invalid == 1)
        await vs.stop()
        qemu.close()
    arun(body)


def test_dgram_without_remote_answers_last_sender(arun, peer_cls, tmp_sock_dir, eth) -> None:  # type: ignore[no-untyped-def]
    async def body() -> None:
        vs = VSwitch()
        await vs.start()
        vs.add_device("h", "hub")
        info = await vs.add_port("h", "a", {"type": "dgram", "local": "udp:127.0.0.1:0"})
        port = int(info["transport"]["local"].rsplit(":", 1)[1])
        await vs.add_port("h", "b", listen("unix:" + os.path.join(tmp_sock_dir, "b")))
        b = await peer_cls.connect("unix:" + os.path.join(tmp_sock_dir, "b"))
        await wait_for(lambda: vs.devices["h"].ports["b"].sink is not None)
        await b.send([eth(1, 2)])            # nobody known yet: dropped as down
        await wait_for(lambda: vs.devices["h"].ports["a"].cout.drop_down == 1)
        q = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        q.bind(("127.0.0.1", 0))
        q.setblocking(False)
        q.sendto(eth(2, 1), ("127.0.0.1", port))
        await b.recv(1)
        await b.send([eth(1, 2)])
        assert await recv_dgram(q) == eth(1, 2)
        q.close()
        await vs.stop()
    arun(body)


def test_capture_read_by_tshark(arun, tmp_sock_dir, peer_cls, eth, tmp_path) -> None:  # type: ignore[no-untyped-def]
    pcap = str(tmp_path / "a.pcap")

    async def body() -> None:
        vs = VSwitch()
        await vs.start()
        vs.add_device("l1", "link")
        addr = {n: "unix:" + os.path.join(tmp_sock_dir, n) for n in "ab"}
        for n in "ab":
            await vs.add_port("l1", n, listen(addr[n]))
        a = await peer_cls.connect(addr["a"])
        b = await peer_cls.connect(addr["b"])
        await wait_for(lambda: all(p.sink for p in vs.devices["l1"].ports.values()))
        vs.start_capture("l1", "a", pcap)
        await a.send([eth(2, 1, bytes(range(46)))] * 3)
        await b.recv(3)
        await b.send([eth(1, 2)] * 2)
        await a.recv(2)
        stats = vs.stop_capture("l1", "a")
        assert stats["frames"] == 5
        await vs.stop()
    arun(body)
    out = subprocess.run(["tshark", "-r", pcap, "-T", "fields", "-e", "eth.src", "-e",
                          "frame.len"], capture_output=True, text=True, timeout=60, check=True)
    rows = [line.split("\t") for line in out.stdout.splitlines()]
    assert rows == [["02:00:00:00:00:01", "60"]] * 3 + [["02:00:00:00:00:02", "60"]] * 2


def test_capture_records_bursts_of_one_size_and_of_mixed_sizes(tmp_path, eth) -> None:  # type: ignore[no-untyped-def]
    """A burst of equal-length frames is recorded in one join, a mixed one frame by frame:
    both give one pcap record per frame, in order, with the batch's timestamp."""
    pcap = str(tmp_path / "c.pcap")
    clock = iter([100.25, 101.5])
    cap = Capture(pcap, wall=lambda: next(clock))
    cap.open()
    same = [eth(2, 1, bytes([i]) * 46) for i in range(3)]
    mixed = [eth(3, 1), eth(3, 1, bytes(200)), eth(3, 1), eth(4, 1, bytes(1000))]
    cap.add(same)
    cap.add(mixed)
    cap.close()
    with open(pcap, "rb") as f:
        data = f.read()
    at, records = 24, []
    while at < len(data):
        sec, usec, incl, orig = struct.unpack_from("<IIII", data, at)
        records.append(((sec, usec), data[at + 16:at + 16 + incl]))
        assert incl == orig
        at += 16 + incl
    assert records == [((100, 250000), f) for f in same] + [((101, 500000), f) for f in mixed]
    assert cap.stats()["frames"] == 7
    out = subprocess.run(["tshark", "-r", pcap, "-T", "fields", "-e", "frame.len"],
                         capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == [str(len(f)) for f in same + mixed]


def test_capture_to_fifo_for_a_live_reader(arun, tmp_sock_dir, peer_cls, eth) -> None:  # type: ignore[no-untyped-def]
    fifo = os.path.join(tmp_sock_dir, "cap.fifo")
    os.mkfifo(fifo)

    async def body() -> None:
        vs = VSwitch()
        await vs.start()
        vs.add_device("l1", "link")
        addr = {n: "unix:" + os.path.join(tmp_sock_dir, n) for n in "ab"}
        for n in "ab":
            await vs.add_port("l1", n, listen(addr[n]))
        with pytest.raises(Exception, match="no process is reading"):
            vs.start_capture("l1", "b", fifo)
        rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        try:
            vs.start_capture("l1", "b", fifo)
            a = await peer_cls.connect(addr["a"])
            b = await peer_cls.connect(addr["b"])
            await wait_for(lambda: all(p.sink for p in vs.devices["l1"].ports.values()))
            await a.send([eth(2, 1)])
            await b.recv(1)
            data = b""
            deadline = time.monotonic() + 5
            while len(data) < 24 + 16 + 60 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
                with contextlib.suppress(BlockingIOError):
                    data += os.read(rfd, 65536)
            magic, _, _, _, _, _snap, linktype = struct.unpack("<IHHiIII", data[:24])
            assert (magic, linktype) == (0xA1B2C3D4, 1)
            assert data[40:100] == eth(2, 1)
        finally:
            os.close(rfd)
        await vs.stop()
    arun(body)
