"""How a topology's links become vswitch devices and ports (pure).

- A link between two machines (or a machine and a slirp) is a vswitch `link` device whose two
  ports connect to the QEMU sockets at either end.
- A hub or switch is a vswitch `hub`/`switch` device; each link to it is one port, connecting
  to the QEMU socket of the machine (or slirp) at the other end.
- A link between two hubs/switches joins a port of each: one listens on a unix socket, the
  other connects to it (same framing as QEMU's).

Where parameters go: the parameters of an end (frames that end sends) are applied once, on the
vswitch port that stands for that end: a hub/switch end on its own port's `out` direction, a
machine end on the `in` direction of the port facing it. Counters are read at the same place,
so the rate shown for a direction is the rate that direction's shaper let through.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.model import DirectionParams, End, Link, NodeKind, Topology

ENDS: tuple[End, End] = ("a", "b")
SocketOf = Callable[[str, str], Path]   # (node, iface) -> unix socket path


@dataclass(frozen=True)
class Tap:
    """Where one direction of a link is shaped and counted."""

    device: str
    port: str
    direction: str       # "in" or "out", as the vswitch names them


@dataclass
class PortPlan:
    name: str
    transport: dict[str, Any]
    params: dict[str, dict[str, Any]] = field(default_factory=dict)   # "in"/"out" -> params
    vlan: dict[str, Any] | None = None


@dataclass
class DevicePlan:
    name: str
    kind: str                               # "link", "hub", "switch"
    ports: list[PortPlan] = field(default_factory=list)


@dataclass
class Wiring:
    devices: dict[str, DevicePlan] = field(default_factory=dict)
    taps: dict[tuple[str, str], Tap] = field(default_factory=dict)   # (link, "a"|"b") -> Tap


def vswitch_params(p: DirectionParams, seed: int | None = None) -> dict[str, Any]:
    """A direction's request to the vswitch: its parameters as they are (same units), with
    the direction's seed."""
    return {**p.to_json(), "seed": seed}


def direction_seed(topo_seed: int | None, link: str, end: str) -> int | None:
    if topo_seed is None:
        return None
    h = hashlib.sha256(f"{topo_seed}/{link}/{end}".encode()).digest()
    return int.from_bytes(h[:8], "big") >> 1


def connect_to(path: Path) -> dict[str, Any]:
    return {"type": "stream", "mode": "connect", "address": f"unix:{path}"}


def listen_on(path: Path) -> dict[str, Any]:
    return {"type": "stream", "mode": "listen", "address": f"unix:{path}"}


def link_device_name(link: Link) -> str:
    return f"link:{link.name}"


def plan_wiring(topo: Topology, socket_of: SocketOf, patch_socket: Callable[[str], Path]
                ) -> Wiring:
    w = Wiring()
    for node in topo.nodes:
        if node.kind.is_fabric:
            w.devices[node.name] = DevicePlan(node.name, node.kind.value)
    for link in topo.links:
        add_link(w, topo, link, socket_of, patch_socket)
    return w


def add_link(w: Wiring, topo: Topology, link: Link, socket_of: SocketOf,
             patch_socket: Callable[[str], Path]) -> None:
    """Add one link to a wiring (used at start and when a link is hot-added)."""
    kinds = {e: topo.node(link.end(e).node).kind for e in ENDS}
    fabric = {e for e, k in kinds.items() if k.is_fabric}
    seed = {e: direction_seed(topo.seed, link.name, e) for e in ENDS}
    params = {e: vswitch_params(link.end(e).params, seed[e])
              for e in ENDS}
    if not fabric:
        dev = DevicePlan(link_device_name(link), "link")
        for e in ENDS:
            end = link.end(e)
            dev.ports.append(PortPlan(e, connect_to(socket_of(end.node, end.iface)),
                                      {"in": params[e]}))
            w.taps[(link.name, e)] = Tap(dev.name, e, "in")
        w.devices[dev.name] = dev
        return
    for e in ENDS:
        end = link.end(e)
        other_e: End = "b" if e == "a" else "a"
        other = link.end(other_e)
        if e not in fabric:
            continue
        if other_e in fabric:
            path = patch_socket(link.name)
            transport = listen_on(path) if e == "a" else connect_to(path)
            port = PortPlan(end.iface, transport, {"out": params[e]})
        else:
            port = PortPlan(end.iface, connect_to(socket_of(other.node, other.iface)),
                            {"out": params[e], "in": params[other_e]})
            w.taps[(link.name, other_e)] = Tap(end.node, end.iface, "in")
        iface = topo.node(end.node).interface(end.iface)
        if iface is not None and iface.vlan is not None and kinds[e] is NodeKind.SWITCH:
            port.vlan = {"mode": "access", "vid": iface.vlan}
        w.devices.setdefault(end.node, DevicePlan(end.node, kinds[e].value)).ports.append(port)
        w.taps[(link.name, e)] = Tap(end.node, end.iface, "out")
