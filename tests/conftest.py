"""Fixtures for the whole suite.

A real X display for tests: Xvfb on a free display number, and xdotool to send it input.

Xvfb picks the number itself (`-displayfd`), so tests running side by side never collide.
Input goes through the X server (XTEST, as a user's keyboard and mouse do), so Qt receives it
through its xcb platform plugin exactly as it would on a desktop.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class XDisplay:
    name: str            # ":N"
    pid: int
    width: int
    height: int

    @property
    def env(self) -> dict[str, str]:
        """An environment for programs that must run on this display (Qt on xcb)."""
        env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY",)}
        env.update(DISPLAY=self.name, QT_QPA_PLATFORM="xcb")
        env.pop("XAUTHORITY", None)
        return env

    def xdotool(self, *args: str, timeout: float = 20.0) -> str:
        r = subprocess.run(["xdotool", *args], env=self.env, capture_output=True, text=True,
                           timeout=timeout, check=False)
        if r.returncode != 0:
            raise AssertionError(f"xdotool {' '.join(args)}: {r.stderr.strip()}")
        return r.stdout

    def key(self, *keys: str, delay_ms: int = 30) -> None:
        """Press and release each key (X keysym names, chords like 'ctrl+c')."""
        self.xdotool("key", "--delay", str(delay_ms), *keys)

    def type(self, text: str, delay_ms: int = 20) -> None:
        self.xdotool("type", "--delay", str(delay_ms), text)

    def click(self, x: int, y: int, button: int = 1) -> None:
        """Move the pointer to (x, y) on the screen and click."""
        self.xdotool("mousemove", "--sync", str(x), str(y))
        self.xdotool("click", str(button))

    def focus(self, window_id: int) -> None:
        self.xdotool("windowfocus", "--sync", str(window_id))


@contextmanager
def xvfb(width: int = 1280, height: int = 1024) -> Iterator[XDisplay]:
    """Start Xvfb on a free display; stop it (by PID) afterwards."""
    assert shutil.which("Xvfb"), "Xvfb is missing: bash .ci/setup installs it (xvfb)"
    assert shutil.which("xdotool"), "xdotool is missing: bash .ci/setup installs it"
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-screen", "0", f"{width}x{height}x24",
         "-nolisten", "tcp", "-noreset"],
        pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    os.close(write_fd)
    try:
        number = b""
        deadline = time.monotonic() + 20
        while not number.endswith(b"\n") and time.monotonic() < deadline:
            chunk = os.read(read_fd, 16)
            if not chunk:
                break
            number += chunk
        if not number.strip():
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise AssertionError(f"Xvfb did not start: {err.strip()[-500:]}")
        yield XDisplay(f":{int(number)}", proc.pid, width, height)
    finally:
        os.close(read_fd)
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


@pytest.fixture(scope="module")
def x_display() -> Iterator[XDisplay]:
    """A real X display (Xvfb) for the tests of one module, stopped after them."""
    with xvfb() as display:
        yield display
