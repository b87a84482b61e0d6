"""Trunks: one port of a device joined to a port of a device in another vswitch, over TCP.

After connecting, the connecting side sends one JSON line ``{"trunk": 1, "token": T, "epoch":
E, "heartbeat": H}``; the listening side answers ``{"ok": true, "heartbeat": H}`` (or ``{"ok":
false, "error": ...}`` and closes) and both then speak QEMU stream framing. `T` is the
per-session token given to both ends; `E` is the connector's wall-clock nanoseconds at that
attempt, so it grows across reconnects and restarts.

Handshake timeout: a connection that has not completed the handshake within HANDSHAKE_TIMEOUT
seconds is closed, on both sides (a listener is not held by a client that never speaks; a
connector whose peer accepts and stays silent retries with backoff). Logged once until a trunk
is up again.

Heartbeat: each side offers the interval `H` (ms) at which it will send a zero-length frame
record (4 zero bytes); when both offered one, each sends its heartbeat and closes the connection
when nothing at all (frames or heartbeats) came from the peer for HEARTBEAT_MISSES of the
peer's intervals. A half-open connection (the other host gone, no FIN or RST ever coming) is so
noticed in seconds instead of TCP's minutes; the connector then reconnects. A side that offers
no `heartbeat` (an older vswitch) gets none and is never timed out.

No corruption or reordering across a reconnect: TCP carries each connection intact; a frame cut
by a broken connection is discarded whole (never delivered truncated); the listener only accepts
an epoch greater than the last one it accepted and drops the older connection first, so frames
from two connections never interleave. Frames sent while no connection is up are dropped and
counted as ``down``, as on an unplugged cable.

Lifecycle: as every transport (NEW -> RUNNING -> STOPPED); while RUNNING the connector retries
with backoff (50 ms doubling to 2 s) and the listener keeps accepting.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from vswitch.errors import TransportError
from vswitch.port import Port
from vswitch.transports import (
    BACKOFF_MAX,
    BACKOFF_MIN,
    Reconnecting,
    StreamPeer,
    Transport,
    TransportSpec,
)

log = logging.getLogger("vswitch")
MAX_HELLO = 4096
HANDSHAKE_TIMEOUT = 5.0     # seconds from TCP connect to a completed handshake
HEARTBEAT_INTERVAL = 1.0    # seconds between two heartbeats this side sends
HEARTBEAT_MISSES = 4        # the peer is gone after this many of its intervals of silence
HEARTBEAT_MS_RANGE = (10, 60_000)   # intervals a peer may ask for
HEARTBEAT = b"\0\0\0\0"     # a zero-length frame record


def peer_heartbeat(msg: dict[str, Any]) -> float | None:
    """The heartbeat interval (s) a handshake line offers, or None (none, or out of range)."""
    hb = msg.get("heartbeat")
    lo, hi = HEARTBEAT_MS_RANGE
    if isinstance(hb, bool) or not isinstance(hb, int) or not lo <= hb <= hi:
        return None
    return hb / 1000


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or ("timed out" if isinstance(exc, TimeoutError)
                                        else type(exc).__name__)


class TrunkPeer(StreamPeer):
    """A stream peer that first exchanges one handshake line, within HANDSHAKE_TIMEOUT, and
    may then send and expect heartbeats. One timer serves both phases."""

    def __init__(self, port: Port, clock: Callable[[], float],
                 on_lost: Callable[[StreamPeer], None],
                 on_line: Callable[[TrunkPeer, dict[str, Any]], bool],
                 on_timeout: Callable[[TrunkPeer], None],
                 hello: dict[str, Any] | None = None) -> None:
        super().__init__(port, clock, on_lost)
        self.on_line = on_line
        self.on_timeout = on_timeout
        self.hello = hello
        self.ready = False
        self.hbuf = b""
        self.timer: asyncio.TimerHandle | None = None
        self.interval = 0.0          # our heartbeat period; 0 = no heartbeat
        self.dead_after = 0.0        # seconds of silence after which the peer is gone
        self.heard = False           # anything received since the last heartbeat tick
        self.silent_since = 0.0
        self.last_tick = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.timer = asyncio.get_running_loop().call_later(HANDSHAKE_TIMEOUT,
                                                           self._handshake_timeout)
        if self.hello is not None and self.tr is not None:
            self.tr.write(json.dumps(self.hello).encode() + b"\n")

    def _handshake_timeout(self) -> None:
        self.timer = None
        if not self.ready and not self.closed:
            self.on_timeout(self)
            self.close()

    def start_heartbeat(self, peer_interval: float) -> None:
        """Send a heartbeat every HEARTBEAT_INTERVAL; give up after the peer's silence."""
        self.interval = HEARTBEAT_INTERVAL
        self.dead_after = HEARTBEAT_MISSES * peer_interval
        self.decoder.empty_ok = True
        loop = asyncio.get_running_loop()
        self.silent_since = self.last_tick = loop.time()
        if self.timer is not None:
            self.timer.cancel()
        self.timer = loop.call_later(self.interval, self._beat)

    def _beat(self) -> None:
        self.timer = None
        if self.closed or self.tr is None:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        # a tick a whole interval late means this process was not running: what the peer
        # sent meanwhile may not be read yet (libuv runs timers before I/O), so start afresh
        stalled = now - self.last_tick > 2 * self.interval
        self.last_tick = now
        if self.heard or stalled:
            self.heard = False
            self.silent_since = now
        elif now - self.silent_since >= self.dead_after:
            log.warning("port %s: nothing from the trunk peer for %.1f s (half-open "
                        "connection?); closing it", self.port.path, now - self.silent_since)
            self.close()
            return
        self.tr.write(HEARTBEAT)
        self.timer = loop.call_later(self.interval, self._beat)

    def data_received(self, data: bytes) -> None:
        self.heard = True
        if self.ready:
            super().data_received(data)
            return
        self.hbuf += data
        line, sep, rest = self.hbuf.partition(b"\n")
        if not sep:
            if len(self.hbuf) > MAX_HELLO:
                log.warning("port %s: trunk handshake too long; closing", self.port.path)
                self.close()
            return
        self.hbuf = b""
        try:
            msg = json.loads(line)
            if not isinstance(msg, dict):
                raise ValueError("not an object")
        except ValueError:
            log.warning("port %s: trunk handshake is not JSON; closing", self.port.path)
            self.close()
            return
        if not self.on_line(self, msg):
            self.close()
            return
        self.ready = True
        if self.timer is not None and not self.interval:
            self.timer.cancel()          # the handshake timer; a heartbeat keeps its own
            self.timer = None
        if rest:
            super().data_received(rest)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        super().connection_lost(exc)

    def write_frames(self, frames: list[bytes]) -> bool:
        return self.ready and super().write_frames(frames)


