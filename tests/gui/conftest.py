"""GUI tests run offscreen against the real widgets."""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import time
import warnings

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, QSettings, Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QMouseEvent
from PySide6.QtWidgets import QApplication, QComboBox

from engine.model import Topology
from nemu_gui.app import configure
from nemu_gui.main_window import MainWindow
from nemu_gui.scene.canvas_view import CanvasView


@pytest.fixture(autouse=True)
def _empty_clipboard_after(qapp):
    """Qt's offscreen clipboard still owning mime data when Python tears the application down
    crashes the interpreter at exit (status 139 after every test passed): empty it each time."""
    yield
    QApplication.clipboard().clear()


@pytest.fixture(autouse=True)
def _own_sessions_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sessions (and the running labs a window offers to attach to) live in the test's own
    folder, never the user's."""
    monkeypatch.setenv("NEMU_SESSIONS", str(tmp_path / "sessions"))


@pytest.fixture
def make_window(qtbot, tmp_path: Path):
    created: list[MainWindow] = []

    def make(topology: Topology | None = None, recovery: Path | None = None) -> MainWindow:
        app = QApplication.instance()
        assert isinstance(app, QApplication)
        configure(app)
        settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
        w = MainWindow(settings, recovery or tmp_path / "recovery", topology=topology)
        w.file_menu.confirm_discard = lambda doing: True  # type: ignore[method-assign]
        qtbot.addWidget(w)
        w.show()
        qtbot.waitExposed(w)
        created.append(w)
        return w

    yield make
    for w in created:
        w.document._forced_dirty = False
        w.controller.undo_stack.setClean()


@pytest.fixture
def window(make_window) -> Iterator[MainWindow]:
    yield make_window()


