"""Trunks between vswitches over real TCP: traffic both ways across reconnects from either
side, a newer connection replacing an open one, handshake timeouts and heartbeats."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import struct
import time
from typing import Any

import pytest

from vswitch.runtime import VSwitch


def listen(address: str) -> dict[str, Any]:
    return {"type": "stream", "mode": "listen", "address": address}


def trunk(mode: str, address: str, token: str = "T") -> dict[str, Any]:
    return {"type": "trunk", "mode": mode, "address": address, "token": token}


async def wait_for(cond: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def host_port(address: str) -> tuple[str, int]:
    host, port = address[4:].rsplit(":", 1)
    return host, int(port)


async def fake_connector(peer_cls: Any, address: str, epoch: int | None = None,
                         token: str = "T", heartbeat: int | None = None) -> tuple[Any, dict]:
    """A trunk connector by hand: the handshake line, the reply, then a stream peer."""
    r, w = await asyncio.open_connection(*host_port(address))
    hello: dict[str, Any] = {"trunk": 1, "token": token,
                             "epoch": time.time_ns() if epoch is None else epoch}
    if heartbeat is not None:
        hello["heartbeat"] = heartbeat
    w.write(json.dumps(hello).encode() + b"\n")
    reply = json.loads(await asyncio.wait_for(r.readline(), 10))
    return peer_cls(r, w), reply


def numbered(src: int, dst: int, i: int) -> bytes:
    return bytes([2, 0, 0, 0, 0, dst, 2, 0, 0, 0, 0, src]) + b"\x08\x00" + \
        struct.pack(">I", i) * 100


def numbers(frames: list[bytes], src: int, dst: int) -> list[int]:
    """The numbers of `frames`, each checked to be exactly the frame sent with that number."""
    nums = [struct.unpack(">I", f[14:18])[0] for f in frames]
    bad = [n for f, n in zip(frames, nums, strict=True) if f != numbered(src, dst, n)]
    assert not bad, f"corrupted frames: {bad[:5]}"
    return nums


async def drain(peer: Any, quiet: float = 1.0, limit: float = 20.0) -> list[bytes]:
    """Every frame that arrives until nothing came for `quiet` seconds."""
    got: list[bytes] = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            got += await peer.recv(1, timeout=quiet)
        except TimeoutError:
            break
    return got


def test_trunk_joins_two_vswitches(arun, tmp_sock_dir, peer_cls, eth, caplog) -> None:  # type: ignore[no-untyped-def]
    """h1 -- [vs1: l1 a|t] ==trunk== [vs2: l2 t|b] -- h2: numbered frames both ways while the
    trunk connection is broken by the listening side, then by the connecting side. Whatever
    arrives is intact and in order; everything sent after the last reconnect arrives."""
    async def body() -> None:
        vs1, vs2, vs3 = VSwitch(), VSwitch(), VSwitch()
        for v in (vs1, vs2, vs3):
            await v.start()
        vs1.add_device("l1", "link")
        vs2.add_device("l2", "link")
        pa, pb = (os.path.join(tmp_sock_dir, n) for n in "ab")
        await vs1.add_port("l1", "a", listen("unix:" + pa))
        info = await vs1.add_port("l1", "t", trunk("listen", "tcp:127.0.0.1:0"))
        taddr = info["transport"]["address"]
        await vs2.add_port("l2", "t", trunk("connect", taddr))
        await vs2.add_port("l2", "b", listen("unix:" + pb))
        h1 = await peer_cls.connect("unix:" + pa)
        h2 = await peer_cls.connect("unix:" + pb)
        t1 = vs1.devices["l1"].ports["t"]
        t2 = vs2.devices["l2"].ports["t"]
        await wait_for(lambda: t1.sink is not None and t2.sink is not None
                       and vs1.devices["l1"].ports["a"].sink and vs2.devices["l2"].ports["b"].sink)
        await h1.send([eth(2, 1)])
        assert await h2.recv(1) == [eth(2, 1)]
        await h2.send([eth(1, 2)])
        assert await h1.recv(1) == [eth(1, 2)]

        per_round = 200
        for round_, breaker in enumerate((t1, t2, None)):    # listener side, connector side
            for k in range(0, per_round, 10):
                base = round_ * per_round + k
                await h1.send([numbered(1, 2, base + j) for j in range(10)])
                await h2.send([numbered(2, 1, base + j) for j in range(10)])
                await asyncio.sleep(0.002)
            if breaker is not None:
                old1, old2 = t1.sink, t2.sink
                breaker.sink.close()                        # type: ignore[union-attr]
                await wait_for(lambda o1=old1, o2=old2: t1.sink is not None and t2.sink is not None
                               and t1.sink is not o1 and t2.sink is not o2)
        for rx, src, dst in ((h2, 1, 2), (h1, 2, 1)):
            nums = numbers(await drain(rx), src, dst)
            assert nums == sorted(set(nums)), "reordered or duplicated across a reconnect"
            last = list(range(2 * per_round, 3 * per_round))
            assert nums[-per_round:] == last, "frames lost while the trunk was up"
            assert len(nums) >= 3 * per_round // 2
        assert sum("trunk reconnected" in r.getMessage() for r in caplog.records) == 0

        # a vswitch with the wrong token is refused (logged once) and never carries frames
        vs3.add_device("l3", "link")
        await vs3.add_port("l3", "t", trunk("connect", taddr, token="wrong"))
        await asyncio.sleep(0.5)
        assert vs3.devices["l3"].ports["t"].sink is None
        assert sum("wrong token" in r.getMessage() for r in caplog.records) == 1
        assert t1.sink is not None
        # a stale epoch is refused
        fake, reply = await fake_connector(peer_cls, taddr, epoch=1)
        assert reply == {"ok": False, "error": "stale epoch"}
        assert await fake.closed_by_peer()
        for v in (vs1, vs2, vs3):
            await v.stop()
        h1.close()
        h2.close()
    arun(body, timeout=60)


def test_newer_trunk_connection_drops_the_open_one(arun, tmp_sock_dir, peer_cls, caplog) -> None:  # type: ignore[no-untyped-def]
    """A second connector comes while the first is still connected (the other vswitch
    restarted, its old connection half-open here): the listener closes the old connection
    before it takes the new one, so a frame the old one was in the middle of is never
    completed in between the new one's frames."""
    caplog.set_level(logging.INFO, "vswitch")

    async def body() -> None:
        vs = VSwitch()
        await vs.start()
        vs.add_device("l1", "link")
        pa = os.path.join(tmp_sock_dir, "a")
        await vs.add_port("l1", "a", listen("unix:" + pa))
        info = await vs.add_port("l1", "t", trunk("listen", "tcp:127.0.0.1:0"))
        taddr = info["transport"]["address"]
        h1 = await peer_cls.connect("unix:" + pa)
        pt = vs.devices["l1"].ports["t"]
        epoch = time.time_ns()
        old, reply = await fake_connector(peer_cls, taddr, epoch=epoch)
        assert reply["ok"] is True
        await wait_for(lambda: pt.sink is not None and vs.devices["l1"].ports["a"].sink)
        await old.send([numbered(9, 1, i) for i in range(5)])
        assert numbers(await h1.recv(5), 9, 1) == [0, 1, 2, 3, 4]
        half = struct.pack(">I", 414) + numbered(9, 1, 5)
        await old.send_raw(half[:200])                 # the old connection is mid-frame
        await asyncio.sleep(0.05)

        new, reply = await fake_connector(peer_cls, taddr, epoch=epoch + 1)
        assert reply["ok"] is True
        assert await old.closed_by_peer(), "the older connection was left open"
        with_rest = half[200:] + struct.pack(">I", 414) + numbered(9, 1, 6)
        with contextlib.suppress(ConnectionError):
            await old.send_raw(with_rest)              # too late: never delivered
        await new.send([numbered(9, 1, i) for i in range(100, 110)])
        assert numbers(await h1.recv(10), 9, 1) == list(range(100, 110))
        await h1.expect_nothing(0.3)
        assert pt.cin.drop_invalid == 1                # the cut frame, dropped whole
        await h1.send([numbered(1, 9, 7)])
        assert await new.recv(1) == [numbered(1, 9, 7)]
        assert sum("previous connection dropped" in r.getMessage()
                   for r in caplog.records) == 1
        await vs.stop()
        assert await new.closed_by_peer()
        h1.close()
    arun(body)


