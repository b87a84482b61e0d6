"""Removing interfaces from the node form of a REAL running two-host lab: a NIC hot-plugged for
a link drawn while running leaves the guest; a NIC the machine booted with is refused by the
engine and comes back into the canvas with a notification. Teardown checks by PID that
nothing is left."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from engine import examples
from nemu_gui.engine_bridge import RunState
from nemu_gui.main_window import MainWindow
from nemu_gui.properties.node_ifaces import InterfaceList

pytestmark = pytest.mark.qemu

BOOT_S = 120


@pytest.fixture
def lab(qapp: QApplication, tmp_path: Path, lab_windows) -> Iterator[MainWindow]:
    with lab_windows.open(qapp, tmp_path, examples.two_hosts()) as w:
        yield w


def wait(qtbot, cond: Callable[[], bool], w: MainWindow, timeout: int = 30000) -> None:
    """waitUntil that, on a timeout, says what the canvas, the lab and the engine loop know
    (a removal that never ends is a QMP call waiting on QEMU or the guest)."""
    try:
        qtbot.waitUntil(cond, timeout=timeout)
    except qtbot.TimeoutError:
        s = w.bridge.session
        tasks = io.StringIO()
        for t in asyncio.all_tasks(w.bridge.engine.loop):
            t.print_stack(file=tasks)
        lab = {} if s is None else {n.name: [i.name for i in n.interfaces] for n in s.topo}
        raise AssertionError(
            f"waited {timeout / 1000:.0f} s: canvas {w.controller.topology.node('h1')}, "
            f"lab {lab}, NICs {sorted(s.nics) if s else None}, "
            f"notifications {[n.text for n in w.notifications.items]}, "
            f"engine tasks:\n{tasks.getvalue()}") from None


def remove_from_form(qtbot, w: MainWindow, node: str, iface: str) -> None:
    w.scene.select([node])
    ifaces: InterfaceList = w.properties.node_form.interfaces
    ifaces.select(iface)
    assert ifaces.current_interface() == iface and ifaces.remove.isEnabled()
    qtbot.mouseClick(ifaces.remove, Qt.MouseButton.LeftButton)


def net_devices(qtbot, w: MainWindow, node: str) -> list[str]:
    with qtbot.waitSignal(w.bridge.commandDone, timeout=30000) as done:
        w.bridge.actions.run_command(node, "ls /sys/class/net")
    r = done.args[2]
    assert r.exitcode == 0, r.stderr
    return str(r.stdout.decode()).split()


def test_hot_plugged_nic_leaves_the_guest_and_a_boot_nic_comes_back(qtbot,
                                                                     lab: MainWindow) -> None:
    w = lab
    w.acts.start_all.trigger()
    qtbot.waitUntil(lambda: w.bridge.state is RunState.RUNNING, timeout=BOOT_S * 1000)
    s = w.bridge.session
    assert s is not None

    link = w.controller.connect_nodes("h1", "h2")          # h1.eth1, h2.eth1 hot-plugged
    assert link is not None
    wait(qtbot, lambda: (link, "a") in s.wiring.taps and ("h1", "eth1") in s.nics, w, 60000)
    assert "eth1" in net_devices(qtbot, w, "h1")
    w.controller.delete([], [link])
    wait(qtbot, lambda: link not in {lk.name for lk in s.topo.links}, w)

    remove_from_form(qtbot, w, "h1", "eth1")
    assert [i.name for i in w.controller.topology.node("h1").interfaces] == ["eth0"]
    wait(qtbot, lambda: ("h1", "eth1") not in s.nics
         and [i.name for i in s.topo.node("h1").interfaces] == ["eth0"], w)
    assert "eth1" not in net_devices(qtbot, w, "h1")
    assert "eth1" in net_devices(qtbot, w, "h2")           # only h1's went

    # eth0 is a NIC h1 booted with: freed, removed on the canvas, refused by the engine
    w.controller.delete([], ["h1-h2"])
    with qtbot.waitSignal(w.bridge.interfaceKept, timeout=30000) as kept:
        remove_from_form(qtbot, w, "h1", "eth0")
    assert kept.args[:2] == ["h1", "eth0"] and "was plugged in when h1 booted" in kept.args[2]
    assert [i.name for i in w.controller.topology.node("h1").interfaces] == ["eth0"]
    qtbot.waitUntil(lambda: any("h1 keeps eth0" in n.text for n in w.notifications.items))
    assert "eth0" in net_devices(qtbot, w, "h1")
