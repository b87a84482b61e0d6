"""The node half of the properties dock: name, image, RAM, CPUs, NIC, architecture, placement,
interfaces (their addresses and MACs typed, a free one removed), notes.

Each field applies when editing finishes, as one undoable change. Machine-only fields are
hidden for hubs, switches and slirp. A refused value shows the model's message under the form.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from engine.errors import TopologyError
from engine.model import NicModel, Node
from nemu_gui.controller import Controller
from nemu_gui.planned import PlannedAddresses
from nemu_gui.properties.node_ifaces import InterfaceList

ARCHES = ("x86_64", "i386")


class NodeForm(QWidget):
    def __init__(self, controller: Controller, planned: PlannedAddresses | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.node_name: str | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        self.title = QLabel()
        self.title.setObjectName("formTitle")
        layout.addWidget(self.title)
        self.form = QFormLayout()
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        layout.addLayout(self.form)

        self.name = QLineEdit()
        self.name.editingFinished.connect(self._rename)
        self.form.addRow("Name", self.name)
        self.image = QLineEdit()
        self.image.editingFinished.connect(lambda: self._apply(image=self.image.text().strip()))
        self.form.addRow("Image", self.image)
        self.memory = QSpinBox()
        self.memory.setRange(16, 1024 * 1024)
        self.memory.setSingleStep(64)
        self.memory.setSuffix(" MiB")
        self.memory.setKeyboardTracking(False)
        self.memory.valueChanged.connect(lambda v: self._apply(memory=v))
        self.form.addRow("RAM", self.memory)
        self.cpus = QSpinBox()
        self.cpus.setRange(1, 64)
        self.cpus.setKeyboardTracking(False)
        self.cpus.valueChanged.connect(lambda v: self._apply(cpus=v))
        self.form.addRow("CPUs", self.cpus)
        self.nic = QComboBox()
        for m in NicModel:
            self.nic.addItem(m.value, m)
        self.nic.activated.connect(lambda _i: self._apply(nic=self.nic.currentData()))
        self.form.addRow("NIC model", self.nic)
        self.arch = QComboBox()
        self.arch.setEditable(True)          # any qemu-system-<arch> installed; two are common
        self.arch.addItems(ARCHES)
        self.arch.setToolTip("The guest architecture: i386 boots the image's 32-bit variant "
                             "(host-i386, router-i386) under qemu-system-i386")
        self.arch.activated.connect(lambda _i: self._apply(arch=self.arch.currentText().strip()))
        self.form.addRow("Architecture", self.arch)
        self.host = QComboBox()
        self.host.setToolTip("The machine this node runs on (machines come from the lab file)")
        self.host.activated.connect(lambda _i: self._apply(host=self.host.currentText()))
        self.form.addRow("Placement", self.host)
        self.interfaces = InterfaceList()
        self.interfaces.removeRequested.connect(self._remove_interface)
        self.interfaces.fieldEdited.connect(self._edit_interface)
        if planned is not None:
            self.interfaces.set_planner(
                lambda n, i, f: planned.address(n, i) if f == "address" else planned.mac(n, i))
            planned.changed.connect(self.interfaces.show_fields)    # the hints, when ready
        self.form.addRow("Interfaces", self.interfaces)
        self.services = QLabel()
        self.services.setWordWrap(True)
        self.form.addRow("Services", self.services)
        self.notes = QPlainTextEdit()
        self.notes.setMaximumHeight(90)
        self.notes.installEventFilter(self)
        self.form.addRow("Notes", self.notes)
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c0392b;")
        self.error.hide()
        layout.addWidget(self.error)
        layout.addStretch(1)
        self._machine_rows = [self.image, self.memory, self.cpus, self.nic, self.arch]

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.notes and event.type() == QEvent.Type.FocusOut:
            self._apply(notes=self.notes.toPlainText())
        return super().eventFilter(watched, event)

    # ---- showing -------------------------------------------------------------------
    def show_node(self, name: str) -> None:
        if name != self.node_name:
            self.error.hide()
        self.node_name = name
        self.refresh()

    def refresh(self) -> None:
        if self.node_name is None or not self.controller.topology.has_node(self.node_name):
            return
        node: Node = self.controller.topology.node(self.node_name)
        self.title.setText(f"{node.kind.value.capitalize()} {node.name}")
        widgets = [self.name, self.image, self.memory, self.cpus, self.nic, self.arch, self.host]
        for w in widgets:
            w.blockSignals(True)
        self.name.setText(node.name)
        for w in self._machine_rows:
            self.form.setRowVisible(w, node.kind.is_machine)
        if node.kind.is_machine:
            self.image.setText(node.image or "")
            self.memory.setValue(node.memory or 128)
            self.cpus.setValue(node.cpus or 1)
            self.nic.setCurrentIndex(self.nic.findData(node.nic))
            self.arch.setCurrentText(node.arch or "x86_64")
        self.host.clear()
        self.host.addItems(["local", *(m.name for m in self.controller.topology.machines)])
        self.host.setCurrentText(node.host)
        for w in widgets:
            w.blockSignals(False)
        self.interfaces.show_node(self.controller.topology, node)
        self.form.setRowVisible(self.services, bool(node.services))
        self.services.setText(", ".join(node.services))
        if not self.notes.hasFocus():
            self.notes.setPlainText(node.notes)

    # ---- editing -------------------------------------------------------------------
    def _show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.show()

    def _rename(self) -> None:
        if self.node_name is None:
            return
        new = self.name.text().strip()
        if new == self.node_name:
            return
        if self.controller.topology.has_node(new):
            self._show_error(f"a node named {new!r} exists already")
            return
        try:
            Node(new, self.controller.topology.node(self.node_name).kind)
        except TopologyError as e:
            self._show_error(e.message)
            return
        self.error.hide()
        old = self.node_name
        self.node_name = new
        if not self.controller.rename_node(old, new):
            self.node_name = old

    def _remove_interface(self, iface: str) -> None:
        """One undo step; the list then follows the model's event (the panel refreshes us).
        The next interface is selected, so Delete can be pressed again."""
        if self.node_name is None:
            return
        index = [i.name for i in self.controller.topology.node(self.node_name).interfaces
                 ].index(iface)
        if not self.controller.remove_interface(self.node_name, iface):
            return
        self.error.hide()
        left = self.controller.topology.node(self.node_name).interfaces
        if left:
            self.interfaces.select(left[min(index, len(left) - 1)].name)

    def _edit_interface(self, iface: str, field: str, value: str | None) -> None:
        """A typed address or MAC: refused with the model's reason under the form, or one
        undo step."""
        if self.node_name is None:
            return
        problem = self.controller.interface_problem(self.node_name, iface, **{field: value})
        self.interfaces.show_error(problem or "")
        if problem is None:
            self.controller.set_interface(self.node_name, iface, **{field: value})

    def _apply(self, **changes: Any) -> None:
        if self.node_name is None or not self.controller.topology.has_node(self.node_name):
            return
        node = self.controller.topology.node(self.node_name)
        try:
            dataclasses.replace(node, **changes)
        except TopologyError as e:
            self._show_error(e.message)
            return
        self.error.hide()
        self.controller.update_node(self.node_name, **changes)
