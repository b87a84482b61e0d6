"""A terminal emulator widget: pyte keeps the screen, this widget paints it and sends keys.

It knows nothing about sockets: bytes come in through `feed()`, and whatever the user types
(or the emulator must answer, such as a cursor position report) leaves through `sendData`.
Every key that sends something is the guest's, shortcuts included (see `event`); the bytes
for each key are `terminal_keys.key_bytes`.
Colours (16, 256 and true colour), bold, reverse video and the cursor are drawn; resizing
changes the emulated screen (the serial console cannot be told, so that part is best effort).
"""

from __future__ import annotations

import pyte
from PySide6.QtCore import QEvent, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QFontMetricsF,
    QKeyEvent,
    QPainter,
    QPaintEvent,
    QResizeEvent,
)
from PySide6.QtWidgets import QWidget

from nemu_gui.terminal_keys import key_bytes

BACKGROUND = QColor("#1e2329")
FOREGROUND = QColor("#d8dee9")
CURSOR = QColor("#f5c542")
NAMED = {
    "black": "#2e3440", "red": "#e06c75", "green": "#98c379", "brown": "#e5c07b",
    "yellow": "#e5c07b", "blue": "#61afef", "magenta": "#c678dd", "cyan": "#56b6c2",
    "white": "#d8dee9", "brightblack": "#5c6370", "brightred": "#ff7b86",
    "brightgreen": "#b5e890", "brightbrown": "#ffd68a", "brightyellow": "#ffd68a",
    "brightblue": "#82c4ff", "brightmagenta": "#e59cff", "brightcyan": "#7fdbe6",
    "brightwhite": "#ffffff",
}

# pyte keeps private modes shifted by 5 bits: DECCKM (?1h, application cursor keys)
DECCKM = 1 << 5


class _Screen(pyte.Screen):
    """A pyte screen whose answers to the remote side go to `reply`."""

    def __init__(self, columns: int, lines: int) -> None:
        super().__init__(columns, lines)
        self.reply: list[bytes] = []

    def write_process_input(self, data: str) -> None:
        self.reply.append(data.encode())


def colour(name: str, default: QColor) -> QColor:
    if name == "default":
        return default
    if name in NAMED:
        return QColor(NAMED[name])
    if len(name) == 6:
        return QColor(f"#{name}")
    return default


class TerminalWidget(QWidget):
    sendData = Signal(bytes)
    resized = Signal(int, int)          # rows, columns: the screen grew or shrank

    def __init__(self, columns: int = 80, lines: int = 24, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.term = _Screen(columns, lines)
        self.stream = pyte.ByteStream(self.term)
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setPointSizeF(10.0)
        font.setStyleHint(QFont.StyleHint.Monospace)
        self.setFont(font)
        self._bold = QFont(font)
        self._bold.setBold(True)
        fm = QFontMetricsF(font)
        self.cell_w = max(1.0, fm.horizontalAdvance("M"))
        self.cell_h = max(1.0, fm.height())
        self._ascent = fm.ascent()
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setMinimumSize(int(self.cell_w * 20), int(self.cell_h * 4))

    # ---- data in and out ---------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        self.stream.feed(data)
        if self.term.reply:
            replies, self.term.reply = self.term.reply, []
            for r in replies:
                self.sendData.emit(r)
        self.update()

    def text(self) -> str:
        """What the screen shows, one line per row (trailing blanks trimmed)."""
        return "\n".join(line.rstrip() for line in self.term.display)

    def event(self, event: QEvent) -> bool:
        """Every key typed here belongs to the guest: the window's shortcuts (Delete,
        Backspace, S, L, +, -, Ctrl+S, Ctrl+Z...) must not see it first. Qt asks the focused
        widget with a ShortcutOverride event before trying shortcuts; accepting it turns the
        key into an ordinary key press for this widget."""
        if (event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent)
                and key_bytes(event.key(), event.modifiers(), event.text(),
                              DECCKM in self.term.mode) is not None):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        data = key_bytes(event.key(), event.modifiers(), event.text(), DECCKM in self.term.mode)
        if data is None:
            super().keyPressEvent(event)
            return
        self.sendData.emit(data)

    def focusNextPrevChild(self, _next: bool) -> bool:
        return False                       # Tab belongs to the shell

    # ---- geometry ----------------------------------------------------------------------
    def resizeEvent(self, event: QResizeEvent) -> None:
        cols = max(20, int(self.width() // self.cell_w))
        rows = max(4, int(self.height() // self.cell_h))
        if (cols, rows) != (self.term.columns, self.term.lines):
            self.term.resize(rows, cols)
            self.resized.emit(rows, cols)
        super().resizeEvent(event)

    # ---- painting ----------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), BACKGROUND)
        cw, ch = self.cell_w, self.cell_h
        buf = self.term.buffer
        for y in range(self.term.lines):
            row = buf[y]
            x = 0
            while x < self.term.columns:      # one run of characters with one look
                c = row[x]
                key = (c.fg, c.bg, c.bold, c.reverse)
                start = x
                chars = [c.data]
                x += 1
                while x < self.term.columns:
                    n = row[x]
                    if (n.fg, n.bg, n.bold, n.reverse) != key:
                        break
                    chars.append(n.data)
                    x += 1
                text = "".join(chars)
                fg = colour(c.fg, FOREGROUND)
                bg = colour(c.bg, BACKGROUND)
                if c.reverse:
                    fg, bg = bg, fg
                rect = QRectF(start * cw, y * ch, (x - start) * cw, ch)
                if bg != BACKGROUND:
                    p.fillRect(rect, bg)
                if text.strip():
                    p.setFont(self._bold if c.bold else self.font())
                    p.setPen(fg)
                    p.drawText(rect.adjusted(0, 0, cw, 0),
                               Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, text)
        cur = self.term.cursor
        if not self.term.cursor.hidden:
            r = QRectF(cur.x * cw, cur.y * ch, cw, ch)
            if self.hasFocus():
                p.fillRect(r, CURSOR)
                ch_data = buf[cur.y][cur.x].data
                p.setPen(BACKGROUND)
                p.drawText(r, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, ch_data)
            else:
                p.setPen(CURSOR)
                p.drawRect(r.adjusted(0, 0, -1, -1))
        p.end()
