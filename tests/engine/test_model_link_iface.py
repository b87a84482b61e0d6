"""Moving one end of a link to another interface of its node (Topology.set_link_iface)."""

import pytest

from engine import topofile
from engine.errors import TopologyError
from engine.model import (
    DirectionParams,
    Interface,
    LinkRewired,
    Node,
    NodeChanged,
    NodeKind,
    Topology,
)


def lab() -> Topology:
    """h1 has eth0 (to h2), eth1 (to h3) and a free eth2; sw1 has ports p0 (to h2) and p1."""
    t = Topology(name="t")
    t.add_node(Node("h1", NodeKind.HOST, [Interface("eth0", "10.0.0.1/24"), Interface("eth1"),
                                           Interface("eth2")]))
    t.add_node(Node("h2", NodeKind.HOST, [Interface("eth0")]))
    t.add_node(Node("h3", NodeKind.HOST))
    t.add_node(Node("sw1", NodeKind.SWITCH, [Interface("p0"), Interface("p1", vlan=5)]))
    t.add_node(Node("nat", NodeKind.SLIRP))
    t.connect("h1", "h2", "eth0", "eth0", DirectionParams.from_text({"delay": "5ms"}))
    t.connect("h1", "h3", "eth1")
    t.connect("h3", "sw1", b_iface="p0")
    t.connect("h3", "nat")
    return t


def test_moving_to_a_free_interface_keeps_name_params_and_place():
    t = lab()
    before = [lk.name for lk in t.links]
    seen: list[object] = []
    t.subscribe(seen.append)
    new = t.set_link_iface("h1-h2", "a", "eth2")
    assert new.a.iface == "eth2" and new.a.node == "h1" and new.b.iface == "eth0"
    assert new.a.params.delay == 5_000_000 and new.name == "h1-h2"
    assert t.link("h1-h2") == new and t.link_at("h1", "eth2") == new
    assert t.link_at("h1", "eth0") is None
    assert [lk.name for lk in t.links] == before          # file order, hence addresses, kept
    assert t.node("h1").interface("eth0") is not None    # the interface it left stays
    assert seen == [LinkRewired(new, "a", "eth0")]
    assert t.validate() == []


def test_no_interface_means_a_new_one_added_first():
    t = lab()
    seen: list[object] = []
    t.subscribe(seen.append)
    new = t.set_link_iface("h1-h2", "a")
    assert new.a.iface == "eth3"
    assert [i.name for i in t.node("h1").interfaces] == ["eth0", "eth1", "eth2", "eth3"]
    assert [type(e) for e in seen] == [NodeChanged, LinkRewired]
    # a name the node lacks is added under that name
    assert t.set_link_iface("h1-h2", "b", "uplink").b.iface == "uplink"
    assert t.node("h2").interface("uplink") is not None


def test_fabric_ports_move_too():
    t = lab()
    assert t.set_link_iface("h3-sw1", "b", "p1").b.iface == "p1"
    assert t.set_link_iface("h3-sw1", "b").b.iface == "p2"


def test_the_same_interface_changes_nothing():
    t = lab()
    seen: list[object] = []
    t.subscribe(seen.append)
    assert t.set_link_iface("h1-h2", "a", "eth0") == t.link("h1-h2")
    assert seen == []


@pytest.mark.parametrize(("link", "end", "iface", "why"), [
    ("h1-h2", "a", "eth1",
     "end a of link h1-h2 cannot move to h1.eth1: it carries link h1-h3"),
    ("h3-nat", "b", None,
     "end b of link h3-nat cannot move to nat.nat1: a slirp has a single interface"),
    ("h1-h2", "b", "9lives",
     "end b of link h1-h2 cannot move to h2.9lives: interface name '9lives' must be"),
])
def test_refusals_name_link_end_and_interface_and_change_nothing(link, end, iface, why):
    t = lab()
    text = topofile.dumps(t)
    seen: list[object] = []
    t.subscribe(seen.append)
    with pytest.raises(TopologyError) as e:
        t.set_link_iface(link, end, iface)
    assert e.value.message.startswith(why)
    assert seen == [] and topofile.dumps(t) == text


def test_unknown_link_is_refused():
    with pytest.raises(TopologyError, match="no link named 'x'"):
        lab().set_link_iface("x", "a", "eth0")


def test_choices_are_the_free_interfaces_the_current_one_and_a_new_name():
    t = lab()
    assert t.interface_choices("h1-h2", "a") == (["eth0", "eth2"], "eth3")
    assert t.interface_choices("h3-sw1", "b") == (["p0", "p1"], "p2")
    assert t.interface_choices("h3-nat", "b") == (["nat0"], None)   # a slirp has one


def test_the_file_names_the_new_interface_and_loads_back():
    t = lab()
    t.set_link_iface("h1-h2", "a")
    text = topofile.dumps(t)
    assert "h1.eth3" in text
    back = topofile.loads(text)
    assert back == t and back.link("h1-h2").a.iface == "eth3"