def test_trunk_listener_closes_silent_handshakes(arun, peer_cls, caplog, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Connections that never complete the handshake (silent, or a line never ended) are
    closed after HANDSHAKE_TIMEOUT, logged once; a real connector is served all along."""
    monkeypatch.setattr("vswitch.trunk.HANDSHAKE_TIMEOUT", 0.5)

    async def body() -> None:
        vs = VSwitch()
        await vs.start()
        vs.add_device("l1", "link")
        info = await vs.add_port("l1", "t", trunk("listen", "tcp:127.0.0.1:0"))
        taddr = info["transport"]["address"]
        silent = []
        for partial in (b"", b'{"trunk": 1, "tok', b""):
            r, w = await asyncio.open_connection(*host_port(taddr))
            w.write(partial)
            silent.append((time.monotonic(), peer_cls(r, w)))
        good, reply = await fake_connector(peer_cls, taddr)
        assert reply["ok"] is True
        for t0, p in silent:
            assert await p.closed_by_peer(10), "an unauthenticated connection was kept"
            assert time.monotonic() - t0 >= 0.25, "closed long before its handshake timeout"
        assert sum("did not complete the handshake" in r.getMessage()
                   for r in caplog.records) == 1
        assert vs.devices["l1"].ports["t"].sink is not None
        await good.expect_nothing(0.3)                 # the completed one stays
        assert vs.transports[vs.devices["l1"].ports["t"]].pending == set()  # type: ignore[attr-defined]
        await vs.stop()
        assert await good.closed_by_peer()
    arun(body)


def test_trunk_connector_gives_up_on_a_silent_listener(arun, caplog, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A peer that accepts the TCP connection and never answers the handshake: the
    connector closes after HANDSHAKE_TIMEOUT and retries with backoff, logging it once."""
    monkeypatch.setattr("vswitch.trunk.HANDSHAKE_TIMEOUT", 0.5)

    async def body() -> None:
        accepted: list[tuple[float, asyncio.StreamReader, asyncio.StreamWriter]] = []

        async def on_conn(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            accepted.append((time.monotonic(), r, w))

        server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        vs = VSwitch()
        await vs.start()
        vs.add_device("l1", "link")
        await vs.add_port("l1", "t", trunk("connect", f"tcp:127.0.0.1:{port}"))
        await wait_for(lambda: len(accepted) >= 3)
        for t0, r, _w in accepted[:2]:
            hello = json.loads(await asyncio.wait_for(r.readline(), 5))
            assert hello["trunk"] == 1 and hello["token"] == "T"
            assert await asyncio.wait_for(r.read(), 10) == b""       # closed by the vswitch
            assert time.monotonic() - t0 >= 0.25                      # not at once
        assert accepted[2][0] - accepted[1][0] >= 0.4                 # waited for the timeout
        assert vs.devices["l1"].ports["t"].sink is None
        assert sum("did not answer the handshake" in r.getMessage()
                   for r in caplog.records) == 1
        await vs.stop()
        n = len(accepted)
        await asyncio.wait_for(accepted[-1][1].read(), 10)           # to EOF: hung up
        await asyncio.sleep(0.5)
        assert len(accepted) == n                                     # stopped: no retries
        for _t, _r, w in accepted:
            w.close()
        server.close()
        await server.wait_closed()
    arun(body)


def test_trunk_heartbeat_keeps_an_idle_trunk_and_counts_nothing(arun, tmp_sock_dir, peer_cls,  # type: ignore[no-untyped-def]
                                                                 eth, monkeypatch) -> None:
    """With 100 ms heartbeats, an idle trunk stays up (the same connection) for 3 times the
    400 ms after which silence would close it, and the heartbeats are not counted as frames or
    invalid input."""
    monkeypatch.setattr("vswitch.trunk.HEARTBEAT_INTERVAL", 0.1)

    async def body() -> None:
        vs1, vs2 = VSwitch(), VSwitch()
        for v in (vs1, vs2):
            await v.start()
        vs1.add_device("l1", "link")
        vs2.add_device("l2", "link")
        info = await vs1.add_port("l1", "t", trunk("listen", "tcp:127.0.0.1:0"))
        await vs2.add_port("l2", "t", trunk("connect", info["transport"]["address"]))
        pb = os.path.join(tmp_sock_dir, "b")
        await vs2.add_port("l2", "b", listen("unix:" + pb))
        pa = os.path.join(tmp_sock_dir, "a")
        await vs1.add_port("l1", "a", listen("unix:" + pa))
        t1 = vs1.devices["l1"].ports["t"]
        t2 = vs2.devices["l2"].ports["t"]
        await wait_for(lambda: t1.sink is not None and t2.sink is not None)
        s1, s2 = t1.sink, t2.sink
        assert s1.interval == s2.interval == 0.1           # type: ignore[union-attr]
        await asyncio.sleep(1.2)
        assert t1.sink is s1 and t2.sink is s2, "an idle trunk was closed"
        for t in (t1, t2):
            assert t.cin.drop_invalid == 0 and t.cin.offered_frames == 0
        h1 = await peer_cls.connect("unix:" + pa)
        h2 = await peer_cls.connect("unix:" + pb)
        await wait_for(lambda: vs1.devices["l1"].ports["a"].sink is not None
                       and vs2.devices["l2"].ports["b"].sink is not None)
        await h1.send([eth(2, 1)])
        assert await h2.recv(1) == [eth(2, 1)]
        for v in (vs1, vs2):
            await v.stop()
        h1.close()
        h2.close()
    arun(body)


def test_trunk_heartbeat_closes_a_silent_peer(arun, peer_cls, caplog, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A connector that completed the handshake offering 100 ms heartbeats and then went
    silent (its host gone: no FIN, no RST) is closed once 4 of its intervals pass without a
    byte; meanwhile the vswitch sent it heartbeats. A peer that offered no heartbeat (an older
    vswitch) gets none and is never closed for silence."""
    monkeypatch.setattr("vswitch.trunk.HEARTBEAT_INTERVAL", 0.05)

    async def body() -> None:
        vs = VSwitch()
        await vs.start()
        vs.add_device("l1", "link")
        info = await vs.add_port("l1", "t", trunk("listen", "tcp:127.0.0.1:0"))
        taddr = info["transport"]["address"]
        pt = vs.devices["l1"].ports["t"]
        silent, reply = await fake_connector(peer_cls, taddr, heartbeat=100)
        t0 = time.monotonic()
        assert reply == {"ok": True, "heartbeat": 50}
        received = b""
        try:
            async with asyncio.timeout(10):
                while chunk := await silent.reader.read(4096):
                    received += chunk
        except ConnectionError:
            pass
        elapsed = time.monotonic() - t0
        assert elapsed >= 0.2, f"closed after {elapsed:.2f} s, well before 4 x 100 ms"
        assert received and received == b"\0" * len(received)      # heartbeats only
        assert pt.sink is None
        assert sum("half-open" in r.getMessage() for r in caplog.records) == 1

        old, reply = await fake_connector(peer_cls, taddr)            # no heartbeat offered
        assert reply == {"ok": True}
        await old.expect_nothing(1.0)                                 # nothing sent, kept
        assert pt.sink is not None
        await vs.stop()
        assert await old.closed_by_peer()
    arun(body)


def test_trunk_heartbeat_forgives_its_own_stall(arun, peer_cls, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """When the vswitch itself did not run for a while (a loaded host), the peer's silence
    during that time is not held against it: a live peer is kept."""
    monkeypatch.setattr("vswitch.trunk.HEARTBEAT_INTERVAL", 0.05)

    async def body() -> None:
        vs = VSwitch()
        await vs.start()
        vs.add_device("l1", "link")
        info = await vs.add_port("l1", "t", trunk("listen", "tcp:127.0.0.1:0"))
        pt = vs.devices["l1"].ports["t"]
        live, reply = await fake_connector(peer_cls, info["transport"]["address"],
                                           heartbeat=100)
        assert reply["ok"] is True

        async def beat() -> None:
            while True:
                await live.send_raw(b"\0\0\0\0")
                await asyncio.sleep(0.1)

        beater = asyncio.get_running_loop().create_task(beat())
        await asyncio.sleep(0.3)
        sink = pt.sink
        assert sink is not None
        time.sleep(0.6)                   # the whole process stalls, 6 x the peer's allowance
        await asyncio.sleep(0.5)
        assert pt.sink is sink, "a live peer was closed for our own stall"
        beater.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beater
        await vs.stop()
        assert await live.closed_by_peer()
    arun(body)


def test_trunk_connector_leaves_a_silent_listener(arun, caplog, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The listener answers the handshake with a heartbeat and then never sends a byte: the
    connector closes that connection within a few of its intervals and connects again."""
    monkeypatch.setattr("vswitch.trunk.HEARTBEAT_INTERVAL", 0.05)

    async def body() -> None:
        accepted: list[tuple[float, asyncio.StreamReader, asyncio.StreamWriter]] = []

        async def on_conn(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            await r.readline()
            w.write(b'{"ok": true, "heartbeat": 100}\n')
            accepted.append((time.monotonic(), r, w))

        server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        vs = VSwitch()
        await vs.start()
        vs.add_device("l1", "link")
        await vs.add_port("l1", "t", trunk("connect", f"tcp:127.0.0.1:{port}"))
        await wait_for(lambda: len(accepted) >= 2)
        t0, r, _w = accepted[0]
        data = await asyncio.wait_for(r.read(), 10)                   # to EOF
        assert data and data == b"\0" * len(data)                     # it sent heartbeats
        assert accepted[1][0] - t0 >= 0.2                             # not at once
        assert any("half-open" in rec.getMessage() for rec in caplog.records)
        await vs.stop()
        for _t, _r, w in accepted:
            w.close()
        server.close()
        await server.wait_closed()
    arun(body)


@pytest.mark.parametrize("empty_ok", [False, True])
def test_decoder_zero_length_records(empty_ok: bool) -> None:
    """Zero-length records are errors on a QEMU stream and heartbeats on a trunk."""
    from vswitch.framing import StreamDecoder, encode

    d = StreamDecoder()
    d.empty_ok = empty_ok
    out: list[bytes] = []
    data = b"\0\0\0\0" + encode([b"x" * 14]) + b"\0\0\0\0" + struct.pack(">I", 3) + b"abc"
    assert d.feed(data, out) == (1 if empty_ok else 3)
    assert out == [b"x" * 14]
