"""The engine drives a real vswitch process: wiring from a topology, live parameters, counters.

The test plays the two QEMUs: it listens on each NIC socket exactly like `-netdev stream,
server=on` and exchanges length-prefixed Ethernet frames through the vswitch.
"""

import asyncio
import struct
import time

import pytest

from engine import examples
from engine.errors import HostError
from engine.fabric import FabricError, VSwitchFabric
from engine.hosts import LocalHost, ProcessState
from engine.plan.wiring import plan_wiring


class FakeNic:
    """A listening stream socket, as QEMU's NIC backend is."""

    def __init__(self, path):
        self.path = path
        self.conn: asyncio.Future = asyncio.get_running_loop().create_future()

    async def start(self):
        self.server = await asyncio.start_unix_server(self._accept, str(self.path))

    async def _accept(self, r, w):
        if not self.conn.done():
            self.conn.set_result((r, w))

    async def send(self, frame: bytes):
        _, w = await asyncio.wait_for(self.conn, 10)
        w.write(struct.pack("!I", len(frame)) + frame)
        await w.drain()

    async def recv(self, timeout=5.0) -> bytes:
        r, _ = await asyncio.wait_for(self.conn, 10)
        n = struct.unpack("!I", await asyncio.wait_for(r.readexactly(4), timeout))[0]
        return await r.readexactly(n)


def frame(src: int, dst: int, payload: bytes = b"x" * 100) -> bytes:
    return bytes([2, 0, 0, 0, 0, dst]) + bytes([2, 0, 0, 0, 0, src]) + b"\x88\xb5" + payload


def test_two_hosts_link_carries_frames_with_live_delay(tmp_path):
    async def scenario():
        host = LocalHost()
        topo = examples.two_hosts()
        nics = {n: FakeNic(tmp_path / f"{n}.sock") for n in ("h1", "h2")}
        for nic in nics.values():
            await nic.start()
        wiring = plan_wiring(topo, lambda node, iface: tmp_path / f"{node}.sock",
                             lambda link: tmp_path / f"patch-{link}.sock")
        fab = VSwitchFabric(host, tmp_path / "vs.sock", tmp_path / "vs.log")
        proc = await fab.start()
        try:
            await fab.apply(wiring)
            t0 = time.monotonic()
            await nics["h1"].send(frame(1, 2))
            got = await nics["h2"].recv()
            first = time.monotonic() - t0
            tap = wiring.taps[("h1-h2", "a")]
            applied = await fab.set_direction(tap, {"delay": 200_000_000})
            t1 = time.monotonic()
            await nics["h1"].send(frame(1, 2))
            await nics["h2"].recv()
            second = time.monotonic() - t1
            counters = await fab.counters()
            with pytest.raises(FabricError, match=r"vswitch: set link:h1-h2/a in: .*loss"):
                await fab.set_direction(tap, {"loss": 5})
            return got, first, second, applied, counters, proc
        finally:
            await fab.stop()
            assert host.state(proc) is not ProcessState.RUNNING

    got, first, second, applied, counters, _ = asyncio.run(scenario())
    assert got == frame(1, 2)
    assert 0.008 <= first < 0.5          # the 10 ms of the example
    assert 0.195 <= second < 0.8         # the new 200 ms
    assert applied["delay"] == 200_000_000 and applied["bandwidth"] == 10_000_000
    port_a = counters["devices"]["link:h1-h2"]["a"]
    assert port_a["in"]["frames"] == 2 and port_a["in"]["bytes"] == 2 * len(frame(1, 2))


def test_a_vswitch_that_cannot_start_says_why(tmp_path):
    async def scenario():
        fab = VSwitchFabric(LocalHost(), tmp_path / "no" / "such" / "dir" / "vs.sock",
                            tmp_path / "vs.log")
        await fab.start(timeout=5)
    with pytest.raises(HostError, match="vswitch exited while starting"):
        asyncio.run(scenario())
