"""Moving a link end to another interface of a running machine: the link is re-plugged on a
hot-plugged NIC, the interface it left gives up its address (the new one gets the same), and
the hosts ping each other both ways, then again once it is moved back."""

from __future__ import annotations

import pytest

from engine import topofile
from engine.model import Node, NodeKind, Topology
from engine.session.session import Session

pytestmark = pytest.mark.qemu


def pings(engine, s: Session, src: str, dst: str) -> None:
    r = engine.run(s.node(src).run(f"ping -c 1 -W 5 {dst}"))
    assert r.exitcode == 0, r.stdout + r.stderr


def brief(engine, s: Session, node: str, iface: str) -> str:
    r = engine.run(s.node(node).run(f"ip -br addr show dev {iface}"))
    assert r.exitcode == 0, r.stderr
    return str(r.stdout.decode())


def test_a_running_link_end_moves_to_a_new_nic_and_back(engine, tmp_path):
    t = Topology(name="rewire")
    t.add_node(Node("h1", NodeKind.HOST))
    t.add_node(Node("h2", NodeKind.HOST))
    t.connect("h1", "h2")                          # automatic addresses: 10.0.0.1, 10.0.0.2
    s = Session.create(t, base=tmp_path)
    try:
        engine.run(s.up())
        pings(engine, s, "h1", "10.0.0.2")

        link = engine.run(s.move_link_end("h1-h2", "a"))
        assert link.a.iface == "eth1" and ("h1", "eth1") in s.nics
        assert topofile.load(s.dir.topology_path).link("h1-h2").a.iface == "eth1"
        assert "10.0.0.1/24" in brief(engine, s, "h1", "eth1")
        left = brief(engine, s, "h1", "eth0")
        assert "10.0.0.1" not in left and "DOWN" in left, left
        pings(engine, s, "h1", "10.0.0.2")
        pings(engine, s, "h2", "10.0.0.1")

        engine.run(s.move_link_end("h1-h2", "a", "eth0"))
        assert "10.0.0.1/24" in brief(engine, s, "h1", "eth0")
        assert "10.0.0.1" not in brief(engine, s, "h1", "eth1")
        pings(engine, s, "h2", "10.0.0.1")
        pings(engine, s, "h1", "10.0.0.2")
    finally:
        engine.run(s.down())
