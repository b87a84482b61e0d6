"""The label in the middle of a link: its parameters when idle, its live rates when running.

The run-control layer calls `set_rates()` (through the scene) for every stats sample; the label
only re-measures its text, so thousands of labels can refresh at a few hertz.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QFontMetricsF, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from nemu_gui.scene import style


class LinkLabelItem(QGraphicsItem):
    Type = 65536 + 3             # QGraphicsItem.UserType + 3

    def __init__(self, parent: QGraphicsItem | None = None) -> None:
        super().__init__(parent)
        self._font = style.label_font(8.0)
        self._fm = QFontMetricsF(self._font)
        self._text = ""
        self._lazy: Callable[[], str] | None = None   # text to make when next painted
        self._rect = QRectF()
        self.setZValue(1)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)

    @property
    def text(self) -> str:
        self._resolve()
        return self._text

    def set_lazy(self, make_text: Callable[[], str]) -> None:
        """New text of the same size, made only if the label is painted (live refreshes of
        labels outside the view cost a stored callable)."""
        self._lazy = make_text
        self.update()

    def _resolve(self) -> None:
        if self._lazy is not None:
            self._text = self._lazy()
            self._lazy = None

    def set_text(self, text: str, width_of: str | None = None) -> None:
        """Show `text`; `width_of` sizes the label for a template instead (live rates use one,
        so a refresh never changes the label's geometry and the scene index is left alone)."""
        self._lazy = None
        if text == self._text:
            return
        self._text = text
        rect = self._measure(width_of if width_of is not None else text) if text else QRectF()
        if rect != self._rect:
            self.prepareGeometryChange()
            self._rect = rect
        self.update()

    def _measure(self, text: str) -> QRectF:
        w = self._fm.horizontalAdvance(text) + 10
        h = self._fm.height() + 4
        return QRectF(-w / 2, -h / 2, w, h)

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: QWidget | None = None) -> None:
        self._resolve()
        if not self._text:
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(style.LABEL_BORDER, 1))
        painter.setBrush(style.LABEL_BG)
        painter.drawRoundedRect(self._rect, 6, 6)
        painter.setFont(self._font)
        painter.setPen(style.LABEL_TEXT)
        painter.drawText(self._rect, Qt.AlignmentFlag.AlignCenter, self._text)

    def type(self) -> int:
        return self.Type
