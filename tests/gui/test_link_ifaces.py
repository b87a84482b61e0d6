"""Changing which interface a link end plugs into, from the link form's combos: one undo step,
refusals shown in the form, the canvas following; while running, the bridge re-plugs it."""

from __future__ import annotations

import asyncio

import pytest
from PySide6.QtWidgets import QComboBox

from engine import examples
from engine.model import End, Link, Node, NodeKind, Topology
from engine.runtime import EngineThread
from nemu_gui.engine_bridge import EngineBridge, RunState
from nemu_gui.main_window import MainWindow


def items(combo: QComboBox) -> list[str]:
    return [combo.itemText(i) for i in range(combo.count())]


def show(window: MainWindow, topology: Topology, link: str) -> MainWindow:
    window.document.replace(topology, None)
    window.scene.select(links=[link])
    assert window.properties.stack.currentWidget() is window.properties.link_form
    return window


def three_hosts() -> Topology:
    """h1.eth0 - h2, h1.eth1 - h3: h1 has no free interface."""
    t = Topology(name="three")
    for n in ("h1", "h2", "h3"):
        t.add_node(Node(n, NodeKind.HOST, pos=(0.0, 100.0 * len(t.nodes))))
    t.connect("h1", "h2")
    t.connect("h1", "h3")
    return t


def test_an_end_moves_to_a_new_interface_in_one_undo_step(
        qtbot, window: MainWindow, choose) -> None:
    lab = show(window, examples.build("two-hosts"), "h1-h2")
    ends = lab.properties.link_form.iface_ends
    combo = ends.combos["a"]
    assert ends.labels["a"].text() == "h1" and ends.labels["b"].text() == "h2"
    assert items(combo) == ["eth0", "new interface (eth1)"] and combo.currentText() == "eth0"

    choose(qtbot, combo, "new interface (eth1)")
    topo = lab.controller.topology
    assert topo.link("h1-h2").a.iface == "eth1" and topo.link("h1-h2").b.iface == "eth0"
    assert [i.name for i in topo.node("h1").interfaces] == ["eth0", "eth1"]
    assert topo.link("h1-h2").a.params.bandwidth == 10_000_000         # parameters kept
    assert lab.controller.undo_stack.count() == 1
    assert lab.controller.undo_stack.undoText() == "plug h1-h2 into h1.eth1"
    assert combo.currentText() == "eth1"
    assert items(combo) == ["eth0", "eth1", "new interface (eth2)"]
    assert lab.properties.link_form.ends.text() == "h1.eth1 ⟷ h2.eth0"
    assert "h1.eth1 — h2.eth0" in lab.scene.links["h1-h2"].toolTip()

    lab.acts.undo.trigger()
    assert topo.link("h1-h2").a.iface == "eth0"
    assert [i.name for i in topo.node("h1").interfaces] == ["eth0"]   # the added one went
    assert combo.currentText() == "eth0" and items(combo) == ["eth0", "new interface (eth1)"]
    assert "h1.eth0 — h2.eth0" in lab.scene.links["h1-h2"].toolTip()
    lab.acts.redo.trigger()
    assert topo.link("h1-h2").a.iface == "eth1" and combo.currentText() == "eth1"
    assert "h1.eth1 — h2.eth0" in lab.scene.links["h1-h2"].toolTip()


def test_only_free_interfaces_are_offered_and_they_follow_other_edits(
        qtbot, window: MainWindow, choose) -> None:
    lab = show(window, three_hosts(), "h1-h2")
    combo = lab.properties.link_form.iface_ends.combos["a"]
    assert items(combo) == ["eth0", "new interface (eth2)"]      # eth1 carries h1-h3
    lab.controller.delete([], ["h1-h3"])                          # frees h1.eth1
    assert items(combo) == ["eth0", "eth1", "new interface (eth2)"]

    choose(qtbot, combo, "eth1")
    topo = lab.controller.topology
    assert topo.link("h1-h2").a.iface == "eth1"
    assert [i.name for i in topo.node("h1").interfaces] == ["eth0", "eth1"]   # none added
    assert lab.controller.undo_stack.count() == 2
    lab.acts.undo.trigger()
    assert topo.link("h1-h2").a.iface == "eth0" and combo.currentText() == "eth0"


