"""xterm's key encoding (nemu_gui/terminal_keys.py) and the terminal widget taking its keys."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeyEvent

from nemu_gui.terminal_keys import key_bytes
from nemu_gui.terminal_widget import TerminalWidget

K, M = Qt.Key, Qt.KeyboardModifier
NONE = M.NoModifier


def test_cursor_keys_follow_the_programs_mode_and_modifiers() -> None:
    assert key_bytes(K.Key_Up, NONE, "") == b"\x1b[A"
    assert key_bytes(K.Key_Up, NONE, "", app_cursor=True) == b"\x1bOA"
    assert key_bytes(K.Key_Left, M.ControlModifier, "") == b"\x1b[1;5D"
    assert key_bytes(K.Key_End, M.ShiftModifier, "", app_cursor=True) == b"\x1b[1;2F"
    assert key_bytes(K.Key_F3, M.AltModifier, "") == b"\x1b[1;3R"
    assert key_bytes(K.Key_Delete, M.ControlModifier, "") == b"\x1b[3;5~"


def test_control_and_alt_chords() -> None:
    assert key_bytes(K.Key_C, M.ControlModifier, "\x03") == b"\x03"
    assert key_bytes(K.Key_C, M.ControlModifier | M.ShiftModifier, "\x03") == b"\x03"
    assert key_bytes(K.Key_BracketRight, M.ControlModifier, "") == b"\x1d"
    assert key_bytes(K.Key_Space, M.ControlModifier, " ") == b"\x00"
    assert key_bytes(K.Key_Backspace, M.ControlModifier, "") == b"\x08"
    assert key_bytes(K.Key_Backspace, M.AltModifier, "") == b"\x1b\x7f"
    assert key_bytes(K.Key_B, M.AltModifier, "b") == b"\x1bb"
    assert key_bytes(K.Key_Shift, M.ShiftModifier, "") is None       # a lone modifier
    assert key_bytes(K.Key_E, NONE, "é") == "é".encode()


def test_the_terminal_claims_shortcut_keys_and_follows_decckm(qtbot) -> None:
    t = TerminalWidget()
    qtbot.addWidget(t)
    sent: list[bytes] = []
    t.sendData.connect(sent.append)
    override = QKeyEvent(QEvent.Type.ShortcutOverride, K.Key_Backspace, NONE)
    override.ignore()
    assert t.event(override) and override.isAccepted()
    lone = QKeyEvent(QEvent.Type.ShortcutOverride, K.Key_Control, M.ControlModifier)
    lone.ignore()
    t.event(lone)
    assert not lone.isAccepted()                 # nothing to send: shortcuts may have it
    t.feed(b"\x1b[?1h")                          # a program asks for application cursor keys
    qtbot.keyClick(t, K.Key_Up)
    t.feed(b"\x1b[?1l")
    qtbot.keyClick(t, K.Key_Up)
    assert sent == [b"\x1bOA", b"\x1b[A"]
