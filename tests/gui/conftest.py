"""GUI tests run offscreen against the real widgets."""

from __future__ import annotations

import os
import warnings

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, QSettings, Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QMouseEvent
from PySide6.QtWidgets import QApplication

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
