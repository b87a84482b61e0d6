"""Taking over a REAL lab that `nemu up` started (or a window that closed without stopping it):
Run > Attach shows its topology and live states on the canvas, commands and link sliders reach
it, a crash is reported; quitting the window leaves it running, and `nemu down` stops it (every
PID checked)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QPushButton

from nemu_gui.app import configure
from nemu_gui.engine_bridge import RunState
from nemu_gui.main_window import MainWindow
from nemu_gui.notifications import Level

pytestmark = pytest.mark.qemu

REPO = Path(__file__).resolve().parents[2]


def alive(pid: int) -> bool:
    return psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE


@pytest.fixture
def sessions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "sessions"
    monkeypatch.setenv("NEMU_SESSIONS", str(root))
    yield root
    for state in root.glob("*/state.json"):       # whatever the test left: stop it by PID
        for p in json.loads(state.read_text()).get("processes", {}).values():
            if alive(p["pid"]):
                with contextlib.suppress(psutil.Error):
                    psutil.Process(p["pid"]).kill()


def nemu(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([sys.executable, "-m", "engine.cli.main", *args], cwd=cwd,
                       env=dict(os.environ), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def window(qapp: QApplication, tmp_path: Path) -> MainWindow:
    configure(qapp)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(settings, tmp_path / "recovery")
    w.file_menu.confirm_discard = lambda doing: True  # type: ignore[method-assign]
    w.show()
    return w


def test_attach_to_a_lab_nemu_up_started_then_leave_it_running(qtbot, qapp, tmp_path,
                                                               sessions) -> None:
    nemu("up", str(REPO / "examples" / "two-hosts.yaml"), "--name", "bylab", cwd=tmp_path)
    state = json.loads((sessions / "bylab" / "state.json").read_text())
    pids = {role: p["pid"] for role, p in state["processes"].items()}
    assert all(alive(p) for p in pids.values())

    w = window(qapp, tmp_path)
    try:
        w.run_controls.offer_running_labs()           # what the window says when it opens
        offer = w.notifications.items[-1]
        assert "Lab bylab is still running" in offer.text
        assert [b.text() for b in offer.findChildren(QPushButton)] == ["Attach"]
        asked: list[list[str]] = []
        w.run_controls.ask_session = lambda names: asked.append(names) or names[0]  # type: ignore[method-assign]
        assert w.acts.attach_lab.isEnabled()
        w.acts.attach_lab.trigger()
        assert asked == [["bylab"]]
        qtbot.waitUntil(lambda: w.bridge.state is RunState.RUNNING, timeout=30000)
        assert not w.acts.attach_lab.isEnabled() and w.acts.stop_all.isEnabled()

        # the canvas shows the lab as it runs, marked unsaved, with live states
        topo = w.controller.topology
        assert sorted(n.name for n in topo.nodes) == ["h1", "h2"]
        assert [lk.name for lk in topo.links] == ["h1-h2"]
        assert w.document.dirty and w.document.path is None
        qtbot.waitUntil(lambda: all(w.scene.nodes[n].state == "running" for n in ("h1", "h2")),
                        timeout=10000)

        # commands reach the guests; a slider change reaches the vswitch and is confirmed
        with qtbot.waitSignal(w.bridge.commandDone, timeout=60000) as done:
            w.bridge.actions.run_command("h1", "ping -c 1 -W 5 10.0.0.2")
        assert done.args[2].exitcode == 0, done.args[2].stdout
        with qtbot.waitSignal(w.bridge.linkApplied, timeout=10000) as applied:
            w.controller.set_link_params("h1-h2", "a", delay="30ms")
        assert applied.args[0] == "h1-h2"
        with qtbot.waitSignal(w.bridge.commandDone, timeout=60000) as done:
            w.bridge.actions.run_command("h1", "ping -c 1 -W 5 10.0.0.2")
        rtt = float(done.args[2].stdout.decode().split("time=")[1].split()[0])
        assert rtt >= 30, rtt

        # a machine killed behind the window's back is reported
        psutil.Process(pids["qemu:h2"]).kill()
        qtbot.waitUntil(lambda: w.scene.nodes["h2"].state == "crashed", timeout=10000)
        qtbot.waitUntil(lambda: any("qemu:h2 stopped unexpectedly" in n.text
                                    for n in w.notifications.items), timeout=5000)
    finally:
        w.bridge.shutdown()
        w.controller.undo_stack.setClean()
        w.close()
        w.deleteLater()

    # the window let go of the lab: it still runs, and another controller stops it
    assert alive(pids["qemu:h1"]) and alive(pids["vswitch"])
    listing = nemu("status", "-s", "bylab", cwd=tmp_path).stdout
    assert "h1" in listing and "running" in listing
    nemu("down", "-s", "bylab", cwd=tmp_path)
    assert not [r for r, p in pids.items() if alive(p)]


def test_attach_with_no_lab_running_says_so(qtbot, qapp, tmp_path, sessions) -> None:
    """A session marked up whose processes are gone (the machine rebooted) is not offered."""
    stale = sessions / "stale"
    stale.mkdir(parents=True)
    (stale / "topology.yaml").write_text((REPO / "examples" / "two-hosts.yaml").read_text())
    gone = {"host": "local", "pid": 999_999_999 % (2**22), "create_time": 1.0, "argv": ["qemu"]}
    (stale / "state.json").write_text(json.dumps({"status": "up",
                                                  "processes": {"qemu:h1": gone}}))
    w = window(qapp, tmp_path)
    try:
        w.run_controls.offer_running_labs()
        assert not w.notifications.items
        w.run_controls.ask_session = lambda names: pytest.fail("nothing to choose")  # type: ignore[method-assign]
        assert not w.run_controls.attach_dialog()
        note = w.notifications.items[-1]
        assert "No lab is running" in note.text and note.level is Level.INFO
        assert w.bridge.state is RunState.IDLE
    finally:
        w.bridge.shutdown()
        w.close()
        w.deleteLater()


def test_nemu_gui_attach_without_a_lab_opens_and_says_so(qtbot, qapp, tmp_path, sessions) -> None:
    """`nemu-gui --attach` with nothing running: the window opens idle and says why."""
    from nemu_gui.app import build_window, parse_args

    configure(qapp)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    w = build_window(parse_args(["--attach"]), settings, tmp_path / "recovery")
    try:
        qtbot.waitUntil(lambda: any("No lab is running" in n.text
                                    for n in w.notifications.items), timeout=5000)
        assert w.bridge.state is RunState.IDLE
    finally:
        w.bridge.shutdown()
        w.close()
        w.deleteLater()
