"""The topology model: editing, events, and every refusal of an inconsistent network."""

import pytest

from engine.errors import LinkParamError, TopologyError
from engine.model import (
    DirectionParams,
    Endpoint,
    Interface,
    Link,
    LinkAdded,
    LinkChanged,
    LinkRemoved,
    Machine,
    NicModel,
    Node,
    NodeAdded,
    NodeChanged,
    NodeKind,
    NodeRemoved,
    NodeRenamed,
    Topology,
)


def pair() -> Topology:
    t = Topology(name="t")
    t.add_node(Node("h1", NodeKind.HOST, [Interface("eth0")]))
    t.add_node(Node("h2", NodeKind.HOST, [Interface("eth0")]))
    return t


def test_machine_defaults_and_fabric_has_none():
    h = Node("h1", NodeKind.HOST)
    assert (h.image, h.memory, h.cpus, h.nic, h.arch) == ("host", 128, 1, NicModel.VIRTIO,
                                                          "x86_64")
    r = Node("r1", NodeKind.ROUTER)
    assert r.image == "router"
    with pytest.raises(TopologyError, match="not a machine and has no memory"):
        Node("sw", NodeKind.SWITCH, memory=128)


@pytest.mark.parametrize(("kwargs", "why"), [
    ({"name": "1bad"}, "must start with a letter"),
    ({"name": "a" * 40}, "at most 32"),
    ({"name": "x", "kind": NodeKind.HOST, "services": {"dhcp": {}}}, "only routers"),
    ({"name": "x", "cpus": 0}, "cpus must be between"),
    ({"name": "x", "kind": NodeKind.ROUTER, "services": {"dchp": {}}},
     r"unknown service 'dchp' \(known: bgp, dhcp, .*\); did you mean 'dhcp'\?"),
    ({"name": "x", "kind": NodeKind.ROUTER, "services": {"dhcp": None}},
     "expected a mapping of options"),
    ({"name": "x", "pos": (float("nan"), 0.0)}, r"position \(nan, 0.0\) must be finite"),
    ({"name": "x", "pos": (0.0, float("-inf"))}, "must be finite"),
    ({"name": "x", "interfaces": [Interface("eth0"), Interface("eth0")]}, "declared twice"),
    ({"name": "x", "interfaces": [Interface("p0", vlan=10)]}, "only switch and hub ports"),
])
def test_node_refusals(kwargs, why):
    kwargs.setdefault("kind", NodeKind.HOST)
    with pytest.raises(TopologyError, match=why):
        Node(**kwargs)


def test_slirp_has_one_interface():
    with pytest.raises(TopologyError, match="single interface"):
        Node("nat", NodeKind.SLIRP, [Interface("nat0"), Interface("nat1")])


@pytest.mark.parametrize(("kwargs", "why"), [
    ({"name": "0eth"}, "interface name"),
    ({"name": "eth0", "address": "10.0.0.300/24"}, "not an address"),
    ({"name": "eth0", "address": "10.0.0.1"}, "needs a prefix length"),
    ({"name": "eth0", "mac": "52:54:00:12:34"}, "not a MAC"),
    ({"name": "eth0", "mac": "01:00:5e:00:00:01"}, "multicast"),
    ({"name": "p0", "vlan": 5000}, "between 1 and 4094"),
])
def test_interface_refusals(kwargs, why):
    with pytest.raises(TopologyError, match=why):
        Interface(**kwargs)


def test_connect_picks_and_adds_free_interfaces():
    t = pair()
    t.add_node(Node("sw", NodeKind.SWITCH))
    l1 = t.connect("h1", "sw")
    l2 = t.connect("h2", "sw")
    assert (l1.a.iface, l1.b.iface, l2.b.iface) == ("eth0", "p0", "p1")
    assert [i.name for i in t.node("sw").interfaces] == ["p0", "p1"]
    l3 = t.connect("h1", "h2")
    assert (l3.a.iface, l3.b.iface, l3.name) == ("eth1", "eth1", "h1-h2")
    assert t.connect("h1", "h2").name == "h1-h2-2"


@pytest.mark.parametrize(("a", "b", "why"), [
    (("h1", "eth9"), ("h2", "eth0"), "has no interface 'eth9'"),
    (("h1", "eth0"), ("nope", "eth0"), "unknown node 'nope'"),
    (("h1", "eth0"), ("h1", "eth0"), "to itself"),
])
def test_add_link_refusals(a, b, why):
    t = pair()
    with pytest.raises(TopologyError, match=why):
        t.add_link(Link("l", Endpoint(*a), Endpoint(*b)))


def test_an_interface_carries_one_link():
    t = pair()
    t.add_node(Node("h3", NodeKind.HOST, [Interface("eth0")]))
    t.add_link(Link("l1", Endpoint("h1", "eth0"), Endpoint("h2", "eth0")))
    with pytest.raises(TopologyError, match="already carries link l1"):
        t.add_link(Link("l2", Endpoint("h3", "eth0"), Endpoint("h1", "eth0")))
    with pytest.raises(TopologyError, match="exists already"):
        t.add_link(Link("l1", Endpoint("h3", "eth0"), Endpoint("h2", "eth0")))


