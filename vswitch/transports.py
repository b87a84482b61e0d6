"""Transports: thin asyncio adapters between sockets and a `Port`.

They only move bytes: a read becomes one batch of frames for ``port.receive``; a batch from
``port.flush`` becomes one write. Every connection problem is logged once, with the port's path,
and never propagates: the port simply has no sink (its outgoing frames count as ``down``) until
a peer is back.

Lifecycle of every transport: NEW --start()--> RUNNING (a peer connects and goes, any number of
times) --stop()--> STOPPED. `start` raises TransportError when it cannot bind.

* `StreamListen`: ``-netdev stream``/``socket`` peers that connect to us (unix or TCP). One peer
  at a time: a new connection replaces the old one (a restarted QEMU is taken at once).
* `StreamConnect`: we connect to a listening peer (QEMU ``server=on``), reconnecting with
  backoff (50 ms doubling to 2 s) whenever it is absent or goes away.
* `Dgram` (vswitch/dgram.py): ``-netdev dgram`` / ``socket,udp=``: one frame per datagram,
  UDP or unix datagram. Without a configured remote, replies go to whoever sent the last one.
* trunks between two vswitches: vswitch/trunk.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from vswitch.addresses import Address, parse_address
from vswitch.errors import RequestError, TransportError
from vswitch.framing import MIN_FRAME, FramingError, StreamDecoder, encode
from vswitch.port import Port

log = logging.getLogger("vswitch")

WRITE_HIGH = 1 << 20      # bytes buffered for a peer before it counts as not reading
WRITE_LOW = 1 << 18
BACKOFF_MIN = 0.05
BACKOFF_MAX = 2.0
TRANSPORT_TYPES = ("stream", "dgram", "trunk")


@dataclass(frozen=True, slots=True)
class TransportSpec:
    type: str
    mode: str = ""                    # stream/trunk: "listen" or "connect"
    address: Address | None = None    # stream/trunk
    local: Address | None = None      # dgram
    remote: Address | None = None     # dgram (None: answer the last sender)
    token: str = ""                   # trunk

    @classmethod
    def from_json(cls, v: Any, field: str = "transport") -> TransportSpec:
        if not isinstance(v, dict):
            raise RequestError(field, "must be an object with a type")
        t = v.get("type")
        if t not in TRANSPORT_TYPES:
            raise RequestError(field + ".type", f"must be one of {', '.join(TRANSPORT_TYPES)}")
        allowed = {"stream": {"type", "mode", "address"}, "trunk": {"type", "mode", "address",
                                                                    "token"},
                   "dgram": {"type", "local", "remote"}}[t]
        extra = sorted(set(v) - allowed)
        if extra:
            raise RequestError(f"{field}.{extra[0]}", f"unknown field for a {t} transport")
        if t == "dgram":
            local = parse_address(v.get("local"), field + ".local", ("udp", "unix"))
            remote = v.get("remote")
            rem = parse_address(remote, field + ".remote", ("udp", "unix")) if remote else None
            if rem is not None and rem.kind != local.kind:
                raise RequestError(field + ".remote", "must be of the same type as local")
            return cls("dgram", local=local, remote=rem)
        mode = v.get("mode")
        if mode not in ("listen", "connect"):
            raise RequestError(field + ".mode", "must be listen or connect")
        kinds = ("tcp",) if t == "trunk" else ("unix", "tcp")
        addr = parse_address(v.get("address"), field + ".address", kinds)
        token = v.get("token", "")
        if t == "trunk" and (not isinstance(token, str) or not token):
            raise RequestError(field + ".token", "a trunk needs a non-empty token string")
        return cls(t, mode, addr, token=token if t == "trunk" else "")


class Transport:
    def __init__(self, port: Port, spec: TransportSpec, clock: Callable[[], float]) -> None:
        self.port = port
        self.spec = spec
        self.clock = clock
        self.bound: Address | None = None

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    @property
    def connected(self) -> bool:
        return self.port.sink is not None

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.spec.type, "connected": self.connected}
        if self.spec.mode:
            d["mode"] = self.spec.mode
        if self.bound is not None:
            d["address"] = str(self.bound)
        if self.spec.local is not None:
            d["local"] = str(self.bound or self.spec.local)
        if self.spec.remote is not None:
            d["remote"] = str(self.spec.remote)
        return d


class StreamPeer(asyncio.Protocol):
    """One connection carrying length-prefixed frames; becomes the port's sink once `ready`."""

    def __init__(self, port: Port, clock: Callable[[], float],
                 on_lost: Callable[[StreamPeer], None]) -> None:
        self.port = port
        self.clock = clock
        self.on_lost = on_lost
        self.decoder = StreamDecoder()
        self.tr: asyncio.Transport | None = None
        self.paused = False
        self.dropping = False
        self.warned_short = False
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a cast, not an isinstance check: uvloop's transports do not derive from asyncio's
        self.tr = cast(asyncio.Transport, transport)
        self.tr.set_write_buffer_limits(WRITE_HIGH, WRITE_LOW)
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        frames: list[bytes] = []
        port = self.port
        try:
            bad = self.decoder.feed(data, frames)
        except FramingError as exc:
            if frames:
                port.receive(frames, self.clock())
            port.cin.drop_invalid += 1
            log.warning("port %s: %s from peer: not QEMU stream framing, closing the connection",
                        port.path, exc)
            self.close()
            return
        if bad:
            port.cin.drop_invalid += bad
            if not self.warned_short:
                self.warned_short = True
                log.warning("port %s: frame shorter than %d bytes dropped (further ones counted "
                            "as invalid)", port.path, MIN_FRAME)
        if frames:
            port.receive(frames, self.clock())

    def connection_lost(self, exc: Exception | None) -> None:
        if self.decoder.pending:
            self.port.cin.drop_invalid += 1
            log.warning("port %s: connection closed in the middle of a frame (%d bytes dropped)",
                        self.port.path, self.decoder.pending)
        self.closed = True
        self.on_lost(self)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False

    def write_frames(self, frames: list[bytes]) -> bool:
        if self.paused or self.tr is None:
            if not self.dropping:
                self.dropping = True
                log.warning("port %s: peer is not reading, dropping frames (counted as queue)",
                            self.port.path)
            return False
        if self.dropping:
            self.dropping = False
            log.info("port %s: peer reads again", self.port.path)
        self.tr.write(encode(frames))
        return True

    def close(self) -> None:
        self.closed = True
        if self.tr is not None:
            self.tr.abort()


