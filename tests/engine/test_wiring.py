"""Topology -> vswitch devices and ports: every link kind, and where each direction is shaped."""

from pathlib import Path

from engine import examples
from engine.model import DirectionParams, Interface, Node, NodeKind, Topology
from engine.plan.wiring import Tap, direction_seed, plan_wiring, vswitch_params
from vswitch.params import LinkParams


def sock(node: str, iface: str) -> Path:
    return Path(f"/s/{node}-{iface}.sock")


def patch(link: str) -> Path:
    return Path(f"/s/patch-{link}.sock")


def test_machine_to_machine_is_a_link_device_shaped_at_each_ingress():
    t = examples.two_hosts()
    t.set_link_params("h1-h2", "b", delay="30ms")
    w = plan_wiring(t, sock, patch)
    [dev] = w.devices.values()
    assert (dev.name, dev.kind) == ("link:h1-h2", "link")
    a, b = dev.ports
    assert a.transport == {"type": "stream", "mode": "connect", "address": "unix:/s/h1-eth0.sock"}
    assert a.params["in"]["delay"] == 10_000_000 and b.params["in"]["delay"] == 30_000_000
    assert w.taps[("h1-h2", "a")] == Tap("link:h1-h2", "a", "in")
    assert w.taps[("h1-h2", "b")] == Tap("link:h1-h2", "b", "in")


def test_hosts_on_a_switch_and_switch_to_switch_patch():
    t = Topology()
    t.add_node(Node("s1", NodeKind.SWITCH, [Interface("p0", vlan=10), Interface("p1")]))
    t.add_node(Node("s2", NodeKind.HUB))
    t.add_node(Node("h1", NodeKind.HOST))
    t.connect("h1", "s1", params=DirectionParams.from_text({"bandwidth": "1Mbit"}))
    t.connect("s1", "s2", "p1")
    t.set_link_params("h1-s1", "b", bandwidth="5Mbit")
    w = plan_wiring(t, sock, patch)
    assert set(w.devices) == {"s1", "s2"}
    p0, p1 = w.devices["s1"].ports
    assert p0.transport["address"] == "unix:/s/h1-eth0.sock"
    assert p0.params["in"]["bandwidth"] == 1_000_000      # what h1 sends
    assert p0.params["out"]["bandwidth"] == 5_000_000     # what the switch sends to h1
    assert p0.vlan == {"mode": "access", "vid": 10}
    assert w.taps[("h1-s1", "a")] == Tap("s1", "p0", "in")
    assert w.taps[("h1-s1", "b")] == Tap("s1", "p0", "out")
    assert p1.transport == {"type": "stream", "mode": "listen",
                            "address": "unix:/s/patch-s1-s2.sock"}
    [q0] = w.devices["s2"].ports
    assert q0.transport == {"type": "stream", "mode": "connect",
                            "address": "unix:/s/patch-s1-s2.sock"}
    assert w.taps[("s1-s2", "a")] == Tap("s1", "p1", "out")
    assert w.taps[("s1-s2", "b")] == Tap("s2", "p0", "out")


def test_every_link_of_an_example_has_both_taps():
    t = examples.star()
    w = plan_wiring(t, sock, patch)
    for link in t.links:
        assert (link.name, "a") in w.taps and (link.name, "b") in w.taps
    assert "link:r1-nat" in w.devices   # router to NAT: a point-to-point link device


def test_parameters_travel_in_one_unit_and_the_vswitch_accepts_them():
    p = DirectionParams.from_text({"bandwidth": "10Mbit", "loss": "1%", "duplicate": "50%",
                                   "corrupt": "0.5%", "ber": "1e-6", "ber_mode": "flip",
                                   "jitter": "2ms", "reorder": True, "overhead": 24})
    v = vswitch_params(p, 7)
    assert v["loss"] == 0.01 and v["duplicate"] == 0.5 and v["corrupt"] == 0.005
    assert p.loss == 0.01 and v["seed"] == 7      # the model's unit is the wire's
    applied = LinkParams().updated(v)    # the vswitch accepts every field and value
    assert {k: getattr(applied, k) for k in v} == v
    assert p.changes_from(DirectionParams()) == {k: v[k] for k in p.to_text()}


def test_seeds_are_reproducible_and_distinct():
    assert direction_seed(None, "l", "a") is None
    assert direction_seed(1, "l", "a") == direction_seed(1, "l", "a")
    assert direction_seed(1, "l", "a") != direction_seed(1, "l", "b")
    assert 0 <= direction_seed(1, "l", "a") < 2**63
