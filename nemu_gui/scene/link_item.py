"""A link on the canvas: a line between two node items with a label in the middle.

It follows its nodes (they call `adjust()` when they move) and shows the model `Link` it is
given. With live statistics (`set_rates`) it takes the colour of its utilisation and a width
that grows with it; without, it shows the parameters. Down links and links that cross machines
are dashed.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPainterPathStroker, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from engine.model import Link
from nemu_gui.scene import style
from nemu_gui.scene.link_label_item import LinkLabelItem
from nemu_gui.scene.link_text import link_summary, link_tooltip, rates_text
from nemu_gui.scene.node_item import NodeItem

PARALLEL_GAP = 14.0
RATES_TEMPLATE = "9.99 Mb/s ▶ ◀ 9.99 Mb/s"   # the widest live label, for a steady size


UTIL_STEPS = 20
_PENS: dict[tuple[str, int, bool], QPen] = {}    # a few dozen pens shared by every link


def _build_pen(state: str, step: int, dashed: bool) -> QPen:
    if state == "selected":
        colour, width = style.SELECTION, 3.0
    elif state == "flash":
        colour, width = style.DROP_FLASH, 2.0 + 4.0 * step / UTIL_STEPS
    elif state == "live":
        u = step / UTIL_STEPS
        colour, width = style.utilisation_colour(u), 2.0 + 4.0 * u
    else:
        colour, width = (style.LINK if state == "idle" else style.LINK_DOWN), 2.0
    pen = QPen(QColor(colour), width,
               Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    return pen


class LinkItem(QGraphicsItem):
    Type = 65536 + 2             # QGraphicsItem.UserType + 2

    def __init__(self, link: Link, a: NodeItem, b: NodeItem) -> None:
        super().__init__()
        self.link = link
        self.a, self.b = a, b
        self.offset = 0.0                      # perpendicular shift for parallel links
        self.live: tuple[float, float, float | None] | None = None
        self._line = QLineF()
        self._degenerate = True
        self._path = QPainterPath()
        self._bounds = QRectF()
        self.label = LinkLabelItem(self)
        self.label_visible = True
        self._legible = True                   # False when zoomed out too far to read labels
        self._pen_cache: QPen | None = None
        self.flashing = False                  # briefly red: the vswitch dropped frames
        self.setFlags(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setAcceptHoverEvents(True)
        self.setZValue(0)
        a.links.add(self)
        b.links.add(self)
        self.set_link(link)

    @property
    def name(self) -> str:
        return self.link.name

    def detach(self) -> None:
        self.a.links.discard(self)
        self.b.links.discard(self)

    # ---- model -> item -------------------------------------------------------------
    def set_link(self, link: Link) -> None:
        self.link = link
        self._pen_cache = None
        self.setToolTip(link_tooltip(link))
        self.adjust()

    def set_rates(self, tx_bps: float, rx_bps: float, utilisation: float | None) -> None:
        """Live rates: `tx_bps` is what end a sends, `rx_bps` what end b sends; `utilisation`
        is the busier direction's share of its configured bandwidth (None when unlimited)."""
        was_live = self.live is not None
        before = self._pen_key()
        self.live = (tx_bps, rx_bps, utilisation)
        if was_live and self._legible:
            self.label.set_lazy(self._rates_text)     # same size: made when painted
        else:
            self._refresh_label()
        if self._pen_key() != before:   # the line looks the same: leave it unpainted
            self._pen_cache = None
            self.update()

    def _rates_text(self) -> str:
        assert self.live is not None
        return rates_text(self.live[0], self.live[1], self._a_is_left())

    def set_flash(self, on: bool) -> None:
        """Drops were seen: the scene turns this on and, a moment later, off."""
        if on != self.flashing:
            self.flashing = on
            self._pen_cache = None
            self.update()

    def clear_rates(self) -> None:
        self.live = None
        self._pen_cache = None
        self._refresh_label()
        self.update()

    def set_label_visible(self, visible: bool) -> None:
        """The user's choice (View → Link Labels)."""
        self.label_visible = visible
        self.label.setVisible(visible and self._legible)

    def set_legible(self, legible: bool) -> None:
        """Whether the zoom lets labels be read; hidden labels cost nothing to paint."""
        if legible != self._legible:
            self._legible = legible
            self.label.setVisible(self.label_visible and legible)
            if legible:
                self._refresh_label()

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value: Any) -> Any:
        if change == QGraphicsItem.GraphicsItemChange.ItemSelectedHasChanged:
            self._pen_cache = None
        return super().itemChange(change, value)

    def _a_is_left(self) -> bool:
        return self.a.pos().x() <= self.b.pos().x()

    def _refresh_label(self) -> None:
        if not self._legible:
            return                              # brought up to date when legible again
        size = self.label.boundingRect().size()
        if self.live is not None:
            self.label.set_text(self._rates_text(), RATES_TEMPLATE)
        else:
            self.label.set_text(link_summary(self.link, self._a_is_left()))
        if self.label.boundingRect().size() != size:
            self._queue_placement(moved=False)      # bigger or smaller: may collide now

    def _queue_placement(self, moved: bool) -> None:
        """Ask the scene to place the label clear of names and labels (`moved`: the line
        moved, so from scratch; else only if it now covers something)."""
        queue = getattr(self.scene(), "queue_label", None)
        if queue is not None:
            queue(self, moved)

    @property
    def line(self) -> QLineF:
        """The drawn line (parallel links shifted apart), in scene coordinates."""
        return self._line

    def preferred_label_at(self) -> float:
        return self._label_at()

    # ---- geometry ------------------------------------------------------------------
    def adjust(self) -> None:
        p1, p2 = self.a.pos(), self.b.pos()
        line = QLineF(p1, p2)
        if self.offset and line.length() > 0:
            n = line.normalVector().unitVector()
            d = QPointF(n.dx(), n.dy()) * self.offset
            line = QLineF(p1 + d, p2 + d)
        self.prepareGeometryChange()
        self._line = line
        self._degenerate = math.isclose(line.length(), 0.0)
        path = QPainterPath(line.p1())
        path.lineTo(line.p2())
        stroker = QPainterPathStroker()
        stroker.setWidth(12)
        self._path = stroker.createStroke(path)
        self._bounds = self._path.boundingRect().adjusted(-4, -4, 4, 4)
        self.label.setPos(line.pointAt(self._label_at()))
        self._refresh_label()
        self._queue_placement(moved=True)

    def _label_at(self) -> float:
        """Where along the line the label would sit: nearer the end with fewer links, so the
        labels of links fanning out of a switch do not pile up around it (the scene then
        moves it where it covers no name and no other label: label_placement.py)."""
        na, nb = len(self.a.links), len(self.b.links)
        if na == nb:
            return 0.5
        return 0.4 if na < nb else 0.6

    def boundingRect(self) -> QRectF:
        return self._bounds

    def shape(self) -> QPainterPath:
        return self._path

    def _pen(self) -> QPen:
        if self._pen_cache is None:
            self._pen_cache = self._make_pen()
        return self._pen_cache

    def _pen_key(self) -> tuple[str, int, bool]:
        """What the line looks like: its pens are shared per key, and a stats sample that
        leaves the key alone needs no repaint (a steady lab repaints almost nothing)."""
        up = self.link.a.params.up and self.link.b.params.up
        dashed = not up or self.a.node.host != self.b.node.host
        if self.isSelected():
            return ("selected", 0, dashed)
        if self.live is not None:
            util = self.live[2]
            if util is None:                       # unlimited: only busy or idle
                util = 0.05 if max(self.live[:2]) > 0 else 0.0
            return ("flash" if self.flashing else "live",
                    round(min(1.0, max(0.0, util)) * UTIL_STEPS), dashed)
        return ("idle" if up else "down", 0, dashed)

    def _make_pen(self) -> QPen:
        key = self._pen_key()
        pen = _PENS.get(key)
        if pen is None:
            pen = _PENS[key] = _build_pen(*key)
        return pen

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        if self._degenerate:
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, self._legible)
        painter.setPen(self._pen())
        painter.drawLine(self._line)

    def type(self) -> int:
        return self.Type
