"""Files: save and reopen, bad files, recent files, examples, export, autosave and recovery."""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QPointF
from PySide6.QtGui import QImage

from engine import examples, topofile
from engine.model import NodeKind
from nemu_gui import app as app_module
from nemu_gui.autosave import find_recoverable
from nemu_gui.main_window import MainWindow
from nemu_gui.notifications import Level


def test_save_and_reopen(make_window, tmp_path: Path) -> None:
    w: MainWindow = make_window()
    w.add_node(NodeKind.HOST, QPointF(0, 0))
    w.add_node(NodeKind.ROUTER, QPointF(200, 0))
    w.controller.connect_nodes("h1", "r1")
    w.controller.set_link_params("h1-r1", "a", bandwidth="2Mbit", delay="5ms")
    assert w.document.dirty and "•" in w.windowTitle()
    path = tmp_path / "lab.yaml"
    w.file_menu.ask_save_path = lambda *a: str(path)  # type: ignore[method-assign]
    w.acts.save.trigger()
    assert path.exists() and not w.document.dirty
    assert w.file_label.text() == "lab.yaml"
    assert topofile.load(path) == w.controller.topology
    # undo back past the save point makes it dirty again; redo makes it clean
    w.acts.undo.trigger()
    assert w.document.dirty
    w.acts.redo.trigger()
    assert not w.document.dirty

    other: MainWindow = make_window()
    assert other.file_menu.open(path)
    assert other.controller.topology == w.controller.topology
    # relative disk paths of the lab start at its file's folder, wherever it is saved
    assert other.controller.topology.base_dir == tmp_path.resolve()
    moved = tmp_path / "moved" / "lab.yaml"
    moved.parent.mkdir()
    other.document.save(moved)
    assert other.controller.topology.base_dir == moved.parent.resolve()
    assert set(other.scene.links) == {"h1-r1"}
    assert other.scene.links["h1-r1"].label.text.startswith("2Mbit 5ms")
    assert str(path.resolve()) in other.recent.paths()


def test_a_bad_file_is_reported_and_the_work_kept(window: MainWindow, tmp_path: Path) -> None:
    w = window
    w.document.replace(examples.build("star"), None)
    w.add_node(NodeKind.HUB, QPointF(300, 300))
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nname: x\nnodes:\n  - name: h1\n    kind: toaster\n")
    assert not w.file_menu.open(bad)
    note = w.notifications.items[-1]
    assert note.level is Level.ERROR
    assert "bad.yaml" in note.text and "nodes[0].kind" in note.text and "toaster" in note.text
    assert w.controller.topology.has_node("hub1") and len(w.scene.nodes) == 7
    assert w.controller.undo_stack.count() == 1                  # history kept too
    assert not w.file_menu.open(tmp_path / "missing.yaml")
    assert "missing.yaml" in w.notifications.items[-1].text
    note.dismiss()
    assert note not in w.notifications.items


def test_new_and_examples_and_recent(window: MainWindow, tmp_path: Path) -> None:
    w = window
    for name in examples.EXAMPLES:
        w.file_menu.new_from_example(name)
        assert w.controller.topology == examples.build(name)
        assert len(w.scene.nodes) == len(w.controller.topology.nodes)
    titles = [a.text() for a in w.file_menu.examples_menu.actions()]
    assert any(t.startswith("star") for t in titles)
    w.acts.new.trigger()
    assert not w.controller.topology.nodes and not w.scene.nodes
    for i in range(3):
        p = tmp_path / f"l{i}.yaml"
        topofile.save(examples.build("two-hosts"), p)
        w.file_menu.open(p)
    assert [Path(p).name for p in w.recent.paths()] == ["l2.yaml", "l1.yaml", "l0.yaml"]
    w.file_menu._fill_recent()
    assert w.file_menu.recent_menu.actions()[0].text().endswith("l2.yaml")


