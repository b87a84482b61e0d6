"""A console owns its keys, on a real X display (Xvfb, the xcb platform, keys sent by xdotool).

The designer runs in a child process (tests/gui/xcb_app.py); its console tab is connected to a
unix socket this test serves, standing where QEMU's serial console socket stands, and every
byte the tab sends is recorded. The keys travel X server -> xcb -> Qt, as a user's do, so the
window's shortcuts (Delete/Backspace, S, L, +, -, Ctrl+S, Ctrl+R...) get their chance at each
one. A real guest receiving them is tests/gui/test_console_keys_live.py.
"""

from __future__ import annotations

import socket
import string
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# What a terminal sends for each key (xterm's choices, which the guests' shells expect).
KEYS: list[tuple[str, bytes]] = [
    ("BackSpace", b"\x7f"), ("Delete", b"\x1b[3~"), ("Return", b"\r"), ("Tab", b"\t"),
    ("Escape", b"\x1b"), ("Up", b"\x1b[A"), ("Down", b"\x1b[B"), ("Right", b"\x1b[C"),
    ("Left", b"\x1b[D"), ("Home", b"\x1b[H"), ("End", b"\x1b[F"), ("Prior", b"\x1b[5~"),
    ("Next", b"\x1b[6~"), ("Insert", b"\x1b[2~"), ("F1", b"\x1bOP"), ("F2", b"\x1bOQ"),
    ("F5", b"\x1b[15~"), ("F12", b"\x1b[24~"), ("shift+Tab", b"\x1b[Z"),
    ("ctrl+c", b"\x03"), ("ctrl+z", b"\x1a"), ("ctrl+d", b"\x04"), ("ctrl+l", b"\x0c"),
    ("ctrl+s", b"\x13"), ("ctrl+q", b"\x11"), ("ctrl+r", b"\x12"), ("ctrl+o", b"\x0f"),
    ("ctrl+n", b"\x0e"), ("ctrl+a", b"\x01"), ("ctrl+v", b"\x16"), ("ctrl+y", b"\x19"),
    ("ctrl+w", b"\x17"), ("ctrl+g", b"\x07"), ("ctrl+bracketright", b"\x1d"),
    ("ctrl+space", b"\x00"), ("ctrl+shift+r", b"\x12"), ("alt+f", b"\x1bf"),
    ("alt+shift+l", b"\x1bL"), ("ctrl+Left", b"\x1b[1;5D"), ("ctrl+Right", b"\x1b[1;5C"),
    ("minus", b"-"), ("plus", b"+"), ("equal", b"="), ("l", b"l"), ("s", b"s"),
]


class ConsoleServer:
    """A unix socket that records every byte a console tab sends (one client at a time)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data = bytearray()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(4)
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.sendall(b"fake-guest# ")
            with conn:
                while chunk := conn.recv(4096):
                    self.data.extend(chunk)

    def take(self, n: int, timeout: float = 15.0) -> bytes:
        """Wait until `n` bytes have come, and take them."""
        deadline = time.monotonic() + timeout
        while len(self.data) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        got = bytes(self.data[:n])
        del self.data[:n]
        return got

    def close(self) -> None:
        self._stop = True
        self.sock.close()


@pytest.fixture
def console(tmp_path: Path) -> Iterator[ConsoleServer]:
    server = ConsoleServer(tmp_path / "h1-console.sock")
    yield server
    server.close()


CANVAS = ("(sorted(w.scene.nodes), sorted(w.scene.selected_nodes()), round(w.view.zoom, 4), "
          "w.scene.mode.value, w.controller.undo_stack.count(), w.document.path)")


def open_console(app, console: ConsoleServer) -> None:
    """Select h2 with a real click, then open h1's console on the test's socket and click
    into its terminal (a real click: the terminal takes the focus as a user gives it)."""
    app.display.click(*app.node_pos("h2"))
    app.wait_until("w.scene.selected_nodes() == ['h2']")
    app.exec("w.run_controls.docks['Consoles'].show(); "
             "w.run_controls.docks['Consoles'].raise_(); "
             f"w.run_controls.consoles.open_socket('h1', {str(console.path)!r})")
    assert console.take(1) == b"\r"            # the tab asks the shell for a prompt
    app.display.click(*app.screen_pos("w.run_controls.consoles.tabs['h1'].terminal"))
    app.wait_until("app.focusWidget() is w.run_controls.consoles.tabs['h1'].terminal")
    app.wait_until("'fake-guest#' in w.run_controls.consoles.tabs['h1'].terminal.text()")


def test_every_key_typed_in_a_console_reaches_the_guest_and_nothing_else(
        xcb_app, console: ConsoleServer, tmp_path: Path) -> None:
    app = xcb_app("--example", "two-hosts")
    open_console(app, console)
    before = app.eval(CANVAS)
    assert before[1] == ["h2"]

    printable = "".join(c for c in string.printable if c not in string.whitespace) + " é"
    app.display.type(printable)
    assert console.take(len(printable.encode())).decode() == printable

    for key, expected in KEYS:
        app.display.key(key)
        got = console.take(len(expected), timeout=5)
        assert got == expected, f"{key}: sent {got!r}, want {expected!r}"
    time.sleep(0.3)
    assert bytes(console.data) == b"", f"more than was typed: {bytes(console.data)!r}"
    assert app.eval(CANVAS) == before           # no zoom, mode switch, delete, save, start
    assert app.eval("w.bridge.state.value") == "idle"
    assert app.eval("[n.isVisible() for n in w.findChildren(QtWidgets.QDialog)]") in ([], None) \
        or not any(app.eval("[n.isVisible() for n in w.findChildren(QtWidgets.QDialog)]"))
    app.screenshot(tmp_path / "console-keys.png")


def test_backspace_in_a_console_deletes_nothing_but_does_on_the_canvas(
        xcb_app, console: ConsoleServer) -> None:
    app = xcb_app("--example", "two-hosts")
    open_console(app, console)
    for key in ("BackSpace", "Delete", "BackSpace"):
        app.display.key(key)
    assert console.take(6) == b"\x7f\x1b[3~\x7f"
    assert app.eval("sorted(w.scene.nodes)") == ["h1", "h2"]
    assert app.eval("w.controller.undo_stack.count()") == 0
    # the same key on the canvas (a click on it gives it the focus) deletes the selection
    app.display.click(*app.node_pos("h2"))
    app.wait_until("app.focusWidget() is w.view")
    app.display.key("BackSpace")
    app.wait_until("sorted(w.scene.nodes) == ['h1']")
    # and the window's other keys work there again: L switches to Link mode, - zooms out
    zoom = app.eval("w.view.zoom")
    app.display.key("l", "minus")
    app.wait_until("w.scene.mode.value == 'link'")
    app.wait_until(f"w.view.zoom < {zoom}")