def prepare_unix_path(path: str) -> None:
    """Remove a stale socket file left by a previous run (never any other kind of file)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise TransportError(f"{path} exists and is not a socket")
    os.unlink(path)


class StreamListen(Transport):
    def __init__(self, port: Port, spec: TransportSpec, clock: Callable[[], float]) -> None:
        super().__init__(port, spec, clock)
        self.server: asyncio.AbstractServer | None = None
        self.peer: StreamPeer | None = None

    def _factory(self) -> StreamPeer:
        return StreamPeer(self.port, self.clock, self._lost)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        a = self.spec.address
        assert a is not None
        try:
            if a.kind == "unix":
                prepare_unix_path(a.path)
                self.server = await loop.create_unix_server(self._accepted, a.path)
                self.bound = a
            else:
                self.server = await loop.create_server(self._accepted, a.host, a.port,
                                                       reuse_address=True)
                self.bound = a.with_sockname(self.server.sockets[0].getsockname())
        except OSError as exc:
            raise TransportError(f"port {self.port.path}: cannot listen on {a}: "
                                 f"{exc.strerror or exc}") from None

    def _accepted(self) -> StreamPeer:
        peer = self._factory()
        old, self.peer = self.peer, peer
        if old is not None and not old.closed:
            log.info("port %s: new peer connection replaces the previous one", self.port.path)
            old.close()
        self.port.sink = peer
        return peer

    def _lost(self, peer: StreamPeer) -> None:
        if peer is self.peer:
            self.peer = None
            self.port.sink = None
            log.info("port %s: peer disconnected", self.port.path)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        if self.peer is not None:
            self.peer.close()
            self.peer = None
        self.port.sink = None
        a = self.spec.address
        if a is not None and a.kind == "unix":
            with contextlib.suppress(OSError):
                prepare_unix_path(a.path)


class Reconnecting(Transport):
    """A transport that connects out and, whenever the peer goes, connects again (with backoff).

    Lifecycle: start() runs `_run` as a task -> (connected: `_hold` until the peer is lost ->
    retrying) ... -> stop() cancels the task and closes the peer.
    """

    def __init__(self, port: Port, spec: TransportSpec, clock: Callable[[], float]) -> None:
        super().__init__(port, spec, clock)
        self.task: asyncio.Task[None] | None = None
        self.peer: StreamPeer | None = None
        self.bound = spec.address

    async def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        raise NotImplementedError

    async def _hold(self, peer: StreamPeer, lost: asyncio.Future[None]) -> None:
        """Serve a connected peer until it is lost, then detach it from the port."""
        self.peer = peer
        try:
            await lost
        finally:
            if self.port.sink is peer:
                self.port.sink = None
            self.peer = None

    async def stop(self) -> None:
        peer = self.peer      # taken first: the cancelled `_hold` forgets it
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        if peer is not None:
            peer.close()
        self.port.sink = None


class StreamConnect(Reconnecting):

    async def _connect(self, factory: Callable[[], StreamPeer]) -> None:
        loop = asyncio.get_running_loop()
        a = self.spec.address
        assert a is not None
        if a.kind == "unix":
            await loop.create_unix_connection(factory, a.path)
        else:
            await loop.create_connection(factory, a.host, a.port)

    async def _run(self) -> None:
        backoff = BACKOFF_MIN
        failures = 0
        while True:
            lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

            def on_lost(peer: StreamPeer, lost: asyncio.Future[None] = lost) -> None:
                if not lost.done():
                    lost.set_result(None)

            peer = StreamPeer(self.port, self.clock, on_lost)
            try:
                await self._connect(lambda peer=peer: peer)  # type: ignore[misc]
            except OSError as exc:
                if failures == 0:
                    log.info("port %s: cannot connect to %s (%s); retrying", self.port.path,
                             self.spec.address, exc.strerror or exc)
                failures += 1
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            if failures:
                log.info("port %s: connected to %s", self.port.path, self.spec.address)
            failures = 0
            backoff = BACKOFF_MIN
            self.port.sink = peer
            await self._hold(peer, lost)
            log.info("port %s: peer disconnected; reconnecting", self.port.path)
            await asyncio.sleep(BACKOFF_MIN)


def make_transport(port: Port, spec: TransportSpec, clock: Callable[[], float]) -> Transport:
    if spec.type == "dgram":
        from vswitch.dgram import Dgram
        return Dgram(port, spec, clock)
    if spec.type == "trunk":
        from vswitch.trunk import TrunkConnect, TrunkListen
        return (TrunkListen if spec.mode == "listen" else TrunkConnect)(port, spec, clock)
    return (StreamListen if spec.mode == "listen" else StreamConnect)(port, spec, clock)
