"""Link, hub and switch with ports on a fake scheduler: exact frame-by-frame results."""

from __future__ import annotations

from typing import Any

import pytest

from vswitch.devices import Hub, Link, Switch, make_device
from vswitch.errors import RequestError
from vswitch.params import LinkParams
from vswitch.port import Port
from vswitch.switch_fabric import MacTable, VlanConfig, tag, vlan_of

BCAST = b"\xff" * 6


def mac(n: int) -> bytes:
    return bytes([2, 0, 0, 0, 0, n])


def eth(dst: bytes, src: bytes, payload: bytes = b"x" * 46) -> bytes:
    return dst + src + b"\x08\x00" + payload


def build(dev: Any, sched: Any, names: list[str], **kw: Any) -> dict[str, tuple[Port, Any]]:
    res = {}
    for n in names:
        p = Port(n, dev, sched, **kw)
        dev.attach(p)
        p.sink = _Sink()
        res[n] = (p, p.sink)
    return res


def test_link_forwards_batches_both_ways(sched: Any) -> None:
    dev = Link("l1")
    ports = build(dev, sched, ["a", "b"])
    (a, sa), (b, sb) = ports["a"], ports["b"]
    frames = [eth(mac(2), mac(1)), eth(mac(2), mac(1), b"y" * 46)]
    a.receive(frames, 0.0)
    sched.run_until(0.0)
    assert sb.batches == [frames]          # one batch, one write
    b.receive([eth(mac(1), mac(2))], 0.0)
    sched.run_until(0.0)
    assert len(sa.frames) == 1
    c = a.counters(0.0)
    assert c["in"]["frames"] == 2 and c["in"]["bytes"] == 120
    assert b.counters(0.0)["out"]["frames"] == 2
    with pytest.raises(RequestError):
        dev.attach(Port("c", dev, sched))


def test_unconnected_port_counts_down_drops(sched: Any) -> None:
    dev = Link("l1")
    ports = build(dev, sched, ["a", "b"])
    ports["b"][0].sink = None
    ports["a"][0].receive([eth(mac(2), mac(1))], 0.0)
    sched.run_until(0.0)
    assert ports["b"][0].counters(0.0)["out"]["drops"]["down"] == 1


def test_slow_peer_drops_counted_as_queue(sched: Any) -> None:
    dev = Hub("h")
    ports = build(dev, sched, ["a", "b", "c"])
    ports["b"][1].accept = False
    ports["a"][0].receive([eth(BCAST, mac(1))] * 3, 0.0)
    sched.run_until(0.0)
    assert ports["b"][0].counters(0.0)["out"]["drops"]["queue"] == 3
    assert len(ports["c"][1].frames) == 3      # the other port keeps going


def test_shaped_link_delivers_on_time(sched: Any) -> None:
    dev = Link("l1")
    ports = build(dev, sched, ["a", "b"])
    a, b = ports["a"][0], ports["b"][0]
    a.set_params("in", LinkParams(bandwidth=8000), 0.0)          # 100 B -> 0.1 s
    b.set_params("out", LinkParams(delay=50_000_000), 0.0)       # + 50 ms
    a.receive([eth(mac(2), mac(1), b"z" * 86)] * 2, 0.0)
    assert sched.wakes[a] == pytest.approx(0.1)
    sched.run_until(0.1)
    assert sched.wakes[b] == pytest.approx(0.15)
    sched.run_until(0.1499)
    assert ports["b"][1].frames == []
    sched.run_until(0.1501)
    assert len(ports["b"][1].frames) == 1
    sched.run_until(0.2)
    sched.run_until(0.25)
    assert len(ports["b"][1].frames) == 2
    assert a.counters(0.25)["in"]["queue_frames"] == 0


def test_hub_floods_to_all_others(sched: Any) -> None:
    dev = Hub("h")
    ports = build(dev, sched, ["a", "b", "c"])
    ports["a"][0].receive([eth(mac(2), mac(1))], 0.0)
    sched.run_until(0.0)
    assert [len(ports[n][1].frames) for n in "abc"] == [0, 1, 1]


def test_switch_learns_floods_and_ages(sched: Any) -> None:
    dev = Switch("s", ageing=10.0)
    ports = build(dev, sched, ["a", "b", "c"])
    (a, sa), (b, sb), (_c, sc) = ports["a"], ports["b"], ports["c"]
    a.receive([eth(mac(2), mac(1))], 0.0)            # unknown: flooded
    sched.run_until(0.0)
    assert (len(sb.frames), len(sc.frames)) == (1, 1)
    b.receive([eth(mac(1), mac(2))], 1.0)            # known: only to a
    sched.run_until(1.0)
    assert (len(sa.frames), len(sc.frames)) == (1, 1)
    a.receive([eth(mac(2), mac(1)), eth(BCAST, mac(1)), eth(b"\x01\x00\x5e\x00\x00\x01",
                                                         mac(1))], 2.0)
    sched.run_until(2.0)
    assert (len(sb.frames), len(sc.frames)) == (4, 3)  # unicast to b; bcast+mcast to both
    a.receive([eth(mac(2), mac(1))], 12.0)          # mac(2) last seen at 1.0: aged out
    sched.run_until(12.0)
    assert len(sc.frames) == 4
    dev.detach(b)
    assert all(p is not b for _, p, _ in dev.table.entries(12.0))


def test_switch_order_kept_per_destination(sched: Any) -> None:
    dev = Switch("s")
    ports = build(dev, sched, ["a", "b", "c"])
    ports["b"][0].receive([eth(mac(1), mac(2))], 0.0)
    sched.run_until(0.0)
    seq = [eth(mac(2), mac(1), bytes([i]) * 46) if i % 2 else eth(BCAST, mac(1), bytes([i]) * 46)
           for i in range(6)]
    ports["a"][0].receive(seq, 1.0)
    sched.run_until(1.0)
    assert ports["b"][1].batches[-1] == seq


