"""Taking a free interface off a node from the node form: the list, the Remove button and the
Delete key, one undo step; while running, the bridge takes it out of the lab in order, and an
interface the lab refuses to give up comes back into the canvas with a notification."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication

from engine import topofile
from engine.errors import SessionError
from engine.model import End, Link, Node, NodeKind, Topology
from engine.runtime import EngineThread
from nemu_gui.app import configure
from nemu_gui.engine_bridge import EngineBridge, RunState
from nemu_gui.main_window import MainWindow
from nemu_gui.properties.node_ifaces import InterfaceList


def h1_with_a_free_eth1() -> Topology:
    """h1.eth0 - h2.eth0, h1.eth1 - h3.eth0, h1.eth2 - h2.eth1."""
    t = Topology(name="ifaces")
    for n in ("h1", "h2", "h3"):
        t.add_node(Node(n, NodeKind.HOST, pos=(0.0, 100.0 * len(t.nodes))))
    t.connect("h1", "h2")
    t.connect("h1", "h3")
    t.connect("h1", "h2", name="h1-h2-2")
    return t


def rows(ifaces: InterfaceList) -> list[list[str]]:
    tree = ifaces.tree
    out = []
    for i in range(tree.topLevelItemCount()):
        item = tree.topLevelItem(i)
        assert item is not None
        out.append([item.text(c) for c in range(tree.columnCount())])
    return out


def click_row(qtbot, ifaces: InterfaceList, name: str) -> None:
    tree = ifaces.tree
    for i in range(tree.topLevelItemCount()):
        item = tree.topLevelItem(i)
        if item is not None and item.text(0) == name:
            rect = tree.visualItemRect(item)
            qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
            assert ifaces.current_interface() == name
            return
    raise AssertionError(f"no row {name}: {rows(ifaces)}")


def names(topo: Topology, node: str) -> list[str]:
    return [i.name for i in topo.node(node).interfaces]


def show_h1(w: MainWindow, topology: Topology) -> InterfaceList:
    w.document.replace(topology, None)
    w.scene.select(["h1"])
    assert w.properties.stack.currentWidget() is w.properties.node_form
    ifaces = w.properties.node_form.interfaces
    assert ifaces.isVisible()
    return ifaces


def test_a_free_interface_is_removed_in_one_undo_step(qtbot, window: MainWindow) -> None:
    w = window
    ifaces = show_h1(w, h1_with_a_free_eth1())
    assert rows(ifaces) == [["eth0", "auto", "h1-h2"], ["eth1", "auto", "h1-h3"],
                            ["eth2", "auto", "h1-h2-2"]]
    w.controller.delete([], ["h1-h3"])                 # the form follows: eth1 is free now
    assert rows(ifaces)[1] == ["eth1", "", "free"]
    click_row(qtbot, ifaces, "eth1")
    assert ifaces.remove.isEnabled()

    qtbot.mouseClick(ifaces.remove, Qt.MouseButton.LeftButton)
    topo = w.controller.topology
    assert names(topo, "h1") == ["eth0", "eth2"]
    assert [r[0] for r in rows(ifaces)] == ["eth0", "eth2"]
    assert w.controller.undo_stack.count() == 2
    assert w.controller.undo_stack.undoText() == "remove interface h1.eth1"
    assert ifaces.current_interface() == "eth2"       # the next one, for another Delete
    assert not ifaces.remove.isEnabled()              # it carries h1-h2-2

    w.acts.undo.trigger()
    assert names(topo, "h1") == ["eth0", "eth1", "eth2"]   # back where it was
    assert rows(ifaces)[1] == ["eth1", "", "free"]
    w.acts.redo.trigger()
    assert names(topo, "h1") == ["eth0", "eth2"] and len(rows(ifaces)) == 2
    w.acts.undo.trigger()
    w.acts.undo.trigger()                              # and the link comes back on eth1
    assert topo.link("h1-h3").a.iface == "eth1" and rows(ifaces)[1][2] == "h1-h3"


def test_the_delete_key_in_the_list_removes_a_free_interface_only(
        qtbot, window: MainWindow) -> None:
    w = window
    t = h1_with_a_free_eth1()
    t.remove_link("h1-h3")
    ifaces = show_h1(w, t)
    click_row(qtbot, ifaces, "eth0")
    assert not ifaces.remove.isEnabled()              # it carries h1-h2
    qtbot.keyClick(ifaces.tree, Qt.Key.Key_Delete)
    topo = w.controller.topology
    assert names(topo, "h1") == ["eth0", "eth1", "eth2"]
    assert topo.has_node("h1") and w.controller.undo_stack.count() == 0   # not the canvas's

    click_row(qtbot, ifaces, "eth1")
    qtbot.keyClick(ifaces.tree, Qt.Key.Key_Delete)
    assert names(topo, "h1") == ["eth0", "eth2"] and topo.has_node("h1")
    assert w.controller.undo_stack.count() == 1


def test_the_model_refuses_an_interface_that_carries_a_link(qtbot, window: MainWindow) -> None:
    w = window
    show_h1(w, h1_with_a_free_eth1())
    with qtbot.waitSignal(w.controller.problem) as problem:
        assert not w.controller.remove_interface("h1", "eth1")
    assert problem.args == ["interface h1.eth1 carries a link; remove the link first"]
    assert not w.controller.remove_interface("h1", "eth9")
    assert w.controller.undo_stack.count() == 0
    assert names(w.controller.topology, "h1") == ["eth0", "eth1", "eth2"]


# ---- while running: a stand-in session on the engine thread ------------------------

BOOTED = ("{node}.{iface} was plugged in when {node} booted and cannot be unplugged while it "
          "runs: stop {node}, remove the interface, start it")


class FakeSession:
    """The running lab's side of the bridge: its own copy of the lab, changed as the real
    session changes it; NICs in `booted` are refused as a running machine's boot NICs."""

    def __init__(self, topo: Topology, booted: set[tuple[str, str]] | None = None) -> None:
        self.topo = topofile.loads(topofile.dumps(topo))
        self.booted = booted or set()
        self.calls: list[tuple[str, ...]] = []
        self.listeners: list = []

    def subscribe(self, listener):  # type: ignore[no-untyped-def]
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener)

    def emit(self, event) -> None:  # type: ignore[no-untyped-def]
        for listener in self.listeners:
            listener(event)

    async def remove_interface(self, node: str, iface: str) -> None:
        await asyncio.sleep(0)
        self.calls.append(("remove", node, iface))
        if (node, iface) in self.booted:
            raise SessionError(BOOTED.format(node=node, iface=iface))
        ifaces = self.topo.node(node).interfaces
        self.topo.update_node(node, interfaces=[i for i in ifaces if i.name != iface])

    async def move_link_end(self, name: str, which: End, iface: str | None = None) -> Link:
        await asyncio.sleep(0)
        self.calls.append(("move", name, which, str(iface)))
        return self.topo.set_link_iface(name, which, iface)

    async def remove_link(self, name: str) -> Link:
        self.calls.append(("unplug", name))
        return self.topo.remove_link(name)


