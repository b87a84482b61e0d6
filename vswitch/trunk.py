"""Trunks: one port of a device joined to a port of a device in another vswitch, over TCP.

After connecting, the connecting side sends one JSON line ``{"trunk": 1, "token": T, "epoch":
E}``; the listening side answers ``{"ok": true}`` (or ``{"ok": false, "error": ...}`` and closes)
and both then speak QEMU stream framing. `T` is the per-session token given to both ends;
`E` is the connector's wall-clock nanoseconds at that attempt, so it grows across reconnects
and restarts.

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


class TrunkPeer(StreamPeer):
    """A stream peer that first exchanges one handshake line."""

    def __init__(self, port: Port, clock: Callable[[], float],
                 on_lost: Callable[[StreamPeer], None],
                 on_line: Callable[[TrunkPeer, dict[str, Any]], bool],
                 hello: dict[str, Any] | None = None) -> None:
        super().__init__(port, clock, on_lost)
        self.on_line = on_line
        self.hello = hello
        self.ready = False
        self.hbuf = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self.hello is not None and self.tr is not None:
            self.tr.write(json.dumps(self.hello).encode() + b"\n")

    def data_received(self, data: bytes) -> None:
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
        if rest:
            super().data_received(rest)

    def write_frames(self, frames: list[bytes]) -> bool:
        return self.ready and super().write_frames(frames)


class TrunkListen(Transport):
    def __init__(self, port: Port, spec: TransportSpec, clock: Callable[[], float]) -> None:
        super().__init__(port, spec, clock)
        self.server: asyncio.AbstractServer | None = None
        self.peer: TrunkPeer | None = None
        self.epoch = -1
        self.bad_token_logged = False

    async def start(self) -> None:
        a = self.spec.address
        assert a is not None
        try:
            self.server = await asyncio.get_running_loop().create_server(
                lambda: TrunkPeer(self.port, self.clock, self._lost, self._hello), a.host,
                a.port, reuse_address=True)
        except OSError as exc:
            raise TransportError(f"port {self.port.path}: cannot listen on {a}: "
                                 f"{exc.strerror or exc}") from None
        self.bound = a.with_sockname(self.server.sockets[0].getsockname())

    def _hello(self, peer: TrunkPeer, msg: dict[str, Any]) -> bool:
        assert peer.tr is not None
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
            log.info("port %s: trunk reconnected; previous connection dropped", self.port.path)
            old.close()
        peer.tr.write(b'{"ok": true}\n')
        self.port.sink = peer
        log.info("port %s: trunk up", self.port.path)
        return True

    def _lost(self, peer: StreamPeer) -> None:
        if peer is self.peer:
            self.peer = None
            self.port.sink = None
            log.info("port %s: trunk down", self.port.path)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        if self.peer is not None:
            self.peer.close()
        self.port.sink = None


class TrunkConnect(Reconnecting):
    def __init__(self, port: Port, spec: TransportSpec, clock: Callable[[], float]) -> None:
        super().__init__(port, spec, clock)
        self.refused_logged = False

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
                    self.port.sink = p
                if not up.done():
                    up.set_result(ok)
                return ok

            hello = {"trunk": 1, "token": self.spec.token, "epoch": time.time_ns()}
            peer = TrunkPeer(self.port, self.clock, on_lost, on_line, hello)
            try:
                await loop.create_connection(lambda peer=peer: peer,  # type: ignore[misc]
                                             a.host, a.port)
                ok = await up
            except OSError as exc:
                if failures == 0:
                    log.info("port %s: cannot connect trunk to %s (%s); retrying",
                             self.port.path, a, exc.strerror or exc)
                ok = False
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
            await self._hold(peer, lost)
            log.info("port %s: trunk down; reconnecting", self.port.path)
            await asyncio.sleep(BACKOFF_MIN)
