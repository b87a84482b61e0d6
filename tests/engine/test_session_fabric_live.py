"""Hosts on a real switch and hub: everyone pings everyone, a capture tshark reads, hot-plug of
a host and of a NIC while running, unplugging a link that the rest never notices, and a
killed vswitch (the last test: it takes the whole data plane down)."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import psutil
import pytest

from engine.errors import SessionError
from engine.model import Interface, Node, NodeKind, Topology
from engine.session.events import NodeState, ProcessDied
from engine.session.session import Session

pytestmark = pytest.mark.qemu


SWITCHED = ("h1", "h2", "h3")
HUBBED = ("h4", "h5", "h6")


def lan() -> Topology:
    """Three hosts on a switch, three on a hub, the hub uplinked to the switch."""
    t = Topology(name="lan")
    t.add_node(Node("sw1", NodeKind.SWITCH))
    t.add_node(Node("hb1", NodeKind.HUB))
    for h in SWITCHED + HUBBED:
        t.add_node(Node(h, NodeKind.HOST, [Interface("eth0")]))
        t.connect(h, "sw1" if h in SWITCHED else "hb1")
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
    for src in SWITCHED + HUBBED:
        for dst in SWITCHED + HUBBED:
            if src != dst:
                assert pings(engine, s, src, ip(s, dst)), f"{src} -> {dst}"


def seen_echoes(pcap, src: str, dst: str) -> int:
    out = subprocess.run(["tshark", "-r", str(pcap), "-Y",
                          f"icmp.type == 8 && ip.src == {src} && ip.dst == {dst}"],
                         capture_output=True, text=True, check=True).stdout
    return len(out.splitlines())


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


def test_a_hub_repeats_unicast_to_every_port_and_a_switch_does_not(engine, running, tmp_path):
    """What a drawn hub and switch mean: a third host's port sees two others' unicast on the
    hub, and not on the switch once it has learnt where they are."""
    s = running
    for a, b, bystander in (("h4", "h5", "h6"), ("h1", "h2", "h3")):
        assert pings(engine, s, a, ip(s, b))          # learnt (and neighbours resolved)
        pcap = tmp_path / f"{bystander}.pcap"
        link = f"{bystander}-{'hb1' if bystander in HUBBED else 'sw1'}"
        engine.run(s.capture(link, "b", pcap))         # what the device sends the bystander
        assert engine.run(s.node(a).run(f"ping -c 3 -i 0.2 -W 2 {ip(s, b)}")).exitcode == 0
        engine.run(s.capture(link, "b", pcap, start=False))
        seen = seen_echoes(pcap, ip(s, a), ip(s, b))
        if bystander in HUBBED:
            assert seen >= 3, f"{bystander} on the hub saw {seen} of {a}'s echoes to {b}"
        else:
            assert seen == 0, f"{bystander} on the switch saw {seen} of {a}'s echoes to {b}"


def test_hot_plug_a_host_and_a_nic_then_unplug_a_link(engine, running):
    s = running
    engine.run(s.add_node(Node("h7", NodeKind.HOST, [Interface("eth0")])))
    engine.run(s.connect("h7", "hb1"))
    assert pings(engine, s, "h7", ip(s, "h1"))
    # a new NIC on two running machines: a point-to-point link of its own
    link = engine.run(s.connect("h1", "h7"))
    assert (link.a.iface, link.b.iface) == ("eth1", "eth1")
    assert pings(engine, s, "h1", ip(s, "h7", "eth1"))
    # unplug h2: it loses the LAN, the others never notice
    engine.run(s.remove_link("h2-sw1"))
    assert not pings(engine, s, "h2", ip(s, "h1"))
    assert pings(engine, s, "h1", ip(s, "h3"))
    assert pings(engine, s, "h3", ip(s, "h7"))
    # and the NIC hot-plugged into h1 comes out again, while h1 keeps its LAN
    with pytest.raises(SessionError, match=r"h1\.eth1 carries link h1-h7: remove the link"):
        engine.run(s.remove_interface("h1", "eth1"))
    engine.run(s.remove_link("h1-h7"))
    engine.run(s.remove_interface("h1", "eth1"))
    nics = engine.run(s.node("h1").run("ls /sys/class/net")).stdout.split()
    assert b"eth1" not in nics and b"eth0" in nics
    assert s.topo.node("h1").interface("eth1") is None
    assert pings(engine, s, "h1", ip(s, "h3"))
    with pytest.raises(SessionError, match=r"h2\.eth0 was plugged in when h2 booted"):
        engine.run(s.remove_interface("h2", "eth0"))
    assert s.topo.node("h2").interface("eth0") is not None


def test_a_killed_vswitch_is_reported_and_down_leaves_nothing(engine, running):
    """kill -9 of the data plane: an event, every hub and switch crashed, machines still up."""
    s = running
    events: list = []
    s.subscribe(events.append)
    pids = [p.pid for _, p in s.registry.items()]
    vswitch = s.registry.get("vswitch")
    assert vswitch is not None
    os.kill(vswitch.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while not any(isinstance(e, ProcessDied) and e.role == "vswitch" for e in events):
        assert time.monotonic() < deadline, "the vswitch's death was not reported"
        time.sleep(0.1)
    assert s.states["sw1"] is NodeState.CRASHED and s.states["hb1"] is NodeState.CRASHED
    assert s.states["h1"] is NodeState.RUNNING
    assert not pings(engine, s, "h1", ip(s, "h3"))       # no link carries frames any more
    engine.run(s.down())
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
