"""Hosts on a real switch and hub: everyone pings everyone, a capture tshark reads, hot-plug of
a host and of a NIC while running, and unplugging a link that the rest never notices."""

from __future__ import annotations

import subprocess

import pytest

from engine.model import Interface, Node, NodeKind, Topology
from engine.session.session import Session

pytestmark = pytest.mark.qemu


def lan() -> Topology:
    t = Topology(name="lan")
    t.add_node(Node("sw1", NodeKind.SWITCH))
    t.add_node(Node("hb1", NodeKind.HUB))
    for h in ("h1", "h2", "h3"):
        t.add_node(Node(h, NodeKind.HOST, [Interface("eth0")]))
    t.connect("h1", "sw1")
    t.connect("h2", "sw1")
    t.connect("h3", "hb1")
    t.connect("sw1", "hb1")
    return t


@pytest.fixture(scope="module")
def running(engine, tmp_path_factory):
    s = Session.create(lan(), base=tmp_path_factory.mktemp("sessions"))
    try:
        engine.run(s.up())
    except BaseException:
        engine.run(s.down())
        raise
    yield s
    engine.run(s.down())


def ip(s: Session, node: str, iface: str = "eth0") -> str:
    return str(s.plans[node].addresses[iface].ip)


def pings(engine, s: Session, src: str, dst_ip: str) -> bool:
    return engine.run(s.node(src).run(f"ping -c 1 -W 2 {dst_ip}")).exitcode == 0


def test_everyone_pings_everyone_through_switch_and_hub(engine, running):
    s = running
    for src in ("h1", "h2", "h3"):
        for dst in ("h1", "h2", "h3"):
            if src != dst:
                assert pings(engine, s, src, ip(s, dst)), f"{src} -> {dst}"


def test_capture_is_read_by_tshark(engine, running, tmp_path):
    s = running
    pcap = tmp_path / "h1.pcap"
    engine.run(s.capture("h1-sw1", "a", pcap))
    assert pings(engine, s, "h1", ip(s, "h2"))
    engine.run(s.capture("h1-sw1", "a", pcap, start=False))
    out = subprocess.run(["tshark", "-r", str(pcap), "-Y", "icmp.type == 8", "-T", "fields",
                          "-e", "ip.src", "-e", "ip.dst"], capture_output=True, text=True,
                         check=True).stdout
    assert f"{ip(s, 'h1')}\t{ip(s, 'h2')}" in out


def test_hot_plug_a_host_and_a_nic_then_unplug_a_link(engine, running):
    s = running
    engine.run(s.add_node(Node("h4", NodeKind.HOST, [Interface("eth0")])))
    engine.run(s.connect("h4", "hb1"))
    assert pings(engine, s, "h4", ip(s, "h1"))
    # a new NIC on two running machines: a point-to-point link of its own
    link = engine.run(s.connect("h1", "h4"))
    assert (link.a.iface, link.b.iface) == ("eth1", "eth1")
    assert pings(engine, s, "h1", ip(s, "h4", "eth1"))
    # unplug h2: it loses the LAN, the others never notice
    engine.run(s.remove_link("h2-sw1"))
    assert not pings(engine, s, "h2", ip(s, "h1"))
    assert pings(engine, s, "h1", ip(s, "h3"))
    assert pings(engine, s, "h3", ip(s, "h4"))
