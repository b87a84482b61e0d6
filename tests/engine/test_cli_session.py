"""The session commands as a user types them: real `nemu` processes, a real network."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.qemu


def test_up_exec_set_link_run_status_kill_down(tmp_path):
    env = {**os.environ, "NEMU_SESSIONS": str(tmp_path / "sessions")}

    def nemu(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([sys.executable, "-m", "engine.cli.main", *args], cwd=tmp_path,
                           env=env, capture_output=True, text=True, timeout=300, check=False)
        if check:
            assert r.returncode == 0, r.stdout + r.stderr
        return r

    up = nemu("up", str(REPO / "examples" / "two-hosts.yaml"))
    pids: list[int] = []
    try:
        assert "session two-hosts is up" in up.stdout
        assert re.search(r"h1\s+eth0 10\.0\.0\.1/24", up.stdout)
        assert "5/5" in up.stderr
        state = json.loads((tmp_path / "sessions" / "two-hosts" / "state.json").read_text())
        pids = [p["pid"] for p in state["processes"].values()]
        assert len(pids) == 3

        listing = nemu("status").stdout
        assert re.search(r"two-hosts\s+up", listing)
        assert nemu("exec", "h1", "ping -c 1 -W 3 10.0.0.2").returncode == 0
        assert nemu("exec", "h1", "false", check=False).returncode == 1

        nemu("set-link", "h1-h2", "delay=60ms")
        ping = nemu("exec", "h1", "ping -c 1 -W 3 10.0.0.2").stdout
        rtt = float(re.search(r"time=([\d.]+) ms", ping).group(1))
        assert rtt >= 70                           # 60 ms there, 10 ms back
        assert "delay: 60ms" in (tmp_path / "sessions" / "two-hosts" / "topology.yaml").read_text()

        bad = nemu("set-link", "h1-h2", "loss=2", check=False)
        assert bad.returncode == 2 and "needs a '%' sign" in bad.stderr

        script = tmp_path / "probe.py"
        script.write_text("out = sh('h2', 'hostname')\nassert out.strip() == 'h2'\n"
                          "async def main(session):\n"
                          "    r = await session.node('h1').run('echo from-main')\n"
                          "    print(r.stdout.decode().strip())\n")
        assert "from-main" in nemu("run", str(script)).stdout

        stats = nemu("stats", "--count", "1", "--hz", "4").stdout
        assert "h1-h2" in stats

        # capture: a pcap of what h1 sends, for as long as asked
        cap = subprocess.Popen([sys.executable, "-m", "engine.cli.main", "capture", "h1-h2",
                                "-w", "cap.pcap", "--seconds", "6"], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert cap.stderr is not None and "capturing h1-h2" in cap.stderr.readline()
        nemu("exec", "h1", "ping -c 2 -W 3 10.0.0.2")
        assert cap.wait(60) == 0
        echoes = subprocess.run(["tshark", "-r", str(tmp_path / "cap.pcap"), "-Y",
                                 "icmp.type == 8 && ip.src == 10.0.0.1"],
                                capture_output=True, text=True, check=True).stdout
        assert len(echoes.splitlines()) >= 2, echoes

        # -w -: a live pcap stream on stdout, as `| wireshark -k -i -` reads it
        stream = subprocess.Popen([sys.executable, "-m", "engine.cli.main", "capture", "h1-h2",
                                   "-w", "-", "--seconds", "6"], cwd=tmp_path, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert stream.stderr is not None and b"to stdout" in stream.stderr.readline()
        nemu("exec", "h1", "ping -c 2 -W 3 10.0.0.2")
        pcap, _ = stream.communicate(timeout=60)
        assert stream.returncode == 0 and pcap[:4] == bytes.fromhex("d4c3b2a1"), pcap[:24]
        echoes = subprocess.run(["tshark", "-r", "-", "-Y", "icmp.type == 8"], input=pcap,
                                capture_output=True, check=True).stdout.decode()
        assert len(echoes.splitlines()) >= 2, echoes

        # the interactive shell, fed from a pipe, with the session bound
        shell = subprocess.run([sys.executable, "-m", "engine.cli.main", "shell"], cwd=tmp_path,
                               env=env, input="print('NAME=' + sh('h2', 'hostname').strip())\n",
                               capture_output=True, text=True, timeout=120)
        assert "NAME=h2" in shell.stdout, shell.stdout + shell.stderr

        # save while running, restore under another name (booted by `nemu start` when wanted)
        saved = nemu("save", "-s", "two-hosts", "saved.tar.gz").stdout
        assert "saved session two-hosts" in saved and (tmp_path / "saved.tar.gz").exists()
        nemu("restore", "saved.tar.gz", "--name", "copy")
        assert (tmp_path / "sessions" / "copy" / "nodes" / "h1" / "disk.qcow2").exists()
        assert re.search(r"copy\s+\S+", nemu("status").stdout)

        screen = console_in_a_terminal(env, tmp_path, "h1", rows=31, columns=97,
                                       typed=b"stty size\r")
        assert "31 97" in screen, screen           # the guest's tty got this terminal's size

        assert re.search(r"\(links\)\s+vswitch running", nemu("status", "-s", "two-hosts").stdout)
        os.kill(pids[-1], signal.SIGKILL)          # the last QEMU started
        status = nemu("status", "-s", "two-hosts").stdout
        assert re.search(r"h\d\s+host\s+crashed\s+pid \d+ is gone", status), status
        vswitch = state["processes"]["vswitch"]["pid"]
        os.kill(vswitch, signal.SIGKILL)           # the data plane: every link at once
        status = nemu("status", "-s", "two-hosts").stdout
        assert re.search(rf"\(links\)\s+vswitch crashed\s+pid {vswitch} is gone", status), status
    finally:
        nemu("down", check=False)
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
    assert re.search(r"two-hosts\s+down", nemu("status").stdout)


def console_in_a_terminal(env: dict[str, str], cwd: Path, node: str, rows: int, columns: int,
                          typed: bytes) -> str:
    """`nemu console NODE` in a pseudo-terminal of the given size: type, read, leave (Ctrl-])."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    p = subprocess.Popen([sys.executable, "-m", "engine.cli.main", "console", node], cwd=cwd,
                         env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    out = b""
    try:
        deadline = time.monotonic() + 60
        sent_at = -1
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                out += os.read(master, 65536)
            if sent_at < 0 and b"#" in out.split(b"Ctrl-] leaves", 1)[-1]:
                time.sleep(1.0)                    # the size goes through the agent first
                os.write(master, typed)
                sent_at = len(out)
            elif sent_at >= 0 and re.search(rb"\n\d+ \d+\r?\n", out[sent_at:]):
                break
        os.write(master, b"\x1d")
        assert p.wait(timeout=20) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
    return out.decode(errors="replace")


def test_demo_headless_runs_the_example_lab_then_down_stops_it(tmp_path):
    """The README's first command on a machine without a display: `nemu demo` boots the lab,
    pings across it, prints the link rates and leaves it running for `nemu down`."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["NEMU_SESSIONS"] = str(tmp_path / "sessions")

    def nemu(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "engine.cli.main", *args], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=600, check=False)

    demo = nemu("demo", "--example", "two-hosts", "--dir", str(tmp_path / "labs"))
    pids: list[int] = []
    try:
        state = tmp_path / "sessions" / "two-hosts" / "state.json"
        if state.exists():
            pids = [p["pid"] for p in json.loads(state.read_text())["processes"].values()]
        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert (tmp_path / "labs" / "two-hosts.yaml").exists()
        assert "no display here, so the lab runs from the CLI" in demo.stdout
        assert "3 packets transmitted, 3 received" in demo.stdout
        assert re.search(r"h1-h2\s+\S+.* -> ", demo.stdout)
        assert len(pids) == 3 and all(psutil.pid_exists(p) for p in pids)   # left running
    finally:
        down = nemu("down", "-s", "two-hosts")
    assert down.returncode == 0, down.stdout + down.stderr
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
