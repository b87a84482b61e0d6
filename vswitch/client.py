"""Python client of the control socket, for the engine and for tests.

Asynchronous (`VSwitchClient`, one connection, requests may be in flight concurrently, replies
matched by id, counter events delivered to per-subscription queues) and a small blocking
wrapper (`SyncVSwitchClient`) for scripts.

Errors from the vswitch are raised as `RequestError` with the field it named; a lost
connection as `ConnectionError`.

Example::

    c = await VSwitchClient.connect("unix:/run/nemu/vs.sock")
    await c.add_device("l1", "link")
    await c.add_port("l1", "a", {"type": "stream", "mode": "connect",
                                 "address": "unix:/run/nemu/h1-eth0.sock"})
    await c.set_params("l1", "a", "in", {"delay": 10_000_000, "bandwidth": 10_000_000})
    counters = await c.counters()
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

from vswitch.errors import RequestError

LINE_LIMIT = 1 << 24


class VSwitchClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._subs: dict[int, asyncio.Queue[dict[str, Any]]] = {}
        self._task = asyncio.get_running_loop().create_task(self._read())
        self.closed = False

    @classmethod
    async def connect(cls, address: str, token: str | None = None,
                      timeout: float = 10.0) -> VSwitchClient:
        """`address` is ``unix:/path`` or ``tcp:host:port`` (TCP needs the token)."""
        kind, _, rest = address.partition(":")
        async with asyncio.timeout(timeout):
            if kind == "unix":
                r, w = await asyncio.open_unix_connection(rest, limit=LINE_LIMIT)
            elif kind == "tcp":
                host, _, port = rest.rpartition(":")
                r, w = await asyncio.open_connection(host.strip("[]"), int(port),
                                                     limit=LINE_LIMIT)
            else:
                raise ValueError(f"address must be unix:... or tcp:...: {address!r}")
        c = cls(r, w)
        if token is not None:
            try:
                await c.call("auth", token=token)
            except BaseException:
                await c.close()    # a refused token: no connection left behind
                raise
        return c

    async def _read(self) -> None:
        try:
            while True:
                line = await self.reader.readline()
                if not line:
                    break
                msg = json.loads(line)
                if "event" in msg:
                    sid = msg.get("subscription")
                    q = self._subs.get(sid)
                    if q is not None:
                        q.put_nowait(msg)
                    continue
                fut = self._pending.pop(msg.get("id"), None)
                if fut is not None and not fut.done():
                    fut.set_result(msg)
        except (ConnectionError, ValueError):
            pass
        finally:
            self.closed = True
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("vswitch control connection closed"))
            self._pending.clear()

    async def call(self, cmd: str, **args: Any) -> Any:
        if self.closed:
            raise ConnectionError("vswitch control connection closed")
        rid = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        self.writer.write(json.dumps({"id": rid, "cmd": cmd, **args}).encode() + b"\n")
        await self.writer.drain()
        msg = await fut
        if not msg.get("ok"):
            err = msg.get("error") or {}
            raise RequestError(err.get("field", ""), err.get("message", "failed"))
        return msg.get("result")

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    # -- commands -----------------------------------------------------------------------------

    async def hello(self) -> dict[str, Any]:
        return await self.call("hello")

    async def list(self) -> dict[str, Any]:
        return await self.call("list")

    async def add_device(self, name: str, type: str,
                         options: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.call("add_device", name=name, type=type, options=options)

    async def remove_device(self, name: str) -> None:
        await self.call("remove_device", name=name)

    async def add_port(self, device: str, port: str, transport: dict[str, Any],
                       params: dict[str, Any] | None = None,
                       vlan: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.call("add_port", device=device, port=port, transport=transport,
                               params=params, vlan=vlan)

    async def remove_port(self, device: str, port: str) -> None:
        await self.call("remove_port", device=device, port=port)

    async def set_params(self, device: str, port: str, direction: str,
                         params: dict[str, Any]) -> dict[str, Any]:
        return await self.call("set_params", device=device, port=port, direction=direction,
                               params=params)

    async def set_vlan(self, device: str, port: str,
                       vlan: dict[str, Any] | None) -> dict[str, Any]:
        return await self.call("set_vlan", device=device, port=port, vlan=vlan)

    async def counters(self, device: str | None = None,
                       port: str | None = None) -> dict[str, Any]:
        return await self.call("counters", device=device, port=port)

    async def capture_start(self, device: str, port: str, file: str) -> dict[str, Any]:
        return await self.call("capture_start", device=device, port=port, file=file)

    async def capture_stop(self, device: str, port: str) -> dict[str, Any]:
        return await self.call("capture_stop", device=device, port=port)

    async def mac_table(self, device: str) -> dict[str, Any]:
        return await self.call("mac_table", device=device)

    async def shutdown(self) -> None:
        await self.call("shutdown")

    async def subscribe(self, hz: float, device: str | None = None) -> Subscription:
        """Counters pushed `hz` times a second; iterate the returned subscription."""
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=0)
        res = await self.call("subscribe", hz=hz, device=device)
        sid = res["subscription"]
        self._subs[sid] = q
        return Subscription(self, sid, q)


class Subscription:
    def __init__(self, client: VSwitchClient, sid: int,
                 queue: asyncio.Queue[dict[str, Any]]) -> None:
        self.client = client
        self.id = sid
        self.queue = queue

    async def get(self) -> dict[str, Any]:
        return await self.queue.get()

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            yield await self.queue.get()

    async def cancel(self) -> None:
        self.client._subs.pop(self.id, None)
        await self.client.call("unsubscribe", subscription=self.id)


class SyncVSwitchClient:
    """Blocking client for scripts: one request at a time; counter events are not supported."""

    def __init__(self, address: str, token: str | None = None, timeout: float = 10.0) -> None:
        kind, _, rest = address.partition(":")
        if kind == "unix":
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(rest)
        else:
            host, _, port = rest.rpartition(":")
            self.sock = socket.create_connection((host.strip("[]"), int(port)), timeout)
        self.file = self.sock.makefile("rb")
        self._ids = itertools.count(1)
        if token is not None:
            self.call("auth", token=token)

    def call(self, cmd: str, **args: Any) -> Any:
        rid = next(self._ids)
        self.sock.sendall(json.dumps({"id": rid, "cmd": cmd, **args}).encode() + b"\n")
        while True:
            line = self.file.readline()
            if not line:
                raise ConnectionError("vswitch control connection closed")
            msg = json.loads(line)
            if msg.get("id") == rid and "event" not in msg:
                break
        if not msg.get("ok"):
            err = msg.get("error") or {}
            raise RequestError(err.get("field", ""), err.get("message", "failed"))
        return msg.get("result")

    def close(self) -> None:
        self.file.close()
        self.sock.close()

    def __enter__(self) -> SyncVSwitchClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
