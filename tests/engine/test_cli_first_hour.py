"""The first hour of use, as a user types it (issue: fresh machine, crashed node, jobs).

Real `nemu` processes and a real two-host lab: words of `nemu exec` kept as typed, detached
jobs, a crashed QEMU restarted alone (never a second QEMU on a running one) and every process
the session ever recorded stopped by `nemu down`, private session files, socket folders that
go with their sessions, a closed pipe, and a lab that asks for more memory than the machine has.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.qemu

Nemu = Callable[..., subprocess.CompletedProcess[str]]


def make_nemu(tmp: Path) -> Nemu:
    env = {**os.environ, "NEMU_SESSIONS": str(tmp / "sessions")}

    def nemu(*args: str, check: bool = True, timeout: float = 300) -> \
            subprocess.CompletedProcess[str]:
        r = subprocess.run([sys.executable, "-m", "engine.cli.main", *args], cwd=tmp, env=env,
                           capture_output=True, text=True, timeout=timeout, check=False)
        if check:
            assert r.returncode == 0, r.stdout + r.stderr
        return r

    return nemu


def session_processes(sdir: Path) -> list[psutil.Process]:
    """Every process on this machine whose command line names the session's folders."""
    sockets = os.path.realpath(sdir / "sockets")
    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if p.info["status"] != psutil.STATUS_ZOMBIE and (str(sdir) in cmd or sockets in cmd):
            found.append(p)
    return found


def recorded_pids(sdir: Path) -> dict[str, int]:
    state = json.loads((sdir / "state.json").read_text())
    return {role: rec["pid"] for role, rec in state["processes"].items()}


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[tuple[Nemu, Path]]:
    tmp = tmp_path_factory.mktemp("first-hour")
    nemu = make_nemu(tmp)
    nemu("up", str(REPO / "examples" / "two-hosts.yaml"))
    sdir = tmp / "sessions" / "two-hosts"
    try:
        yield nemu, sdir
    finally:
        nemu("down", check=False)
        assert session_processes(sdir) == []


def test_exec_keeps_the_users_words(lab):
    nemu, _ = lab
    # the words reach sh as typed: its own -c script does the splitting (a b), and a
    # quoted string inside it stays whole; joined and re-split, sh would run `echo` alone
    assert nemu("exec", "h1", "sh", "-c", "echo a   b").stdout == "a b\n"
    assert nemu("exec", "h1", "sh", "-c", "echo 'a   b'").stdout == "a   b\n"
    assert nemu("exec", "h1", "echo", "x  y", "z").stdout == "x  y z\n"     # an argv
    assert nemu("exec", "h1", "echo one | tr o 0").stdout == "0ne\n"        # a command line
    assert nemu("exec", "--timeout", "20", "h1", "true").returncode == 0
    assert nemu("exec", "-s", "two-hosts", "--timeout", "20", "h1", "true").returncode == 0
    slow = nemu("exec", "--timeout", "1", "h1", "sleep", "5", check=False)
    assert slow.returncode == 2 and "still running after 1 s" in slow.stderr


def test_a_detached_server_runs_until_killed(lab):
    nemu, _ = lab
    started = nemu("exec", "--detach", "h2", "iperf3", "-s", "-p", "5201")
    pid = int(started.stdout.strip())
    assert f"nemu exec --kill h2 {pid}" in started.stderr
    time.sleep(0.5)
    client = nemu("exec", "h1", "iperf3 -c 10.0.0.2 -p 5201 -t 1 -J", timeout=120)
    assert json.loads(client.stdout)["end"]["sum_received"]["bytes"] > 0
    status = nemu("status", "-s", "two-hosts", "h2").stdout
    assert re.search(rf"{pid}\s+running\s+iperf3 -s -p 5201", status), status
    out = nemu("exec", "h2", f"cat /run/nemu/jobs/{pid}.out").stdout
    assert "Server listening on 5201" in out
    assert "stopped" in nemu("exec", "--kill", "h2", str(pid)).stdout
    gone = nemu("exec", "h1", "iperf3 -c 10.0.0.2 -p 5201 -t 1", check=False, timeout=120)
    assert gone.returncode != 0
    assert "jobs: none" in nemu("status", "-s", "two-hosts", "h2").stdout
    again = nemu("exec", "--kill", "h2", str(pid), check=False)
    assert again.returncode == 2 and f"no job {pid}" in again.stderr


def test_a_closed_pipe_ends_a_command_quietly(lab):
    _, sdir = lab
    env = {**os.environ, "NEMU_SESSIONS": str(sdir.parent)}
    for args in (["status"], ["status", "-s", "two-hosts"], ["stats", "--hz", "5"]):
        r, w = os.pipe()
        p = subprocess.Popen([sys.executable, "-m", "engine.cli.main", *args], stdout=w,
                             stderr=subprocess.PIPE, env=env)
        os.close(w)
        os.close(r)                                  # `| head -0`: nobody reads
        assert p.stderr is not None
        err = p.stderr.read().decode()
        assert p.wait(60) == 141, err
        assert "Traceback" not in err and "BrokenPipe" not in err, err


