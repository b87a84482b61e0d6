"""A node on the canvas: the icon of its kind, its name below, badges for state and placement.

The item shows a model `Node`; it never changes the model. Moving it only moves the picture:
the scene reports the move as an intent when the mouse is released, and the controller turns it
into an undoable command. Links attached to it follow through `ItemSendsGeometryChanges`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFontMetricsF, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from engine import units
from engine.model import Node
from nemu_gui.resources import node_image
from nemu_gui.scene import style

if TYPE_CHECKING:
    from nemu_gui.scene.link_item import LinkItem

_HALF = style.NODE_ICON / 2
_LABEL_GAP = 3.0


class NodeItem(QGraphicsItem):
    Type = 65536 + 1             # QGraphicsItem.UserType + 1

    def __init__(self, node: Node) -> None:
        super().__init__()
        self.node = node
        self.links: set[LinkItem] = set()
        self.state: str | None = None          # stopped/booting/running/crashed, from the engine
        self.state_detail = ""
        self.health = ""          # "CPU 12% · RAM 128 MiB\nhost 221 MiB" while running
        self._spin = 0                         # spinner phase (degrees) while busy
        self.snap = False
        self._font = style.label_font(9.0, bold=True)
        self._badge_font = style.label_font(7.0)
        self._label_rect = QRectF()
        self._rect = QRectF()
        self.setFlags(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
                      | QGraphicsItem.GraphicsItemFlag.ItemIsMovable
                      | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges)
        self.setAcceptHoverEvents(True)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setZValue(2)
        self.setPos(QPointF(*node.pos))
        self._relayout()

    # ---- model -> item -------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.node.name

    def set_node(self, node: Node) -> None:
        self.node = node
        self.place(QPointF(*node.pos))
        self._relayout()

    def place(self, pos: QPointF) -> None:
        """Put the item exactly where the model says (snapping is for the user's drags)."""
        if pos != self.pos():
            snap, self.snap = self.snap, False
            self.setPos(pos)
            self.snap = snap

    def set_state(self, state: str | None, detail: str = "") -> None:
        """The engine's view of this node (a badge); None hides the badge."""
        self.state, self.state_detail = state, detail
        self._relayout()

    def set_health(self, cpu_percent: float | None, rss_bytes: int | None) -> None:
        """CPU and memory of the node's process, shown under its name (None clears). A
        machine shows the memory its guest was given beside the host memory its QEMU holds
        (guest pages it touched, plus QEMU's own): they are different things, and the host
        figure is the larger one on a quiet guest."""
        text = ""
        if cpu_percent is not None and rss_bytes is not None:
            host = f"host {rss_bytes / 2**20:.0f} MiB"
            text = (f"CPU {cpu_percent:.0f}% · RAM {self.node.memory} MiB\n{host}"
                    if self.node.kind.is_machine and self.node.memory else
                    f"CPU {cpu_percent:.0f}% · {host}")
        if text != self.health:
            self.health = text
            self._relayout()

    def spin(self) -> None:
        """Advance the busy spinner by one step (the scene's animation timer calls this)."""
        self._spin = (self._spin + 30) % 360
        self.update(self._badge_rect())

    @staticmethod
    def _badge_rect() -> QRectF:
        return QRectF(_HALF - 12, -_HALF - 4, 16, 16)

    def _health_rect(self) -> QRectF:
        fm = QFontMetricsF(self._badge_font)
        lines = self.health.split("\n")
        w = max(fm.horizontalAdvance(line) for line in lines) + 8
        return QRectF(-w / 2, self._label_rect.bottom() + 1, w, fm.height() * len(lines) + 1)

    def _relayout(self) -> None:
        self.prepareGeometryChange()
        fm = QFontMetricsF(self._font)
        w = fm.horizontalAdvance(self.node.name) + 8
        h = fm.height() + 2
        self._label_rect = QRectF(-w / 2, _HALF + _LABEL_GAP, w, h)
        icon = QRectF(-_HALF, -_HALF, style.NODE_ICON, style.NODE_ICON)
        self._rect = icon.united(self._label_rect).adjusted(-4, -4, 4, 4)
        if self.health:
            self._rect = self._rect.united(self._health_rect().adjusted(-2, -2, 2, 2))
        if self.node.host != "local":
            self._rect = self._rect.united(self._host_badge_rect())
        self.setToolTip(self._tooltip())
        self.update()
        self._labels_around()

    def _tooltip(self) -> str:
        n = self.node
        lines = [f"<b>{n.name}</b> &mdash; {n.kind.value}"]
        if n.kind.is_machine:
            mem = units.format_memory(n.memory or 0)
            nic = n.nic.value if n.nic else ""
            lines.append(f"image {n.image}, {mem} RAM, {n.cpus} CPU, {nic}")
        if n.host != "local":
            lines.append(f"placed on {n.host}")
        ifaces = ", ".join(i.name + (f" {i.address}" if i.address else "") for i in n.interfaces)
        if ifaces:
            lines.append(f"interfaces: {ifaces}")
        if self.state:
            lines.append(f"state: {self.state}" + (f" ({self.state_detail})"
                                                   if self.state_detail else ""))
        if self.health:
            lines.append(self.health.replace("\n", " · ") + "<br><i>RAM: what the machine "
                         "was given; host: the memory its process holds on this computer</i>")
        if n.notes:
            lines.append(f"<i>{n.notes}</i>")
        return "<br>".join(lines)

    def _host_badge_rect(self) -> QRectF:
        bw = QFontMetricsF(self._badge_font).horizontalAdvance(self.node.host) + 10
        return QRectF(-_HALF - bw / 2 + 6, -_HALF - 6, bw, 14)

    # ---- geometry ------------------------------------------------------------------
    def boundingRect(self) -> QRectF:
        return self._rect

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRoundedRect(QRectF(-_HALF, -_HALF, style.NODE_ICON, style.NODE_ICON), 8, 8)
        path.addRect(self._label_rect)
        return path

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value: Any) -> Any:
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionChange and self.snap:
            p = QPointF(value)
            g = style.GRID
            return QPointF(round(p.x() / g) * g, round(p.y() / g) * g)
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged:
            for link in self.links:
                link.adjust()
            self._labels_around()
        return super().itemChange(change, value)

    def _labels_around(self) -> None:
        """Link labels this node now covers move aside (the scene places them)."""
        check = getattr(self.scene(), "check_labels_near", None)
        if check is not None:
            check(self)

    # ---- painting ------------------------------------------------------------------
    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        icon = QRectF(-_HALF, -_HALF, style.NODE_ICON, style.NODE_ICON)
        if self.isSelected():
            painter.setPen(QPen(style.SELECTION, 1.5))
            painter.setBrush(QColor(45, 127, 249, 40))
            painter.drawRoundedRect(icon.adjusted(-3, -3, 3, 3), 8, 8)
        painter.drawImage(icon, node_image(self.node.kind, style.NODE_ICON * 2))
        # name
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(style.SELECTION if self.isSelected() else style.LABEL_BG)
        painter.drawRoundedRect(self._label_rect, 4, 4)
        painter.setFont(self._font)
        painter.setPen(QColor("white") if self.isSelected() else style.LABEL_TEXT)
        painter.drawText(self._label_rect, Qt.AlignmentFlag.AlignCenter, self.node.name)
        # engine state badge
        if self.state is not None:
            colour = style.STATE_COLOURS.get(self.state, style.STATE_COLOURS["stopped"])
            centre = QPointF(_HALF - 4, -_HALF + 4)
            if self.state in style.BUSY_STATES:      # a spinning ring while booting
                painter.setPen(QPen(QColor("white"), 4.0))
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawEllipse(centre, 5.5, 5.5)
                pen = QPen(colour, 2.5)
                pen.setCapStyle(Qt.PenCapStyle.RoundCap)
                painter.setPen(pen)
                ring = QRectF(centre.x() - 5.5, centre.y() - 5.5, 11, 11)
                painter.drawArc(ring, -self._spin * 16, 270 * 16)
            else:
                painter.setPen(QPen(QColor("white"), 1.5))
                painter.setBrush(QBrush(colour))
                painter.drawEllipse(centre, 5.5, 5.5)
        if self.health:
            painter.setFont(self._badge_font)
            painter.setPen(style.HINT_TEXT)
            painter.drawText(self._health_rect(), Qt.AlignmentFlag.AlignCenter, self.health)
        # placement badge (another machine)
        if self.node.host != "local":
            painter.setFont(self._badge_font)
            r = self._host_badge_rect()
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor("#34495e"))
            painter.drawRoundedRect(r, 7, 7)
            painter.setPen(QColor("white"))
            painter.drawText(r, Qt.AlignmentFlag.AlignCenter, self.node.host)

    def type(self) -> int:
        return self.Type
