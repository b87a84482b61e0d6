"""The control socket: line-delimited JSON requests and replies (see docs/vswitch-protocol.md).

Each connection handles its requests in order, one at a time. A request is a JSON object
``{"id": ..., "cmd": "...", ...arguments}``; the reply echoes the id with either
``"ok": true, "result": ...`` or ``"ok": false, "error": {"field": ..., "message": ...}``. A failed
request changes nothing. Subscriptions push ``{"event": "counters", ...}`` lines on the same
connection.

Unix control sockets are protected by file permissions (mode 0600). A loopback TCP control
socket needs a token: the first request must be ``{"cmd": "auth", "token": ...}``; anything else,
or a wrong token, gets an error reply and the connection is closed.

Lifecycle of a connection: OPEN (TCP: unauthenticated until `auth`) -> requests... -> CLOSED
(subscriptions cancelled). The server: `listen_unix`/`listen_tcp` -> `close`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
import json
import logging
import os
import time
from collections.abc import Callable, Coroutine
from typing import Any, cast

from vswitch.addresses import Address
from vswitch.errors import RequestError
from vswitch.runtime import VSwitch

log = logging.getLogger("vswitch")

PROTOCOL_VERSION = 1
MAX_LINE = 1 << 20
MAX_SUBSCRIBE_HZ = 100.0
EVENT_BUFFER_LIMIT = 1 << 20
BAD_REQUEST_LOG_EVERY = 60.0   # seconds between two log lines about one kind of bad request

# command -> accepted argument names
COMMANDS: dict[str, tuple[str, ...]] = {
    "auth": ("token",),
    "hello": (),
    "list": (),
    "add_device": ("name", "type", "options"),
    "remove_device": ("name",),
    "add_port": ("device", "port", "transport", "params", "vlan"),
    "remove_port": ("device", "port"),
    "set_params": ("device", "port", "direction", "params"),
    "set_vlan": ("device", "port", "vlan"),
    "counters": ("device", "port"),
    "subscribe": ("hz", "device"),
    "unsubscribe": ("subscription",),
    "capture_start": ("device", "port", "file"),
    "capture_stop": ("device", "port"),
    "mac_table": ("device",),
    "shutdown": (),
}


class ControlServer:
    def __init__(self, vs: VSwitch, token: str | None = None,
                 on_shutdown: Callable[[], Coroutine[Any, Any, None]] | None = None) -> None:
        self.vs = vs
        self.token = token
        self.on_shutdown = on_shutdown
        self.servers: list[asyncio.AbstractServer] = []
        self.conns: set[ControlConnection] = set()
        self.unix_paths: list[str] = []
        self._sub_ids = itertools.count(1)
        self._bad_logged: dict[str, tuple[float, int]] = {}   # kind -> (last logged, since)

    def log_bad_request(self, kind: str, msg: str, *args: Any) -> None:
        """Log a bad request of `kind` at most once per BAD_REQUEST_LOG_EVERY seconds (over
        every connection): a client looping on bad lines must not flood the log. The next line
        logged says how many were left out."""
        now = time.monotonic()
        last, skipped = self._bad_logged.get(kind, (float("-inf"), 0))
        if now - last < BAD_REQUEST_LOG_EVERY:
            self._bad_logged[kind] = (last, skipped + 1)
            return
        self._bad_logged[kind] = (now, 0)
        if skipped:
            msg += f" ({skipped} more of these not logged)"
        log.warning(msg, *args)

    async def listen_unix(self, path: str) -> Address:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        old = os.umask(0o177)
        try:
            srv = await loop.create_unix_server(lambda: ControlConnection(self, False), path)
        finally:
            os.umask(old)
        self.servers.append(srv)
        self.unix_paths.append(path)
        return Address("unix", path=path)

    async def listen_tcp(self, host: str, port: int) -> Address:
        if not self.token:
            raise RequestError("token", "a TCP control socket needs a token")
        loop = asyncio.get_running_loop()
        srv = await loop.create_server(lambda: ControlConnection(self, True), host, port,
                                       reuse_address=True)
        self.servers.append(srv)
        return Address("tcp", host, srv.sockets[0].getsockname()[1])

    async def close(self) -> None:
        for s in self.servers:
            s.close()
        for c in list(self.conns):
            c.close()
        for p in self.unix_paths:
            with contextlib.suppress(OSError):
                os.unlink(p)

    def next_sub_id(self) -> int:
        return next(self._sub_ids)


class ControlConnection(asyncio.Protocol):
    def __init__(self, server: ControlServer, needs_auth: bool) -> None:
        self.server = server
        self.vs = server.vs
        self.authed = not needs_auth
        self.buf = b""
        self.discarding = False
        self.tr: asyncio.Transport | None = None
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.worker: asyncio.Task[None] | None = None
        self.shutdown_task: asyncio.Task[None] | None = None
        self.subs: dict[int, asyncio.Task[None]] = {}
        self.peer = "?"

    # -- transport side -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.tr = cast(asyncio.Transport, transport)
        self.peer = str(transport.get_extra_info("peername") or "unix")
        self.server.conns.add(self)
        self.worker = asyncio.get_running_loop().create_task(self._work())

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            line, sep, rest = self.buf.partition(b"\n")
            if not sep:
                if len(self.buf) > MAX_LINE:
                    if not self.discarding:
                        self.discarding = True
                        self.send({"id": None, "ok": False, "error": {
                            "field": "", "message": f"request line longer than {MAX_LINE} "
                                                    "bytes; ignored"}})
                        log.warning("control %s: oversized request line ignored", self.peer)
                    self.buf = b""
                return
            self.buf = rest
            if self.discarding:
                self.discarding = False
                continue
            if line.strip():
                self.queue.put_nowait(line)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.conns.discard(self)
        if self.worker is not None:
            self.worker.cancel()
        for t in self.subs.values():
            t.cancel()
        self.subs.clear()

    def send(self, msg: dict[str, Any]) -> None:
        if self.tr is not None and not self.tr.is_closing():
            self.tr.write(json.dumps(msg, separators=(",", ":")).encode() + b"\n")

    def close(self) -> None:
        if self.tr is not None:
            self.tr.close()

    # -- requests -----------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            line = await self.queue.get()
            reply, close = await self.handle_line(line)
            self.send(reply)
            if close:
                self.close()
                return

    async def handle_line(self, line: bytes) -> tuple[dict[str, Any], bool]:
        rid: Any = None
        try:
            try:
                req = json.loads(line)
            except ValueError as exc:
                self.server.log_bad_request("json", "control %s: request is not JSON (%s); "
                                            "answered with an error", self.peer, exc)
                raise RequestError("", f"not valid JSON: {exc}") from None
            if not isinstance(req, dict):
                self.server.log_bad_request("json", "control %s: request is not a JSON object; "
                                            "answered with an error", self.peer)
                raise RequestError("", "a request must be a JSON object")
            rid = req.get("id")
            cmd = req.get("cmd")
            if not self.authed:
                if cmd != "auth":
                    raise _Fatal("cmd", "authenticate first: {\"cmd\": \"auth\", \"token\": ...}")
                tok = req.get("token")
                want = self.server.token or ""
                if not isinstance(tok, str) or not want or not hmac.compare_digest(
                        tok.encode(), want.encode()):
                    log.warning("control %s: wrong token; connection closed", self.peer)
                    raise _Fatal("token", "wrong token")
                self.authed = True
                return {"id": rid, "ok": True, "result": {}}, False
            if not isinstance(cmd, str) or cmd not in COMMANDS:
                self.server.log_bad_request("cmd", "control %s: unknown command %.80r; "
                                            "answered with an error", self.peer, cmd)
                raise RequestError("cmd", f"unknown command {cmd!r}; known: "
                                   + ", ".join(COMMANDS))
            allowed = COMMANDS[cmd]
            extra = sorted(k for k in req if k not in ("id", "cmd") and k not in allowed)
            if extra:
                raise RequestError(extra[0], f"unknown argument of {cmd}")
            args = {k: req.get(k) for k in allowed}
            result = await self.dispatch(cmd, args)
            return {"id": rid, "ok": True, "result": result}, False
        except _Fatal as exc:
            return {"id": rid, "ok": False,
                    "error": {"field": exc.field, "message": exc.message}}, True
        except RequestError as exc:
            return {"id": rid, "ok": False,
                    "error": {"field": exc.field, "message": exc.message}}, False
        except Exception as exc:   # never let a request kill the vswitch
            log.exception("control %s: internal error", self.peer)
            return {"id": rid, "ok": False,
                    "error": {"field": "", "message": f"internal error: {exc!r}"}}, False

    async def dispatch(self, cmd: str, a: dict[str, Any]) -> Any:
        vs = self.vs
        if cmd == "auth":
            return {}
        if cmd == "hello":
            return {"protocol": PROTOCOL_VERSION, "pid": os.getpid(),
                    "commands": list(COMMANDS)}
        if cmd == "list":
            return vs.list()
        if cmd == "add_device":
            return vs.add_device(a["name"], a["type"], a["options"])
        if cmd == "remove_device":
            await vs.remove_device(a["name"])
            return {}
        if cmd == "add_port":
            return await vs.add_port(a["device"], a["port"], a["transport"], a["params"],
                                     a["vlan"])
        if cmd == "remove_port":
            await vs.remove_port(a["device"], a["port"])
            return {}
        if cmd == "set_params":
            return vs.set_params(a["device"], a["port"], a["direction"], a["params"])
        if cmd == "set_vlan":
            return vs.set_vlan(a["device"], a["port"], a["vlan"])
        if cmd == "counters":
            return vs.counters(a["device"], a["port"])
        if cmd == "subscribe":
            return self.subscribe(a["hz"], a["device"])
        if cmd == "unsubscribe":
            sid = a["subscription"]
            task = self.subs.pop(sid, None) if isinstance(sid, int) else None
            if task is None:
                raise RequestError("subscription", f"no subscription {sid!r} here")
            task.cancel()
            return {}
        if cmd == "capture_start":
            return vs.start_capture(a["device"], a["port"], a["file"])
        if cmd == "capture_stop":
            return vs.stop_capture(a["device"], a["port"])
        if cmd == "mac_table":
            return vs.mac_table(a["device"])
        if cmd == "shutdown":
            if self.server.on_shutdown is not None:
                self.shutdown_task = asyncio.get_running_loop().create_task(
                    self.server.on_shutdown())          # held: the loop keeps tasks weakly
            return {}
        raise RequestError("cmd", f"unknown command {cmd!r}")   # pragma: no cover

    def subscribe(self, hz: Any, device: Any) -> dict[str, Any]:
        if isinstance(hz, bool) or not isinstance(hz, int | float) or not (
                0 < hz <= MAX_SUBSCRIBE_HZ):
            raise RequestError("hz", f"must be a number in (0, {MAX_SUBSCRIBE_HZ:g}]")
        if device is not None:
            self.vs.device(device)
        sid = self.server.next_sub_id()
        self.subs[sid] = asyncio.get_running_loop().create_task(
            self._push(sid, 1.0 / hz, device))
        return {"subscription": sid}

    async def _push(self, sid: int, period: float, device: Any) -> None:
        loop = asyncio.get_running_loop()
        nxt = loop.time()
        while True:
            nxt += period
            await asyncio.sleep(max(0.0, nxt - loop.time()))
            if device is not None and device not in self.vs.devices:
                continue
            if self.tr is None or self.tr.get_write_buffer_size() > EVENT_BUFFER_LIMIT:
                continue   # a slow reader skips samples rather than growing memory
            data = self.vs.counters(device)
            self.send({"event": "counters", "subscription": sid, **data})


class _Fatal(RequestError):
    """An error after which the connection is closed (authentication)."""
