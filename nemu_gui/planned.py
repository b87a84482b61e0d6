"""The addresses and MACs nemu's planner will give a lab (`engine.plan.addressing.plan`), for
showing before Start: the Summary's address column, the interface editor's "auto" hints.

Planning walks the whole lab, so the result is kept until an edit that can change it (a move
cannot); a lab the planner refuses (no free subnet left) gives its reason instead.
"""

from __future__ import annotations

from PySide6.QtCore import QObject

from engine.errors import NemuError
from engine.model import NodeChanged, Topology, TopologyEvent
from engine.plan.addressing import MachinePlan, plan
from nemu_gui.controller import Controller


class PlannedAddresses(QObject):
    def __init__(self, controller: Controller, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self._plans: dict[str, MachinePlan] | None = None
        self.error = ""
        controller.topologyEvent.connect(self._on_event)
        controller.topologyReset.connect(self._forget)

    def _on_event(self, event: TopologyEvent) -> None:
        if isinstance(event, NodeChanged) and set(event.changes) <= {"pos", "notes"}:
            return
        self._plans = None

    def _forget(self, _topology: Topology | None = None) -> None:
        self._plans = None

    def plans(self) -> dict[str, MachinePlan]:
        if self._plans is None:
            try:
                self._plans, self.error = plan(self.controller.topology), ""
            except (NemuError, ValueError) as e:
                self._plans, self.error = {}, str(e)
        return self._plans

    def address(self, node: str, iface: str) -> str:
        p = self.plans().get(node)
        addr = p.addresses.get(iface) if p is not None else None
        return str(addr) if addr is not None else ""

    def mac(self, node: str, iface: str) -> str:
        p = self.plans().get(node)
        return p.macs.get(iface, "") if p is not None else ""
