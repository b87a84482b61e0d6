"""Automatic addressing, MACs and routes: predictable for students, stable for experiments."""

from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from engine import examples
from engine.model import Interface, Node, NodeKind, Topology
from engine.plan.addressing import SLIRP_GATEWAY, mac_for, plan
from engine.plan.segments import segments


def routed_lab() -> Topology:
    """h1 - sw1 - r1 - r2 - h2, nothing addressed by the user (10.0.2.0/24 stays free
    for slirp)."""
    t = Topology()
    for n, k in (("h1", NodeKind.HOST), ("r1", NodeKind.ROUTER), ("r2", NodeKind.ROUTER),
                 ("h2", NodeKind.HOST), ("h3", NodeKind.HOST), ("sw1", NodeKind.SWITCH)):
        t.add_node(Node(n, k))
    t.connect("h1", "sw1")
    t.connect("h3", "sw1")
    t.connect("r1", "sw1")
    t.connect("r1", "r2")
    t.connect("r2", "h2")
    return t


def test_segments_merge_through_fabric():
    segs = segments(routed_lab())
    assert [s.endpoints for s in segs] == [
        [("h1", "eth0"), ("r1", "eth0"), ("h3", "eth0")],
        [("r1", "eth1"), ("r2", "eth0")],
        [("r2", "eth1"), ("h2", "eth0")],
    ]
    assert segs[0].fabric == ["sw1"]


def test_automatic_addresses_routers_first_and_routes_end_to_end():
    p = plan(routed_lab())
    assert p["r1"].addresses == {"eth0": IPv4Interface("10.0.0.1/24"),
                                 "eth1": IPv4Interface("10.0.1.1/24")}
    assert p["h1"].addresses["eth0"] == IPv4Interface("10.0.0.2/24")
    assert p["h3"].addresses["eth0"] == IPv4Interface("10.0.0.3/24")
    assert p["r2"].addresses == {"eth0": IPv4Interface("10.0.1.2/24"),
                                 "eth1": IPv4Interface("10.0.3.1/24")}
    assert p["h2"].addresses["eth0"] == IPv4Interface("10.0.3.2/24")
    [default] = p["h1"].routes
    assert default.destination == IPv4Network("0.0.0.0/0")
    assert default.via == IPv4Address("10.0.0.1")
    assert [(str(r.destination), str(r.via)) for r in p["r1"].routes] == [
        ("10.0.3.0/24", "10.0.1.2")]
    assert [(str(r.destination), str(r.via)) for r in p["r2"].routes] == [
        ("10.0.0.0/24", "10.0.1.1")]
    assert p["r1"].forwarding and not p["h1"].forwarding


def test_user_addresses_are_kept_and_their_subnet_is_used():
    t = Topology()
    t.add_node(Node("a", NodeKind.HOST, [Interface("eth0", "192.168.7.10/24")]))
    t.add_node(Node("b", NodeKind.HOST))
    t.add_node(Node("c", NodeKind.HOST))
    t.connect("a", "b")
    t.connect("b", "c")
    p = plan(t)
    assert p["a"].addresses["eth0"] == IPv4Interface("192.168.7.10/24")
    assert p["b"].addresses["eth0"] == IPv4Interface("192.168.7.1/24")
    assert p["b"].addresses["eth1"] == IPv4Interface("10.0.0.1/24")


def test_slirp_segment_uses_qemu_user_network():
    p = plan(examples.star())
    assert p["r1"].addresses["eth1"] == IPv4Interface("10.0.2.15/24")
    assert any(r.via == SLIRP_GATEWAY and r.destination.prefixlen == 0 for r in p["r1"].routes)
    assert p["h2"].routes[0].via == IPv4Address("10.0.1.1")
    assert p["r1"].masquerade == ["eth1"] and p["h2"].masquerade == []   # hosts reach out
    assert plan(routed_lab())["r1"].masquerade == []                      # no NAT, no masquerade


def test_macs_are_stable_unique_unicast_and_respect_the_users():
    t = examples.star(20)
    p1, p2 = plan(t), plan(examples.star(20))
    macs = [m for mp in p1.values() for m in mp.macs.values()]
    assert len(set(macs)) == len(macs)
    assert all(m.startswith("52:54:00:") for m in macs)
    assert {k: v.macs for k, v in p1.items()} == {k: v.macs for k, v in p2.items()}
    first = mac_for("h1", "eth0", set())
    assert mac_for("h1", "eth0", {first}) != first


def test_renaming_a_node_changes_no_address_and_no_order():
    """Automatic addresses follow the order of nodes and links: a rename must keep it."""
    t = routed_lab()
    before = plan(t)
    nodes, links = [n.name for n in t.nodes], [lk.name for lk in t.links]
    t.rename_node("r1", "core")
    after = plan(t)
    assert [n.name for n in t.nodes] == [("core" if n == "r1" else n) for n in nodes]
    assert [lk.name for lk in t.links] == links
    assert after["core"].addresses == before["r1"].addresses
    for n in ("h1", "h2", "h3", "r2"):
        assert after[n].addresses == before[n].addresses, n
    assert {lk.a.node for lk in t.links} | {lk.b.node for lk in t.links} == {
        "h1", "h2", "h3", "core", "r2", "sw1"}