def send_mouse(view: CanvasView, kind: QEvent.Type, scene_pos: QPointF,
               button: Qt.MouseButton = Qt.MouseButton.LeftButton,
               buttons: Qt.MouseButton | None = None,
               modifiers: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    vp = view.viewport()
    local = QPointF(view.mapFromScene(scene_pos))
    if buttons is None:
        buttons = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else button
    ev = QMouseEvent(kind, local, QPointF(vp.mapToGlobal(local.toPoint())), button,
                     buttons, modifiers)
    QApplication.sendEvent(vp, ev)


def drag(view: CanvasView, start: QPointF, end: QPointF, steps: int = 5,
         modifiers: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    """A left-button drag on the view from `start` to `end` (scene coordinates)."""
    left = Qt.MouseButton.LeftButton
    send_mouse(view, QEvent.Type.MouseButtonPress, start, modifiers=modifiers)
    for i in range(1, steps + 1):
        p = start + (end - start) * (i / steps)
        send_mouse(view, QEvent.Type.MouseMove, p, Qt.MouseButton.NoButton, left, modifiers)
    send_mouse(view, QEvent.Type.MouseButtonRelease, end, modifiers=modifiers)


def drop_mime(view: CanvasView, mime, scene_pos: QPointF) -> bool:
    """Drag-enter then drop `mime` on the view at `scene_pos`; True if the drop was taken."""
    vp = view.viewport()
    pt: QPoint = view.mapFromScene(scene_pos)
    with warnings.catch_warnings():         # PySide flags the QPoint constructor
        warnings.simplefilter("ignore", DeprecationWarning)
        enter = QDragEnterEvent(pt, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(vp, enter)
    if not enter.isAccepted():
        return False
    drop = QDropEvent(QPointF(pt), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(vp, drop)
    return drop.isAccepted()


def choose_in_combo(qtbot, combo: QComboBox, text: str) -> None:
    """Pick `text` the way a user does: open the list and click the item."""
    index = combo.findText(text)
    assert index >= 0, [combo.itemText(i) for i in range(combo.count())]
    combo.showPopup()
    view = combo.view()
    qtbot.waitUntil(view.isVisible)
    rect = view.visualRect(view.model().index(index, 0))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: not view.isVisible())


@pytest.fixture
def choose() -> Callable[..., None]:
    """choose(qtbot, combo, text): pick an item of a combo box as a user does."""
    return choose_in_combo


class LabWindows:
    """Designer windows whose labs REALLY run (QEMU, vswitch): opened with their sessions in a
    test folder; closing stops the lab and checks by PID that nothing it started is left."""

    @staticmethod
    def pids(w: MainWindow) -> list[int]:
        s = w.bridge.session
        return [] if s is None else [p.pid for _role, p in s.registry.items()]

    @classmethod
    def close(cls, w: MainWindow) -> list[int]:
        """Stop the window's lab if it runs, close the window; the PIDs it had running."""
        pids = cls.pids(w)
        if w.bridge.session is not None:
            with contextlib.suppress(Exception):
                w.bridge.stop_all()
        w.bridge.shutdown()
        w.controller.undo_stack.setClean()
        w.close()
        w.deleteLater()
        return pids

    @staticmethod
    def assert_gone(pids: list[int]) -> None:
        alive = [p for p in pids if psutil.pid_exists(p)
                 and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        assert not alive, f"processes left running: {alive}"

    @classmethod
    @contextlib.contextmanager
    def open(cls, qapp: QApplication, tmp: Path, topology: Topology) -> Iterator[MainWindow]:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("NEMU_SESSIONS", str(tmp / "sessions"))
            configure(qapp)
            settings = QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat)
            w = MainWindow(settings, tmp / "recovery", topology=topology)
            w.file_menu.confirm_discard = lambda doing: True  # type: ignore[method-assign]
            w.show()
            pids: list[int] = []
            try:
                yield w
            finally:
                pids = cls.close(w) or pids
            cls.assert_gone(pids)


@pytest.fixture(scope="session")
def lab_windows() -> type[LabWindows]:
    return LabWindows


class XcbApp:
    """A designer window in a child process on a real X display (tests/gui/xcb_app.py).

    Tests send it keys and clicks through the X server (`x_display.key/type/click`) and look
    at its state with `eval` (Python evaluated in the child, `w` being the window)."""

    def __init__(self, display: Any, tmp: Path, args: list[str],
                 env: dict[str, str] | None = None, timeout: float = 60.0) -> None:
        self.display = display
        self.log = tmp / f"xcb-app-{id(self)}.log"
        full_env = {**display.env, "NEMU_TEST_DIR": str(tmp),
                    "NEMU_SESSIONS": str(tmp / "sessions"), **(env or {})}
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(Path(__file__).with_name("xcb_app.py")), *args],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=full_env,
                cwd=Path(__file__).resolve().parents[2])
        self._buf = b""
        self.window = int(self._read(timeout)["window"])

    def _read(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.proc.stdout], [], [], max(0.0, left))
            chunk = os.read(self.proc.stdout.fileno(), 65536) if ready else b""
            if not chunk:
                raise AssertionError(f"the designer on {self.display.name} did not answer "
                                     f"(exit {self.proc.poll()}):\n{self.stderr()}")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return dict(json.loads(line))

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def _ask(self, req: dict[str, Any], timeout: float) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(req).encode() + b"\n")
        self.proc.stdin.flush()
        msg = self._read(timeout)
        if "error" in msg:
            raise AssertionError(f"in the designer: {msg['error']}")
        return msg.get("value")

    def eval(self, expr: str, timeout: float = 20.0) -> Any:
        return self._ask({"eval": expr}, timeout)

    def exec(self, code: str, timeout: float = 20.0) -> None:
        self._ask({"exec": code}, timeout)

    def wait_until(self, expr: str, timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = self.eval(expr)
            if value or time.monotonic() > deadline:
                assert value, f"still false after {timeout} s: {expr}"
                return value
            time.sleep(0.05)

    def screen_pos(self, widget: str, x: float | None = None, y: float | None = None
                   ) -> tuple[int, int]:
        """Where on the screen a point of a widget is (its centre by default)."""
        pt = self.eval(f"(lambda wd: (lambda p: (p.x(), p.y()))(wd.mapToGlobal("
                       f"QtCore.QPoint(int({x} if {x is not None} else wd.width() / 2), "
                       f"int({y} if {y is not None} else wd.height() / 2)))))({widget})")
        return int(pt[0]), int(pt[1])

    def scene_pos(self, x: float, y: float) -> tuple[int, int]:
        """Where on the screen a point of the canvas (scene coordinates) is."""
        pt = self.eval(f"(lambda p: (p.x(), p.y()))(w.view.viewport().mapToGlobal("
                       f"w.view.mapFromScene(QtCore.QPointF({x}, {y}))))")
        return int(pt[0]), int(pt[1])

    def node_pos(self, node: str) -> tuple[int, int]:
        x, y = self.eval(f"(lambda p: (p.x(), p.y()))(w.scene.nodes[{node!r}].pos())")
        return self.scene_pos(x, y)

    def screenshot(self, path: Path) -> Path:
        self.exec(f"w.grab().save({str(path)!r})")
        return path

    def quit(self, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            with contextlib.suppress(AssertionError, BrokenPipeError, OSError):
                self._ask({"quit": True}, timeout)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture
def xcb_app(x_display, tmp_path: Path) -> Iterator[Callable[..., XcbApp]]:
    """xcb_app(*nemu_gui_args): a designer window in a child process on a real X display;
    every one still open is closed (its lab stopped) after the test."""
    apps: list[XcbApp] = []

    def start(*args: str, env: dict[str, str] | None = None) -> XcbApp:
        app = XcbApp(x_display, tmp_path, list(args), env)
        apps.append(app)
        return app

    yield start
    for app in apps:
        app.quit()


@pytest.fixture(scope="session")
def xcb_app_class() -> type[XcbApp]:
    """For module-scoped fixtures that share one window (and one booted lab) between tests."""
    return XcbApp