def test_nothing_of_the_session_is_readable_by_others(lab):
    _, sdir = lab
    exposed = []
    for dirpath, dirnames, filenames in os.walk(sdir):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            if path.is_symlink():
                continue
            if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                exposed.append(f"{path} {stat.filemode(path.stat().st_mode)}")
    assert not (sdir.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))
    assert exposed == []
    assert os.stat(os.path.realpath(sdir / "sockets")).st_mode & 0o077 == 0
    assert (sdir / "nodes" / "h1" / "disk.qcow2").stat().st_mode & 0o777 == 0o600


def test_a_crashed_node_restarts_alone_and_down_leaves_nothing(lab):
    nemu, sdir = lab
    before = recorded_pids(sdir)
    os.kill(before["qemu:h1"], signal.SIGKILL)
    assert re.search(r"h1\s+host\s+crashed", nemu("status", "-s", "two-hosts").stdout)
    started = nemu("start", "-s", "two-hosts")
    after = recorded_pids(sdir)
    assert after["qemu:h2"] == before["qemu:h2"] and after["vswitch"] == before["vswitch"]
    assert after["qemu:h1"] != before["qemu:h1"]
    assert "write lock" not in started.stderr
    status = nemu("status", "-s", "two-hosts").stdout
    assert re.search(r"h1\s+host\s+running", status) and re.search(r"h2\s+host\s+running",
                                                                       status), status
    assert nemu("exec", "h1", "ping -c 1 -W 3 10.0.0.2").returncode == 0
    # one node by name: refused while it runs, restarted on request
    busy = nemu("start", "-s", "two-hosts", "h2", check=False)
    assert busy.returncode == 2 and "already running" in busy.stderr
    nemu("restart", "-s", "two-hosts", "h2")
    assert recorded_pids(sdir)["qemu:h2"] != before["qemu:h2"]
    os.kill(recorded_pids(sdir)["qemu:h1"], signal.SIGKILL)
    sockets = Path(os.path.realpath(sdir / "sockets"))
    nemu("down", "-s", "two-hosts")
    assert session_processes(sdir) == []
    assert not sockets.exists()                      # the socket folder went with it


def test_a_lab_asking_for_more_memory_than_the_machine_has_is_refused(tmp_path):
    nemu = make_nemu(tmp_path)
    lab = tmp_path / "huge.yaml"
    lab.write_text((REPO / "examples" / "two-hosts.yaml").read_text().replace(
        "kind: host\n", "kind: host\n  memory: 900G\n", 1))
    checked = nemu("validate", str(lab))
    assert checked.returncode == 0 and "warning: node h1: memory 900G" in checked.stderr
    up = nemu("up", str(lab), check=False)
    assert up.returncode == 2
    assert "node h1: memory 900G is more than this machine has in all" in up.stderr
    assert "nothing was started" in up.stderr
    state = tmp_path / "sessions" / "huge" / "state.json"
    assert not state.exists() or json.loads(state.read_text()).get("processes", {}) == {}


def test_a_failed_or_killed_up_leaves_no_socket_folder_after_down(tmp_path):
    nemu = make_nemu(tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text((REPO / "examples" / "two-hosts.yaml").read_text().replace(
        "kind: host\n", "kind: host\n  image: missing-disk.qcow2\n", 1))
    r = nemu("up", str(bad), "--name", "bad", check=False)
    assert r.returncode == 2 and "missing-disk.qcow2" in r.stderr
    sdir = tmp_path / "sessions" / "bad"
    assert not Path(os.path.realpath(sdir / "sockets")).exists()
    assert session_processes(sdir) == []

    env = {**os.environ, "NEMU_SESSIONS": str(tmp_path / "sessions")}
    cli = subprocess.Popen([sys.executable, "-m", "engine.cli.main", "up",
                            str(REPO / "examples" / "two-hosts.yaml"), "--name", "killed"],
                           cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    sdir = tmp_path / "sessions" / "killed"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if (sdir / "state.json").exists() and {"qemu:h1", "qemu:h2"} <= set(
                recorded_pids_or_none(sdir)):       # both booting, neither ready
            break
        time.sleep(0.05)
    cli.kill()                                       # kill -9 of the CLI in the middle of up
    cli.wait()
    sockets = Path(os.path.realpath(sdir / "sockets"))
    nemu("down", "-s", "killed")
    assert session_processes(sdir) == []
    assert not sockets.exists()


def recorded_pids_or_none(sdir: Path) -> dict[str, int]:
    try:
        return recorded_pids(sdir)
    except (KeyError, ValueError, OSError):
        return {}
