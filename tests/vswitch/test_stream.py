"""Real frames through real sockets: stream transports (unix and TCP, listen and connect)
with link, hub and switch devices, and every bad-input case of the stream framing."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import struct
import time
from typing import Any

import pytest

from vswitch.runtime import VSwitch


async def started(timer: str = "auto") -> VSwitch:
    vs = VSwitch(timer=timer)
    await vs.start()
    return vs


def listen(address: str) -> dict[str, Any]:
    return {"type": "stream", "mode": "listen", "address": address}


async def wait_for(cond: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def test_link_unix_both_ways(arun, peer_cls, tmp_sock_dir, eth) -> None:  # type: ignore[no-untyped-def]
    async def body() -> None:
        vs = await started()
        vs.add_device("l1", "link")
        pa = os.path.join(tmp_sock_dir, "a.sock")
        pb = os.path.join(tmp_sock_dir, "b.sock")
        info = await vs.add_port("l1", "a", listen("unix:" + pa))
        assert info["transport"]["address"] == "unix:" + pa
        await vs.add_port("l1", "b", listen("unix:" + pb))
        a = await peer_cls.connect("unix:" + pa)
        b = await peer_cls.connect("unix:" + pb)
        frames = [eth(2, 1, bytes([i]) * 100) for i in range(50)]
        await wait_for(lambda: all(p.sink for p in vs.devices["l1"].ports.values()))
        await a.send(frames)
        assert await b.recv(50) == frames
        await b.send([eth(1, 2)])
        assert await a.recv(1) == [eth(1, 2)]
        c = vs.counters("l1")["devices"]["l1"]
        assert c["a"]["in"]["frames"] == 50 and c["b"]["out"]["frames"] == 50
        assert c["b"]["out"]["bytes"] == 50 * 114
        a.close()
        b.close()
        await vs.stop()
        assert not os.path.exists(pa)
    arun(body)


def test_link_tcp_port_zero_and_big_frames(arun, peer_cls, eth) -> None:  # type: ignore[no-untyped-def]
    async def body() -> None:
        vs = await started()
        vs.add_device("l1", "link")
        no_mtu = {"both": {"mtu": None}}          # ports check a 1500-byte MTU by default
        ia = await vs.add_port("l1", "a", listen("tcp:127.0.0.1:0"), no_mtu)
        ib = await vs.add_port("l1", "b", listen("tcp:127.0.0.1:0"), no_mtu)
        assert not ia["transport"]["address"].endswith(":0")
        a = await peer_cls.connect(ia["transport"]["address"])
        b = await peer_cls.connect(ib["transport"]["address"])
        await wait_for(lambda: all(p.sink for p in vs.devices["l1"].ports.values()))
        big = [eth(2, 1, bytes([i % 256]) * 65521) for i in range(20)]   # 65535-byte frames
        await a.send(big)
        assert await b.recv(20) == big
        await vs.stop()
    arun(body)


def test_connect_mode_reconnects(arun, peer_cls, tmp_sock_dir, eth) -> None:  # type: ignore[no-untyped-def]
    """The vswitch connects to a listening QEMU (``server=on``), and again after it restarts."""
    async def body() -> None:
        path = os.path.join(tmp_sock_dir, "qemu.sock")
        conns: asyncio.Queue[Any] = asyncio.Queue()

        async def on_conn(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await conns.put(peer_cls(r, w))

        vs = await started()
        vs.add_device("l1", "link")
        # connect before the "QEMU" exists: retried with backoff
        await vs.add_port("l1", "q", {"type": "stream", "mode": "connect",
                                      "address": "unix:" + path})
        await vs.add_port("l1", "b", listen("unix:" + os.path.join(tmp_sock_dir, "b")))
        b = await peer_cls.connect("unix:" + os.path.join(tmp_sock_dir, "b"))
        await asyncio.sleep(0.1)
        server = await asyncio.start_unix_server(on_conn, path)
        q = await asyncio.wait_for(conns.get(), 10)
        await q.send([eth(2, 1)])
        assert await b.recv(1) == [eth(2, 1)]
        # "QEMU" restarts: connection closed, then a new one comes
        q.close()
        server.close()
        await server.wait_closed()
        os.unlink(path)
        server = await asyncio.start_unix_server(on_conn, path)
        q2 = await asyncio.wait_for(conns.get(), 10)
        await wait_for(lambda: vs.devices["l1"].ports["q"].sink is not None)
        await b.send([eth(1, 2)])
        assert await q2.recv(1) == [eth(1, 2)]
        assert vs.list()["devices"][0]["ports"][0]["transport"]["connected"]
        await vs.stop()
        server.close()
    arun(body)


def test_tcp_connect_mode_reconnects(arun, peer_cls, eth) -> None:  # type: ignore[no-untyped-def]
    """Connect mode over TCP (QEMU ``-netdev stream,server=on,addr.type=inet``): the vswitch
    dials the listening "QEMU", carries frames both ways, and dials again when it hangs up."""
    async def body() -> None:
        conns: asyncio.Queue[Any] = asyncio.Queue()

        async def on_conn(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await conns.put(peer_cls(r, w))

        server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
        qport = server.sockets[0].getsockname()[1]
        vs = await started()
        vs.add_device("l1", "link")
        info = await vs.add_port("l1", "q", {"type": "stream", "mode": "connect",
                                             "address": f"tcp:127.0.0.1:{qport}"})
        assert info["transport"]["address"] == f"tcp:127.0.0.1:{qport}"
        ib = await vs.add_port("l1", "b", listen("tcp:127.0.0.1:0"))
        b = await peer_cls.connect(ib["transport"]["address"])
        pq = vs.devices["l1"].ports["q"]
        q = await asyncio.wait_for(conns.get(), 10)
        await wait_for(lambda: pq.sink is not None and vs.devices["l1"].ports["b"].sink)
        frames = [eth(2, 1, bytes([i]) * 500) for i in range(20)]
        await q.send(frames)
        assert await b.recv(20) == frames
        await b.send([eth(1, 2)])
        assert await q.recv(1) == [eth(1, 2)]
        first = pq.sink
        q.close()                                   # "QEMU" hangs up: the vswitch dials again
        q2 = await asyncio.wait_for(conns.get(), 10)
        await wait_for(lambda: pq.sink is not None and pq.sink is not first)
        await b.send([eth(1, 2, b"again" + bytes(41))])
        assert await q2.recv(1) == [eth(1, 2, b"again" + bytes(41))]
        await q2.send([eth(2, 1, b"back" + bytes(42))])
        assert await b.recv(1) == [eth(2, 1, b"back" + bytes(42))]
        await vs.stop()
        assert await q2.closed_by_peer()
        b.close()
        server.close()
        await server.wait_closed()
    arun(body)


def test_switch_over_tcp_and_udp(arun, peer_cls, eth) -> None:  # type: ignore[no-untyped-def]
    """A learning switch whose ports are a TCP listener, a TCP connector and a UDP socket:
    flooding, learning and unicast forwarding do not depend on the transport."""
    async def body() -> None:
        conns: asyncio.Queue[Any] = asyncio.Queue()

        async def on_conn(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await conns.put(peer_cls(r, w))

        server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
        qport = server.sockets[0].getsockname()[1]
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        udp.setblocking(False)
        loop = asyncio.get_running_loop()

        async def udp_recv() -> bytes:
            return await asyncio.wait_for(loop.sock_recv(udp, 70000), 5)

        vs = await started()
        vs.add_device("sw", "switch")
        ia = await vs.add_port("sw", "a", listen("tcp:127.0.0.1:0"))
        await vs.add_port("sw", "b", {"type": "stream", "mode": "connect",
                                      "address": f"tcp:127.0.0.1:{qport}"})
        uport = udp.getsockname()[1]
        ic = await vs.add_port("sw", "c", {"type": "dgram", "local": "udp:127.0.0.1:0",
                                           "remote": f"udp:127.0.0.1:{uport}"})
        c_at = ic["transport"]["local"].rsplit(":", 1)
        a = await peer_cls.connect(ia["transport"]["address"])
        b = await asyncio.wait_for(conns.get(), 10)
        await wait_for(lambda: all(p.sink for p in vs.devices["sw"].ports.values()))
        await a.send([eth(2, 1)])                           # unknown: flooded to b and c
        assert await b.recv(1) == [eth(2, 1)]
        assert await udp_recv() == eth(2, 1)
        udp.sendto(eth(1, 3), (c_at[0][4:], int(c_at[1])))  # c learnt; to a only
        assert await a.recv(1) == [eth(1, 3)]
        await b.expect_nothing()
        await b.send([eth(3, 2, b"to c" + bytes(42))])     # b learnt; c known: to c only
        assert await udp_recv() == eth(3, 2, b"to c" + bytes(42))
        await a.expect_nothing()
        await a.send([eth(2, 1, b"to b" + bytes(42))])     # b known now: not to c
        assert await b.recv(1) == [eth(2, 1, b"to b" + bytes(42))]
        macs = {e["mac"][-1]: e["port"] for e in vs.mac_table("sw")["entries"]}
        assert macs == {"1": "a", "2": "b", "3": "c"}
        await vs.stop()
        a.close()
        b.close()
        udp.close()
        server.close()
        await server.wait_closed()
    arun(body)


def test_hub_and_switch(arun, peer_cls, tmp_sock_dir, eth) -> None:  # type: ignore[no-untyped-def]
    async def body() -> None:
        vs = await started()
        peers = {}
        for kind in ("hub", "switch"):
            vs.add_device(kind, kind)
            for n in "abc":
                path = os.path.join(tmp_sock_dir, kind + n)
                await vs.add_port(kind, n, listen("unix:" + path))
                peers[kind + n] = await peer_cls.connect("unix:" + path)
        await wait_for(lambda: all(p.sink for d in vs.devices.values()
                                   for p in d.ports.values()))
        # hub: everything everywhere
        await peers["huba"].send([eth(2, 1)])
        assert await peers["hubb"].recv(1) == [eth(2, 1)]
        assert await peers["hubc"].recv(1) == [eth(2, 1)]
        # switch: unknown flooded, then learnt
        await peers["switcha"].send([eth(2, 1)])
        assert await peers["switchb"].recv(1) == [eth(2, 1)]
        assert await peers["switchc"].recv(1) == [eth(2, 1)]
        await peers["switchb"].send([eth(1, 2)])
        assert await peers["switcha"].recv(1) == [eth(1, 2)]
        await peers["switchc"].expect_nothing()
        await peers["switcha"].send([eth(2, 1, b"y" * 46)])
        assert await peers["switchb"].recv(1) == [eth(2, 1, b"y" * 46)]
        await peers["switchc"].expect_nothing()
        assert vs.mac_table("switch")["entries"][0]["mac"] == "02:00:00:00:00:01"
        await vs.stop()
    arun(body)


def test_delay_through_sockets_is_a_delay_line(arun, peer_cls, tmp_sock_dir, eth) -> None:  # type: ignore[no-untyped-def]
    """Frames keep flowing while delayed (no sleep in the path) and never arrive early."""
    async def body() -> None:
        vs = await started()
        vs.add_device("l1", "link")
        addr = {}
        for n in "ab":
            addr[n] = "unix:" + os.path.join(tmp_sock_dir, n)
            await vs.add_port("l1", n, listen(addr[n]),
                              params={"in": {"delay": 50_000_000}} if n == "a" else None)
        a = await peer_cls.connect(addr["a"])
        b = await peer_cls.connect(addr["b"])
        await wait_for(lambda: all(p.sink for p in vs.devices["l1"].ports.values()))
        t0 = time.monotonic()
        for i in range(5):
            await a.send([eth(2, 1, bytes([i]) * 46)])
            await asyncio.sleep(0.01)
        got = await b.recv(5)
        assert [f[14] for f in got] == [0, 1, 2, 3, 4]
        assert time.monotonic() - t0 >= 0.049
        await vs.stop()
    arun(body)


@pytest.mark.parametrize("timer", ["timerfd", "loop"])
def test_delayed_burst_keeps_the_link_rate(arun, peer_cls, tmp_sock_dir, eth, timer) -> None:  # type: ignore[no-untyped-def]
    """300 frames into 100 ms of delay at 100 Mbit/s: nothing arrives before 100 ms, and the
    whole burst arrives in well under 2 s, in order and intact. Holding each frame for its
    delay in turn (a sleep per frame) would take 30 s; a delay line takes ~130 ms."""
    async def body() -> None:
        vs = await started(timer)
        vs.add_device("l1", "link")
        addr = {}
        for n in "ab":
            addr[n] = "unix:" + os.path.join(tmp_sock_dir, n)
            params = {"in": {"delay": 100_000_000, "bandwidth": 100_000_000}} if n == "a" \
                else None
            await vs.add_port("l1", n, listen(addr[n]), params=params)
        a = await peer_cls.connect(addr["a"])
        b = await peer_cls.connect(addr["b"])
        await wait_for(lambda: all(p.sink for p in vs.devices["l1"].ports.values()))
        frames = [eth(2, 1, struct.pack(">I", i) * 250) for i in range(300)]   # 1014 bytes
        t0 = time.monotonic()
        await a.send(frames)
        first = await b.recv(1, timeout=10)
        t_first = time.monotonic() - t0
        rest = await b.recv(299, timeout=10)
        t_all = time.monotonic() - t0
        assert first + rest == frames
        assert t_first >= 0.099, f"first frame after {t_first:.3f} s: not delayed"
        # 300 x 1014 B at 100 Mbit/s is 24 ms of serialisation on top of the delay
        assert t_all < 2.0, f"burst took {t_all:.3f} s: frames are not on the wire together"
        assert vs.counters("l1")["devices"]["l1"]["a"]["in"]["drops"]["queue"] == 0
        await vs.stop()
    arun(body)


@pytest.mark.parametrize("timer", ["timerfd", "loop"])
def test_a_shaped_link_waits_between_frames_instead_of_spinning(  # type: ignore[no-untyped-def]
        arun, peer_cls, tmp_sock_dir, eth, timer) -> None:
    """At 100 Mbit/s a 1500 B frame is due every 0.12 ms, under the loop's millisecond timer
    grain. Each wake-up must send what is due and sleep: uvloop runs a timer under 0.5 ms at
    once, and re-arming one for the next frame made the port pump in a busy loop (a whole
    core for one shaped link). 1000 frames take about 120 ms: at most one pump per frame or
    two, not tens of thousands."""
    async def body() -> None:
        vs = VSwitch(timer=timer)
        pumps = 0
        pump, on_timerfd = vs._pump, vs._on_timerfd

        def counted(port):  # type: ignore[no-untyped-def]
            nonlocal pumps
            pumps += 1
            pump(port)

        def counted_timerfd() -> None:
            nonlocal pumps
            pumps += 1
            on_timerfd()
        vs._pump = counted  # type: ignore[method-assign]
        vs._on_timerfd = counted_timerfd  # type: ignore[method-assign]
        await vs.start()
        assert vs.timer_kind == timer
        vs.add_device("l1", "link")
        addr = {n: "unix:" + os.path.join(tmp_sock_dir, n) for n in "ab"}
        await vs.add_port("l1", "a", listen(addr["a"]),
                          params={"in": {"bandwidth": 100_000_000, "queue": 2000}})
        await vs.add_port("l1", "b", listen(addr["b"]))
        a = await peer_cls.connect(addr["a"])
        b = await peer_cls.connect(addr["b"])
        await wait_for(lambda: all(p.sink for p in vs.devices["l1"].ports.values()))
        frames = [eth(2, 1, struct.pack(">I", i) * 371 + b"xx") for i in range(1000)]  # 1500 B
        t0 = time.monotonic()
        await a.send(frames)
        assert await b.recv(1000, timeout=10) == frames
        took = time.monotonic() - t0
        assert took >= 0.11, f"1000 x 1500 B at 100 Mbit/s took {took:.3f} s: not shaped"
        assert pumps <= 500, f"{pumps} timer wake-ups for 1000 frames: the port spins"
        await vs.stop()
    arun(body)


def test_bad_frames_and_faults(arun, peer_cls, tmp_sock_dir, eth, caplog) -> None:  # type: ignore[no-untyped-def]
    """Bad input on hub port a: counted as invalid, logged once per cause, the connection
    closed when the stream is not QEMU framing; ports b and c never notice."""
    async def body() -> None:
        vs = await started()
        vs.add_device("h", "hub")
        addr = {n: "unix:" + os.path.join(tmp_sock_dir, n) for n in "abc"}
        for n in "abc":
            await vs.add_port("h", n, listen(addr[n]))
        a = await peer_cls.connect(addr["a"])
        b = await peer_cls.connect(addr["b"])
        c = await peer_cls.connect(addr["c"])
        ports = vs.devices["h"].ports
        pa = ports["a"]
        await wait_for(lambda: all(p.sink for p in ports.values()))
        sink_b, sink_c = ports["b"].sink, ports["c"].sink

        def logged(text: str) -> int:
            return sum(text in r.getMessage() for r in caplog.records)

        async def b_and_c_still_forward(tag: bytes) -> None:
            f = eth(3, 2, tag + bytes(46 - len(tag)))
            await b.send([f])
            assert await c.recv(1) == [f]
            assert ports["b"].sink is sink_b and ports["c"].sink is sink_c

        # length 0 and a runt: skipped and counted, framing stays in sync, logged once
        await a.send_raw(struct.pack(">I", 0) + struct.pack(">I", 3) + b"abc")
        await a.send([eth(2, 1)])
        assert await b.recv(1) == [eth(2, 1)] and await c.recv(1) == [eth(2, 1)]
        assert pa.cin.drop_invalid == 2
        await a.send_raw(struct.pack(">I", 5) + b"12345")
        await wait_for(lambda: pa.cin.drop_invalid == 3)
        assert logged("shorter than") == 1
        # length > 65535: connection closed, counted, logged once; the others are unaffected
        await a.send_raw(struct.pack(">I", 70000) + b"x" * 10)
        assert await a.closed_by_peer()
        assert pa.cin.drop_invalid == 4 and pa.sink is None
        assert logged("70000") == 1
        await b_and_c_still_forward(b"one")
        # a frame cut by the peer closing: dropped whole, counted and logged exactly once
        a = await peer_cls.connect(addr["a"])
        await wait_for(lambda: pa.sink is not None)
        await a.send_raw(struct.pack(">I", 100) + b"z" * 30)
        await asyncio.sleep(0.05)                  # the vswitch holds the 34 bytes
        a.close()
        await wait_for(lambda: pa.sink is None)
        assert pa.cin.drop_invalid == 5
        assert logged("middle of a frame") == 1
        assert pa.cin.frames == 1                  # only the one good frame ever got through
        # random bytes: not QEMU framing (the first length is > 65535): closed and counted
        junk = random.Random(7).randbytes(4000)
        assert struct.unpack(">I", junk[:4])[0] > 65535
        a = await peer_cls.connect(addr["a"])
        await wait_for(lambda: pa.sink is not None)
        await a.send_raw(junk)
        assert await a.closed_by_peer()
        assert pa.cin.drop_invalid == 6 and pa.sink is None
        assert logged("not QEMU stream framing") == 2
        await b_and_c_still_forward(b"two")
        await b.expect_nothing()
        await c.expect_nothing()
        # and port a works again for a well-behaved peer
        a = await peer_cls.connect(addr["a"])
        await wait_for(lambda: pa.sink is not None)
        after = eth(2, 1, b"after" + b"\0" * 41)
        await a.send([after])
        assert await b.recv(1) == [after] and await c.recv(1) == [after]
        await b.send([eth(1, 2)])
        assert await a.recv(1) == [eth(1, 2)]
        assert pa.cin.drop_invalid == 6 and pa.cin.frames == 2
        for p in (a, b, c):
            p.close()
        await vs.stop()
    arun(body)


def test_peer_that_never_reads(arun, peer_cls, tmp_sock_dir, eth, caplog) -> None:  # type: ignore[no-untyped-def]
    """A hub port whose peer never reads fills up and drops (counted); the others keep going."""
    async def body() -> None:
        vs = await started()
        vs.add_device("h", "hub")
        addr = {n: "unix:" + os.path.join(tmp_sock_dir, n) for n in "abc"}
        for n in "abc":
            await vs.add_port("h", n, listen(addr[n]))
        peers = {n: await peer_cls.connect(addr[n]) for n in "abc"}
        await wait_for(lambda: all(p.sink for p in vs.devices["h"].ports.values()))
        frame = eth(255, 1, b"q" * 1486)
        total = 0
        pb = vs.devices["h"].ports["b"]
        for _ in range(200):                      # up to 20 MB offered; b never reads
            await peers["a"].send([frame] * 50)
            total += 50
            await peers["c"].recv(50)             # c keeps receiving everything
            if pb.cout.drop_queue:
                break
        assert pb.cout.drop_queue > 0
        assert pb.cout.frames + pb.cout.drop_queue == total
        assert sum("not reading" in r.message for r in caplog.records) == 1
        await vs.stop()
    arun(body)
