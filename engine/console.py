"""A node's serial console (a root shell on ttyS0), bridged to this terminal.

QEMU serves the console on a unix socket and logs it; this bridge puts the terminal in raw mode
and copies bytes both ways until Ctrl-] is typed or the machine goes away.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import sys
import termios
import tty

from engine.errors import NemuError
from engine.images.qemu_boot import socket_dir
from engine.session.directory import SessionDir

ESCAPE = b"\x1d"   # Ctrl-]


def console_socket(sdir: SessionDir, node: str) -> str:
    path = socket_dir(sdir.node_dir(node)) / "console.sock"
    if not path.exists():
        raise NemuError(f"{node} has no console socket (is it a running machine?)")
    return str(path)


def attach_terminal(sdir: SessionDir, node: str) -> int:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(console_socket(sdir, node))
    except OSError as e:
        raise NemuError(f"{node}: cannot reach the console: {e.strerror}") from None
    print(f"connected to {node}'s console; Ctrl-] leaves", file=sys.stderr)
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd) if os.isatty(fd) else None
    try:
        if saved is not None:
            tty.setraw(fd)
        sock.sendall(b"\r")
        while True:
            ready, _, _ = select.select([fd, sock], [], [])
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
        if saved is not None:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        with contextlib.suppress(OSError):
            sock.close()
    print(f"\r\nleft {node}'s console", file=sys.stderr)
    return 0
