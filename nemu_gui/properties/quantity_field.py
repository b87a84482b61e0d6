"""One editable quantity: an optional slider, an exact text field and an inline error.

The field never applies anything itself: it emits `edited(value, merge_key)`, where `value` is
an internal value (from the slider) or the text typed (parsed by the model), and `merge_key` is
the same object for every step of one slider drag (so the drag is one undo step). The owner
shows a refusal with `show_error`; nothing is applied then.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QSlider, QVBoxLayout, QWidget

from nemu_gui.properties.scales import LogScale


class QuantityField(QWidget):
    edited = Signal(object, object)       # value (internal value or text), merge key

    def __init__(self, fmt: Callable[[Any], str], scale: LogScale | None = None,
                 placeholder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._fmt = fmt
        self.scale = scale
        self._value: Any = None
        self._drag_key: object | None = None
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(2)
        row = QHBoxLayout()
        row.setSpacing(6)
        outer.addLayout(row)
        self.slider: QSlider | None = None
        if scale is not None:
            self.slider = QSlider(Qt.Orientation.Horizontal)
            self.slider.setRange(0, scale.maximum)
            self.slider.setPageStep(50)
            self.slider.valueChanged.connect(self._slid)
            self.slider.sliderPressed.connect(self._pressed)
            self.slider.sliderReleased.connect(self._released)
            row.addWidget(self.slider, 3)
        self.text = QLineEdit()
        self.text.setPlaceholderText(placeholder)
        self.text.editingFinished.connect(self._typed)
        self.text.textEdited.connect(lambda _t: self.clear_error())
        row.addWidget(self.text, 2)
        self.error = QLabel()
        self.error.setObjectName("fieldError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c0392b; font-size: 8pt;")
        self.error.hide()
        outer.addWidget(self.error)

    # ---- shown value ---------------------------------------------------------------
    def set_value(self, value: Any) -> None:
        """Show `value` (internal units) without emitting anything."""
        self._value = value
        if not self.text.hasFocus() or not self.error.isVisible():
            self.text.setText(self._fmt(value))
        if self.slider is not None and self.scale is not None and not self.slider.isSliderDown():
            self.slider.blockSignals(True)
            self.slider.setValue(self.scale.to_pos(value))
            self.slider.blockSignals(False)

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.show()
        self.text.setProperty("invalid", True)
        self.text.setStyleSheet("border: 1px solid #c0392b; background: #fdecea;")

    def clear_error(self) -> None:
        if self.error.isVisible():
            self.error.hide()
            self.text.setStyleSheet("")

    def has_error(self) -> bool:
        return not self.error.isHidden()

    # ---- user edits ----------------------------------------------------------------
    def _pressed(self) -> None:
        self._drag_key = object()

    def _released(self) -> None:
        self._drag_key = None

    def _slid(self, pos: int) -> None:
        assert self.scale is not None
        value = self.scale.from_pos(pos)
        self.clear_error()
        self.text.setText(self._fmt(value))
        self.edited.emit(value, self._drag_key)

    def _typed(self) -> None:
        text = self.text.text().strip()
        if text == self._fmt(self._value) and not self.has_error():
            return
        self.edited.emit(text, None)
