"""The addresses and MACs nemu's planner will give a lab (`engine.plan.addressing.plan`), for
showing before Start: the Summary's address column, the interface editor's "auto" hints.

Planning walks the whole lab (a tenth of a second or more for a thousand machines), so it runs
on a worker thread, on a snapshot of the lab (`Topology.snapshot`), after an edit that can
change it (a move cannot); `changed` says a new plan is ready, and until then `plans()` gives
the last one. A lab the planner refuses (no free subnet left) gives its reason in `error`.
"""

from __future__ import annotations

import concurrent.futures

from PySide6.QtCore import QObject, Qt, Signal
from shiboken6 import isValid

from engine.errors import NemuError
from engine.model import NodeChanged, Topology, TopologyEvent
from engine.plan.addressing import MachinePlan, plan
from nemu_gui.controller import Controller

Result = tuple[int, dict[str, MachinePlan], str]


def _plan(generation: int, topo: Topology) -> Result:
    try:
        return generation, plan(topo), ""
    except NemuError as e:
        return generation, {}, str(e)
    except Exception as e:           # a planner bug must not leave the hints waiting for ever
        return generation, {}, f"{type(e).__name__}: {e}"


class PlannedAddresses(QObject):
    changed = Signal()              # a new plan is ready (Qt thread)
    _done = Signal(object)          # Result, from the worker thread

    def __init__(self, controller: Controller, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self._plans: dict[str, MachinePlan] = {}
        self.error = ""
        self._generation = 0            # bumped by each edit that can change the plan
        self._planned = -1              # the generation `_plans` is for
        self._running: concurrent.futures.Future[Result] | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(1, "nemu-plan")
        self._done.connect(self._finished, Qt.ConnectionType.QueuedConnection)
        controller.topologyEvent.connect(self._on_event)
        controller.topologyReset.connect(self._forget)
        self.destroyed.connect(lambda: self._pool.shutdown(wait=False, cancel_futures=True))

    def _on_event(self, event: TopologyEvent) -> None:
        if isinstance(event, NodeChanged) and set(event.changes) <= {"pos", "notes"}:
            return
        self._forget()

    def _forget(self, _topology: Topology | None = None) -> None:
        self._generation += 1

    @property
    def current(self) -> bool:
        """Whether `plans()` is the plan of the lab as it is now."""
        return self._planned == self._generation

    def plans(self) -> dict[str, MachinePlan]:
        """The latest plan (planning the lab as it is now, if that is not it yet)."""
        if not self.current and self._running is None:
            gen = self._generation
            self._running = self._pool.submit(_plan, gen, self.controller.topology.snapshot())
            self._running.add_done_callback(self._report)
        return self._plans

    def _report(self, done: concurrent.futures.Future[Result]) -> None:
        """Worker thread: hand the plan to the Qt thread (unless the window is gone)."""
        if isValid(self) and not done.cancelled():
            self._done.emit(done.result())

    def _finished(self, result: Result) -> None:
        self._running = None
        self._planned, self._plans, self.error = result
        if not self.current:
            self.plans()                    # edited meanwhile: plan again
        self.changed.emit()

    def address(self, node: str, iface: str) -> str:
        p = self.plans().get(node)
        addr = p.addresses.get(iface) if p is not None else None
        return str(addr) if addr is not None else ""

    def mac(self, node: str, iface: str) -> str:
        p = self.plans().get(node)
        return p.macs.get(iface, "") if p is not None else ""