def test_switch_loop_is_reported():
    t = Topology()
    for n in ("s1", "s2", "s3"):
        t.add_node(Node(n, NodeKind.SWITCH))
    t.connect("s1", "s2")
    t.connect("s2", "s3")
    assert t.validate() == []
    t.connect("s3", "s1")
    [err] = t.validate()
    assert "loop" in err.message and "s3" in err.message and "s1" in err.message


def test_parallel_hub_links_are_a_loop_but_host_multihoming_is_not():
    t = Topology()
    t.add_node(Node("hub", NodeKind.HUB))
    t.add_node(Node("sw", NodeKind.SWITCH))
    t.add_node(Node("h", NodeKind.HOST))
    t.connect("h", "hub")
    t.connect("h", "sw")
    assert t.validate() == []
    t.connect("hub", "sw")
    assert t.validate() == []
    t.connect("hub", "sw")
    assert len(t.validate()) == 1


def test_duplicate_address_and_unknown_machine_are_reported():
    t = Topology()
    t.add_node(Node("h1", NodeKind.HOST, [Interface("eth0", "10.0.0.1/24")]))
    t.add_node(Node("h2", NodeKind.HOST, [Interface("eth0", "10.0.0.1/24")]))
    t.graph.nodes["h2"]["node"].host = "lab9"
    msgs = [e.message for e in t.validate()]
    assert any("given to h1.eth0 too" in m for m in msgs)
    assert any("unknown machine 'lab9'" in m for m in msgs)


def test_update_node_checks_placement_and_fields():
    t = pair()
    t.machines.append(Machine("lab2", "192.0.2.10"))
    t.update_node("h1", host="lab2", memory=256, pos=(10.0, 20.0))
    assert t.node("h1").host == "lab2" and t.node("h1").memory == 256
    with pytest.raises(TopologyError, match="no machine named 'lab3'"):
        t.update_node("h1", host="lab3")
    with pytest.raises(TopologyError, match="cpus"):
        t.update_node("h1", cpus=0)
    assert t.node("h1").cpus == 1
    with pytest.raises(TopologyError, match="must be finite"):
        t.update_node("h1", pos=(float("inf"), 0.0))
    assert t.node("h1").pos == (10.0, 20.0)


def test_removing_a_linked_interface_is_refused():
    t = pair()
    t.connect("h1", "h2")
    with pytest.raises(TopologyError, match="carries a link"):
        t.update_node("h1", interfaces=[])


def test_events_tell_every_change():
    t = pair()
    seen = []
    unsubscribe = t.subscribe(seen.append)
    link = t.connect("h1", "h2")
    t.set_link_params(link.name, "a", bandwidth="2Mbit")
    t.set_link_params(link.name, "a", bandwidth="2Mbit")  # no change, no event
    t.update_node("h1", pos=(5.0, 5.0))
    t.rename_node("h2", "server")
    t.remove_node("h1")
    unsubscribe()
    t.add_node(Node("late", NodeKind.HOST))
    kinds = [type(e) for e in seen]
    assert kinds == [LinkAdded, LinkChanged, NodeChanged, NodeRenamed, LinkRemoved, NodeRemoved]
    changed = seen[1]
    assert changed.changes == {"a": {"bandwidth": 2_000_000}}
    assert seen[2].changes == {"pos": (5.0, 5.0)}
    assert NodeAdded not in kinds


def test_set_link_params_per_direction_and_errors():
    t = pair()
    link = t.connect("h1", "h2", params=DirectionParams.from_text({"bandwidth": "10Mbit"}))
    t.set_link_params(link.name, "b", delay="20ms", loss="1%")
    new = t.link(link.name)
    assert new.a.params.delay == 0 and new.b.params.delay == 20_000_000
    assert new.b.params.bandwidth == 10_000_000 and new.b.params.loss == 0.01   # 1%
    with pytest.raises(LinkParamError) as e:
        t.set_link_params(link.name, "a", delay="-5ms")
    assert str(e.value) == "link h1-h2: a.delay: '-5ms' must be >= 0"
    with pytest.raises(LinkParamError, match="unknown link parameter 'speed'"):
        t.set_link_params(link.name, speed="1Mbit")
    assert t.link(link.name) == new


def test_rename_updates_links():
    t = pair()
    t.connect("h1", "h2")
    t.rename_node("h1", "client")
    [link] = t.links
    assert link.a.node == "client" and t.node("client").name == "client"
    assert t.links_of("client") == [link]
    with pytest.raises(TopologyError, match="exists already"):
        t.rename_node("client", "h2")


def test_remove_node_returns_what_undo_needs():
    t = pair()
    t.connect("h1", "h2")
    node, links = t.remove_node("h1")
    assert node.name == "h1" and [x.name for x in links] == ["h1-h2"]
    assert t.links == [] and not t.has_node("h1")


