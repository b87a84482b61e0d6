"""Real QEMU netdevs on the far side of the vswitch, without booting a guest.

A machine-less QEMU (``-M none``) joins its user-mode network (slirp) and a stream or dgram
netdev with a QEMU hub: an ARP request for slirp's gateway sent through the vswitch comes back
as a real ARP reply, which proves the framing is QEMU's own.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from vswitch.runtime import VSwitch

QEMU = shutil.which("qemu-system-x86_64")


GUEST_MAC = bytes.fromhex("525400123456")


def arp_request() -> bytes:
    return (b"\xff" * 6 + GUEST_MAC + b"\x08\x06" + bytes.fromhex("0001080006040001")
            + GUEST_MAC + bytes([10, 0, 2, 15]) + b"\x00" * 6 + bytes([10, 0, 2, 2])
            + b"\x00" * 18)


def is_arp_reply(f: bytes) -> bool:
    return f[:6] == GUEST_MAC and f[12:14] == b"\x08\x06" and f[20:22] == b"\x00\x02" \
        and f[28:32] == bytes([10, 0, 2, 2])


@pytest.fixture
def qemu_slirp() -> Iterator[Any]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(netdev: str) -> None:
        assert QEMU is not None
        procs.append(subprocess.Popen(
            [QEMU, "-M", "none", "-nodefaults", "-display", "none", "-accel", "tcg",
             "-netdev", "user,id=u0", "-netdev", netdev,
             "-netdev", "hubport,id=h0,hubid=0,netdev=u0",
             "-netdev", "hubport,id=h1,hubid=0,netdev=n0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    yield start
    for p in procs:          # only the processes this test started, by PID
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


async def arp_through(vs: VSwitch, peer: Any) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        await peer.send([arp_request()])
        try:
            frames = await peer.recv(1, timeout=0.5)
        except TimeoutError:
            continue
        if is_arp_reply(frames[0]):
            return
    raise AssertionError("no ARP reply from QEMU's slirp")


def test_qemu_stream_server(qemu_slirp, arun, tmp_sock_dir, peer_cls) -> None:  # type: ignore[no-untyped-def]
    qsock = os.path.join(tmp_sock_dir, "q.sock")
    qemu_slirp(f"stream,id=n0,server=on,addr.type=unix,addr.path={qsock}")

    async def body() -> None:
        vs = VSwitch()
        await vs.start()
        vs.add_device("l1", "link")
        await vs.add_port("l1", "q", {"type": "stream", "mode": "connect",
                                      "address": "unix:" + qsock})
        t = "unix:" + os.path.join(tmp_sock_dir, "t")
        await vs.add_port("l1", "t", {"type": "stream", "mode": "listen", "address": t})
        peer = await peer_cls.connect(t)
        await arp_through(vs, peer)
        await vs.stop()
    arun(body, timeout=40)


def test_qemu_dgram(qemu_slirp, arun, peer_cls, tmp_sock_dir) -> None:  # type: ignore[no-untyped-def]
    ports = []
    for _ in range(2):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        ports.append(s.getsockname()[1])
        s.close()
    q_port, vs_port = ports
    qemu_slirp(f"dgram,id=n0,local.type=inet,local.host=127.0.0.1,local.port={q_port},"
               f"remote.type=inet,remote.host=127.0.0.1,remote.port={vs_port}")

    async def body() -> None:
        vs = VSwitch()
        await vs.start()
        vs.add_device("l1", "link")
        await vs.add_port("l1", "q", {"type": "dgram", "local": f"udp:127.0.0.1:{vs_port}",
                                      "remote": f"udp:127.0.0.1:{q_port}"})
        t = "unix:" + os.path.join(tmp_sock_dir, "t")
        await vs.add_port("l1", "t", {"type": "stream", "mode": "listen", "address": t})
        peer = await peer_cls.connect(t)
        await asyncio.sleep(0.2)
        await arp_through(vs, peer)
        await vs.stop()
    arun(body, timeout=40)
