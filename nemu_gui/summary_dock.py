"""The topology summary dock: one row per interface (node, kind, state, address, link, peer,
parameters), filterable by any text.

Rows are rebuilt from the canvas model shortly after it changes (one rebuild per burst of
events); the state column follows the engine. Addresses are the running lab's plan when there
is one, else the plan nemu will give at Start (`PlannedAddresses`): either way the addresses the
file leaves out are filled in, as the guests will have them.
"""

from __future__ import annotations

import contextlib
from typing import Any

from PySide6.QtCore import QSortFilterProxyModel, Qt, QTimer
from PySide6.QtGui import QColor, QShowEvent, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from nemu_gui.controller import Controller
from nemu_gui.engine_bridge import EngineBridge
from nemu_gui.planned import PlannedAddresses
from nemu_gui.scene import style
from nemu_gui.scene.link_text import link_summary

COLUMNS = ("Node", "Kind", "State", "Interface", "Address", "Link", "Peer", "Parameters")


class SummaryDock(QWidget):
    def __init__(self, controller: Controller, bridge: EngineBridge,
                 planned: PlannedAddresses | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller, self.bridge = controller, bridge
        self.planned = planned or PlannedAddresses(controller, self)
        self.plan_error = QLabel()
        self.plan_error.setWordWrap(True)
        self.plan_error.setStyleSheet("color: #c0392b;")
        self.plan_error.hide()
        self.model = QStandardItemModel(0, len(COLUMNS), self)
        self.model.setHorizontalHeaderLabels(list(COLUMNS))
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterKeyColumn(-1)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter: node, address, link, state…")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self.proxy.setFilterFixedString)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QTableView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode
                                                           .ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.filter)
        lay.addWidget(self.plan_error)
        lay.addWidget(self.table, 1)
        self._stale = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(50)
        self._timer.timeout.connect(self.rebuild)
        controller.topologyEvent.connect(lambda _e: self.schedule())
        controller.topologyReset.connect(lambda _t: self.schedule())
        bridge.nodeState.connect(lambda *_: self.schedule())
        bridge.runStateChanged.connect(lambda _s: self.schedule())
        self.planned.changed.connect(self.schedule)
        self.rebuild()

    def schedule(self) -> None:
        """Rebuild soon; a hidden dock (another tab in front) waits until it is shown: its
        addresses come from planning the whole lab."""
        if not self.isVisible():
            self._stale = True
            return
        if not self._timer.isActive():
            self._timer.start()

    def showEvent(self, event: QShowEvent) -> None:
        if self._stale:
            self._stale = False
            self.schedule()
        super().showEvent(event)

    def _addresses(self, node: str) -> dict[str, str]:
        s = self.bridge.session
        if s is not None:
            with contextlib.suppress(Exception):       # the engine thread may be changing it
                p = s.plans.get(node)
                if p is not None:
                    return {k: str(v) for k, v in dict(p.addresses).items()}
            return {}
        p = self.planned.plans().get(node)
        return {} if p is None else {k: str(v) for k, v in p.addresses.items()}

    def rebuild(self) -> None:
        if self.bridge.session is None and not self.planned.current:
            self.planned.plans()            # planning: `changed` brings us back, once
            return
        t = self.controller.topology
        states = self.bridge.node_states
        rows: list[list[Any]] = []
        for node in t.nodes:
            planned = self._addresses(node.name)
            state = states.get(node.name, "")
            if not node.interfaces:
                rows.append([node.name, node.kind.value, state, "", "", "", "", ""])
            for iface in node.interfaces:
                link = t.link_at(node.name, iface.name)
                peer = params = ""
                if link is not None:
                    other = link.b if link.a.node == node.name else link.a
                    peer = f"{other.node}.{other.iface}"
                    params = link_summary(link, link.a.node == node.name)
                addr = planned.get(iface.name) or (str(iface.address) if iface.address else "")
                rows.append([node.name, node.kind.value, state, iface.name, addr,
                             link.name if link else "", peer, params])
        error = "" if self.bridge.session is not None else self.planned.error
        self.plan_error.setText(f"Addresses: {error}")
        self.plan_error.setVisible(bool(error))
        self.model.setRowCount(0)
        for row in rows:
            items = [QStandardItem(str(v)) for v in row]
            colour = style.STATE_COLOURS.get(str(row[2]))
            if colour is not None:
                items[2].setForeground(QColor(colour).darker(130))
            self.model.appendRow(items)

    def visible_rows(self) -> list[list[str]]:
        """The rows the filter lets through, as shown (tests, exports)."""
        out = []
        for r in range(self.proxy.rowCount()):
            out.append([self.proxy.index(r, c).data() or "" for c in range(len(COLUMNS))])
        return out