@pytest.mark.parametrize(("field", "value", "why"), [
    ("mtu", 20, "mtu must be between 68"),
    ("queue", 0, "queue must be between 1"),
    ("queue_bytes", 100, "between one full frame"),
    ("queue_bytes", 2**30 + 1, r"queue_bytes must be between one full frame \(mtu \+ 14 bytes\) "
                               r"and 1 GiB \(got 1073741825\)"),
    ("queue_bytes", 10**30, "and 1 GiB"),
    ("loss", 150.0, "between 0% and 100%"),
    ("ber", 2.0, "between 0 and 1"),
])
def test_direction_params_refusals(field, value, why):
    with pytest.raises(LinkParamError, match=why):
        DirectionParams(**{field: value})


def test_params_text_and_changes():
    p = DirectionParams.from_text({"bandwidth": "10Mbit", "delay": "20ms", "jitter": "2ms",
                                   "loss": "0.5%", "ber": "1e-7", "ber_mode": "flip",
                                   "duplicate": "1%", "corrupt": "0.1%", "mtu": 9000,
                                   "queue": 50, "queue_bytes": "64KiB", "up": "down"})
    assert p.to_text() == {"bandwidth": "10Mbit", "delay": "20ms", "jitter": "2ms",
                           "loss": "0.5%", "ber": "1e-07", "ber_mode": "flip",
                           "duplicate": "1%", "corrupt": "0.1%", "mtu": 9000, "queue": 50,
                           "queue_bytes": 65536, "up": False}
    assert DirectionParams.from_text(p.to_text()) == p
    assert p.replace(delay="30ms").changes_from(p) == {"delay": 30_000_000}


def test_connect_is_atomic():
    t = Topology()
    t.add_node(Node("nat", NodeKind.SLIRP, [Interface("nat0")]))
    t.add_node(Node("h1", NodeKind.HOST, [Interface("eth0")]))
    t.add_node(Node("h2", NodeKind.HOST))
    t.connect("h1", "nat")
    seen = []
    t.subscribe(seen.append)
    before = (list(t.node("h2").interfaces), list(t.node("nat").interfaces))
    with pytest.raises(TopologyError, match="single interface"):
        t.connect("h2", "nat")          # would need a second NAT interface
    with pytest.raises(TopologyError, match="already carries link"):
        t.connect("h2", "h1", b_iface="eth0")
    assert seen == []
    assert (t.node("h2").interfaces, t.node("nat").interfaces) == before


def test_set_link_end_replaces_a_whole_direction():
    t = pair()
    link = t.connect("h1", "h2", params=DirectionParams.from_text({"delay": "5ms"}))
    seen = []
    t.subscribe(seen.append)
    new = DirectionParams.from_text({"bandwidth": "1Mbit"})
    t.set_link_end(link.name, "b", new)
    assert t.link(link.name).b.params == new and t.link(link.name).a.params.delay == 5_000_000
    assert seen[0].changes == {"b": {"bandwidth": 1_000_000, "delay": 0}}


def test_meta_changes_name_check_and_subgraph():
    from engine.model import TopologyChanged
    t = pair()
    t.connect("h1", "h2")
    t.add_node(Node("h3", NodeKind.HOST))
    seen = []
    t.subscribe(seen.append)
    t.update_meta(name="lab", description="d", seed=3, machines=[Machine("m2", "192.0.2.1")])
    assert (t.name, t.seed, t.machines[0].name) == ("lab", 3, "m2")
    assert isinstance(seen[0], TopologyChanged)
    t.update_node("h3", host="m2")
    with pytest.raises(TopologyError, match="placed on m2"):
        t.update_meta(machines=[])
    with pytest.raises(TopologyError, match="cannot change colour"):
        t.update_meta(colour="red")
    Topology.check_node_name("ok-name")
    with pytest.raises(TopologyError, match="must start with a letter"):
        Topology.check_node_name("9lives")
    sub = t.subgraph(["h1", "h2"])
    assert [n.name for n in sub.nodes] == ["h1", "h2"] and [x.name for x in sub.links] == ["h1-h2"]
    sub.update_node("h1", memory=512)
    assert t.node("h1").memory == 128


@pytest.mark.parametrize(("forwards", "why"), [
    (["tcp:2222:h1"], "must read PROTOCOL:HOSTPORT:NODE:GUESTPORT"),
    (["sctp:2222:h1:22"], "must read"),
    (["tcp:http:h1:22"], "ports must be numbers"),
    (["tcp:70000:h1:22"], "between 1 and 65535"),
])
def test_forward_refusals(forwards, why):
    with pytest.raises(TopologyError, match=why):
        Node("nat", NodeKind.SLIRP, [Interface("nat0")], forwards=forwards)


def test_only_a_slirp_forwards_and_to_a_machine():
    with pytest.raises(TopologyError, match="only a slirp forwards"):
        Node("h", NodeKind.HOST, forwards=["tcp:1:h:2"])
    t = Topology()
    t.add_node(Node("nat", NodeKind.SLIRP, [Interface("nat0")], forwards=["tcp:2222:sw:22"]))
    t.add_node(Node("sw", NodeKind.SWITCH))
    assert any("not a machine" in e.message for e in t.validate())
