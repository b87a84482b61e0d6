"""The consoles dock: one tab per node, each a terminal on the node's serial console.

QEMU serves the console (a root shell on ttyS0) on a unix socket; a QLocalSocket reads it
without blocking the Qt thread and a `TerminalWidget` shows it. "External terminal" starts
`nemu console -s SESSION NODE` in a terminal emulator through the session's host seam.
"""

from __future__ import annotations

import shutil
import sys

from PySide6.QtCore import QByteArray, QTimer, Signal
from PySide6.QtNetwork import QLocalSocket
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.console import console_socket
from engine.errors import NemuError
from nemu_gui.engine_bridge import EngineBridge
from nemu_gui.terminal_widget import TerminalWidget

TERMINALS = ("x-terminal-emulator", "xterm", "gnome-terminal", "konsole")


def external_terminal() -> str | None:
    return next((t for t in TERMINALS if shutil.which(t)), None)


def nemu_command() -> list[str]:
    exe = shutil.which("nemu")
    return [exe] if exe else [sys.executable, "-m", "engine.cli.main"]


class ConsoleTab(QWidget):
    """One node's console: status line, reconnect, external terminal, the terminal itself."""

    sizeChanged = Signal(str, int, int)     # node, rows, columns (settled, once connected)

    def __init__(self, node: str, path: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.node, self.path = node, path
        self.terminal = TerminalWidget()
        self._size_timer = QTimer(self)          # a window drag resizes many times: send the last
        self._size_timer.setSingleShot(True)
        self._size_timer.setInterval(300)
        self._size_timer.timeout.connect(self._send_size)
        self.terminal.resized.connect(lambda _r, _c: self._size_timer.start())
        self.status = QLabel()
        self.status.setObjectName("consoleStatus")
        self.reconnect = QPushButton("Reconnect")
        self.reconnect.clicked.connect(self.connect_socket)
        self.external = QPushButton("External terminal")
        top = QHBoxLayout()
        top.setContentsMargins(4, 2, 4, 2)
        top.addWidget(self.status, 1)
        top.addWidget(self.reconnect)
        top.addWidget(self.external)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addLayout(top)
        lay.addWidget(self.terminal, 1)
        self.socket = QLocalSocket(self)
        self.socket.readyRead.connect(self._read)
        self.socket.connected.connect(self._connected)
        self.socket.disconnected.connect(lambda: self._set_status("disconnected"))
        self.socket.errorOccurred.connect(
            lambda _e: self._set_status(f"not connected: {self.socket.errorString()}"))
        self.terminal.sendData.connect(self.send)

    def connect_socket(self) -> None:
        self.socket.abort()
        self._set_status("connecting…")
        self.socket.connectToServer(self.path)

    def _connected(self) -> None:
        self._set_status(f"connected to {self.node}'s serial console")
        self._send_size()
        self.send(b"\r")                     # ask the shell for a fresh prompt

    def _send_size(self) -> None:
        if self.socket.state() == QLocalSocket.LocalSocketState.ConnectedState:
            self.sizeChanged.emit(self.node, self.terminal.term.lines, self.terminal.term.columns)

    def _set_status(self, text: str) -> None:
        self.status.setText(text)
        self.reconnect.setVisible(self.socket.state() != QLocalSocket.LocalSocketState
                                  .ConnectedState)

    def _read(self) -> None:
        self.terminal.feed(bytes(self.socket.readAll().data()))

    def send(self, data: bytes) -> None:
        if self.socket.state() == QLocalSocket.LocalSocketState.ConnectedState:
            self.socket.write(QByteArray(data))

    def close_socket(self) -> None:
        self.socket.abort()


class ConsoleDock(QTabWidget):
    failed = Signal(str, str)

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.tabs: dict[str, ConsoleTab] = {}
        self.setTabsClosable(True)
        self.setDocumentMode(True)
        self.setMovable(True)
        self.tabCloseRequested.connect(self._close_tab)
        self.hint = QLabel("Start the lab, then right-click a node → Console.")
        self.hint.setObjectName("consoleHint")

    def open(self, node: str) -> ConsoleTab | None:
        """Show (opening if needed) the console of `node`; None if it has none."""
        tab = self.tabs.get(node)
        if tab is not None:
            if tab.socket.state() != QLocalSocket.LocalSocketState.ConnectedState:
                tab.connect_socket()
            self.setCurrentWidget(tab)
            tab.terminal.setFocus()
            return tab
        s = self.bridge.session
        if s is None:
            self.failed.emit(f"No console for {node}", "The lab is not running.")
            return None
        try:
            path = console_socket(s.dir, node)
        except NemuError as e:
            self.failed.emit(f"No console for {node}", str(e))
            return None
        return self.open_socket(node, path)

    def open_socket(self, node: str, path: str) -> ConsoleTab:
        """A new tab on the console served at `path` (a unix socket), shown and focused."""
        tab = ConsoleTab(node, path)
        tab.sizeChanged.connect(self.bridge.actions.resize_console)
        tab.external.clicked.connect(lambda: self.open_external(node))
        tab.external.setEnabled(external_terminal() is not None)
        if not tab.external.isEnabled():
            tab.external.setToolTip(f"no terminal emulator found ({', '.join(TERMINALS)})")
        self.tabs[node] = tab
        self.setCurrentIndex(self.addTab(tab, node))
        tab.connect_socket()
        tab.terminal.setFocus()
        return tab

    def open_external(self, node: str) -> bool:
        term = external_terminal()
        s = self.bridge.session
        if term is None or s is None:
            self.failed.emit("No external terminal",
                             f"Install one of {', '.join(TERMINALS)}, or use the console tab.")
            return False
        argv = [term, "-e", *nemu_command(), "console", "-s", str(s.dir.root), node]
        self.bridge.actions.start_process(argv, f"terminal-{node}",
                                          f"Could not open a terminal for {node}")
        return True

    def _close_tab(self, index: int) -> None:
        tab = self.widget(index)
        if isinstance(tab, ConsoleTab):
            tab.close_socket()
            self.tabs.pop(tab.node, None)
        self.removeTab(index)
        if tab is not None:
            tab.deleteLater()

    def lab_stopped(self) -> None:
        for tab in self.tabs.values():
            tab.close_socket()
            tab._set_status("the lab stopped")
