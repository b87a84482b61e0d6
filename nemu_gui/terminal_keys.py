"""What a terminal sends for a key: xterm's encoding, which the guests' shells and programs read.

Pure (no widgets): `key_bytes(key, modifiers, text, app_cursor)` turns one Qt key press into
bytes, or None for a key that sends nothing (a lone modifier). The rules, in order:
- cursor and editing keys, function keys: `ESC [ A`, `ESC O P`, `ESC [ 15 ~`..., with xterm's
  modifier parameter when Shift/Alt/Ctrl are held (`ESC [ 1 ; 5 D` is Ctrl+Left); cursor keys
  send `ESC O A` instead while the program asked for application cursor keys (DECCKM);
- Ctrl with a letter or one of `@[\\]^_` (and xterm's digits): the control character;
- otherwise the key's text in UTF-8;
- Alt puts ESC before what the key sends (readline's Meta), unless it is already a sequence.
"""

from __future__ import annotations

from PySide6.QtCore import Qt

K = Qt.Key
M = Qt.KeyboardModifier

# ESC [ <final> (or ESC O <final> in application cursor mode): arrows, Home, End
_CURSOR = {K.Key_Up: "A", K.Key_Down: "B", K.Key_Right: "C", K.Key_Left: "D",
           K.Key_Home: "H", K.Key_End: "F"}
# ESC O <final>: F1-F4
_SS3 = {K.Key_F1: "P", K.Key_F2: "Q", K.Key_F3: "R", K.Key_F4: "S"}
# ESC [ <number> ~
_TILDE = {K.Key_Insert: 2, K.Key_Delete: 3, K.Key_PageUp: 5, K.Key_PageDown: 6,
          K.Key_F5: 15, K.Key_F6: 17, K.Key_F7: 18, K.Key_F8: 19, K.Key_F9: 20,
          K.Key_F10: 21, K.Key_F11: 23, K.Key_F12: 24}
_PLAIN = {K.Key_Return: b"\r", K.Key_Enter: b"\r", K.Key_Tab: b"\t", K.Key_Escape: b"\x1b",
          K.Key_Backspace: b"\x7f"}
# Ctrl + a key that is not a letter (xterm: Ctrl+2 is NUL ... Ctrl+8 is DEL)
_CTRL_OTHER = {K.Key_Space: 0, K.Key_At: 0, K.Key_2: 0, K.Key_BracketLeft: 0x1b, K.Key_3: 0x1b,
               K.Key_Backslash: 0x1c, K.Key_4: 0x1c, K.Key_BracketRight: 0x1d, K.Key_5: 0x1d,
               K.Key_AsciiCircum: 0x1e, K.Key_6: 0x1e, K.Key_Underscore: 0x1f,
               K.Key_Slash: 0x1f, K.Key_7: 0x1f, K.Key_8: 0x7f, K.Key_Question: 0x7f}


def _modifier_param(mods: M) -> int:
    """xterm's modifier parameter: 1 + Shift 1 + Alt 2 + Ctrl 4 (1: none)."""
    return (1 + (1 if mods & M.ShiftModifier else 0) + (2 if mods & M.AltModifier else 0)
            + (4 if mods & M.ControlModifier else 0))


def key_bytes(key: int, modifiers: M, text: str, app_cursor: bool = False) -> bytes | None:
    """The bytes a terminal sends for this key press (None: nothing)."""
    try:
        k: Qt.Key | None = K(key)
    except ValueError:
        k = None
    param = _modifier_param(modifiers)
    if k in _CURSOR:
        final = _CURSOR[k]
        if param > 1:
            return f"\x1b[1;{param}{final}".encode()
        return f"\x1bO{final}".encode() if app_cursor else f"\x1b[{final}".encode()
    if k in _SS3:
        final = _SS3[k]
        return f"\x1b[1;{param}{final}".encode() if param > 1 else f"\x1bO{final}".encode()
    if k in _TILDE:
        n = _TILDE[k]
        return f"\x1b[{n};{param}~".encode() if param > 1 else f"\x1b[{n}~".encode()
    if k is K.Key_Backtab or (k is K.Key_Tab and modifiers & M.ShiftModifier):
        return b"\x1b[Z"
    data: bytes | None = None
    if k is K.Key_Backspace and modifiers & M.ControlModifier:
        data = b"\x08"
    elif k in _PLAIN:
        data = _PLAIN[k]
    elif modifiers & M.ControlModifier and K.Key_A.value <= key <= K.Key_Z.value:
        data = bytes([key - K.Key_A.value + 1])
    elif modifiers & M.ControlModifier and k in _CTRL_OTHER:
        data = bytes([_CTRL_OTHER[k]])
    elif text and (text.isprintable() or len(text) == 1):
        data = text.encode()
    if data is None:
        return None
    if modifiers & M.AltModifier:
        data = b"\x1b" + data
    return data
