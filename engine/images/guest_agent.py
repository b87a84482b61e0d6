"""An asyncio client for qemu-guest-agent (QGA) on a node's virtio-serial port.

QEMU exposes the port as a unix socket (`-chardev socket,path=...,server=on,wait=off`); the guest
runs `qemu-ga`. The protocol is JSON commands, one reply per command. Because the guest may have
been talking to someone else (or not be up yet), `connect()` resynchronises with
`guest-sync-delimited`: it sends 0xFF (resets the agent's parser) and a random id, and skips
everything up to the 0xFF that precedes the reply carrying that id. QEMU accepts one client per
socket, so keep one `GuestAgent` per node; calls on it are serialised. A controller that lives
long (a designer window) must not keep the socket to itself, or `nemu exec` beside it waits in
vain: `release_when_idle()` closes the connection once nothing used it for a moment, and
`in_use()` opens it again when needed.

Lifecycle: constructed (nothing happens) -> connect() (retries until the agent answers or the
deadline passes) -> calls -> close().
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import random
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import NemuError


class GuestAgentError(NemuError):
    """The guest agent is unreachable, timed out, or answered with an error."""


@dataclass(frozen=True)
class ExecResult:
    exitcode: int
    stdout: bytes
    stderr: bytes
    signal: int | None = None

    @property
    def ok(self) -> bool:
        return self.exitcode == 0 and self.signal is None

    @property
    def text(self) -> str:
        return self.stdout.decode(errors="replace")


# Seconds a connection may stay silent at boot before it is reopened. A sync timeout is
# builtin TimeoutError, an OSError: it must not count as a broken socket.
REOPEN_AFTER = 10.0


class GuestAgent:
    """One connection to one node's guest agent."""

    def __init__(self, socket_path: Path, name: str = "guest") -> None:
        self.socket_path = socket_path
        self.name = name
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()
        self._users = 0                          # in_use() blocks running now
        self._last_used = time.monotonic()
        self._release_after: float | None = None

    @property
    def connected(self) -> bool:
        return self._writer is not None

    async def connect(self, timeout: float = 60.0, attempt: float = 0.5) -> float:
        """Open the socket and resync until the agent answers; return the seconds it took."""
        start = time.monotonic()
        deadline = start + timeout
        last: Exception | None = None
        opened = start
        while time.monotonic() < deadline:
            try:
                if self._writer is None:
                    self._reader, self._writer = await asyncio.open_unix_connection(
                        str(self.socket_path))
                    opened = time.monotonic()
                await self._sync(min(attempt, max(0.05, deadline - time.monotonic())))
                self._last_used = time.monotonic()
                return time.monotonic() - start
            except (OSError, GuestAgentError, ValueError) as e:
                last = e
                if isinstance(e, OSError) and not isinstance(e, TimeoutError):
                    await self._drop()     # no socket yet, or it broke: connect again
                    await asyncio.sleep(0.05)
                elif time.monotonic() - opened > REOPEN_AFTER:
                    await self._drop()     # silent for long: a fresh connection, just in case
                # else keep the connection: QEMU holds what was sent until the guest's agent
                # opens its port, and reconnecting every attempt makes the port flap under
                # an agent that is starting (seen as a node booted with its agent never
                # answering)
        await self._drop()
        raise GuestAgentError(f"{self.name}: guest agent at {self.socket_path} did not answer "
                              f"within {timeout:.0f} s ({last})")

    async def _drop(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await self._writer.wait_closed()
        self._reader = self._writer = None

    async def close(self) -> None:
        await self._drop()

    def release_when_idle(self, after: float = 1.0) -> None:
        """From now on, close the connection when no `in_use()` block has run for `after`
        seconds (needs a running event loop), so other clients get their turn."""
        self._release_after = after
        self._schedule_release()

    @contextlib.asynccontextmanager
    async def in_use(self, connect_timeout: float = 15.0) -> AsyncIterator[GuestAgent]:
        """Hold the connection (opening it if it was released) for a few calls."""
        self._users += 1
        try:
            if not self.connected:
                await self.connect(timeout=connect_timeout)
            yield self
        finally:
            self._users -= 1
            self._last_used = time.monotonic()
            self._schedule_release()

    def _schedule_release(self) -> None:
        if self._release_after is None or self._users or not self.connected:
            return
        asyncio.get_running_loop().call_later(
            self._release_after, lambda: asyncio.ensure_future(self._release_if_idle()))

    async def _release_if_idle(self) -> None:
        after = self._release_after
        if (after is not None and not self._users and self.connected
                and time.monotonic() - self._last_used >= after * 0.9):
            async with self._lock:
                if not self._users:
                    await self._drop()

    async def _sync(self, timeout: float) -> None:
        assert self._reader is not None and self._writer is not None
        sync_id = random.randrange(1, 2**31)
        msg = {"execute": "guest-sync-delimited", "arguments": {"id": sync_id}}
        self._writer.write(b"\xff" + json.dumps(msg).encode() + b"\n")
        await self._writer.drain()

        async def wait_reply() -> None:
            assert self._reader is not None
            while True:
                await self._reader.readuntil(b"\xff")
                line = await self._reader.readline()
                if not line:
                    raise GuestAgentError(f"{self.name}: agent socket closed")
                with contextlib.suppress(ValueError):
                    if json.loads(line).get("return") == sync_id:
                        return

        try:
            await asyncio.wait_for(wait_reply(), timeout)
        except asyncio.IncompleteReadError:
            await self._drop()
            raise GuestAgentError(f"{self.name}: agent socket closed") from None

    async def call(self, command: str, arguments: dict[str, Any] | None = None,
                   timeout: float = 30.0, expect_reply: bool = True) -> Any:
        """Run one QGA command and return its `return` value."""
        async with self._lock:
            if self._reader is None or self._writer is None:
                raise GuestAgentError(f"{self.name}: guest agent not connected")
            msg: dict[str, Any] = {"execute": command}
            if arguments:
                msg["arguments"] = arguments
            self._writer.write(json.dumps(msg).encode() + b"\n")
            await self._writer.drain()
            if not expect_reply:
                return None
            try:
                line = await asyncio.wait_for(self._reader.readline(), timeout)
            except TimeoutError:
                await self._drop()
                raise GuestAgentError(f"{self.name}: `{command}` timed out after "
                                      f"{timeout:.0f} s") from None
            if not line:
                await self._drop()
                raise GuestAgentError(f"{self.name}: agent closed the connection on `{command}`")
            reply = json.loads(line.lstrip(b"\xff"))
            if "error" in reply:
                err = reply["error"]
                raise GuestAgentError(f"{self.name}: `{command}` failed: "
                                      f"{err.get('desc', err)}")
            return reply.get("return")

    async def ping(self) -> None:
        await self.call("guest-ping")

    async def info(self) -> dict[str, Any]:
        result = await self.call("guest-info")
        assert isinstance(result, dict)
        return result

    async def exec(self, argv: Sequence[str] | str, *, input: bytes | None = None,
                   timeout: float = 60.0, check: bool = False) -> ExecResult:
        """Run a program in the guest (a string runs through /bin/sh -c) and wait for it."""
        args = ["/bin/sh", "-c", argv] if isinstance(argv, str) else list(argv)
        spec: dict[str, Any] = {"path": args[0], "arg": args[1:], "capture-output": True}
        if input is not None:
            spec["input-data"] = base64.b64encode(input).decode()
        started = await self.call("guest-exec", spec)
        pid = started["pid"]
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            status = await self.call("guest-exec-status", {"pid": pid})
            if status.get("exited"):
                break
            if time.monotonic() > deadline:
                with contextlib.suppress(GuestAgentError):
                    await self.exec(["/bin/kill", "-9", str(pid)], timeout=10)
                raise GuestAgentError(f"{self.name}: `{' '.join(args)}` still running after "
                                      f"{timeout:.0f} s (killed)")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.2)
        result = ExecResult(
            exitcode=int(status.get("exitcode", -1)),
            stdout=base64.b64decode(status.get("out-data", "")),
            stderr=base64.b64decode(status.get("err-data", "")),
            signal=status.get("signal"))
        if check and not result.ok:
            tail = result.stderr.decode(errors="replace").strip()[-500:]
            raise GuestAgentError(f"{self.name}: `{' '.join(args)}` exited with status "
                                  f"{result.exitcode}: {tail}")
        return result

    async def read_file(self, path: str, chunk: int = 48 * 1024) -> bytes:
        handle = await self.call("guest-file-open", {"path": path, "mode": "r"})
        data = bytearray()
        try:
            while True:
                part = await self.call("guest-file-read", {"handle": handle, "count": chunk})
                data += base64.b64decode(part.get("buf-b64", ""))
                if part.get("eof") or not part.get("count"):
                    break
        finally:
            await self.call("guest-file-close", {"handle": handle})
        return bytes(data)

    async def write_file(self, path: str, data: bytes, chunk: int = 48 * 1024) -> None:
        handle = await self.call("guest-file-open", {"path": path, "mode": "w"})
        try:
            for off in range(0, len(data), chunk):
                piece = base64.b64encode(data[off:off + chunk]).decode()
                await self.call("guest-file-write", {"handle": handle, "buf-b64": piece})
            await self.call("guest-file-flush", {"handle": handle})
        finally:
            await self.call("guest-file-close", {"handle": handle})

    async def shutdown(self, mode: str = "powerdown") -> None:
        """Ask the guest to power off (or "reboot"/"halt"); the agent sends no reply."""
        await self.call("guest-shutdown", {"mode": mode}, expect_reply=False)
        await self._drop()