def test_export_png_and_svg(window: MainWindow, tmp_path: Path) -> None:
    w = window
    w.document.replace(examples.build("star"), None)
    w.scene.select(["h1"])
    assert w.file_menu.export(tmp_path / "lab.png", "png")
    img = QImage(str(tmp_path / "lab.png"))
    assert img.width() > 400 and img.height() > 400
    assert w.scene.selected_nodes() == ["h1"]                    # selection restored
    assert w.file_menu.export(tmp_path / "lab.svg", "svg")
    svg = (tmp_path / "lab.svg").read_text()
    assert svg.startswith("<?xml") and "<svg" in svg and "h1" in svg


def test_autosave_and_recovery(make_window, tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    w: MainWindow = make_window(recovery=rec)
    assert not w.autosaver.autosave()                            # clean: nothing written
    w.add_node(NodeKind.SWITCH, QPointF(0, 0))
    assert w.autosaver.autosave()
    assert w.autosaver.lab_path.exists()
    # simulate a crash: pretend the file was left by a dead process
    dead = rec / "autosave-999999.yaml"
    w.autosaver.lab_path.rename(dead)
    w.autosaver.lab_path.with_suffix(".json").rename(dead.with_suffix(".json"))
    found = find_recoverable(rec)
    assert [r.lab.name for r in found] == ["autosave-999999.yaml"]

    fresh: MainWindow = make_window(recovery=rec)
    fresh.start()
    note = fresh.notifications.items[-1]
    assert "previous session" in note.text
    assert fresh.file_menu.recover(found[0])
    assert fresh.controller.topology.has_node("sw1") and fresh.document.dirty
    assert not dead.exists()
    fresh.file_menu.save = lambda: True  # type: ignore[method-assign]
    fresh.autosaver.stop()


def test_autosave_timer_writes_when_dirty(qtbot, make_window, tmp_path: Path) -> None:
    w: MainWindow = make_window(recovery=tmp_path / "r2")
    w.autosaver.timer.setInterval(50)
    w.start()
    w.add_node(NodeKind.HOST, QPointF(0, 0))
    qtbot.waitUntil(w.autosaver.lab_path.exists, timeout=2000)
    w.acts.undo.trigger()                                     # clean again: removed
    assert not w.autosaver.lab_path.exists()
    w.autosaver.stop()


def test_app_arguments(qtbot, tmp_path: Path) -> None:
    from PySide6.QtCore import QSettings
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    w = app_module.build_window(app_module.parse_args(["--example", "chain"]), settings,
                                tmp_path / "rec")
    qtbot.addWidget(w)
    assert w.controller.topology.name == "chain-4" and len(w.scene.nodes) == 4
    path = tmp_path / "t.yaml"
    topofile.save(examples.build("tree"), path)
    w2 = app_module.build_window(app_module.parse_args([str(path)]), settings, tmp_path / "rec")
    qtbot.addWidget(w2)
    assert w2.document.path == path and len(w2.scene.nodes) == 7
    assert w.size().width() == 1280 and w.size().height() == 800


def test_run_controls_before_starting(qtbot, window: MainWindow) -> None:
    w = window
    assert w.acts.start_all.isEnabled() and not w.acts.stop_all.isEnabled()
    for act in (w.acts.start_selected, w.acts.stop_selected):
        assert not act.isEnabled() and "running lab" in act.toolTip()
    assert w.engine_label.text() == "engine: not started"
    w.document.replace(examples.build("two-hosts"), None)
    # the bridge's signals may come from the engine thread: they arrive queued
    def engine_thread() -> None:
        w.bridge.linkRates.emit("h1-h2", 5e6, 1e3, 0.5)
        w.bridge.nodeState.emit("h1", "running", "")
        w.bridge.engineState.emit("engine: 2 running")

    t = threading.Thread(target=engine_thread)
    t.start()
    t.join()
    qtbot.waitUntil(lambda: w.scene.links["h1-h2"].label.text == "5 Mb/s ▶ ◀ 1 kb/s")
    qtbot.waitUntil(lambda: w.scene.nodes["h1"].state == "running")
    qtbot.waitUntil(lambda: w.engine_label.text() == "engine: 2 running")
