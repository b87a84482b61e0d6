"""Which interface each end of a link plugs into: one combo per end.

Drawing a link picks (or adds) a free interface by itself; here the user changes that choice.
A combo lists what the model offers for its end (`Topology.interface_choices`): the node's
interfaces that carry no other link, the current one among them, and a new interface when the
node can take one. The widget only reports a choice (`chosen`); its owner checks and applies it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QVBoxLayout, QWidget

from engine.model import End, Link, Topology

ENDS: tuple[End, End] = ("a", "b")
NEW = ""     # item data of "new interface": no interface name is empty


class LinkEnds(QWidget):
    chosen = Signal(str, object)      # end ("a"/"b"), interface name or None for a new one

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(2)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        outer.addLayout(form)
        self.labels: dict[End, QLabel] = {}
        self.combos: dict[End, QComboBox] = {}
        for end in ENDS:
            combo = QComboBox()
            combo.setObjectName(f"link_iface_{end}")
            combo.activated.connect(lambda i, end=end: self._activated(end, i))
            self.labels[end] = QLabel()
            self.combos[end] = combo
            form.addRow(self.labels[end], combo)
        self.error = QLabel()
        self.error.setObjectName("fieldError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c0392b; font-size: 8pt;")
        self.error.hide()
        outer.addWidget(self.error)
        self._current: dict[End, str] = {}

    def show_link(self, topology: Topology, link: Link) -> None:
        """Fill both combos for `link` as the model has it now (emits nothing)."""
        for end in ENDS:
            ep = link.end(end)
            free, new = topology.interface_choices(link.name, end)
            combo = self.combos[end]
            combo.blockSignals(True)
            combo.clear()
            for name in free:
                combo.addItem(name, name)
            if new is not None:
                combo.addItem(f"new interface ({new})", NEW)
            combo.setCurrentIndex(combo.findData(ep.iface))
            combo.blockSignals(False)
            combo.setEnabled(combo.count() > 1)
            combo.setToolTip(f"The interface of {ep.node} this link plugs into"
                             if combo.count() > 1 else f"{ep.node} has no other interface "
                             "free for this link")
            self.labels[end].setText(ep.node)
            self._current[end] = ep.iface

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.show()

    def clear_error(self) -> None:
        self.error.hide()

    def _activated(self, end: End, index: int) -> None:
        iface = self.combos[end].itemData(index)
        if iface == self._current.get(end):
            return
        self.chosen.emit(end, iface or None)
