"""The palette dock's list: one entry per node kind, dragged onto the canvas to add a node."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QMimeData, QSize, Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem, QWidget

from engine.model import NodeKind
from nemu_gui.resources import node_icon
from nemu_gui.scene.canvas_view import node_mime

DESCRIPTIONS = {
    NodeKind.HOST: "Host\nA QEMU machine",
    NodeKind.ROUTER: "Router\nRoutes, DHCP, DNS",
    NodeKind.HUB: "Hub\nRepeats all frames",
    NodeKind.SWITCH: "Switch\nLearns MACs",
    NodeKind.SLIRP: "Slirp\nNAT to the outside",
}

KIND_ROLE = Qt.ItemDataRole.UserRole + 1


class Palette(QListWidget):
    """Drag an entry to the canvas; double-click adds it in the middle of the view."""

    activatedKind = Signal(object)     # NodeKind

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("palette")
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.setIconSize(QSize(36, 36))
        self.setSpacing(2)
        self.setUniformItemSizes(True)
        for kind in NodeKind:
            item = QListWidgetItem(node_icon(kind), DESCRIPTIONS[kind])
            item.setData(KIND_ROLE, kind)
            item.setToolTip(f"Drag onto the canvas to add a {kind.value}")
            self.addItem(item)
        self.itemDoubleClicked.connect(lambda it: self.activatedKind.emit(it.data(KIND_ROLE)))

    def kind_at(self, row: int) -> NodeKind:
        kind: NodeKind = self.item(row).data(KIND_ROLE)
        return kind

    def mimeData(self, items: Sequence[QListWidgetItem]) -> QMimeData:
        return node_mime(items[0].data(KIND_ROLE))

    def mimeTypes(self) -> list[str]:
        return [node_mime(NodeKind.HOST).formats()[0]]
