"""A node's interfaces in the node form: name, address, the link each carries (or "free"); the
selected one's address and MAC can be typed; a free one can be removed.

Drawing a link adds an interface and deleting the link leaves it, so this is where a user takes
one away again. The list only asks (`removeRequested`, `fieldEdited`); the controller makes each
one undo step, checked by the model's own validators (the file's), and the form shows a refusal
with its reason. A field left empty (or `auto`) lets nemu choose: its placeholder shows what the
planner will give. The typed text goes to the model as it is, so a value the model learns to
take (`dhcp`, with router services) needs nothing here.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.model import Node, Topology

FREE = "free"
AUTO = "auto"
EDITABLE = ("address", "mac")          # the fields typed here (Interface's own names)


def field_value(text: str) -> str | None:
    """What a typed field means: empty or `auto` -> None (nemu chooses), else the text."""
    text = text.strip()
    return None if text in ("", AUTO) else text
COLUMNS = ("Interface", "Address", "Link")
ROWS_SHOWN = 5       # the list grows up to this many rows, then scrolls


class InterfaceList(QWidget):
    removeRequested = Signal(str)          # the interface to take off the shown node
    fieldEdited = Signal(str, str, object)  # interface, "address" | "mac", value (None: auto)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.tree = QTreeWidget()
        self.tree.setObjectName("interfaceList")
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.tree.header().setStretchLastSection(True)
        self.tree.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.tree.itemSelectionChanged.connect(self._update_button)
        self.tree.itemSelectionChanged.connect(self.show_fields)
        self.tree.itemSelectionChanged.connect(lambda: self.show_error(""))
        self.tree.installEventFilter(self)
        layout.addWidget(self.tree)
        self.empty = QLabel("none yet (added when you draw a link)")
        self.empty.setWordWrap(True)
        layout.addWidget(self.empty)
        self.fields = QWidget()
        form = QFormLayout(self.fields)
        form.setContentsMargins(0, 0, 0, 0)
        self.address = QLineEdit()
        self.address.setObjectName("ifaceAddress")
        self.address.setToolTip("The selected interface's address with its prefix length "
                                "(10.0.0.1/24); empty or 'auto': nemu chooses")
        self.mac = QLineEdit()
        self.mac.setObjectName("ifaceMac")
        self.mac.setToolTip("The selected interface's MAC (52:54:00:12:34:56, a unicast one); "
                            "empty or 'auto': derived from the node and interface names")
        for name, edit in (("address", self.address), ("mac", self.mac)):
            edit.setClearButtonEnabled(True)
            edit.editingFinished.connect(lambda name=name, edit=edit: self._edited(name, edit))
        form.addRow("Address", self.address)
        form.addRow("MAC", self.mac)
        self.error = QLabel()              # a refused address or MAC: the model's reason
        self.error.setObjectName("ifaceError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c0392b;")
        self.error.hide()
        form.addRow(self.error)
        layout.addWidget(self.fields)
        self._node: Node | None = None
        self._planned: Callable[[str, str, str], str] = lambda _n, _i, _f: ""
        row = QHBoxLayout()
        row.addStretch(1)
        self.remove = QPushButton("Remove")
        self.remove.setToolTip("Take the selected free interface off this node (Del); "
                               "an interface that carries a link goes with its link first")
        self.remove.clicked.connect(self._remove_current)
        row.addWidget(self.remove)
        layout.addLayout(row)
        self._update_button()

    # ---- showing -------------------------------------------------------------------
    def set_planner(self, planned: Callable[[str, str, str], str]) -> None:
        """planned(node, iface, field): what nemu would give (the "auto" hints)."""
        self._planned = planned

    def show_node(self, topology: Topology, node: Node) -> None:
        """List `node`'s interfaces in its order, keeping the selected one selected."""
        self._node = node
        current = self.current_interface()
        links = topology.links_by_iface(node.name)
        self.tree.blockSignals(True)
        self.tree.clear()
        for iface in node.interfaces:
            link = links.get(iface.name)
            address = iface.address or ("auto" if link and node.kind.is_machine else "")
            item = QTreeWidgetItem([iface.name, address, link.name if link else FREE])
            item.setData(0, Qt.ItemDataRole.UserRole, link is None)
            if link is None:
                item.setToolTip(2, "carries no link: it can be removed")
            else:
                item.setToolTip(2, f"carries link {link.name}: delete the link to remove it")
            self.tree.addTopLevelItem(item)
            if iface.name == current:
                self.tree.setCurrentItem(item)
        self.tree.blockSignals(False)
        self.tree.setVisible(bool(node.interfaces))
        self.empty.setVisible(not node.interfaces)
        self.remove.setVisible(bool(node.interfaces))
        rows = min(max(1, len(node.interfaces)), ROWS_SHOWN)
        header = self.tree.header().sizeHint().height()
        row_h = self.tree.sizeHintForRow(0) if node.interfaces else 0
        self.tree.setFixedHeight(header + rows * max(row_h, 18) + 2 * self.tree.frameWidth())
        self._update_button()
        self.show_fields()

    def show_fields(self) -> None:
        """The selected interface's address and MAC in the editors (a machine's only)."""
        node, name = self._node, self.current_interface()
        iface = node.interface(name) if node is not None and name else None
        self.fields.setVisible(node is not None and node.kind.is_machine
                               and bool(node.interfaces))
        for field, edit in (("address", self.address), ("mac", self.mac)):
            edit.setEnabled(iface is not None)
            if iface is None or node is None:
                edit.setText("")
                edit.setPlaceholderText("select an interface")
                continue
            if not edit.hasFocus() or not edit.isModified():
                edit.setText(getattr(iface, field) or "")
                edit.setModified(False)
            hint = self._planned(node.name, iface.name, field)
            edit.setPlaceholderText(f"{AUTO}: {hint}" if hint else AUTO)

    def show_error(self, message: str) -> None:
        """Say why a typed value was refused, right under the fields ("" hides it)."""
        self.error.setText(message)
        self.error.setVisible(bool(message))

    def _edited(self, field: str, edit: QLineEdit) -> None:
        name = self.current_interface()
        if name is None or not edit.isModified():
            return
        edit.setModified(False)
        self.fieldEdited.emit(name, field, field_value(edit.text()))

    def current_interface(self) -> str | None:
        item = self.tree.currentItem()
        return item.text(0) if item is not None and item.isSelected() else None

    def select(self, iface: str) -> None:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item is not None and item.text(0) == iface:
                self.tree.setCurrentItem(item)
                return

    def _current_is_free(self) -> bool:
        item = self.tree.currentItem()
        return (item is not None and item.isSelected()
                and bool(item.data(0, Qt.ItemDataRole.UserRole)))

    def _update_button(self) -> None:
        self.remove.setEnabled(self._current_is_free())

    # ---- removing ------------------------------------------------------------------
    def _remove_current(self) -> None:
        if self._current_is_free():
            name = self.current_interface()
            if name is not None:
                self.removeRequested.emit(name)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Delete in the list removes the selected interface. The window's Delete action
        (delete the canvas selection) shares the key, so the list claims it first
        (ShortcutOverride) and then takes the key press itself."""
        if watched is self.tree and isinstance(event, QKeyEvent) and event.key() in (
                Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            if event.type() == QEvent.Type.ShortcutOverride:
                event.accept()
                return True
            if event.type() == QEvent.Type.KeyPress:
                self._remove_current()
                return True
        return super().eventFilter(watched, event)
