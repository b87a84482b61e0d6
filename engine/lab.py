"""A running lab as a front end drives it: the engine's one façade for the designer, a shell
or a timeline.

Lifecycle: `Lab.create(topo)` (a new session, controlled by this process) -> `up()`; or
`Lab.attach(name)` (a session started elsewhere, taken over only when its controller is gone or
`take_over` says so) -> edits (`apply`), statistics (`start_stats`), a watch on who controls
it (`watch_control`) -> `leave(stop=...)` (down, or let go and leave it running). Every call
runs on the session's event loop; what happens comes back as session events (progress, node
states, statistics, `EditFailed`, `InterfaceKept`, `ControlLost`), which the front end
subscribes to.
"""

from __future__ import annotations

import asyncio
import contextlib

from engine.hosts import LocalHost
from engine.live_edits import LiveEdits, Sleep, freeze
from engine.model import Topology, TopologyEvent
from engine.session import control
from engine.session.control import Controller, LabHeld
from engine.session.directory import SessionDir, find_session
from engine.session.events import ControlLost
from engine.session.session import Session

__all__ = ["ControlLost", "Controller", "Lab", "LabHeld", "freeze", "holder_of"]


def holder_of(sdir: SessionDir) -> Controller | None:
    """The live controller of a lab on this machine (a window, a script), if any."""
    return control.holder(sdir, LocalHost())


class Lab:
    def __init__(self, session: Session, controller: Controller | None = None,
                 debounce: float = 0.1, sleep: Sleep = asyncio.sleep) -> None:
        self.session = session
        self.controller = controller
        self.edits = LiveEdits(session, debounce, sleep)
        self.taken_from: Controller | None = None   # attach: whom control was taken from
        self._tasks: list[asyncio.Task[None]] = []

    # ---- getting one -------------------------------------------------------------------
    @classmethod
    def create(cls, topo: Topology, name: str | None = None, program: str = "nemu",
               debounce: float = 0.1) -> Lab:
        """A new session of `topo`, controlled by this process (nothing started yet)."""
        s = Session.create(topo, name)
        me = Controller.this_process(program)
        control.claim(s.dir, s.host, me)           # a new session: nobody else holds it
        return cls(s, me, debounce)

    async def up(self) -> None:
        """Start the lab (whatever of it is not running); a failure lets go of it."""
        try:
            await self.session.up()
        except BaseException:
            self._release()
            raise

    @classmethod
    async def attach(cls, name: str, program: str = "nemu", take_over: bool = False,
                     debounce: float = 0.1) -> Lab:
        """Take control of a running session; `LabHeld` names the live controller that holds
        it, unless `take_over`. The session reports crashes and health from now on."""
        sdir = find_session(name)
        me = Controller.this_process(program)
        taken_from = control.claim(sdir, LocalHost(), me, take_over)
        try:
            s = await Session.attach(str(sdir.root))
        except BaseException:
            control.release(sdir, me)
            raise
        s.watch()
        lab = cls(s, me, debounce)
        lab.taken_from = taken_from
        return lab

    # ---- using it ----------------------------------------------------------------------
    def apply(self, event: TopologyEvent) -> None:
        """A (frozen) change of the front end's model, replayed in order (`LiveEdits`)."""
        self.edits.apply(event)

    async def settle(self) -> None:
        await self.edits.settle()

    @property
    def sent_link_updates(self) -> int:
        return self.edits.sent_link_updates

    def start_stats(self, hz: float = 2.0) -> None:
        """Link statistics as `StatsUpdate` events at `hz` (a missed sample is skipped)."""
        self._tasks.append(asyncio.ensure_future(self._stats(hz)))

    def watch_control(self, every: float = 1.0) -> None:
        """Say (`ControlLost`) when another controller takes the lab over from this one."""
        if self.controller is not None:
            self._tasks.append(asyncio.ensure_future(self._watch_control(every)))

    async def leave(self, stop: bool) -> None:
        """Stop the lab (`stop`) or let go of it and leave it running; give up control."""
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        await self.edits.close()
        try:
            await (self.session.down() if stop else self.session.detach())
        finally:
            self._release()

    # ---- inside ------------------------------------------------------------------------
    def _release(self) -> None:
        if self.controller is not None:
            control.release(self.session.dir, self.controller)

    async def _stats(self, hz: float) -> None:
        period = 1.0 / hz
        loop = asyncio.get_running_loop()
        while True:
            t0 = loop.time()
            with contextlib.suppress(Exception):   # a missed sample is not worth a word
                self.session.emit(await self.session.sample_stats())
            await asyncio.sleep(max(0.05, period - (loop.time() - t0)))

    async def _watch_control(self, every: float) -> None:
        assert self.controller is not None
        while True:
            await asyncio.sleep(every)
            if not control.holds(self.session.dir, self.controller):
                who = control.holder(self.session.dir, self.session.host)
                self.session.emit(ControlLost(self.session.dir.name,
                                              who.describe() if who else "another controller"))
                return
