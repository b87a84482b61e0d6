"""The scene: a mirror of one Topology, plus the mouse gestures that become intents.

The scene never changes the model. It draws what the model's events say (so undo, redo, file
loads and any scripted edit redraw the same way) and reports what the user did as signals that
carry names: `linkRequested(a, b)` and `nodesMoved({name: (old, new)})`. The controller turns
those into undoable commands.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from PySide6.QtCore import QLineF, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsLineItem,
    QGraphicsScene,
    QGraphicsSceneMouseEvent,
)
from shiboken6 import isValid

from engine.model import (
    Link,
    LinkAdded,
    LinkChanged,
    LinkRemoved,
    LinkRewired,
    Node,
    NodeAdded,
    NodeChanged,
    NodeRemoved,
    NodeRenamed,
    Topology,
    TopologyEvent,
)
from nemu_gui.scene import style
from nemu_gui.scene.label_placement import overlap_area, place
from nemu_gui.scene.link_item import PARALLEL_GAP, LinkItem
from nemu_gui.scene.link_label_item import LinkLabelItem
from nemu_gui.scene.modes import SceneMode
from nemu_gui.scene.node_item import NodeItem

Pos = tuple[float, float]

LEGIBLE_ZOOM = 0.4     # 8 pt labels below this zoom are under 4 px high
PLACE_BUDGET_S = 0.008  # label placement runs in slices of this long


class TopologyScene(QGraphicsScene):
    linkRequested = Signal(str, str)          # draw a link from node a to node b
    nodesMoved = Signal(object)               # {name: ((x0, y0), (x1, y1))}
    modeChanged = Signal(object)              # SceneMode

    def __init__(self, parent: object | None = None) -> None:
        super().__init__(parent)  # type: ignore[arg-type]
        self.topology: Topology | None = None
        self.nodes: dict[str, NodeItem] = {}
        self.links: dict[str, LinkItem] = {}
        self._mode = SceneMode.SELECT
        self._snap = True
        self._labels = True
        self._legible = True
        self._rubber: QGraphicsLineItem | None = None
        self._link_from: NodeItem | None = None
        self._press_pos: dict[str, Pos] = {}
        self._flash_until: dict[str, float] = {}     # link -> monotonic end of its red flash
        self._animation = QTimer(self)               # spinners and drop flashes; idle otherwise
        self._animation.setInterval(80)
        self._animation.timeout.connect(self._animate)
        self._place_all: set[LinkItem] = set()       # labels to place from scratch
        self._place_if_covering: set[LinkItem] = set()   # ...only if they now cover something
        self._placer = QTimer(self)                  # once per burst of changes
        self._placer.setSingleShot(True)
        self._placer.setInterval(0)
        self._placer.timeout.connect(self._place_labels)
        self.setBackgroundBrush(style.CANVAS_BG)

    # ---- settings ------------------------------------------------------------------
    @property
    def mode(self) -> SceneMode:
        return self._mode

    def set_mode(self, mode: SceneMode) -> None:
        if mode is self._mode:
            return
        self._cancel_link()
        self._mode = mode
        movable = mode is SceneMode.SELECT
        for item in self.nodes.values():
            item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsMovable, movable)
        self.modeChanged.emit(mode)

    @property
    def snap(self) -> bool:
        return self._snap

    def set_snap(self, on: bool) -> None:
        self._snap = on
        for item in self.nodes.values():
            item.snap = on

    def set_labels_visible(self, on: bool) -> None:
        self._labels = on
        for item in self.links.values():
            item.set_label_visible(on)
        if on:
            self._place_everything()

    def set_zoom(self, zoom: float) -> None:
        """The view's zoom: below LEGIBLE_ZOOM link labels are too small to read and hidden."""
        legible = zoom >= LEGIBLE_ZOOM
        if legible != self._legible:
            self._legible = legible
            for item in self.links.values():
                item.set_legible(legible)
            if legible:
                self._place_everything()

    # ---- mirroring the model -------------------------------------------------------
    def load(self, topology: Topology) -> None:
        """Show `topology` (replacing what was shown). Events then come through `apply`."""
        self._cancel_link()
        self._place_all.clear()
        self._place_if_covering.clear()
        self.clear()
        self.nodes.clear()
        self.links.clear()
        self.topology = topology
        for node in topology.nodes:
            self._add_node(node)
        for link in topology.links:
            self._add_link(link, relayout=False)
        pairs = {frozenset((lk.a.node, lk.b.node)) for lk in topology.links}
        for pair in pairs:
            if len(pair) == 2:
                self._relayout_parallel(*pair)

    def apply(self, event: TopologyEvent) -> None:
        match event:
            case NodeAdded(node=node):
                self._add_node(node)
            case NodeRemoved(node=node):
                item = self.nodes.pop(node.name)
                self.removeItem(item)
            case NodeChanged(name=name):
                assert self.topology is not None
                node_item = self.nodes[name]
                node_item.set_node(self.topology.node(name))
                for link_item in node_item.links:
                    link_item.update()
            case NodeRenamed(old=old, new=new):
                assert self.topology is not None
                node_item = self.nodes.pop(old)
                self.nodes[new] = node_item
                node_item.set_node(self.topology.node(new))
                for link_item in list(node_item.links):
                    link_item.set_link(self.topology.link(link_item.name))
            case LinkAdded(link=link):
                self._add_link(link)
            case LinkRemoved(link=link):
                link_item = self.links.pop(link.name)
                link_item.detach()
                self.removeItem(link_item)
                self._relayout_parallel(link.a.node, link.b.node)
            case LinkChanged(link=link) | LinkRewired(link=link):
                self.links[link.name].set_link(link)

    def _add_node(self, node: Node) -> NodeItem:
        item = NodeItem(node)
        item.snap = self._snap
        item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsMovable,
                     self._mode is SceneMode.SELECT)
        self.addItem(item)
        self.nodes[node.name] = item
        return item

    def _add_link(self, link: Link, relayout: bool = True) -> LinkItem:
        item = LinkItem(link, self.nodes[link.a.node], self.nodes[link.b.node])
        item.set_label_visible(self._labels)
        item.set_legible(self._legible)
        self.addItem(item)
        self.links[link.name] = item
        self.queue_label(item, True)
        if relayout:
            self._relayout_parallel(link.a.node, link.b.node)
        return item

    def _relayout_parallel(self, a: str, b: str) -> None:
        """Spread several links between the same two nodes side by side."""
        node = self.nodes.get(a)
        if node is None:
            return
        group = sorted((lk for lk in node.links if {lk.a.name, lk.b.name} == {a, b}),
                       key=lambda lk: lk.name)
        for i, lk in enumerate(group):
            sign = 1.0 if lk.a.name == min(a, b) else -1.0
            lk.offset = sign * (i - (len(group) - 1) / 2) * PARALLEL_GAP
            lk.adjust()

    # ---- link labels clear of names and of each other -------------------------------
    def queue_label(self, link: LinkItem, moved: bool) -> None:
        """Place `link`'s label soon (`moved`: its line moved; else only if it now covers a
        name or a label)."""
        (self._place_all if moved else self._place_if_covering).add(link)
        if not self._placer.isActive():
            self._placer.start()

    def check_labels_near(self, node: NodeItem) -> None:
        """A node moved or grew: labels it now covers move aside."""
        for item in self.items(node.sceneBoundingRect(),
                               Qt.ItemSelectionMode.IntersectsItemBoundingRect):
            parent = item.parentItem()
            if isinstance(item, LinkLabelItem) and isinstance(parent, LinkItem):
                self.queue_label(parent, False)

    def _place_everything(self) -> None:
        for link in self.links.values():
            self.queue_label(link, True)

    def _place_labels(self) -> None:
        """Place queued labels for at most PLACE_BUDGET_S, then let the event loop run and
        go on (a 1500-link lab placed at once would freeze the window for half a second)."""
        if not (self._labels and self._legible):
            return                       # hidden: placed when they show again
        deadline = time.monotonic() + PLACE_BUDGET_S
        self._place_if_covering -= self._place_all
        for queue, full in ((self._place_all, True), (self._place_if_covering, False)):
            # in name order: the same lab is laid out the same way every time
            for link in sorted(queue, key=lambda lk: lk.name if isValid(lk) else ""):
                if time.monotonic() > deadline:
                    self._placer.start()
                    return
                queue.discard(link)
                if not isValid(link) or link.scene() is not self:
                    continue
                if full or self._covered(link.label, link.label.sceneBoundingRect()) > 0:
                    self._place(link)

    def _covered(self, label: LinkLabelItem, rect: QRectF) -> float:
        """How much of `rect` node icons, names and other visible labels cover."""
        total = 0.0
        for item in self.items(rect, Qt.ItemSelectionMode.IntersectsItemBoundingRect):
            if item is label:
                continue
            if isinstance(item, NodeItem) or (isinstance(item, LinkLabelItem)
                                              and item.isVisible()):
                total += overlap_area(rect, item.sceneBoundingRect())
        return total

    def _place(self, link: LinkItem) -> None:
        label = link.label
        if not label.isVisible() or label.boundingRect().isEmpty():
            return
        centre = place(link.line, label.boundingRect().size(), link.preferred_label_at(),
                       lambda rect: self._covered(label, rect))
        label.setPos(centre)

    # ---- live statistics (called by the run-control layer) --------------------------
    def set_link_rates(self, name: str, tx_bps: float, rx_bps: float,
                       utilisation: float | None) -> None:
        item = self.links.get(name)
        if item is not None:
            item.set_rates(tx_bps, rx_bps, utilisation)

    def set_node_state(self, name: str, state: str | None, detail: str = "") -> None:
        item = self.nodes.get(name)
        if item is not None:
            item.set_state(state, detail)
            if state in style.BUSY_STATES and not self._animation.isActive():
                self._animation.start()

    def set_node_health(self, name: str, cpu_percent: float, rss_bytes: int) -> None:
        item = self.nodes.get(name)
        if item is not None:
            item.set_health(cpu_percent, rss_bytes)

    def flash_link(self, name: str) -> None:
        """The link dropped frames: show it red for a moment."""
        item = self.links.get(name)
        if item is None:
            return
        self._flash_until[name] = time.monotonic() + style.DROP_FLASH_MS / 1000
        item.set_flash(True)
        if not self._animation.isActive():
            self._animation.start()

    def clear_live(self) -> None:
        """The lab stopped: links show their parameters again, nodes their stopped badge."""
        for item in self.links.values():
            item.set_flash(False)
            item.clear_rates()
        self._flash_until.clear()
        for node in self.nodes.values():
            node.set_health(None, None)

    def _animate(self) -> None:
        now = time.monotonic()
        for name, until in list(self._flash_until.items()):
            if until <= now:
                del self._flash_until[name]
                if name in self.links:
                    self.links[name].set_flash(False)
        busy = [n for n in self.nodes.values() if n.state in style.BUSY_STATES]
        for n in busy:
            n.spin()
        if not busy and not self._flash_until:
            self._animation.stop()

    # ---- selection -----------------------------------------------------------------
    def selected_nodes(self) -> list[str]:
        return sorted(i.name for i in self.selectedItems() if isinstance(i, NodeItem))

    def selected_links(self) -> list[str]:
        return sorted(i.name for i in self.selectedItems() if isinstance(i, LinkItem))

    def select(self, nodes: Iterable[str] = (), links: Iterable[str] = ()) -> None:
        self.clearSelection()
        for n in nodes:
            if n in self.nodes:
                self.nodes[n].setSelected(True)
        for lk in links:
            if lk in self.links:
                self.links[lk].setSelected(True)

    def node_at(self, pos: QPointF) -> NodeItem | None:
        for item in self.items(pos):
            if isinstance(item, NodeItem):
                return item
        return None

    # ---- gestures ------------------------------------------------------------------
    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self._mode is SceneMode.LINK and event.button() == Qt.MouseButton.LeftButton:
            start = self.node_at(event.scenePos())
            if start is not None:
                self._link_from = start
                self._rubber = QGraphicsLineItem(QLineF(start.pos(), event.scenePos()))
                pen = QPen(style.SELECTION, 2, Qt.PenStyle.DashLine)
                self._rubber.setPen(pen)
                self._rubber.setZValue(10)
                self.addItem(self._rubber)
            event.accept()
            return
        super().mousePressEvent(event)
        if event.button() == Qt.MouseButton.LeftButton:
            self._press_pos = {i.name: (i.pos().x(), i.pos().y()) for i in self.nodes.values()
                               if i.isSelected()}

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self._mode is SceneMode.LINK:
            if self._rubber is not None and self._link_from is not None:
                self._rubber.setLine(QLineF(self._link_from.pos(), event.scenePos()))
                target = self.node_at(event.scenePos())
                ok = target is not None and target is not self._link_from
                self._rubber.setPen(QPen(QColor("#27ae60") if ok else style.SELECTION, 2,
                                         Qt.PenStyle.DashLine))
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self._mode is SceneMode.LINK:
            start = self._link_from
            self._cancel_link()
            end = self.node_at(event.scenePos())
            if start is not None and end is not None and end is not start:
                self.linkRequested.emit(start.name, end.name)
            event.accept()
            return
        super().mouseReleaseEvent(event)
        if event.button() == Qt.MouseButton.LeftButton and self._press_pos:
            moved: dict[str, tuple[Pos, Pos]] = {}
            for name, old in self._press_pos.items():
                item = self.nodes.get(name)
                if item is None:
                    continue
                new = (item.pos().x(), item.pos().y())
                if new != old:
                    moved[name] = (old, new)
            self._press_pos = {}
            if moved:
                self.nodesMoved.emit(moved)

    def _cancel_link(self) -> None:
        if self._rubber is not None:
            self.removeItem(self._rubber)
        self._rubber = None
        self._link_from = None