class TrunkListen(Transport):
    def __init__(self, port: Port, spec: TransportSpec, clock: Callable[[], float]) -> None:
        super().__init__(port, spec, clock)
        self.server: asyncio.AbstractServer | None = None
        self.peer: TrunkPeer | None = None
        self.pending: set[TrunkPeer] = set()     # connected, handshake not done yet
        self.epoch = -1
        self.bad_token_logged = False
        self.timeout_logged = False

    def _accept(self) -> TrunkPeer:
        peer = TrunkPeer(self.port, self.clock, self._lost, self._hello, self._timed_out)
        self.pending.add(peer)
        return peer

    async def start(self) -> None:
        a = self.spec.address
        assert a is not None
        try:
            self.server = await asyncio.get_running_loop().create_server(
                self._accept, a.host, a.port, reuse_address=True)
        except OSError as exc:
            raise TransportError(f"port {self.port.path}: cannot listen on {a}: "
                                 f"{exc.strerror or exc}") from None
        self.bound = a.with_sockname(self.server.sockets[0].getsockname())

    def _timed_out(self, peer: TrunkPeer) -> None:
        if not self.timeout_logged:
            self.timeout_logged = True
            log.warning("port %s: a trunk connection did not complete the handshake in %g s; "
                        "closed (further ones not logged until a trunk is up)", self.port.path,
                        HANDSHAKE_TIMEOUT)

    def _hello(self, peer: TrunkPeer, msg: dict[str, Any]) -> bool:
        assert peer.tr is not None
        self.pending.discard(peer)
        token = msg.get("token")
        epoch = msg.get("epoch")
        if msg.get("trunk") != 1 or not isinstance(token, str) or not hmac.compare_digest(
                token.encode(), self.spec.token.encode()):
            if not self.bad_token_logged:
                self.bad_token_logged = True
                log.warning("port %s: trunk connection with a wrong token refused",
                            self.port.path)
            peer.tr.write(b'{"ok": false, "error": "bad token"}\n')
            return False
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch <= self.epoch:
            log.warning("port %s: stale trunk connection (epoch %r) refused", self.port.path,
                        epoch)
            peer.tr.write(b'{"ok": false, "error": "stale epoch"}\n')
            return False
        self.epoch = epoch
        old, self.peer = self.peer, peer
        if old is not None and not old.closed:
            # the older connection goes before the newer one is answered, let alone read:
            # frames of the two never interleave
            log.info("port %s: trunk reconnected; previous connection dropped", self.port.path)
            old.close()
        reply: dict[str, Any] = {"ok": True}
        hb = peer_heartbeat(msg)
        if hb is not None:
            reply["heartbeat"] = round(HEARTBEAT_INTERVAL * 1000)
            peer.start_heartbeat(hb)
        peer.tr.write(json.dumps(reply).encode() + b"\n")
        self.port.sink = peer
        self.timeout_logged = False
        log.info("port %s: trunk up", self.port.path)
        return True

    def _lost(self, peer: StreamPeer) -> None:
        self.pending.discard(peer)
        if peer is self.peer:
            self.peer = None
            self.port.sink = None
            log.info("port %s: trunk down", self.port.path)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for p in list(self.pending):
            p.close()
        self.pending.clear()
        if self.peer is not None:
            self.peer.close()
        self.port.sink = None