def test_mac_table_limit_and_refresh() -> None:
    t = MacTable(ageing=5.0, limit=2)
    t.learn(b"1", "p", 0.0)
    t.learn(b"2", "p", 0.0)
    t.learn(b"3", "p", 0.0)              # full: not learnt
    assert t.lookup(b"3", 0.0) is None and len(t) == 2
    t.learn(b"1", "p", 4.0)
    t.learn(b"4", "p", 5.5)              # b"2" expired, room again
    assert t.lookup(b"4", 5.5) == "p" and t.lookup(b"1", 5.5) == "p"


def test_vlan_access_and_trunk(sched: Any) -> None:
    dev = Switch("s")
    ports = build(dev, sched, ["a10", "b10", "c20", "t"])
    ports["a10"][0].vlan = VlanConfig("access", 10)
    ports["b10"][0].vlan = VlanConfig("access", 10)
    ports["c20"][0].vlan = VlanConfig("access", 20)
    ports["t"][0].vlan = VlanConfig("trunk", 0, frozenset({10, 20}))
    dev.attach(Port("x", dev, sched))   # re-evaluates the mode
    dev.detach(dev.ports["x"])
    assert dev.vlan_aware
    f = eth(BCAST, mac(1))
    ports["a10"][0].receive([f], 0.0)
    sched.run_until(0.0)
    assert ports["b10"][1].frames == [f]
    assert ports["c20"][1].frames == []
    (tf,) = ports["t"][1].frames
    assert vlan_of(tf) == 10 and tf == tag(f, 10)
    # From the trunk, VLAN 20 tagged: to c20 untagged only.
    g = eth(BCAST, mac(9))
    ports["t"][0].receive([tag(g, 20)], 1.0)
    sched.run_until(1.0)
    assert ports["c20"][1].frames == [g]
    assert len(ports["b10"][1].frames) == 1
    # Tagged frame on an access port, untagged on a trunk without native VLAN: dropped.
    ports["a10"][0].receive([tag(g, 10)], 2.0)
    ports["t"][0].receive([g], 2.0)
    assert ports["a10"][0].cin.drop_invalid == 1 and ports["t"][0].cin.drop_invalid == 1


def test_vlan_config_validation() -> None:
    assert VlanConfig.from_json(None) is None
    assert VlanConfig.from_json({"mode": "trunk", "vid": 1, "allowed": [10]}) == VlanConfig(
        "trunk", 1, frozenset({10}))
    for bad, field in [({"mode": "x"}, "vlan.mode"), ({"mode": "access", "vid": 0}, "vlan.vid"),
                       ({"mode": "access", "allowed": [1]}, "vlan.allowed"),
                       ({"mode": "trunk", "allowed": [5000]}, "vlan.allowed"),
                       ({"mode": "trunk", "x": 1}, "vlan.x")]:
        with pytest.raises(RequestError) as e:
            VlanConfig.from_json(bad)
        assert e.value.field == field


def test_make_device_validates() -> None:
    assert make_device("switch", "s", {"ageing": 30}).options() == {"ageing": 30.0,
                                                                  "mac_limit": 8192}
    for kind, opts, field in [("router", {}, "type"), ("switch", {"ageing": -1}, "options.ageing"),
                              ("link", {"x": 1}, "options.x")]:
        with pytest.raises(RequestError) as e:
            make_device(kind, "d", opts)
        assert e.value.field == field


class _Sink:
    def __init__(self) -> None:
        self.batches: list[list[bytes]] = []
        self.accept = True

    @property
    def frames(self) -> list[bytes]:
        return [f for b in self.batches for f in b]

    def write_frames(self, frames: list[bytes]) -> bool:
        if self.accept:
            self.batches.append(list(frames))
        return self.accept


def test_switch_runs_of_same_addresses_decided_once(sched: Any) -> None:
    dev = Switch("s")
    ports = build(dev, sched, ["a", "b", "c"])
    ports["b"][0].receive([eth(mac(1), mac(2))], 0.0)
    sched.run_until(0.0)
    run = [eth(mac(2), mac(1), bytes([i]) * 46) for i in range(5)]
    unknown = [eth(mac(7), mac(1), bytes([i]) * 46) for i in range(3)]
    ports["a"][0].receive(run + unknown + run[:2], 1.0)
    sched.run_until(1.0)
    assert ports["b"][1].batches[-1] == run + unknown + run[:2]
    assert ports["c"][1].batches[-1] == unknown


def test_mtu_on_the_fast_path(sched: Any) -> None:
    dev = Link("l1")
    ports = build(dev, sched, ["a", "b"])
    a, b = ports["a"][0], ports["b"][0]
    a.set_params("in", LinkParams(mtu=100), 0.0)
    b.set_params("out", LinkParams(mtu=50), 0.0)
    assert a.ingress.passthrough and b.egress.passthrough
    ok, tagged_ok = eth(mac(2), mac(1), b"x" * 50), tag(eth(mac(2), mac(1), b"t" * 50), 5)
    a.receive([eth(mac(2), mac(1), b"x" * 101), ok, eth(mac(2), mac(1), b"y" * 80),
               tagged_ok], 0.0)
    sched.run_until(0.0)
    assert ports["b"][1].frames == [ok, tagged_ok]
    assert a.cin.drop_mtu == 1 and b.cout.drop_mtu == 1
    assert a.counters(0.0)["in"]["frames"] == 3
