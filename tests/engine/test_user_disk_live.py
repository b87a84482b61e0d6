"""A user's own disk as a host's image: it boots by itself, with no nemu kernel and no guest
agent. The node counts as running once QEMU runs it (no two-minute wait for an agent that never
comes), its console shows what it prints, and a command sent to it says why it cannot run."""

from __future__ import annotations

import time

import psutil
import pytest

from engine import examples
from engine.errors import SessionError
from engine.session.events import NodeState
from engine.session.session import Session

pytestmark = pytest.mark.qemu

MARKER = b"user disk says hello"


def test_a_host_on_its_own_disk_runs_without_an_agent(engine, tmp_path, boot_sector):
    disk = tmp_path / "own.img"
    disk.write_bytes(boot_sector(MARKER) + bytes(1024 * 1024 - 512))
    t = examples.two_hosts()
    t.node("h1").image = str(disk)
    s = Session.create(t, base=tmp_path / "sessions")
    pids: dict[str, int] = {}
    try:
        engine.run(s.up(), timeout=600)
        pids = {role: proc.pid for role, proc in s.registry.items()}
        assert s.states["h1"] is NodeState.RUNNING and s.states["h2"] is NodeState.RUNNING
        log = s.dir.node_dir("h1") / "console.log"
        deadline = time.monotonic() + 60
        while MARKER not in (log.read_bytes() if log.exists() else b""):
            assert time.monotonic() < deadline, "the user's disk never printed on the console"
            time.sleep(0.2)
        with pytest.raises(SessionError, match=r"node h1: no guest agent answers .*"
                                               r"org\.qemu\.guest_agent\.0"):
            engine.run(s.node("h1").run("true"))
        assert engine.run(s.node("h2").run("true")).exitcode == 0   # the nemu host is unaffected
        # the user's file is the overlay's read-only base: the guest never writes into it
        assert disk.read_bytes()[:512] == boot_sector(MARKER)
    finally:
        engine.run(s.down())
    assert pids
    for pid in pids.values():
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
