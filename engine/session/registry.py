"""Every process a session started, by role, persisted so a new controller can re-attach.

Stopping goes in reverse start order (machines before the links they hang on), by PID and
start time only: a process we did not start is never touched.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

from engine.hosts.base import Host, ProcessHandle, ProcessState
from engine.session.directory import SessionDir, running_sessions


class ProcessRegistry:
    def __init__(self, sdir: SessionDir, hosts: Mapping[str, Host]) -> None:
        self._sdir = sdir
        self._hosts = dict(hosts)
        self._procs: dict[str, ProcessHandle] = {}

    def host_of(self, proc: ProcessHandle) -> Host:
        return self._hosts[proc.host]

    def add(self, role: str, proc: ProcessHandle) -> None:
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
        state = self._sdir.read_state()
        state["processes"] = {role: p.to_record() for role, p in self._procs.items()}
        self._sdir.write_state(state)

    def load(self) -> None:
        """Re-attach: read the records a previous controller wrote."""
        records = self._sdir.read_state().get("processes", {})
        self._procs = {role: ProcessHandle.from_record(rec) for role, rec in records.items()
                       if rec.get("host") in self._hosts}

    async def stop(self, role: str, grace: float = 3.0) -> ProcessState:
        proc = self._procs.pop(role, None)
        if proc is None:
            return ProcessState.EXITED
        try:
            return await self.host_of(proc).stop(proc, grace=grace)
        finally:
            self.save()

    async def stop_all(self, grace: float = 3.0) -> None:
        """Machines first (reverse start order), concurrently within each kind."""
        roles = list(reversed(self._procs))
        machines = [r for r in roles if not r.startswith("vswitch")]
        fabric = [r for r in roles if r.startswith("vswitch")]
        for group in (machines, fabric):
            await asyncio.gather(*(self.stop(r, grace) for r in group))


def live_sessions(hosts: Mapping[str, Host], base: Path | None = None) -> list[SessionDir]:
    """Sessions left up whose recorded processes still run (by PID and start time): what a
    controller can take over. A session marked up whose processes are gone (the machine
    rebooted) is not one."""
    found = []
    for sdir in running_sessions(base):
        reg = ProcessRegistry(sdir, hosts)
        reg.load()
        if any(reg.state(role) is ProcessState.RUNNING for role in reg.roles()):
            found.append(sdir)
    return found
