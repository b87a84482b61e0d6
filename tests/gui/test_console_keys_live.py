"""A console owns its keys, with a REAL guest, on a real X display (Xvfb, xcb, xdotool).

One booted two-host lab (started by the designer in a child process, `--start`) serves every
check of this module: the bytes a raw tty in h1 receives for printables, control keys, arrows
and function keys; the line discipline's Backspace and Ctrl+C; the canvas untouched meanwhile
(h2 selected, still there and running); and deleting the running h2 from the keyboard asks
first. Hold the VM lock:
`flock /tmp/nemu-vm.lock pytest -m qemu tests/gui/test_console_keys_live.py`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.qemu

REPO = Path(__file__).resolve().parents[2]
TERMINAL = "w.run_controls.consoles.tabs['h1'].terminal"

# (xdotool key, bytes the guest must read); typed after `stty raw -echo`
KEYS = [("BackSpace", b"\x7f"), ("ctrl+c", b"\x03"), ("ctrl+z", b"\x1a"), ("ctrl+d", b"\x04"),
        ("ctrl+s", b"\x13"), ("ctrl+r", b"\x12"), ("Up", b"\x1b[A"), ("Down", b"\x1b[B"),
        ("Left", b"\x1b[D"), ("Right", b"\x1b[C"), ("Home", b"\x1b[H"), ("End", b"\x1b[F"),
        ("Tab", b"\t"), ("Delete", b"\x1b[3~"), ("F1", b"\x1bOP"), ("F5", b"\x1b[15~"),
        ("minus", b"-"), ("plus", b"+"), ("l", b"l"), ("s", b"s")]
PRINTABLE = "echo a-b+c ls =_~|"


@pytest.fixture(scope="module")
def lab(x_display, xcb_app_class, tmp_path_factory) -> Iterator[tuple[object, Path]]:
    """The designer running the two-host example; every process gone afterwards."""
    tmp = tmp_path_factory.mktemp("console-live")
    app = xcb_app_class(x_display, tmp, ["--example", "two-hosts", "--start"])
    pids: list[int] = []
    try:
        app.wait_until("w.bridge.state.value == 'running' and "
                       "w.bridge.node_states == {'h1': 'running', 'h2': 'running'}", 300)
        pids = session_pids(tmp / "sessions")
        assert len(pids) == 3                          # two QEMUs and the vswitch
        # h1's console from its menu (a real right click, then a click on "Console")
        app.display.click(*app.node_pos("h1"), button=3)
        app.wait_until("QtWidgets.QApplication.activePopupWidget() is not None")
        menu = "QtWidgets.QApplication.activePopupWidget()"
        app.display.click(*app.screen_pos(
            menu, *app.eval(f"(lambda m, r: (r.center().x(), r.center().y()))({menu}, "
                            f"{menu}.actionGeometry([a for a in {menu}.actions() "
                            "if a.text() == 'Console'][0]))")))
        app.wait_until("'h1' in w.run_controls.consoles.tabs")
        app.wait_until(f"'#' in {TERMINAL}.text()", 60)
        # the Summary was in front: the console still gets room for a shell (21 lines, up
        # to 55 % of the window)
        assert app.eval("w.height()") <= 1024
        app.wait_until(f"{TERMINAL}.term.lines >= 20")
        yield app, tmp
    finally:
        assert app.quit() == 0, app.stderr()
        deadline = time.monotonic() + 30
        while any(psutil.pid_exists(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [p for p in pids if psutil.pid_exists(p)
                    and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


def focus_console_with_h2_selected(app) -> None:
    app.display.click(*app.node_pos("h2"))
    app.wait_until("w.scene.selected_nodes() == ['h2'] and app.focusWidget() is w.view")
    app.display.click(*app.screen_pos(TERMINAL))
    app.wait_until(f"app.focusWidget() is {TERMINAL}")


CANVAS = ("(sorted(w.scene.nodes), w.scene.selected_nodes(), round(w.view.zoom, 4), "
          "w.scene.mode.value, w.controller.undo_stack.count(), dict(w.bridge.node_states))")


def session_pids(sessions: Path) -> list[int]:
    pids = []
    for state in sessions.glob("*/state.json"):
        pids += [int(p["pid"]) for p in json.loads(state.read_text()).get("processes", {})
                 .values()]
    return pids


def nemu(tmp: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """A CLI one-shot command beside the window that controls the lab."""
    return subprocess.run([sys.executable, "-m", "engine.cli.main", *args], cwd=REPO,
                          env={**__import__("os").environ, "NEMU_SESSIONS": str(tmp / "sessions")},
                          capture_output=True, timeout=120)


def screen(app) -> str:
    return str(app.eval(f"{TERMINAL}.text()"))


def wait_screen(app, text: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in screen(app):
        assert time.monotonic() < deadline, f"{text!r} never shown:\n{screen(app)}"
        time.sleep(0.1)


def test_keys_reach_a_raw_tty_in_the_guest_unchanged(lab) -> None:
    app, tmp = lab
    focus_console_with_h2_selected(app)
    before = app.eval(CANVAS)
    want = PRINTABLE.encode() + b"".join(data for _key, data in KEYS)
    app.display.type(f"stty raw -echo; echo RE''ADY; head -c {len(want)} > /tmp/keys; "
                     "stty sane; echo DO''NE\n")
    wait_screen(app, "READY")
    app.display.type(PRINTABLE)
    for key, _data in KEYS:
        app.display.key(key)
    wait_screen(app, "DONE")
    got = nemu(tmp, "exec", "-s", "two-hosts", "h1", "cat", "/tmp/keys")
    assert got.returncode == 0, got.stderr
    assert got.stdout == want
    assert app.eval(CANVAS) == before


def test_backspace_erases_and_ctrl_c_interrupts_in_the_guest(lab) -> None:
    app, _tmp = lab
    focus_console_with_h2_selected(app)
    before = app.eval(CANVAS)
    app.display.type("echo abX")
    app.display.key("BackSpace")
    app.display.type("c\n")
    wait_screen(app, "\nabc\n")
    app.display.type("sleep 60\n")
    time.sleep(1.0)
    app.display.key("ctrl+c")
    app.display.type("echo r''c=$?\n")
    wait_screen(app, "rc=130", 15)                 # interrupted (128 + SIGINT)
    assert app.eval(CANVAS) == before


def test_deleting_a_running_machine_from_the_keyboard_asks_first(lab) -> None:
    app, _tmp = lab
    app.display.click(*app.node_pos("h2"))
    app.wait_until("w.scene.selected_nodes() == ['h2'] and app.focusWidget() is w.view")
    app.display.key("Delete")
    box = "QtWidgets.QApplication.activeModalWidget()"
    app.wait_until(f"{box} is not None and 'h2 is running' in {box}.text()")
    app.display.key("Escape")
    app.wait_until(f"{box} is None")
    assert app.eval("sorted(w.scene.nodes)") == ["h1", "h2"]
    assert app.eval("w.bridge.node_states['h2']") == "running"
    assert app.eval("w.controller.undo_stack.count()") == 0

    # asked again and confirmed (a click on its button): h2 goes, its QEMU stops, and the
    # status bar counts one machine running, not two
    h2_pid = app.eval("w.bridge.session.process('h2').pid")
    app.display.click(*app.node_pos("h2"))        # (Xvfb has no window manager to give
    app.wait_until("app.focusWidget() is w.view")  # the window its focus back)
    app.display.key("Delete")
    app.wait_until(f"{box} is not None")
    button = (f"[b for b in {box}.buttons() if b.text() == 'Delete and Stop'][0]")
    app.display.click(*app.screen_pos(button))
    app.wait_until("sorted(w.scene.nodes) == ['h1']")
    app.wait_until("w.engine_label.text() == 'session two-hosts · 1 running'")
    deadline = time.monotonic() + 30
    while psutil.pid_exists(h2_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not psutil.pid_exists(h2_pid) or psutil.Process(h2_pid).status() == \
        psutil.STATUS_ZOMBIE
