"""The designer against a REAL running lab: two QEMU hosts (TCG or KVM) on a vswitch link.

One lab boots for the whole module (booting is the slow part); the tests run in file order and
drive the real widgets. Teardown always stops the lab and checks by PID that nothing is left.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from engine import examples, units
from engine.model import NodeKind
from nemu_gui.engine_bridge import RunState
from nemu_gui.main_window import MainWindow
from nemu_gui.properties.scales import BANDWIDTH
from nemu_gui.scene import style

pytestmark = pytest.mark.qemu

BOOT_S = 120


@pytest.fixture(scope="module")
def lab(qapp: QApplication, tmp_path_factory: pytest.TempPathFactory,
        lab_windows) -> Iterator[MainWindow]:
    with lab_windows.open(qapp, tmp_path_factory.mktemp("gui-lab"), examples.two_hosts()) as w:
        yield w


def _wait(qtbot, cond, timeout: int = BOOT_S * 1000,
          explain: Callable[[], str] | None = None) -> None:
    try:
        qtbot.waitUntil(cond, timeout=timeout)
    except qtbot.TimeoutError:
        if explain is None:
            raise
        raise AssertionError(f"waited {timeout / 1000:.0f} s: {explain()}") from None


def _diagnosis(w: MainWindow, node: str) -> str:
    """What the GUI and the engine know of a node that did not get where a test waited."""
    s = w.bridge.session
    if s is None:
        return "no session"
    logs = {}
    for name in ("qemu.log", "console.log"):
        f = s.dir.node_dir(node) / name
        logs[name] = f.read_bytes()[-1200:] if f.exists() else None
    return (f"canvas {w.scene.nodes[node].state}, bridge {w.bridge.node_states.get(node)}, "
            f"engine {s.states.get(node)}, selected {w.scene.selected_nodes()}, "
            f"processes {[(r, p.pid) for r, p in s.registry.items()]}, logs {logs}")


def test_start_all_boots_both_hosts_with_badges_and_status(qtbot, lab: MainWindow,
                                                           lab_windows) -> None:
    w = lab
    assert w.acts.start_all.isEnabled()
    seen: list[tuple[int, int, str, bool]] = []
    badges: list[tuple[str, str]] = []
    w.bridge.progress.connect(
        lambda d, t, m: seen.append((d, t, m, w.run_controls.progress.isVisible())))
    w.bridge.nodeState.connect(lambda n, b, _d: badges.append((n, b)))
    w.acts.start_all.trigger()
    assert not w.acts.start_all.isEnabled() and w.acts.stop_all.isEnabled()
    _wait(qtbot, lambda: w.bridge.state is RunState.RUNNING)
    assert ("h1", "booting") in badges and ("h2", "booting") in badges
    assert any(vis and m == "h1 running" and d <= t for d, t, m, vis in seen), seen
    for node in ("h1", "h2"):
        assert w.scene.nodes[node].state == "running"
        assert "running" in w.scene.nodes[node].toolTip()
    assert not w.run_controls.progress.isVisible()
    _wait(qtbot, lambda: "2 running" in w.engine_label.text(), 5000)
    assert "session two-hosts" in w.engine_label.text()
    assert w.run_controls.accel_label.text() == w.bridge.accel.upper() in ("TCG", "KVM")
    assert "2 nodes · 1 link" in w.counts_label.text()
    assert len(lab_windows.pids(w)) == 3  # two QEMUs and the vswitch


def test_traffic_turns_the_link_label_into_rates_and_colour(qtbot, lab: MainWindow) -> None:
    w = lab
    link = w.scene.links["h1-h2"]
    with qtbot.waitSignal(w.bridge.commandDone, timeout=30000):
        w.bridge.actions.run_command("h2", "iperf3 -s -D -1")
    w.bridge.actions.run_command("h1", "iperf3 -c 10.0.0.2 -t 8", timeout=60)
    _wait(qtbot, lambda: link.live is not None and link.live[0] > 5e6, 30000)
    assert "b/s ▶ ◀" in link.label.text and "Mb/s" in link.label.text, link.label.text
    assert link._pen().color() not in (style.LINK, style.UTIL_STOPS[0][1])
    util = link.live[2]
    assert util is not None and util > 0.5
    step = round(min(1.0, util) * 20) / 20
    assert link._pen().color() == style.utilisation_colour(step)
    assert link._pen().widthF() == 2.0 + 4.0 * step >= 4.0    # twice an idle link's, or more


def test_bandwidth_slider_applies_live_debounced_and_confirmed(qtbot, lab: MainWindow) -> None:
    w = lab
    w.scene.select(links=["h1-h2"])
    form = w.properties.link_form
    assert form.link_name == "h1-h2" and form.which == "both"
    slider = form.fields["bandwidth"].slider
    assert slider is not None
    applied: list[tuple[str, dict]] = []
    w.bridge.linkApplied.connect(lambda name, ch: applied.append((name, ch)))
    sent_before = w.bridge.sent_link_updates
    target = BANDWIDTH.to_pos(2_000_000)
    slider.setSliderDown(True)
    start = slider.value()
    for i in range(1, 31):                               # a quick drag: 30 steps
        slider.setValue(start + (target - start) * i // 30)
    slider.setSliderDown(False)
    final = BANDWIDTH.from_pos(target)
    _wait(qtbot, lambda: any(ch.get("a", {}).get("bandwidth") == final
                             and ch.get("b", {}).get("bandwidth") == final
                             for _n, ch in applied), 10000)
    assert w.bridge.sent_link_updates - sent_before <= 3      # debounced: no flood
    assert w.controller.topology.link("h1-h2").a.params.bandwidth == final
    assert w.bridge.session is not None
    assert w.bridge.session.topo.link("h1-h2").b.params.bandwidth == final
    _wait(qtbot, lambda: units.format_bandwidth(final) in form.applied.text(), 5000)
    assert form.applied.isVisible()
    # also where it is seen while the slider is dragged, whatever the form's scroll
    assert "✓ h1-h2 in the running lab: " in w.statusBar().currentMessage()


def test_console_tab_shows_a_shell_prompt_and_runs_what_is_typed(qtbot, lab: MainWindow) -> None:
    w = lab
    menu = w.run_controls.menus.node_menu("h1")
    console = next(a for a in menu.actions() if a.text() == "Console")
    assert console.isEnabled()
    console.trigger()
    tab = w.run_controls.consoles.tabs["h1"]
    _wait(qtbot, lambda: "h1:/#" in tab.terminal.text(), 20000)
    tab.send(b"echo nemu-$((6*7))\r")
    _wait(qtbot, lambda: "nemu-42" in tab.terminal.text(), 20000)
    assert w.run_controls.docks["Consoles"].isVisible()
    # the guest's tty learns the terminal's size (a serial line starts at "0 0"), then follows it
    assert w.bridge.session is not None
    node = w.bridge.session.node("h1")

    def guest_size() -> str:
        r = w.bridge.engine.submit(node.run("stty -F /dev/ttyS0 size")).result(10)
        return r.stdout.decode().strip()
    for width in (None, 700):
        if width is not None:
            tab.terminal.setFixedWidth(width)
        qtbot.waitUntil(lambda: guest_size() == f"{tab.terminal.term.lines} "
                                                 f"{tab.terminal.term.columns}", timeout=10000)
    assert tab.terminal.term.columns == int(700 // tab.terminal.cell_w)


def test_summary_lists_interfaces_with_planned_addresses_and_state(qtbot, lab: MainWindow) -> None:
    summary = lab.run_controls.summary
    _wait(qtbot, lambda: summary.visible_rows()[0][:7]
          == ["h1", "host", "running", "eth0", "10.0.0.1/24", "h1-h2", "h2.eth0"], 5000)
    summary.filter.setText("10.0.0.2")
    assert [r[0] for r in summary.visible_rows()] == ["h2"]
    summary.filter.setText("")


def test_link_menu_down_up_reset_capture_and_plot(qtbot, lab: MainWindow,
                                                  tmp_path: Path) -> None:
    w = lab
    menus = w.run_controls.menus
    applied: list[dict] = []
    w.bridge.linkApplied.connect(lambda _n, ch: applied.append(ch))

    def act(text: str) -> None:
        menu = menus.link_menu("h1-h2")
        next(a for a in menu.actions() if a.text() == text).trigger()

    act("Set Link Down")
    _wait(qtbot, lambda: any(ch.get("a", {}).get("up") is False for ch in applied), 10000)
    assert w.bridge.session is not None and not w.bridge.session.topo.link("h1-h2").a.params.up
    r = w.bridge.session
    act("Set Link Up")
    _wait(qtbot, lambda: r.topo.link("h1-h2").a.params.up, 10000)
    act("Reset Parameters")                 # the slider test left 2 Mbit/s: back to 10
    _wait(qtbot, lambda: r.topo.link("h1-h2").a.params.bandwidth == 10_000_000, 10000)
    assert w.controller.topology.link("h1-h2").b.params.bandwidth == 10_000_000

    pcap = tmp_path / "h1-h2.pcap"
    menus.capture("h1-h2", "a", pcap)
    _wait(qtbot, lambda: pcap.exists(), 10000)
    with qtbot.waitSignal(w.bridge.commandDone, timeout=30000):
        w.bridge.actions.run_command("h1", "ping -c 3 -i 0.2 10.0.0.2")
    menus.stop_capture("h1-h2", "a")
    _wait(qtbot, lambda: pcap.stat().st_size > 24 + 3 * 100, 10000)   # header + 3 pings

    # "Open in Wireshark": the reader takes a while to start and open the FIFO (Wireshark
    # does); a stand-in with Wireshark's arguments hands the FIFO to tshark after 1.5 s
    live = tmp_path / "live.pcapng"
    reader = tmp_path / "wireshark-standin"
    reader.write_text(f'#!/bin/sh\n[ "$1 $2" = "-k -i" ] || exit 2\nsleep 1.5\n'
                      f'exec tshark -i "$3" -c 3 -a duration:60 -w {live}\n')
    reader.chmod(0o755)
    infos: list[str] = []
    w.bridge.info.connect(lambda title, _d: infos.append(title))
    w.bridge.actions.wireshark("h1-h2", "a", str(reader))
    _wait(qtbot, lambda: "h1-h2 (a side) is live in Wireshark" in infos, 20000)
    with qtbot.waitSignal(w.bridge.commandDone, timeout=30000):
        w.bridge.actions.run_command("h1", "ping -c 3 -i 0.2 10.0.0.2")
    _wait(qtbot, lambda: live.exists() and live.stat().st_size > 3 * 100, 20000)
    menus.stop_capture("h1-h2", "a")

    act("Plot")
    stats = w.run_controls.stats
    assert stats.link == "h1-h2" and w.run_controls.docks["Statistics"].isVisible()
    _wait(qtbot, lambda: len(stats.history.get("h1-h2", ())) > 4, 10000)
    rows = stats.export_csv(tmp_path / "stats.csv")
    lines = (tmp_path / "stats.csv").read_text().splitlines()
    assert lines[0].startswith("time_s,link,a_to_b_bps") and len(lines) == rows + 1


def test_hot_plug_a_switch_and_link_drawn_while_running_then_delete(qtbot,
                                                                     lab: MainWindow) -> None:
    w = lab
    s = w.bridge.session
    assert s is not None
    name = w.controller.add_node(NodeKind.SWITCH, (0.0, 150.0))
    assert name == "sw1"
    link = w.controller.connect_nodes("h1", "sw1")      # h1 gets a hot-plugged eth1
    assert link is not None
    _wait(qtbot, lambda: w.scene.nodes["sw1"].state == "running", 30000)
    _wait(qtbot, lambda: (link, "a") in s.wiring.taps and "sw1" in s.wiring.devices, 60000)
    r = s.topo.node("h1")
    assert [i.name for i in r.interfaces] == ["eth0", "eth1"]
    w.scene.select(["sw1"])
    w.acts.delete.trigger()
    _wait(qtbot, lambda: "sw1" not in s.states and (link, "a") not in s.wiring.taps, 30000)
    assert [lk.name for lk in s.topo.links] == ["h1-h2"]
    assert "sw1" not in w.bridge.node_states


def test_node_menu_stops_and_starts_one_machine(qtbot, lab: MainWindow) -> None:
    w = lab
    s = w.bridge.session
    assert s is not None
    menus = w.run_controls.menus

    def enabled(node: str) -> set[str]:
        return {a.text() for a in menus.node_menu(node).actions()
                if a.text() in ("Start", "Stop", "Restart") and a.isEnabled()}

    assert enabled("h2") == {"Stop", "Restart"}
    old = s.process("h2").pid
    next(a for a in menus.node_menu("h2").actions() if a.text() == "Stop").trigger()
    _wait(qtbot, lambda: w.scene.nodes["h2"].state == "stopped", 30000)
    assert enabled("h2") == {"Start"} and s.process("h2") is None
    w.scene.select(["h2"])
    w.acts.start_selected.trigger()
    _wait(qtbot, lambda: w.scene.nodes["h2"].state == "running", 120000,
          lambda: _diagnosis(w, "h2"))
    assert s.process("h2").pid != old


def test_renaming_a_running_machine_restarts_it_under_the_new_name(qtbot,
                                                                    lab: MainWindow) -> None:
    w = lab
    s = w.bridge.session
    assert s is not None
    old = s.process("h2").pid
    states: list[tuple[str, str]] = []
    w.bridge.nodeState.connect(lambda n, b, _d: states.append((n, b)))
    assert w.controller.rename_node("h2", "web")
    _wait(qtbot, lambda: ("web", "running") in states, 120000)
    assert w.scene.nodes["web"].state == "running" and w.bridge.node_states["web"] == "running"
    assert "qemu:web" in s.registry.roles() and s.process("web").pid != old
    with qtbot.waitSignal(w.bridge.commandDone, timeout=30000) as done:
        w.bridge.actions.run_command("web", "hostname")
    assert done.args[2].stdout.strip() == b"web"
    w.controller.undo_stack.undo()                          # and back, the same way
    _wait(qtbot, lambda: ("h2", "running") in states, 120000)
    assert s.topo.has_node("h2") and not s.topo.has_node("web")


def test_stop_all_stops_every_process(qtbot, lab: MainWindow, lab_windows) -> None:
    w = lab
    pids = lab_windows.pids(w)
    assert len(pids) == 3
    w.acts.stop_all.trigger()
    _wait(qtbot, lambda: w.bridge.state is RunState.IDLE, 30000)
    assert w.scene.nodes["h1"].state == "stopped"
    assert w.scene.links["h1-h2"].live is None
    assert w.acts.start_all.isEnabled() and not w.acts.stop_all.isEnabled()
    # the disabled Stop All says why (not "engine not available yet")
    assert w.acts.stop_all.toolTip() == ("Stop the running lab (Ctrl+Shift+R): not now, no lab "
                                         "is running")
    assert "running" not in w.engine_label.text()
    for p in pids:
        assert not psutil.pid_exists(p) or psutil.Process(p).status() == psutil.STATUS_ZOMBIE


def test_the_start_flag_runs_the_lab_once_the_window_opens(qtbot, qapp: QApplication,
                                                          tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          lab_windows) -> None:
    """`nemu-gui LAB --start`, what `nemu demo` opens: the lab starts without a click."""
    from nemu_gui.app import build_window, parse_args
    monkeypatch.setenv("NEMU_SESSIONS", str(tmp_path / "sessions"))
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = build_window(parse_args(["--example", "two-hosts", "--start"]), settings,
                     tmp_path / "recovery")
    w.file_menu.confirm_discard = lambda doing: True  # type: ignore[method-assign]
    pids: list[int] = []
    try:
        w.show()
        _wait(qtbot, lambda: w.bridge.state is RunState.RUNNING)
        assert w.scene.nodes["h1"].state == "running" and w.scene.nodes["h2"].state == "running"
        pids = lab_windows.pids(w)
        assert len(pids) == 3
        w.acts.stop_all.trigger()
        _wait(qtbot, lambda: w.bridge.state is RunState.IDLE, 30000)
    finally:
        pids = lab_windows.close(w) or pids
    lab_windows.assert_gone(pids)