def test_a_switch_port_end_moves_and_a_slirp_has_no_choice(
        qtbot, window: MainWindow, choose) -> None:
    lab = show(window, examples.build("star"), "h1-sw1")
    combo = lab.properties.link_form.iface_ends.combos["b"]
    assert items(combo) == ["p1", "new interface (p4)"] and combo.isEnabled()
    choose(qtbot, combo, "new interface (p4)")
    assert lab.controller.topology.link("h1-sw1").b.iface == "p4"

    lab.scene.select(links=["r1-nat"])
    nat = lab.properties.link_form.iface_ends.combos["b"]
    assert items(nat) == ["nat0"] and not nat.isEnabled()   # a slirp takes no second one


def test_a_refused_choice_shows_why_and_changes_nothing(qtbot, window: MainWindow, choose) -> None:
    lab = show(window, three_hosts(), "h1-h2")
    ends = lab.properties.link_form.iface_ends
    combo = ends.combos["a"]
    combo.addItem("eth1", "eth1")       # an entry gone stale: eth1 carries h1-h3
    before = lab.controller.topology.link("h1-h2")
    choose(qtbot, combo, "eth1")
    assert ends.error.isVisible()
    assert ends.error.text() == "end a of link h1-h2 cannot move to h1.eth1: it carries link h1-h3"
    assert lab.controller.topology.link("h1-h2") == before
    assert lab.controller.undo_stack.count() == 0
    assert combo.currentText() == "eth0" and "eth1" not in items(combo)   # back as it is

    choose(qtbot, combo, "new interface (eth2)")                  # a good choice clears it
    assert not ends.error.isVisible()
    assert lab.controller.topology.link("h1-h2").a.iface == "eth2"


def test_the_controller_refuses_with_the_models_message(qtbot, window: MainWindow) -> None:
    lab = show(window, three_hosts(), "h1-h2")
    with qtbot.waitSignal(lab.controller.problem) as problem:
        assert not lab.controller.set_link_iface("h1-h2", "a", "eth1")
    assert problem.args == ["end a of link h1-h2 cannot move to h1.eth1: it carries link h1-h3"]
    assert lab.controller.undo_stack.count() == 0
    assert lab.controller.set_link_iface("h1-h2", "a", "eth0")        # unchanged: no step
    assert lab.controller.undo_stack.count() == 0


class FakeSession:
    """Records what the bridge asks of a running session (on the engine thread)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, End, str | None]] = []
        self.listeners: list = []

    def subscribe(self, listener):  # type: ignore[no-untyped-def]
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener)

    def emit(self, event) -> None:  # type: ignore[no-untyped-def]
        for listener in self.listeners:
            listener(event)

    async def move_link_end(self, name: str, which: End, iface: str | None = None) -> Link:
        await asyncio.sleep(0)
        self.calls.append((name, which, iface))
        return None  # type: ignore[return-value]


@pytest.fixture
def engine_thread():
    e = EngineThread("test-link-ifaces")
    e.start()
    yield e
    e.stop()


def test_while_running_the_bridge_replugs_the_link_in_order(
        qtbot, make_window, engine_thread, choose) -> None:
    bridge = EngineBridge(engine=engine_thread)
    lab = show(make_window(), examples.build("two-hosts"), "h1-h2")
    fake = FakeSession()
    bridge.session = fake  # type: ignore[assignment]
    bridge.state = RunState.RUNNING
    lab.controller.topologyEvent.connect(bridge.forward)
    try:
        choose(qtbot, lab.properties.link_form.iface_ends.combos["b"], "new interface (eth1)")
        lab.acts.undo.trigger()
        qtbot.waitUntil(lambda: len(fake.calls) == 2)
        assert fake.calls == [("h1-h2", "b", "eth1"), ("h1-h2", "b", "eth0")]
    finally:
        lab.controller.topologyEvent.disconnect(bridge.forward)
        bridge.session = None
        bridge.state = RunState.IDLE
