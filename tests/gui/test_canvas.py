"""The canvas driven like a user: palette drops, link drawing, moving, selecting, undo/redo."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QPointF
from PySide6.QtGui import QGuiApplication

from engine import examples
from engine.model import NodeKind
from nemu_gui.main_window import MainWindow
from nemu_gui.scene.modes import SceneMode

from .conftest import drag, drop_mime


def drop_kind(w: MainWindow, kind: NodeKind, pos: QPointF) -> None:
    row = list(NodeKind).index(kind)
    mime = w.node_palette.mimeData([w.node_palette.item(row)])
    assert w.node_palette.kind_at(row) is kind
    assert drop_mime(w.view, mime, pos)


def test_drop_every_kind_from_the_palette(window: MainWindow) -> None:
    w = window
    for i, kind in enumerate(NodeKind):
        drop_kind(w, kind, QPointF(i * 100.0, 0.0))
    kinds = sorted(n.kind.value for n in w.controller.topology.nodes)
    assert kinds == sorted(k.value for k in NodeKind)
    assert set(w.scene.nodes) == {"h1", "r1", "hub1", "sw1", "nat1"}
    assert w.scene.nodes["r1"].pos() == QPointF(100.0, 0.0)      # snapped to the grid
    assert "5 nodes" in w.counts_label.text()
    for _ in NodeKind:
        w.acts.undo.trigger()
    assert not w.controller.topology.nodes and not w.scene.nodes
    w.acts.redo.trigger()
    assert list(w.scene.nodes) == ["h1"]


def test_foreign_drops_are_refused(window: MainWindow) -> None:
    mime = QMimeData()
    mime.setText("host")
    assert not drop_mime(window.view, mime, QPointF(0, 0))
    assert not window.controller.topology.nodes


def test_draw_links_by_dragging_node_to_node(window: MainWindow) -> None:
    w = window
    drop_kind(w, NodeKind.HOST, QPointF(-100, 0))
    drop_kind(w, NodeKind.SWITCH, QPointF(100, 0))
    drop_kind(w, NodeKind.HOST, QPointF(100, 160))
    w.acts.mode_link.trigger()
    assert w.scene.mode is SceneMode.LINK
    drag(w.view, QPointF(-100, 0), QPointF(100, 0))
    drag(w.view, QPointF(100, 160), QPointF(100, 0))
    drag(w.view, QPointF(100, 160), QPointF(300, 300))     # onto nothing: no link
    t = w.controller.topology
    assert sorted(lk.name for lk in t.links) == ["h1-sw1", "h2-sw1"]
    assert t.link("h2-sw1").b.iface == "p1"                 # interfaces chosen automatically
    assert set(w.scene.links) == {"h1-sw1", "h2-sw1"}
    assert w.scene.selected_links() == ["h2-sw1"]
    w.acts.undo.trigger()
    assert set(w.scene.links) == {"h1-sw1"}
    assert [i.name for i in t.node("sw1").interfaces] == ["p0"]   # added port removed too
    w.acts.redo.trigger()
    assert set(w.scene.links) == {"h1-sw1", "h2-sw1"}
    # nodes do not move in link mode
    assert w.scene.nodes["h1"].pos() == QPointF(-100, 0)


def test_links_follow_moved_nodes_and_moves_undo(window: MainWindow) -> None:
    w = window
    w.document.replace(examples.build("two-hosts"), None)
    link = w.scene.links["h1-h2"]
    before = link.label.scenePos()
    drag(w.view, QPointF(-150, 0), QPointF(-150, 203))
    x, y = w.controller.topology.node("h1").pos
    assert y == 200.0 and x % 20 == 0                       # snapped to the grid
    assert w.scene.nodes["h1"].pos() == QPointF(x, y)
    assert link.label.scenePos() != before                 # the edge followed
    assert w.controller.undo_stack.count() == 1
    w.acts.undo.trigger()
    assert w.scene.nodes["h1"].pos() == QPointF(-150, 0)
    assert link.label.scenePos() == before


def test_rubber_band_select_delete_and_undo(window: MainWindow) -> None:
    w = window
    w.document.replace(examples.build("star"), None)
    drag(w.view, QPointF(-300, 100), QPointF(300, 180))    # around h1..h3
    assert w.scene.selected_nodes() == ["h1", "h2", "h3"]
    w.acts.delete.trigger()
    t = w.controller.topology
    assert sorted(n.name for n in t.nodes) == ["nat", "r1", "sw1"]
    assert len(t.links) == 2 and len(w.scene.links) == 2
    w.acts.undo.trigger()
    assert len(t.nodes) == 6 and len(t.links) == 5 and len(w.scene.links) == 5
    assert t == examples.build("star")


def test_copy_paste_nodes_with_their_links(window: MainWindow) -> None:
    w = window
    w.document.replace(examples.build("chain"), None)
    w.scene.select(["n1", "n2"])
    w.acts.copy.trigger()
    assert "n1" in QGuiApplication.clipboard().text()
    w.acts.paste.trigger()
    t = w.controller.topology
    assert sorted(w.scene.selected_nodes()) == ["n5", "n6"]
    assert t.node("n5").pos == (t.node("n1").pos[0] + 40, t.node("n1").pos[1] + 40)
    assert all(i.address is None for i in t.node("n5").interfaces)
    assert [lk.name for lk in t.links_of("n5")] == ["n5-n6"]
    assert t.validate() == []
    w.acts.undo.trigger()                                # one step for the whole paste
    assert len(t.nodes) == 4


def test_modes_snap_zoom_and_fit(window: MainWindow) -> None:
    w = window
    w.document.replace(examples.build("tree"), None)
    w.acts.mode_link.trigger()
    assert w.acts.mode_link.isChecked()
    w.acts.mode_select.trigger()
    assert w.scene.mode is SceneMode.SELECT
    w.view.reset_zoom()
    w.acts.zoom_in.trigger()
    assert abs(w.view.zoom - 1.25) < 1e-9
    w.acts.zoom_out.trigger()
    w.acts.zoom_out.trigger()
    assert w.view.zoom < 1
    w.acts.zoom_fit.trigger()
    visible = w.view.mapToScene(w.view.viewport().rect()).boundingRect()
    assert visible.contains(w.scene.itemsBoundingRect())
    w.acts.snap.setChecked(False)
    drag(w.view, QPointF(0, 0), QPointF(7, 3))
    assert w.controller.topology.node("t0").pos == (7.0, 3.0)


def test_link_labels_show_parameters_then_live_rates(window: MainWindow) -> None:
    w = window
    w.document.replace(examples.build("two-hosts"), None)
    item = w.scene.links["h1-h2"]
    assert item.label.text == "10Mbit 10ms"
    w.controller.set_link_params("h1-h2", "b", bandwidth="1Mbit")
    assert item.label.text == "10Mbit 10ms ▶ ◀ 1Mbit 10ms"
    item.set_rates(9.8e6, 1.2e5, 0.98)
    assert item.label.text == "9.8 Mb/s ▶ ◀ 120 kb/s"
    assert item._pen().color().red() > 200                  # saturated: red
    repaints: list[object] = []
    item.update = lambda *a: repaints.append(a)  # type: ignore[method-assign]
    item.set_rates(9.9e6, 1.3e5, 0.99)                      # same look: the line is left alone
    assert item.label.text == "9.9 Mb/s ▶ ◀ 130 kb/s" and repaints == []
    item.set_rates(2e6, 1.3e5, 0.2)                         # another colour: repainted
    assert len(repaints) == 1 and item._pen().color().red() < 200
    del item.update
    w.scene.set_link_rates("h1-h2", 0, 0, 0.0)
    assert item.label.text == "0 b/s ▶ ◀ 0 b/s"
    item.clear_rates()
    assert item.label.text.startswith("10Mbit")
    w.acts.labels.setChecked(False)
    assert not item.label.isVisible()


def test_parallel_links_sit_side_by_side(window: MainWindow) -> None:
    w = window
    w.document.replace(examples.build("two-hosts"), None)
    assert w.controller.connect_nodes("h1", "h2") == "h1-h2-2"
    offsets = sorted(w.scene.links[n].offset for n in ("h1-h2", "h1-h2-2"))
    assert offsets[0] < 0 < offsets[1]


def test_refused_edits_are_reported_not_pushed(window: MainWindow) -> None:
    w = window
    w.document.replace(examples.build("star"), None)
    assert w.controller.connect_nodes("nat", "h1") is None        # a slirp has one interface
    assert w.controller.undo_stack.count() == 0
    assert "single interface" in w.notifications.items[-1].text
    assert [i.name for i in w.controller.topology.node("h1").interfaces] == ["eth0"]


def test_empty_canvas_shows_the_hint(window: MainWindow) -> None:
    img = window.view.grab().toImage()
    w, h = img.width(), img.height()
    bg = window.scene.backgroundBrush().color().rgb()
    row = [img.pixel(x, h // 2) for x in range(w)]
    assert any(p != bg for p in row)                         # hint text drawn mid-canvas
