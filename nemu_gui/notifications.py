"""Non-modal notifications shown above the canvas: a message, optional detail and actions.

Nothing here blocks: errors (a file that would not load, an engine failure) stay until closed;
information fades by itself after a few seconds. The area floats over the top of the canvas
(`overlay`): a banner that comes or goes never moves the canvas under the user's pointer.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)


class Level(enum.Enum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


_COLOURS = {Level.INFO: ("#eaf3fe", "#2d7ff9"), Level.WARNING: ("#fff6e0", "#e6a100"),
            Level.ERROR: ("#fdecea", "#c0392b")}


class Notification(QFrame):
    closed = Signal()

    def __init__(self, title: str, detail: str = "", level: Level = Level.INFO,
                 actions: dict[str, Callable[[], object]] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.level = level
        self.setObjectName("notification")
        bg, edge = _COLOURS[level]
        self.setStyleSheet(f"#notification {{ background: {bg}; border: 1px solid {edge}; "
                           f"border-left: 4px solid {edge}; border-radius: 4px; }}")
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 6, 6, 6)
        text = QVBoxLayout()
        self.title = QLabel(f"<b>{title}</b>")
        self.title.setWordWrap(True)
        text.addWidget(self.title)
        self.detail = QLabel(detail)
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.detail.setVisible(bool(detail))
        self.detail.setStyleSheet("font-family: monospace; font-size: 9pt;")
        text.addWidget(self.detail)
        row.addLayout(text, 1)
        for label, fn in (actions or {}).items():
            b = QPushButton(label)
            b.clicked.connect(lambda _c=False, fn=fn: self._run(fn))
            row.addWidget(b, 0, Qt.AlignmentFlag.AlignTop)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.dismiss)
        row.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)

    def _run(self, fn: Callable[[], object]) -> None:
        fn()
        self.dismiss()

    @property
    def text(self) -> str:
        return f"{self.title.text()}\n{self.detail.text()}"

    def dismiss(self) -> None:
        self.hide()
        self.closed.emit()
        self.deleteLater()


class NotificationArea(QWidget):
    """A column of notifications; the newest at the bottom, at most `limit` shown."""

    def __init__(self, parent: QWidget | None = None, limit: int = 4,
                 info_timeout_ms: int = 6000) -> None:
        super().__init__(parent)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(8, 6, 8, 0)
        self._layout.setSpacing(4)
        self._limit = limit
        self._timeout = info_timeout_ms
        self.items: list[Notification] = []
        self.hide()

    def overlay(self, host: QWidget) -> None:
        """Float over the top edge of `host` (its full width), above its content."""
        self.setParent(host)
        host.installEventFilter(self)
        self._place()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.parentWidget() and event.type() == QEvent.Type.Resize:
            self._place()
        return super().eventFilter(watched, event)

    def _place(self) -> None:
        host = self.parentWidget()
        if host is None or not self.items:
            return
        self.setGeometry(0, 0, host.width(), self.heightForWidth(host.width())
                         if self.hasHeightForWidth() else self.sizeHint().height())
        self.raise_()

    def notify(self, title: str, detail: str = "", level: Level = Level.INFO,
               actions: dict[str, Callable[[], object]] | None = None) -> Notification:
        n = Notification(title, detail, level, actions, self)
        n.closed.connect(lambda n=n: self._forget(n))
        self.items.append(n)
        self._layout.addWidget(n)
        while len(self.items) > self._limit:
            self.items[0].dismiss()
        if level is Level.INFO and not actions:
            QTimer.singleShot(self._timeout, n.dismiss)
        self.show()
        self._place()
        return n

    def _forget(self, n: Notification) -> None:
        if n in self.items:
            self.items.remove(n)
        if not self.items:
            self.hide()
        else:
            self._layout.activate()
            self._place()
