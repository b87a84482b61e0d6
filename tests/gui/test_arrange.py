"""Align and distribute: the arithmetic, then the real menus, keys and undo on the canvas."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QAction
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMenu, QWidget

from engine.model import Node, NodeKind, Topology
from nemu_gui.arrange import Arrangement, arrange
from nemu_gui.main_window import MainWindow

from .conftest import drag

START = {"h1": (0.0, 0.0), "h2": (60.0, 100.0), "h3": (300.0, 40.0), "h4": (140.0, 220.0)}


def lab() -> Topology:
    t = Topology(name="arrange")
    for name, pos in START.items():
        t.add_node(Node(name, NodeKind.HOST, [], pos=pos))
    t.connect("h1", "h2")
    return t


def positions(w: MainWindow) -> dict[str, tuple[float, float]]:
    return {n.name: n.pos for n in w.controller.topology.nodes}


def drawn(w: MainWindow) -> dict[str, tuple[float, float]]:
    return {name: (item.pos().x(), item.pos().y()) for name, item in w.scene.nodes.items()}


def near(expected: dict[str, tuple[float, float]]) -> dict[str, object]:
    """Compare positions with float tolerance (pytest.approx takes no nested mappings)."""
    return {n: pytest.approx(p) for n, p in expected.items()}


def menu_action(menu: QWidget, text: str) -> QAction:
    for act in menu.actions():
        if act.text().replace("&", "") == text:
            return act
    raise AssertionError(f"no {text!r} in {[a.text() for a in menu.actions()]}")


def right_click(w: MainWindow, scene_pos: QPointF) -> None:
    vp = w.view.viewport()
    at = vp.mapTo(w, w.view.mapFromScene(scene_pos))
    QTest.mouseClick(w.windowHandle(), Qt.MouseButton.RightButton,
                     Qt.KeyboardModifier.NoModifier, at)


def popup_after(w: MainWindow, gesture: Callable[[], None]) -> QMenu | None:
    before = set(QApplication.topLevelWidgets())
    gesture()
    new = [m for m in set(QApplication.topLevelWidgets()) - before
           if isinstance(m, QMenu) and m.isVisible()]
    assert len(new) <= 1
    return new[0] if new else None


# ---- the arithmetic ---------------------------------------------------------------------
@pytest.mark.parametrize(("how", "expected"), [
    (Arrangement.ALIGN_LEFT, {"h2": (0.0, 100.0), "h3": (0.0, 40.0), "h4": (0.0, 220.0)}),
    (Arrangement.ALIGN_RIGHT, {"h1": (300.0, 0.0), "h2": (300.0, 100.0),
                               "h4": (300.0, 220.0)}),
    (Arrangement.ALIGN_CENTRE, {n: (150.0, y) for n, (_, y) in START.items()}),
    (Arrangement.ALIGN_TOP, {"h2": (60.0, 0.0), "h3": (300.0, 0.0), "h4": (140.0, 0.0)}),
    (Arrangement.ALIGN_BOTTOM, {"h1": (0.0, 220.0), "h2": (60.0, 220.0),
                                "h3": (300.0, 220.0)}),
    (Arrangement.ALIGN_MIDDLE, {n: (x, 110.0) for n, (x, _) in START.items()}),
    # x order h1 0, h2 60, h4 140, h3 300: steps of 100 between the outer two
    (Arrangement.DISTRIBUTE_H, {"h2": (100.0, 100.0), "h4": (200.0, 220.0)}),
    # y order h1 0, h3 40, h2 100, h4 220: steps of 220/3
    (Arrangement.DISTRIBUTE_V, {"h3": (300.0, 220 / 3), "h2": (60.0, 440 / 3)}),
])
def test_arrange_moves_only_what_changes(how: Arrangement, expected: dict) -> None:
    assert arrange(START, how) == near(expected)


def test_too_few_nodes_or_already_arranged_moves_nothing() -> None:
    two = {"a": (0.0, 0.0), "b": (50.0, 10.0)}
    assert arrange(two, Arrangement.DISTRIBUTE_H) == {}            # needs three
    assert arrange({"a": (0.0, 0.0)}, Arrangement.ALIGN_LEFT) == {}
    assert arrange({"a": (5.0, 0.0), "b": (5.0, 9.0)}, Arrangement.ALIGN_LEFT) == {}
    even = {"a": (0.0, 0.0), "b": (10.0, 5.0), "c": (20.0, 0.0)}
    assert arrange(even, Arrangement.DISTRIBUTE_H) == {}


def test_distribute_keeps_tied_nodes_in_name_order() -> None:
    tied = {"c": (0.0, 0.0), "b": (0.0, 1.0), "a": (0.0, 2.0), "d": (30.0, 0.0)}
    assert arrange(tied, Arrangement.DISTRIBUTE_H) == {"b": (10.0, 1.0), "c": (20.0, 0.0)}


# ---- in the window ----------------------------------------------------------------------
def test_edit_align_menu_moves_the_model_in_one_undo_step(window: MainWindow) -> None:
    w = window
    w.document.replace(lab(), None)
    link = w.scene.links["h1-h2"]
    label_before = link.label.scenePos()
    edit = menu_action(w.menuBar(), "Edit").menu()
    assert isinstance(edit, QMenu)
    align = menu_action(edit, "Align").menu()
    assert isinstance(align, QMenu) and align is w.align_menu
    texts = [a.text().replace("&", "") for a in align.actions() if not a.isSeparator()]
    assert texts == ["Align Left", "Align Centres", "Align Right", "Align Top",
                     "Align Middles", "Align Bottom", "Distribute Horizontally",
                     "Distribute Vertically"]
    w.scene.select(["h1", "h2", "h3"])
    undo = w.controller.undo_stack
    menu_action(align, "Align Top").trigger()
    moved = {**START, "h2": (60.0, 0.0), "h3": (300.0, 0.0)}
    assert positions(w) == moved
    assert drawn(w) == moved                            # the canvas followed the model
    assert link.label.scenePos() != label_before   # and so did the link h1-h2
    assert undo.count() == 1 and undo.undoText() == "align top h2, h3"    # what moved
    assert w.acts.undo.text() == "&Undo align top h2, h3"
    w.acts.undo.trigger()
    assert positions(w) == START and drawn(w) == START
    assert link.label.scenePos() == label_before
    w.acts.redo.trigger()
    assert positions(w) == moved and drawn(w) == moved
    assert w.document.dirty


def test_every_action_is_one_undo_step(window: MainWindow) -> None:
    w = window
    for how, act in w.acts.arrange.items():
        w.document.replace(lab(), None)
        w.scene.select(list(START))
        act.trigger()
        after = {**START, **arrange(START, how)}
        assert positions(w) == near(after), how
        assert drawn(w) == near(after), how
        assert w.controller.undo_stack.count() == 1, how
        w.acts.undo.trigger()
        assert positions(w) == START and drawn(w) == START, how
        w.acts.redo.trigger()
        assert positions(w) == near(after) and drawn(w) == near(after), how


def test_actions_follow_how_many_nodes_are_selected(window: MainWindow) -> None:
    w = window
    w.document.replace(lab(), None)
    acts = w.acts.arrange
    align, distribute = acts[Arrangement.ALIGN_LEFT], acts[Arrangement.DISTRIBUTE_H]
    assert not align.isEnabled() and not distribute.isEnabled()       # nothing selected
    w.scene.nodes["h1"].setSelected(True)
    assert not align.isEnabled()
    w.scene.links["h1-h2"].setSelected(True)                            # links do not count
    assert not align.isEnabled()
    w.scene.nodes["h2"].setSelected(True)
    assert align.isEnabled() and not distribute.isEnabled()
    w.scene.nodes["h4"].setSelected(True)
    assert align.isEnabled() and distribute.isEnabled()
    w.scene.clearSelection()
    assert not align.isEnabled() and not distribute.isEnabled()
    distribute.trigger()                                 # a disabled action does nothing
    assert w.controller.undo_stack.count() == 0


def test_already_aligned_pushes_nothing(window: MainWindow) -> None:
    w = window
    w.document.replace(lab(), None)
    w.scene.select(["h1", "h3"])
    w.acts.arrange[Arrangement.ALIGN_LEFT].trigger()
    assert w.controller.undo_stack.count() == 1
    w.acts.arrange[Arrangement.ALIGN_LEFT].trigger()
    assert w.controller.undo_stack.count() == 1
    assert not w.controller.arrange_nodes(["h1", "h3"], Arrangement.ALIGN_LEFT)


def test_keyboard_shortcuts(window: MainWindow, qtbot) -> None:
    w = window
    w.document.replace(lab(), None)
    drag(w.view, QPointF(-40, -40), QPointF(330, 130))    # rubber band: h1, h2, h3
    assert w.scene.selected_nodes() == ["h1", "h2", "h3"]
    w.view.setFocus()
    alt_shift = Qt.KeyboardModifier.AltModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(w.view.viewport(), Qt.Key.Key_M, alt_shift)
    assert {n: p for n, p in positions(w).items() if n != "h4"} == \
        {"h1": (0.0, 50.0), "h2": (60.0, 50.0), "h3": (300.0, 50.0)}
    qtbot.keyClick(w.view.viewport(), Qt.Key.Key_H, alt_shift)
    assert positions(w)["h2"] == (150.0, 50.0)
    assert w.controller.undo_stack.count() == 2


def test_canvas_menus_offer_align_for_a_multiple_selection(window: MainWindow) -> None:
    w = window
    w.document.replace(lab(), None)
    menus = w.run_controls.menus
    w.scene.select(["h1"])
    one = menus.node_menu("h1")
    assert "Align" not in [a.text().replace("&", "") for a in one.actions()]
    w.scene.select(["h1", "h2", "h4"])
    on_node = popup_after(w, lambda: right_click(w, QPointF(*START["h2"])))
    assert on_node is not None and w.scene.selected_nodes() == ["h1", "h2", "h4"]
    assert "Align" in [a.text().replace("&", "") for a in on_node.actions()]
    on_node.close()
    many = menus.node_menu("h2")
    sub = menu_action(many, "Align").menu()
    assert isinstance(sub, QMenu)
    menu_action(sub, "Align Right").trigger()
    assert positions(w) == {**START, "h1": (140.0, 0.0), "h2": (140.0, 100.0)}
    w.acts.undo.trigger()
    assert positions(w) == START
    # a node outside the selection gets its own menu, without Align
    assert "Align" not in [a.text().replace("&", "") for a in menus.node_menu("h3").actions()]

    # right-click beside the selection (through the window, as a mouse would): the
    # selection stays and its menu opens
    empty = QPointF(200, 300)
    shown = popup_after(w, lambda: right_click(w, empty))
    assert w.scene.selected_nodes() == ["h1", "h2", "h4"]
    assert shown is not None
    menu_action(shown, "Distribute Vertically").trigger()
    shown.close()
    assert positions(w)["h2"] == (60.0, 110.0)
    # a single node selected: right-click on empty canvas shows no menu
    w.scene.select(["h1"])
    assert popup_after(w, lambda: right_click(w, empty)) is None
    assert w.scene.selected_nodes() == ["h1"]


def test_link_endpoints_carry_over_a_distribution(window: MainWindow) -> None:
    """Aligning moves nodes only: links, interfaces and the rest of the lab stay as they were."""
    w = window
    t = lab()
    t.connect("h3", "h4")
    w.document.replace(t, None)
    links = [(lk.name, lk.a, lk.b) for lk in w.controller.topology.links]
    w.scene.select(list(START))
    w.acts.arrange[Arrangement.DISTRIBUTE_V].trigger()
    assert [(lk.name, lk.a, lk.b) for lk in w.controller.topology.links] == links
    assert set(w.scene.links) == {"h1-h2", "h3-h4"}
