"""What a script does with one running machine: `await session.node("h1").run("ip a")`.

Commands, files and background jobs go through the node's guest agent (qemu-guest-agent).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal, overload

from engine.errors import SessionError
from engine.images.guest_agent import ExecResult, GuestAgent, GuestAgentError
from engine.session import guest_jobs
from engine.session.guest_jobs import GuestJob

__all__ = ["AGENT_IDLE_S", "ExecResult", "GuestJob", "NodeControl"]

# A guest agent socket serves one client at a time: a controller lets go of it after this many
# idle seconds, so `nemu exec` (and another controller) can use it beside a running window.
AGENT_IDLE_S = 1.0


@dataclass
class NodeControl:
    """What a script does with one running machine: `await session.node("h1").run("ip a")`."""

    name: str
    agent: GuestAgent

    @contextlib.asynccontextmanager
    async def _ready(self) -> AsyncIterator[GuestAgent]:
        """The agent, connected for the calls in the block (re-attached, a user's disk, or
        released when idle so `nemu exec` could use it: connect on use)."""
        if not self.agent.connected:
            try:
                await self.agent.connect(timeout=15)
            except GuestAgentError as e:
                raise SessionError(
                    f"node {self.name}: no guest agent answers ({e}); nemu runs commands "
                    "through qemu-guest-agent on the virtio-serial port "
                    "org.qemu.guest_agent.0, which a user's own disk must run") from None
        async with self.agent.in_use(connect_timeout=15) as agent:
            yield agent

    async def _exec(self, command: str | list[str], timeout: float,
                    input: bytes | None = None) -> ExecResult:
        async with self._ready() as agent:
            return await agent.exec(command, timeout=timeout, input=input)

    @overload
    async def run(self, command: str | list[str], timeout: float = ...,
                  input: bytes | None = ..., detach: Literal[False] = ...) -> ExecResult: ...

    @overload
    async def run(self, command: str | list[str], timeout: float = ...,
                  input: bytes | None = ..., *, detach: Literal[True]) -> GuestJob: ...

    async def run(self, command: str | list[str], timeout: float = 60.0,
                  input: bytes | None = None, detach: bool = False) -> ExecResult | GuestJob:
        """Run a command (a string through /bin/sh -c, a list as an argv) and wait for it;
        with `detach`, leave it running as a job (see `guest_jobs`) and return at once."""
        if not detach:
            return await self._exec(command, timeout, input)
        argv, text = guest_jobs.start_argv(command)
        r = await self._exec(argv, timeout)
        if r.exitcode != 0 or not r.text.strip().isdigit():
            raise SessionError(f"{self.name}: starting {text!r} failed: "
                               f"{(r.stderr or r.stdout).decode(errors='replace').strip()}")
        return guest_jobs.GuestJob(self.name, int(r.text.strip()), text)

    async def jobs(self) -> list[GuestJob]:
        """The jobs started with `run(detach=True)` since the guest booted."""
        r = await self._exec(guest_jobs.list_argv(), 30)
        return guest_jobs.parse_list(self.name, r.text)

    async def kill_job(self, pid: int) -> None:
        """Stop a job (its whole process group: TERM, then KILL after 3 s)."""
        r = await self._exec(guest_jobs.kill_argv(pid), 30)
        if r.exitcode != 0:
            raise SessionError(f"{self.name}: {r.stderr.decode(errors='replace').strip()} "
                               "(started with `nemu exec --detach`?)")

    async def read_file(self, path: str) -> bytes:
        async with self._ready() as agent:
            return await agent.read_file(path)

    async def resize_console(self, rows: int, columns: int) -> None:
        """Tell the serial console's shell the size of the terminal showing it. A serial line
        carries no window size, so it is set out of band, through the agent (SIGWINCH follows)."""
        if not (1 <= rows <= 1000 and 1 <= columns <= 1000):
            raise SessionError(f"{self.name}: console size {rows}x{columns} is out of range")
        r = await self.run(["stty", "-F", "/dev/ttyS0", "rows", str(rows), "cols", str(columns)],
                           timeout=10)
        if r.exitcode != 0:
            raise SessionError(f"{self.name}: setting the console size failed: "
                               f"{r.stderr.decode(errors='replace').strip()}")

    async def write_file(self, path: str, data: bytes) -> None:
        async with self._ready() as agent:
            await agent.write_file(path, data)
