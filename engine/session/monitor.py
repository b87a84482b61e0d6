"""Watching a running session: processes that die unasked, and machines' CPU and memory.

Lifecycle: idle -> start() (a task on the session's loop) -> stop(). `up` starts it; a
controller that attached starts it when it wants the events.
"""

from __future__ import annotations

import asyncio
import contextlib

from engine.hosts.base import ProcessState
from engine.session.core import SessionCore
from engine.session.events import NodeHealth, NodeState, ProcessDied


class Monitor:
    def __init__(self, core: SessionCore, interval: float = 0.5, health_every: int = 4) -> None:
        self.core = core
        self.interval = interval
        self.health_every = health_every
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._watch())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _watch(self) -> None:
        c = self.core
        tick = 0
        while True:
            await asyncio.sleep(self.interval)
            tick += 1
            if tick % self.health_every == 0:
                self._report_health()
            for role, proc in c.registry.items():
                if role in c.stopping:
                    continue
                st = c.registry.host_of(proc).state(proc)
                if st is ProcessState.RUNNING:
                    continue
                c.stopping.add(role)
                detail = f"{st.value}"
                c.emit(ProcessDied(role, proc.pid, detail))
                nodes = ([n.name for n in c.topo.nodes if n.kind.is_fabric]
                         if role == "vswitch" else [role.split(":", 1)[1]])
                for node in nodes:
                    c.set_state(node, NodeState.CRASHED, f"{role} (pid {proc.pid}) {detail}")

    def _report_health(self) -> None:
        c = self.core
        for name in list(c.agents):
            proc = c.registry.get(c.role(name))
            if proc is None:
                continue
            usage = c.registry.host_of(proc).usage(proc)
            if usage is not None:
                c.emit(NodeHealth(name, usage.cpu_percent, usage.rss_bytes))
