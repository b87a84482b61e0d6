"""The view on the canvas: zoom, pan, fit, drops from the palette, grid and first-run hint.

Dropping a palette entry emits `nodeDropRequested(kind, scene_pos)`; the window hands it to the
controller. Wheel zooms around the cursor, the middle button (or Space + drag) pans.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QMimeData, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import (
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPen,
    QWheelEvent,
)
from PySide6.QtWidgets import QGraphicsView, QWidget

from engine.model import NodeKind
from nemu_gui.scene import style
from nemu_gui.scene.modes import SceneMode
from nemu_gui.scene.topology_scene import TopologyScene

NODE_MIME = "application/x-nemu-node-kind"
MIN_ZOOM, MAX_ZOOM = 0.05, 4.0

HINT = ("Drag a host, router, hub, switch or slirp from the palette onto the canvas,\n"
        "then switch to Link mode (L) and drag from one node to another to join them.\n"
        "Or start from a ready lab: File → New from example.")


def node_mime(kind: NodeKind) -> QMimeData:
    """What the palette puts in a drag: the node kind."""
    data = QMimeData()
    data.setData(NODE_MIME, kind.value.encode())
    data.setText(kind.value)
    return data


def kind_from_mime(data: QMimeData) -> NodeKind | None:
    if not data.hasFormat(NODE_MIME):
        return None
    try:
        return NodeKind(bytes(data.data(NODE_MIME).data()).decode())
    except ValueError:
        return None


class CanvasView(QGraphicsView):
    nodeDropRequested = Signal(object, QPointF)     # NodeKind, scene position
    zoomChanged = Signal(float)

    def __init__(self, scene: TopologyScene, parent: QWidget | None = None) -> None:
        super().__init__(scene, parent)
        self.topo_scene = scene
        self._pan_from: QPointF | None = None
        self._space = False
        self.setAcceptDrops(True)
        self.setRenderHints(QPainter.RenderHint.Antialiasing
                            | QPainter.RenderHint.TextAntialiasing
                            | QPainter.RenderHint.SmoothPixmapTransform)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.FullViewportUpdate)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontSavePainterState)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setRubberBandSelectionMode(Qt.ItemSelectionMode.IntersectsItemShape)
        self.setSceneRect(QRectF(-5000, -5000, 10000, 10000))
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scene.modeChanged.connect(self._on_mode)
        self.zoomChanged.connect(scene.set_zoom)

    # ---- zoom and pan --------------------------------------------------------------
    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def set_zoom(self, z: float) -> None:
        z = max(MIN_ZOOM, min(MAX_ZOOM, z))
        factor = z / self.zoom
        if not math.isclose(factor, 1.0):
            self.scale(factor, factor)
            self.zoomChanged.emit(self.zoom)

    def zoom_in(self) -> None:
        self.set_zoom(self.zoom * 1.25)

    def zoom_out(self) -> None:
        self.set_zoom(self.zoom / 1.25)

    def reset_zoom(self) -> None:
        self.set_zoom(1.0)

    def fit_all(self) -> None:
        """Show every node; never magnify a small network beyond 1:1."""
        rect = self.topo_scene.itemsBoundingRect()
        if rect.isEmpty():
            self.resetTransform()
            self.centerOn(0, 0)
            self.zoomChanged.emit(self.zoom)
            return
        rect = rect.adjusted(-60, -60, 60, 60)
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        if self.zoom > 1.0:
            self.set_zoom(1.0)
        self.centerOn(rect.center())
        self.zoomChanged.emit(self.zoom)

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.set_zoom(self.zoom * (1.15 ** steps))
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.MiddleButton or (
                self._space and event.button() == Qt.MouseButton.LeftButton):
            self._pan_from = event.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        if event.button() == Qt.MouseButton.RightButton and \
                self.itemAt(event.position().toPoint()) is None:
            event.accept()      # keep the selection for the canvas menu (align, delete)
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            d = event.position() - self._pan_from
            self._pan_from = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - int(d.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - int(d.y()))
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan_from is not None:
            self._pan_from = None
            self._on_mode(self.topo_scene.mode)
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self._on_mode(self.topo_scene.mode)
        super().keyReleaseEvent(event)

    def _on_mode(self, mode: SceneMode) -> None:
        if mode is SceneMode.LINK:
            self.setDragMode(QGraphicsView.DragMode.NoDrag)
            self.viewport().setCursor(Qt.CursorShape.CrossCursor)
        else:
            self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
            self.viewport().unsetCursor()

    # ---- drops from the palette ----------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if kind_from_mime(event.mimeData()) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()          # nothing else on the canvas takes drops

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if kind_from_mime(event.mimeData()) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        kind = kind_from_mime(event.mimeData())
        if kind is None:
            event.ignore()
            return
        pos = self.mapToScene(event.position().toPoint())
        if self.topo_scene.snap:
            g = style.GRID
            pos = QPointF(round(pos.x() / g) * g, round(pos.y() / g) * g)
        event.acceptProposedAction()
        self.nodeDropRequested.emit(kind, pos)

    # ---- background and hint -------------------------------------------------------
    def drawBackground(self, painter: QPainter, rect: QRectF | QRect) -> None:
        rect = QRectF(rect)
        painter.fillRect(rect, style.CANVAS_BG)
        step = style.GRID * 2
        if step * self.zoom < 12:
            return
        painter.setPen(QPen(style.GRID_DOT, 2.0 / max(self.zoom, 0.5)))
        left = math.floor(rect.left() / step) * step
        top = math.floor(rect.top() / step) * step
        points = []
        y = top
        while y < rect.bottom():
            x = left
            while x < rect.right():
                points.append(QPointF(x, y))
                x += step
            y += step
        painter.drawPoints(points)

    def drawForeground(self, painter: QPainter, rect: QRectF | QRect) -> None:
        if self.topo_scene.nodes:
            return
        painter.save()
        painter.resetTransform()
        vp = QRectF(self.viewport().rect())
        font = painter.font()
        font.setPointSizeF(11.5)
        painter.setFont(font)
        painter.setPen(style.HINT_TEXT)
        painter.drawText(vp, Qt.AlignmentFlag.AlignCenter, HINT)
        painter.restore()
