"""One controller per lab, with REAL designer windows (child processes on Xvfb, the xcb
platform) and a REAL running two-host lab: a second window is refused control with the holder
named and takes over only when asked (a click on Take Over); the first lets go and the lab
keeps running; CLI one-shot commands work beside the controller; killing the holder with -9
frees the lab for the next window. Every process is gone at the end. Hold the VM lock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from engine import examples, topofile

pytestmark = pytest.mark.qemu

REPO = Path(__file__).resolve().parents[2]
HELD = ("[n for n in w.notifications.items if 'is controlled by another window' in n.text]")


def nemu(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine.cli.main", *args], cwd=REPO,
                          env={**os.environ, "NEMU_SESSIONS": str(tmp / "sessions")},
                          capture_output=True, text=True, timeout=120)


def holder_pid(tmp: Path) -> int | None:
    f = tmp / "sessions" / "two-hosts" / "controller.json"
    return json.loads(f.read_text())["pid"] if f.exists() else None


def lab_pids(tmp: Path) -> list[int]:
    state = json.loads((tmp / "sessions" / "two-hosts" / "state.json").read_text())
    return [int(p["pid"]) for p in state.get("processes", {}).values()]


def alive(pid: int) -> bool:
    return psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE


def test_two_windows_one_lab_refused_then_taken_over_and_freed_by_kill(
        xcb_app, tmp_path: Path) -> None:
    lab = tmp_path / "two-hosts.yaml"
    topofile.save(examples.two_hosts(), lab)
    pids: list[int] = []
    try:
        a = xcb_app(str(lab), "--start")
        a.wait_until("w.bridge.state.value == 'running' and "
                     "w.bridge.node_states == {'h1': 'running', 'h2': 'running'}", 300)
        pids = lab_pids(tmp_path)
        assert holder_pid(tmp_path) == a.proc.pid

        # the second window: refused, the holder named, nothing taken
        b = xcb_app("--attach", "two-hosts")
        b.wait_until(HELD)
        note = b.eval(f"{HELD}[0].text")
        assert f"nemu-gui (pid {a.proc.pid}, since " in note
        assert b.eval("w.bridge.state.value") == "idle" and b.eval("w.bridge.session") is None
        assert holder_pid(tmp_path) == a.proc.pid
        assert a.eval("w.bridge.state.value") == "running"
        status = nemu(tmp_path, "status")
        assert f"controlled by nemu-gui (pid {a.proc.pid}" in status.stdout, status

        # one-shot commands beside the controller
        r = nemu(tmp_path, "exec", "-s", "two-hosts", "h1", "ping", "-c", "1", "-W", "5",
                 "10.0.0.2")
        assert r.returncode == 0, r.stderr
        r = nemu(tmp_path, "set-link", "-s", "two-hosts", "h1-h2", "delay=20ms")
        assert r.returncode == 0, r.stderr
        r = nemu(tmp_path, "stats", "-s", "two-hosts", "--count", "1", "--hz", "4")
        assert r.returncode == 0 and "h1-h2" in r.stdout, r.stderr

        # taken over only when asked: a click on the notification's Take Over button
        button = (f"[x for x in {HELD}[0].findChildren(QtWidgets.QPushButton) "
                  "if x.text() == 'Take Over'][0]")
        b.display.click(*b.screen_pos(button))
        b.wait_until("w.bridge.state.value == 'running'", 60)
        assert holder_pid(tmp_path) == b.proc.pid
        a.wait_until("w.bridge.state.value == 'idle'", 20)          # it let go...
        a.wait_until("any('was taken over' in n.text for n in w.notifications.items)")
        assert all(alive(p) for p in pids)                          # ...and the lab runs on
        assert b.eval("sorted(w.scene.nodes)") == ["h1", "h2"]

        # the holder killed with -9: the lab is free for the next window, no question asked
        os.kill(b.proc.pid, signal.SIGKILL)
        b.proc.wait()
        assert all(alive(p) for p in pids)
        c = xcb_app("--attach", "two-hosts")
        c.wait_until("w.bridge.state.value == 'running'", 60)
        assert holder_pid(tmp_path) == c.proc.pid
        assert not c.eval(HELD)
        c.exec("w.acts.stop_all.trigger()")                         # stops it, by PID
        c.wait_until("w.bridge.state.value == 'idle'", 60)
        assert holder_pid(tmp_path) is None
    finally:
        if pids and any(alive(p) for p in pids):
            nemu(tmp_path, "down", "-s", "two-hosts")
        deadline = time.monotonic() + 30
        while any(alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [p for p in pids if alive(p)], "lab processes left running"
