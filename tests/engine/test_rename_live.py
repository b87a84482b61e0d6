"""Renaming nodes of a running lab: a machine restarts under its new name with its disk, its
peers reach it at once; a switch (inside the vswitch) waits for the lab to stop."""

from __future__ import annotations

import psutil
import pytest

from engine import topofile
from engine.errors import SessionError
from engine.model import Interface, Node, NodeKind, Topology
from engine.session.events import NodeState
from engine.session.session import Session

pytestmark = pytest.mark.qemu


def test_rename_a_running_machine_then_a_switch_once_stopped(engine, tmp_path):
    t = Topology(name="ren")
    t.add_node(Node("h1", NodeKind.HOST, [Interface("eth0", "10.0.0.1/24")]))
    t.add_node(Node("h2", NodeKind.HOST, [Interface("eth0", "10.0.0.2/24")]))
    t.add_node(Node("sw1", NodeKind.SWITCH))
    t.connect("h1", "sw1")
    t.connect("h2", "sw1")
    s = Session.create(t, base=tmp_path)
    try:
        engine.run(s.up())
        assert engine.run(s.node("h1").run("ping -c 1 -W 3 10.0.0.2")).exitcode == 0
        engine.run(s.node("h2").write_file("/root/kept", b"same disk\n"))
        engine.run(s.node("h2").run("sync"))
        old_pid = s.process("h2").pid

        engine.run(s.rename_node("h2", "web"))
        assert s.states["web"] is NodeState.RUNNING and "h2" not in s.states
        assert not psutil.pid_exists(old_pid) and s.process("web").pid != old_pid
        assert "qemu:h2" not in s.registry.roles()
        assert engine.run(s.node("web").read_file("/root/kept")) == b"same disk\n"
        assert engine.run(s.node("web").run("hostname")).stdout.strip() == b"web"
        r = engine.run(s.node("h1").run("ping -c 1 -W 3 10.0.0.2"))   # no stale ARP entry
        assert r.exitcode == 0, r.stdout + r.stderr
        saved = topofile.load(s.dir.topology_path)
        assert saved.has_node("web") and not saved.has_node("h2")
        nodes = s.dir.root / "nodes"
        assert (nodes / "web").is_dir() and not (nodes / "h2").exists()

        with pytest.raises(SessionError, match="sw1 runs inside the vswitch: rename it while "
                                               "the lab is stopped"):
            engine.run(s.rename_node("sw1", "core"))
        engine.run(s.down())
        engine.run(s.rename_node("sw1", "core"))
        assert topofile.load(s.dir.topology_path).has_node("core")
        engine.run(s.up())                                # and it runs under the new names
        assert engine.run(s.node("web").run("ping -c 1 -W 3 10.0.0.1")).exitcode == 0
    finally:
        engine.run(s.down())
