"""Datagram transport: ``-netdev dgram`` / ``socket,udp=`` peers, one frame per datagram.

UDP or unix datagram sockets. Without a configured remote, replies go to whoever sent the last
datagram. Lifecycle and error handling as every transport (vswitch/transports.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from typing import Any, cast

from vswitch.errors import TransportError
from vswitch.framing import MAX_FRAME, MIN_FRAME
from vswitch.port import Port
from vswitch.transports import WRITE_HIGH, Transport, TransportSpec, log, prepare_unix_path


class _DgramProto(asyncio.DatagramProtocol):
    def __init__(self, owner: Dgram) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.owner.received(data, addr)

    def error_received(self, exc: Exception) -> None:
        self.owner.error(exc)


class Dgram(Transport):
    """One frame per datagram. Always a sink: sending with no known peer counts as ``down``."""

    def __init__(self, port: Port, spec: TransportSpec, clock: Callable[[], float]) -> None:
        super().__init__(port, spec, clock)
        self.tr: asyncio.DatagramTransport | None = None
        self.peer_addr: Any = spec.remote.sockaddr if spec.remote is not None else None
        self.warned: set[str] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        a = self.spec.local
        assert a is not None
        # bound here and handed over: uvloop's create_datagram_endpoint takes no unix local_addr
        sock = socket.socket(a.family, socket.SOCK_DGRAM)
        try:
            if a.kind == "unix":
                prepare_unix_path(a.path)
            sock.setblocking(False)
            sock.bind(a.sockaddr)
            tr, _ = await loop.create_datagram_endpoint(lambda: _DgramProto(self), sock=sock)
        except OSError as exc:
            sock.close()
            raise TransportError(f"port {self.port.path}: cannot bind {a}: "
                                 f"{exc.strerror or exc}") from None
        self.tr = tr
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 21)
        self.bound = a.with_sockname(sock.getsockname())
        if self.peer_addr is not None:
            self.port.sink = self

    def _warn(self, key: str, msg: str, *args: Any) -> None:
        if key not in self.warned:
            self.warned.add(key)
            log.warning("port %s: " + msg, self.port.path, *args)

    def received(self, data: bytes, addr: Any) -> None:
        n = len(data)
        if n < MIN_FRAME or n > MAX_FRAME:
            self.port.cin.drop_invalid += 1
            self._warn("short", "datagram of %d bytes is no Ethernet frame (dropped, counted)", n)
            return
        if self.spec.remote is None and addr:
            self.peer_addr = addr
            self.port.sink = self
        self.port.receive([data], self.clock())

    def error(self, exc: Exception) -> None:
        self._warn("error:" + type(exc).__name__, "socket error %s (further ones not logged)",
                   exc)

    def write_frames(self, frames: list[bytes]) -> bool:
        tr = self.tr
        if tr is None or self.peer_addr is None:
            return False
        if cast(Any, tr).get_write_buffer_size() > WRITE_HIGH:
            self._warn("slow", "peer is not reading, dropping frames (counted as queue)")
            return False
        sendto = tr.sendto
        addr = self.peer_addr
        try:
            for f in frames:
                sendto(f, addr)
        except OSError as exc:
            self.error(exc)
            return False
        return True

    async def stop(self) -> None:
        self.port.sink = None
        if self.tr is not None:
            self.tr.close()
        a = self.spec.local
        if a is not None and a.kind == "unix":
            with contextlib.suppress(OSError):
                prepare_unix_path(a.path)
