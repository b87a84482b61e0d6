"""Addresses typed in the node form of a REAL two-host lab: typed before Start, the guests boot
with them; typed while it runs, the lab is re-planned and the guests change in place (h2,
left to nemu, follows h1 into its new subnet); a running NIC's MAC is refused and comes back.
Teardown checks by PID that nothing is left. Hold the VM lock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLineEdit

from engine import examples
from engine.model import Interface
from nemu_gui.engine_bridge import RunState
from nemu_gui.main_window import MainWindow
from nemu_gui.notifications import Level

pytestmark = pytest.mark.qemu


@pytest.fixture
def lab(qapp: QApplication, tmp_path: Path, lab_windows) -> Iterator[MainWindow]:
    t = examples.two_hosts()
    t.update_node("h2", interfaces=[Interface("eth0")])        # h2: nemu chooses
    with lab_windows.open(qapp, tmp_path, t) as w:
        yield w


def type_field(qtbot, w: MainWindow, node: str, field: str, text: str) -> None:
    w.scene.select([node])
    ifaces = w.properties.node_form.interfaces
    ifaces.select("eth0")
    edit: QLineEdit = getattr(ifaces, field)
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClicks(edit, text)
    qtbot.keyClick(edit, Qt.Key.Key_Return)


def run(qtbot, w: MainWindow, node: str, command: str) -> str:
    with qtbot.waitSignal(w.bridge.commandDone, timeout=60000) as done:
        w.bridge.actions.run_command(node, command)
    r = done.args[2]
    assert r.exitcode == 0, (command, r.stdout, r.stderr)
    return str(r.stdout.decode())


def test_typed_addresses_are_what_the_guests_use(qtbot, lab: MainWindow) -> None:
    w = lab
    type_field(qtbot, w, "h1", "address", "10.9.0.1/24")
    assert w.controller.topology.node("h1").interface("eth0").address == "10.9.0.1/24"  # type: ignore
    w.acts.start_all.trigger()
    qtbot.waitUntil(lambda: w.bridge.state is RunState.RUNNING, timeout=180000)
    assert "10.9.0.1/24" in run(qtbot, w, "h1", "ip -br addr show eth0")
    assert "10.9.0.2/24" in run(qtbot, w, "h2", "ip -br addr show eth0")
    run(qtbot, w, "h2", "ping -c 1 -W 5 10.9.0.1")

    # while running: h1 moves to another subnet, and h2 (automatic) follows it there
    type_field(qtbot, w, "h1", "address", "192.168.50.1/24")
    s = w.bridge.session
    assert s is not None
    qtbot.waitUntil(lambda: str(s.plans["h2"].addresses.get("eth0")) == "192.168.50.2/24",
                    timeout=60000)
    assert "192.168.50.1/24" in run(qtbot, w, "h1", "ip -br addr show eth0")
    h2 = run(qtbot, w, "h2", "ip -br addr show eth0")
    assert "192.168.50.2/24" in h2 and "10.9.0.2" not in h2
    run(qtbot, w, "h2", "ping -c 1 -W 5 192.168.50.1")
    summary = w.run_controls.summary
    summary.rebuild()
    assert {r[0]: r[4] for r in summary.visible_rows()} == {"h1": "192.168.50.1/24",
                                                           "h2": "192.168.50.2/24"}
    assert not [n.text for n in w.notifications.items if n.level is not Level.INFO]

    # a running NIC keeps its MAC: refused by the lab, put back on the canvas, said why
    with qtbot.waitSignal(w.bridge.interfaceKept, timeout=30000) as kept:
        type_field(qtbot, w, "h1", "mac", "52:54:00:aa:bb:cc")
    assert kept.args[:2] == ["h1", "eth0"] and "keeps the MAC its NIC booted with" in kept.args[2]
    assert w.controller.topology.node("h1").interface("eth0").mac is None  # type: ignore
    qtbot.waitUntil(lambda: any("h1 keeps eth0's address and MAC" in n.text
                                for n in w.notifications.items))
    assert w.controller.undo_stack.undoText() == "set address of h1.eth0"   # the MAC step left
