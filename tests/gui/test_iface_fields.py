"""Typing an interface's address and MAC in the node form: checked by the model's validators
(as the file is), refused with the reason, one undo step each, saved; the Summary and the
form's hints show what the planner will give before Start."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit

from engine import examples, topofile
from engine.model import Interface
from engine.plan.addressing import MachinePlan, Route
from engine.session.live_address import reconfigure_script
from nemu_gui.main_window import MainWindow
from nemu_gui.properties.node_ifaces import InterfaceList


def form_of(w: MainWindow, node: str, iface: str) -> InterfaceList:
    """The two-host example with `node`.`iface` left to the planner, its form shown."""
    t = examples.two_hosts()
    t.update_node(node, interfaces=[Interface(iface)])
    w.document.replace(t, None)
    w.scene.select([node])
    ifaces = w.properties.node_form.interfaces
    ifaces.select(iface)
    assert ifaces.current_interface() == iface and ifaces.address.isEnabled()
    return ifaces


def type_into(qtbot, edit: QLineEdit, text: str) -> None:
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClicks(edit, text) if text else qtbot.keyClick(edit, Qt.Key.Key_Delete)
    qtbot.keyClick(edit, Qt.Key.Key_Return)


def error_text(w: MainWindow) -> str:
    """The refusal shown right under the address and MAC fields (never below the fold)."""
    e = w.properties.node_form.interfaces.error
    return e.text() if e.isVisible() else ""


def test_a_typed_address_is_checked_set_undone_and_saved(qtbot, window: MainWindow,
                                                          tmp_path: Path) -> None:
    w = window
    ifaces = form_of(w, "h1", "eth0")
    t = w.controller.topology
    assert ifaces.address.text() == ""
    qtbot.waitUntil(lambda: ifaces.address.placeholderText() == "auto: 10.0.0.1/24")

    type_into(qtbot, ifaces.address, "192.168.7.1/24")
    assert t.node("h1").interface("eth0").address == "192.168.7.1/24"   # type: ignore[union-attr]
    assert error_text(w) == ""
    assert w.controller.undo_stack.undoText() == "set address of h1.eth0"
    w.acts.undo.trigger()
    assert t.node("h1").interface("eth0").address is None               # type: ignore[union-attr]
    w.acts.redo.trigger()
    assert ifaces.address.text() == "192.168.7.1/24"

    # the model's reasons, word for word as the file check gives them; nothing is pushed
    count = w.controller.undo_stack.count()
    for bad, why in (("192.168.7.300/24", "is not an address with prefix"),
                     ("192.168.7.9", "needs a prefix length, e.g. '192.168.7.9/24'"),
                     ("10.0.0.2/24", "address 10.0.0.2 is given to h2.eth0 too")):
        type_into(qtbot, ifaces.address, bad)
        assert why in error_text(w) and error_text(w).startswith("h1.eth0: "), error_text(w)
        assert t.node("h1").interface("eth0").address == "192.168.7.1/24"  # type: ignore
        assert w.controller.undo_stack.count() == count
    for bad, why in (("52:54:00:zz:00:01", "is not a MAC address"),
                     ("53:54:00:00:00:01", "multicast MAC")):
        type_into(qtbot, ifaces.mac, bad)
        assert why in error_text(w), error_text(w)
    type_into(qtbot, ifaces.mac, "52:54:00:aa:bb:01")
    assert t.node("h1").interface("eth0").mac == "52:54:00:aa:bb:01"       # type: ignore
    assert error_text(w) == ""
    type_into(qtbot, ifaces.mac, "auto")                       # back to nemu's choice
    assert t.node("h1").interface("eth0").mac is None                       # type: ignore
    qtbot.waitUntil(lambda: ifaces.mac.placeholderText().startswith("auto: 52:54:00:"))

    path = tmp_path / "lab.yaml"
    w.document.save(path)
    saved = topofile.load(path)
    assert saved.node("h1").interface("eth0").address == "192.168.7.1/24"   # type: ignore


def test_the_summary_shows_the_planned_addresses_before_start(qtbot, window: MainWindow) -> None:
    w = window
    w.document.replace(examples.two_hosts(), None)
    t = w.controller.topology
    t.update_node("h2", interfaces=[Interface("eth0")])          # h2 left to the planner
    summary = w.run_controls.summary

    def addresses() -> dict[str, str]:
        return {f"{r[0]}.{r[3]}": r[4] for r in summary.visible_rows()}

    # planned on a worker thread: the Summary fills in when the plan is ready
    qtbot.waitUntil(lambda: addresses() == {"h1.eth0": "10.0.0.1/24", "h2.eth0": "10.0.0.2/24"})
    w.scene.select(["h1"])
    ifaces = w.properties.node_form.interfaces
    ifaces.select("eth0")
    type_into(qtbot, ifaces.address, "172.16.5.9/16")
    # h2 follows h1 into its subnet, as the planner will do at Start
    qtbot.waitUntil(lambda: addresses() == {"h1.eth0": "172.16.5.9/16",
                                            "h2.eth0": "172.16.0.1/16"})


def test_reconfiguring_a_running_guest_flushes_changed_addresses_then_replaces_routes() -> None:
    import ipaddress as ip
    old = MachinePlan("h1", {"eth0": ip.IPv4Interface("10.0.0.1/24"),
                             "eth1": ip.IPv4Interface("10.0.1.1/24")},
                      routes=[Route(ip.IPv4Network("10.0.2.0/24"), ip.IPv4Address("10.0.0.254")),
                              Route(ip.IPv4Network("0.0.0.0/0"), ip.IPv4Address("10.0.1.254"))])
    assert reconfigure_script(old, old) == ""
    new = MachinePlan("h1", {"eth0": ip.IPv4Interface("192.168.7.1/24"),
                             "eth1": ip.IPv4Interface("10.0.1.1/24")},
                      routes=[Route(ip.IPv4Network("0.0.0.0/0"), ip.IPv4Address("10.0.1.254"))])
    assert reconfigure_script(old, new) == (
        "ip addr flush dev eth0 && ip addr add 192.168.7.1/24 dev eth0 && "
        "{ ip route del 10.0.2.0/24 via 10.0.0.254 2>/dev/null || true; } && "
        "ip route replace default via 10.0.1.254")
