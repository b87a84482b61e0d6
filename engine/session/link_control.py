"""A running session's links: live parameters, statistics, captures.

Parameters change in the session's model first (checked there) and then, while running, in the
vswitch: only the fields that changed, in the one unit both use. Rates come from the vswitch's
cumulative counters, turned into rates by `LinkStatsReader`.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

from engine.errors import NemuError, SessionError
from engine.fabric import NO_FIFO_READER
from engine.hosts.base import ProcessHandle, ProcessState
from engine.model import End
from engine.session.core import SessionCore
from engine.session.events import LinkParamsApplied, StatsUpdate
from engine.session.linkstats import LinkStatsReader


class LinkControl:
    def __init__(self, core: SessionCore) -> None:
        self.core = core
        self.stats_reader = LinkStatsReader(core.topo)

    async def set_link(self, name: str, which: End | Literal["both"] = "both",
                       **changes: Any) -> None:
        """Change link parameters in the model and, while running, in the vswitch."""
        c = self.core
        before = c.topo.link(name)
        after = c.topo.set_link_params(name, which, **changes)
        applied: dict[str, dict[str, Any]] = {}
        if c.running:
            for e in ("a", "b"):
                diff = after.end(e).params.changes_from(before.end(e).params)
                if diff:
                    tap = c.wiring.taps[(name, e)]
                    now = await c.fabric.set_direction(tap, diff)   # same units both sides
                    applied[e] = {k: now[k] for k in diff}          # what changed, confirmed
        c.save_topology()
        c.emit(LinkParamsApplied(name, applied))

    async def sample_stats(self) -> StatsUpdate:
        counters = await self.core.fabric.counters()
        return StatsUpdate(tuple(self.stats_reader.update(counters, self.core.wiring)))

    async def stats(self, hz: float = 2.0) -> AsyncIterator[StatsUpdate]:
        """Link rates at `hz`, also delivered to subscribers."""
        period = 1.0 / hz
        while True:
            t0 = time.monotonic()
            update = await self.sample_stats()
            self.core.emit(update)
            yield update
            await asyncio.sleep(max(0.0, period - (time.monotonic() - t0)))

    async def capture(self, link: str, end: End, file: Path, start: bool = True) -> None:
        self.core.topo.link(link)
        await self.core.fabric.capture(self.core.wiring.taps[(link, end)], file, start)

    async def capture_to_reader(self, link: str, end: End, fifo: Path, reader: ProcessHandle,
                                timeout: float = 30.0) -> None:
        """Capture into `fifo` once `reader` (Wireshark, still starting) has opened it: the
        vswitch writes a FIFO without blocking, so it refuses one that nobody reads yet."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                await self.capture(link, end, fifo, True)
                return
            except NemuError as e:
                if NO_FIFO_READER not in str(e):
                    raise
                if self.core.host.state(reader) is not ProcessState.RUNNING:
                    raise SessionError(f"{link}: the capture reader (pid {reader.pid}) exited "
                                       "before opening the FIFO; see its log") from None
                if loop.time() > deadline:
                    raise SessionError(f"{link}: the capture reader did not open {fifo} "
                                       f"within {timeout:.0f} s") from None
            await asyncio.sleep(0.2)

    async def capture_live(self, link: str, end: End, program: str) -> Path:
        """Open `program` (Wireshark: `-k -i FIFO`) on a FIFO in the session folder and
        capture the frames `end` sends into it once the program reads; the FIFO's path."""
        c = self.core
        fifo = c.dir.root / f"capture-{link}-{end}.fifo"
        if not fifo.exists():
            os.mkfifo(fifo, 0o600)
        reader = await c.host.start([program, "-k", "-i", str(fifo)],
                                    label=f"wireshark-{link}",
                                    log_path=c.dir.logs / f"wireshark-{link}.log")
        await self.capture_to_reader(link, end, fifo, reader)
        return fifo