@pytest.fixture
def engine_thread() -> Iterator[EngineThread]:
    e = EngineThread("test-node-ifaces")
    e.start()
    yield e
    e.stop()


@pytest.fixture
def running(qtbot, qapp: QApplication, tmp_path: Path, engine_thread: EngineThread):
    """A window whose bridge runs a stand-in session; wired as the app wires it."""
    made: list[MainWindow] = []

    def make(topo: Topology, booted: set[tuple[str, str]] | None = None
             ) -> tuple[MainWindow, FakeSession]:
        configure(qapp)
        settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
        w = MainWindow(settings, tmp_path / "recovery", EngineBridge(engine=engine_thread),
                       topology=topo)
        w.file_menu.confirm_discard = lambda doing: True  # type: ignore[method-assign]
        qtbot.addWidget(w)
        w.show()
        qtbot.waitExposed(w)
        made.append(w)
        fake = FakeSession(topo, booted)
        w.bridge.session = fake  # type: ignore[assignment]
        w.bridge.state = RunState.RUNNING
        w.bridge.canvas_topology = w.controller.topology     # what start_all records
        return w, fake

    yield make
    for w in made:
        w.bridge.session = None
        w.bridge.state = RunState.IDLE
        w.controller.undo_stack.setClean()


def test_while_running_a_removed_interface_leaves_the_lab_in_order(qtbot, running, choose) -> None:
    t = h1_with_a_free_eth1()
    t.remove_link("h1-h3")
    w, fake = running(t)
    w.scene.select(["h1"])
    ifaces = w.properties.node_form.interfaces
    click_row(qtbot, ifaces, "eth1")
    qtbot.mouseClick(ifaces.remove, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: fake.calls == [("remove", "h1", "eth1")])
    assert names(fake.topo, "h1") == ["eth0", "eth2"]

    # a link end moved to a new interface and back: the undo drops the interface the move
    # added, and the running lab loses it too (after the link has moved back)
    w.scene.select(links=["h1-h2"])
    choose(qtbot, w.properties.link_form.iface_ends.combos["a"], "new interface (eth1)")
    w.acts.undo.trigger()
    qtbot.waitUntil(lambda: len(fake.calls) == 4)
    assert fake.calls[1:] == [("move", "h1-h2", "a", "eth1"), ("move", "h1-h2", "a", "eth0"),
                              ("remove", "h1", "eth1")]
    assert names(fake.topo, "h1") == ["eth0", "eth2"] == names(w.controller.topology, "h1")
    assert not w.notifications.items


def test_an_interface_the_lab_refuses_comes_back_with_a_notification(qtbot, running) -> None:
    t = h1_with_a_free_eth1()
    t.remove_link("h1-h3")
    w, fake = running(t, booted={("h1", "eth1")})
    before = w.controller.topology.node("h1").pos
    w.controller.move_nodes({"h1": (before, (before[0] + 40, before[1]))})   # an earlier edit
    w.scene.select(["h1"])
    ifaces = w.properties.node_form.interfaces
    click_row(qtbot, ifaces, "eth1")
    with qtbot.waitSignal(w.bridge.interfaceKept) as kept:
        qtbot.keyClick(ifaces.tree, Qt.Key.Key_Delete)
    reason = BOOTED.format(node="h1", iface="eth1")
    assert kept.args == ["h1", "eth1", reason]
    topo = w.controller.topology
    assert names(topo, "h1") == ["eth0", "eth1", "eth2"]   # back in its place
    assert names(fake.topo, "h1") == ["eth0", "eth1", "eth2"]
    assert [r[0] for r in rows(ifaces)] == ["eth0", "eth1", "eth2"]
    qtbot.waitUntil(lambda: bool(w.notifications.items))
    note = w.notifications.items[-1]
    assert "h1 keeps eth1" in note.text and reason in note.text
    assert note.isVisible()
    assert fake.calls == [("remove", "h1", "eth1")]   # putting it back asked nothing more

    # the refused step left the history: the next undo undoes the edit before it
    assert w.controller.undo_stack.count() == 1 and not w.controller.undo_stack.canRedo()
    w.acts.undo.trigger()
    assert topo.node("h1").pos == before
    assert names(topo, "h1") == ["eth0", "eth1", "eth2"]
    assert fake.calls == [("remove", "h1", "eth1")]
