"""A node's serial console (a root shell on ttyS0), bridged to this terminal.

QEMU serves the console on a unix socket and logs it; this bridge puts the terminal in raw mode
and copies bytes both ways until Ctrl-] is typed or the machine goes away. A serial line carries
no window size, so the caller's `on_resize` passes it on out of band (through the guest agent).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import sys
import termios
import tty
from collections.abc import Callable

from engine.errors import NemuError
from engine.images.qemu_boot import socket_dir
from engine.session.directory import SessionDir

ESCAPE = b"\x1d"   # Ctrl-]


def console_socket(sdir: SessionDir, node: str) -> str:
    path = socket_dir(sdir.node_dir(node)) / "console.sock"
    if not path.exists():
        raise NemuError(f"{node} has no console socket (is it a running machine?)")
    return str(path)


def attach_terminal(sdir: SessionDir, node: str,
                    on_resize: Callable[[int, int], None] | None = None) -> int:
    """Bridge this terminal to `node`'s console; `on_resize(rows, columns)` is called at once
    and whenever the terminal's window changes size (SIGWINCH)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(console_socket(sdir, node))
    except OSError as e:
        raise NemuError(f"{node}: cannot reach the console: {e.strerror}") from None
    print(f"connected to {node}'s console; Ctrl-] leaves", file=sys.stderr)
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd) if os.isatty(fd) else None
    resized = [saved is not None]
    old_handler = signal.signal(signal.SIGWINCH, lambda *_: resized.__setitem__(0, True))
    try:
        if saved is not None:
            tty.setraw(fd)
        sock.sendall(b"\r")
        while True:
            if resized[0] and on_resize is not None:
                resized[0] = False
                size = os.get_terminal_size(fd)
                on_resize(size.lines, size.columns)
            try:
                ready, _, _ = select.select([fd, sock], [], [])
            except InterruptedError:
                continue
            if sock in ready:
                data = sock.recv(65536)
                if not data:
                    break
                os.write(sys.stdout.fileno(), data)
            if fd in ready:
                data = os.read(fd, 1024)
                if not data or ESCAPE in data:
                    break
                sock.sendall(data)
    finally:
        signal.signal(signal.SIGWINCH, old_handler)
        if saved is not None:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        with contextlib.suppress(OSError):
            sock.close()
    print(f"\r\nleft {node}'s console", file=sys.stderr)
    return 0
