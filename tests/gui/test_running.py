"""The designer against a REAL running lab: two QEMU hosts (TCG or KVM) on a vswitch link.

One lab boots for the whole module (booting is the slow part); the tests run in file order and
drive the real widgets. Teardown always stops the lab and checks by PID that nothing is left.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psutil
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from engine import examples
from nemu_gui.app import configure
from nemu_gui.engine_bridge import RunState
from nemu_gui.main_window import MainWindow
from nemu_gui.scene import style

pytestmark = pytest.mark.qemu

BOOT_S = 120


def _pids(w: MainWindow) -> list[int]:
    s = w.bridge.session
    return [] if s is None else [p.pid for _role, p in s.registry.items()]


@pytest.fixture(scope="module")
def lab(qapp: QApplication, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MainWindow]:
    tmp = tmp_path_factory.mktemp("gui-lab")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NEMU_SESSIONS", str(tmp / "sessions"))
        configure(qapp)
        settings = QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat)
        w = MainWindow(settings, tmp / "recovery", topology=examples.two_hosts())
        w.file_menu.confirm_discard = lambda doing: True  # type: ignore[method-assign]
        w.show()
        pids: list[int] = []
        try:
            yield w
        finally:
            pids = _pids(w) or pids
            if w.bridge.session is not None:
                with contextlib.suppress(Exception):
                    w.bridge.stop_all()
            w.bridge.shutdown()
            w.controller.undo_stack.setClean()
            w.close()
            w.deleteLater()
        alive = [p for p in pids if psutil.pid_exists(p)
                 and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        assert not alive, f"processes left running: {alive}"


def _wait(qtbot, cond, timeout: int = BOOT_S * 1000) -> None:
    qtbot.waitUntil(cond, timeout=timeout)


def test_start_all_boots_both_hosts_with_badges_and_status(qtbot, lab: MainWindow) -> None:
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
    assert "2 nodes · 1 links" in w.counts_label.text()
    assert len(_pids(w)) == 3            # two QEMUs and the vswitch


def test_traffic_turns_the_link_label_into_rates_and_colour(qtbot, lab: MainWindow) -> None:
    w = lab
    link = w.scene.links["h1-h2"]
    with qtbot.waitSignal(w.bridge.commandDone, timeout=30000):
        w.bridge.run_command("h2", "iperf3 -s -D -1")
    w.bridge.run_command("h1", "iperf3 -c 10.0.0.2 -t 8", timeout=60)
    _wait(qtbot, lambda: link.live is not None and link.live[0] > 5e6, 30000)
    assert "b/s ▶ ◀" in link.label.text and "Mb/s" in link.label.text, link.label.text
    assert link._pen().color() not in (style.LINK, style.UTIL_STOPS[0][1])
    util = link.live[2]
    assert util is not None and util > 0.5
    assert link._pen().color() == style.utilisation_colour(round(min(1.0, util) * 20) / 20)
    assert link._pen().widthF() > 4.0
