"""Every process a session started, by role, persisted so a new controller can re-attach.

Stopping goes in reverse start order (machines before the links they hang on), by PID and
start time only: a process we did not start is never touched. A record is never dropped before
its process has been seen to end: one replaced while it still ran (a restart that went wrong)
moves to `older`, and `stop_all` stops those too, so `down` ends every process the session
ever recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

from engine.errors import NemuError
from engine.hosts.base import Host, ProcessHandle, ProcessState
from engine.session.directory import SessionDir, running_sessions


class ProcessRegistry:
    def __init__(self, sdir: SessionDir, hosts: Mapping[str, Host]) -> None:
        self._sdir = sdir
        self._hosts = dict(hosts)
        self._procs: dict[str, ProcessHandle] = {}
        self.older: list[tuple[str, ProcessHandle]] = []   # replaced, not yet seen to end

    def host_of(self, proc: ProcessHandle) -> Host:
        return self._hosts[proc.host]

    def _alive(self, proc: ProcessHandle) -> bool:
        return self.host_of(proc).state(proc) is ProcessState.RUNNING

    def add(self, role: str, proc: ProcessHandle) -> None:
        old = self._procs.get(role)
        if old is not None and old.pid != proc.pid and self._alive(old):
            self.older.append((role, old))
        self._procs[role] = proc
        self.save()

    def get(self, role: str) -> ProcessHandle | None:
        return self._procs.get(role)

    def roles(self) -> list[str]:
        return list(self._procs)

    def items(self) -> list[tuple[str, ProcessHandle]]:
        return list(self._procs.items())

    def state(self, role: str) -> ProcessState:
        proc = self._procs.get(role)
        if proc is None:
            return ProcessState.EXITED
        return self.host_of(proc).state(proc)

    def save(self) -> None:
        self.older = [(r, p) for r, p in self.older if self._alive(p)]
        state = self._sdir.read_state()
        state["processes"] = {role: p.to_record() for role, p in self._procs.items()}
        state["older_processes"] = [{"role": r, **p.to_record()} for r, p in self.older]
        self._sdir.write_state(state)

    def load(self) -> None:
        """Re-attach: read the records a previous controller wrote."""
        state = self._sdir.read_state()
        records = state.get("processes", {})
        self._procs = {role: ProcessHandle.from_record(rec) for role, rec in records.items()
                       if rec.get("host") in self._hosts}
        self.older = [(str(rec.get("role", "")), ProcessHandle.from_record(rec))
                      for rec in state.get("older_processes", [])
                      if rec.get("host") in self._hosts]

    async def stop(self, role: str, grace: float = 3.0) -> ProcessState:
        """Stop the process of `role`; its record goes only once it is seen to have ended."""
        proc = self._procs.get(role)
        if proc is None:
            return ProcessState.EXITED
        result = await self.host_of(proc).stop(proc, grace=grace)
        if self._procs.get(role) is proc and result is not ProcessState.RUNNING:
            del self._procs[role]
        self.save()
        return result

    async def _stop_older(self, grace: float) -> None:
        await asyncio.gather(*(self.host_of(p).stop(p, grace=grace) for _, p in self.older))
        self.save()

    async def stop_all(self, grace: float = 3.0) -> None:
        """Machines first (reverse start order), concurrently within each kind; then any
        older process still running."""
        roles = list(reversed(self._procs))
        machines = [r for r in roles if not r.startswith("vswitch")]
        fabric = [r for r in roles if r.startswith("vswitch")]
        await self._stop_older(grace)
        for group in (machines, fabric):
            await asyncio.gather(*(self.stop(r, grace) for r in group))


def session_runs(sdir: SessionDir, hosts: Mapping[str, Host]) -> bool:
    """Whether any process the session recorded still runs (by PID and start time)."""
    try:
        reg = ProcessRegistry(sdir, hosts)
        reg.load()
    except NemuError:
        return False
    return any(reg.state(role) is ProcessState.RUNNING for role in reg.roles()) or any(
        reg.host_of(p).state(p) is ProcessState.RUNNING for _, p in reg.older)


def live_sessions(hosts: Mapping[str, Host], base: Path | None = None) -> list[SessionDir]:
    """Sessions left up whose recorded processes still run (by PID and start time): what a
    controller can take over. A session marked up whose processes are gone (the machine
    rebooted) is not one."""
    return [sdir for sdir in running_sessions(base) if session_runs(sdir, hosts)]