class TrunkConnect(Reconnecting):
    def __init__(self, port: Port, spec: TransportSpec, clock: Callable[[], float]) -> None:
        super().__init__(port, spec, clock)
        self.refused_logged = False
        self.timeout_logged = False

    def _timed_out(self, peer: TrunkPeer) -> None:
        if not self.timeout_logged:
            self.timeout_logged = True
            log.warning("port %s: trunk peer %s did not answer the handshake in %g s; "
                        "retrying (not logged again until the trunk is up)", self.port.path,
                        self.spec.address, HANDSHAKE_TIMEOUT)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        a = self.spec.address
        assert a is not None
        backoff = BACKOFF_MIN
        failures = 0
        while True:
            lost: asyncio.Future[None] = loop.create_future()
            up: asyncio.Future[bool] = loop.create_future()

            def on_lost(_p: StreamPeer, lost: asyncio.Future[None] = lost,
                        up: asyncio.Future[bool] = up) -> None:
                if not lost.done():
                    lost.set_result(None)
                if not up.done():
                    up.set_result(False)

            def on_line(p: TrunkPeer, msg: dict[str, Any],
                        up: asyncio.Future[bool] = up) -> bool:
                ok = msg.get("ok") is True
                if not ok and not self.refused_logged:
                    self.refused_logged = True
                    log.warning("port %s: trunk refused by %s: %s", self.port.path, a,
                                msg.get("error"))
                if ok:
                    hb = peer_heartbeat(msg)
                    if hb is not None:
                        p.start_heartbeat(hb)
                    self.port.sink = p
                if not up.done():
                    up.set_result(ok)
                return ok

            hello = {"trunk": 1, "token": self.spec.token, "epoch": time.time_ns(),
                     "heartbeat": round(HEARTBEAT_INTERVAL * 1000)}
            peer = TrunkPeer(self.port, self.clock, on_lost, on_line, self._timed_out, hello)
            try:
                async with asyncio.timeout(HANDSHAKE_TIMEOUT):   # a SYN nobody answers
                    await loop.create_connection(lambda peer=peer: peer,  # type: ignore[misc]
                                                 a.host, a.port)
                ok = await up          # bounded by the peer's own handshake timer
            except OSError as exc:     # TimeoutError included
                if failures == 0:
                    log.info("port %s: cannot connect trunk to %s (%s); retrying",
                             self.port.path, a, _reason(exc))
                ok = False
            except asyncio.CancelledError:
                peer.close()           # stopped in the middle of the handshake
                raise
            if not ok:
                peer.close()
                failures += 1
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            log.info("port %s: trunk up to %s", self.port.path, a)
            failures = 0
            backoff = BACKOFF_MIN
            self.refused_logged = False
            self.timeout_logged = False
            await self._hold(peer, lost)
            log.info("port %s: trunk down; reconnecting", self.port.path)
            await asyncio.sleep(BACKOFF_MIN)
