"""Traffic through the emulated NIC models that use legacy PCI interrupts (e1000, rtl8139).

virtio NICs interrupt through MSI-X; e1000 and rtl8139 need the firmware's PCI interrupt routing,
which the images rely on (they boot with pci=noacpi and qboot): a ping and a TCP transfer prove it.
"""

from __future__ import annotations

import pytest

from engine.model import Interface, NicModel, Node, NodeKind, Topology
from engine.session.session import Session

pytestmark = pytest.mark.qemu


def test_e1000_and_rtl8139_hosts_ping_and_transfer(engine, tmp_path):
    t = Topology(name="nics")
    t.add_node(Node("h1", NodeKind.HOST, [Interface("eth0", "10.0.0.1/24")], nic=NicModel.E1000))
    t.add_node(Node("h2", NodeKind.HOST, [Interface("eth0", "10.0.0.2/24")],
                    nic=NicModel.RTL8139))
    t.connect("h1", "h2")
    s = Session.create(t, base=tmp_path)
    try:
        engine.run(s.up())
        drv = engine.run(s.node("h2").run("readlink /sys/class/net/eth0/device/driver"))
        assert drv.stdout.decode().rsplit("/", 1)[-1].strip() in ("8139cp", "8139too")
        r = engine.run(s.node("h1").run("ping -c 3 -W 3 10.0.0.2"))
        assert r.exitcode == 0, r.stdout + r.stderr
        engine.run(s.node("h2").run("iperf3 -s -D -1"))
        r = engine.run(s.node("h1").run("iperf3 -c 10.0.0.2 -t 2 -J"), timeout=120)
        assert r.exitcode == 0 and b'"bits_per_second"' in r.stdout, r.stdout + r.stderr
    finally:
        engine.run(s.down())
