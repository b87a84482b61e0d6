"""Addresses, MACs and routes for a topology that leaves some (or all) of them to nemu.

Rules, chosen to be predictable for students and reproducible for experiments:
- MACs are derived from node and interface names (same topology, same MACs, every run).
- A segment with a slirp uses QEMU's user network 10.0.2.0/24: gateway 10.0.2.2, DNS 10.0.2.3,
  machines from 10.0.2.15 up.
- Otherwise a segment uses the subnet of an address the user set on it, or the next free
  10.x.y.0/24; free addresses are handed out in file order, routers first.
- A host's default route goes via the first router on its segment (else the slirp gateway).
  Routers get static routes to every other subnet along the shortest router path, so a drawn
  network pings end to end before any routing daemon runs.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

import networkx as nx

from engine.errors import TopologyError
from engine.model import NodeKind, Topology
from engine.plan.segments import Segment, segments

SLIRP_NET = IPv4Network("10.0.2.0/24")
SLIRP_GATEWAY = IPv4Address("10.0.2.2")
SLIRP_DNS = IPv4Address("10.0.2.3")


@dataclass(frozen=True)
class Route:
    destination: IPv4Network     # 0.0.0.0/0 for the default route
    via: IPv4Address


@dataclass
class MachinePlan:
    """The network configuration one machine boots with."""

    name: str
    addresses: dict[str, IPv4Interface] = field(default_factory=dict)   # iface -> address
    macs: dict[str, str] = field(default_factory=dict)                  # iface -> MAC
    routes: list[Route] = field(default_factory=list)
    dns: list[IPv4Address] = field(default_factory=list)
    forwarding: bool = False
    masquerade: list[str] = field(default_factory=list)   # a router's interfaces to a slirp NAT


def mac_for(node: str, iface: str, taken: set[str]) -> str:
    """A locally administered unicast MAC (52:54:00:...) derived from the names."""
    salt = 0
    while True:
        h = hashlib.sha256(f"{node}.{iface}.{salt}".encode()).digest()
        mac = "52:54:00:" + ":".join(f"{b:02x}" for b in h[:3])
        if mac not in taken:
            return mac
        salt += 1


def plan(topo: Topology) -> dict[str, MachinePlan]:
    """Addresses, MACs and routes for every machine of `topo`."""
    plans = {n.name: MachinePlan(n.name, forwarding=n.kind is NodeKind.ROUTER)
             for n in topo.nodes if n.kind.is_machine}
    taken_macs = {i.mac for n in topo.nodes for i in n.interfaces if i.mac}
    for n in topo.nodes:
        if not n.kind.is_machine:
            continue
        for i in n.interfaces:
            mac = i.mac or mac_for(n.name, i.name, taken_macs)
            taken_macs.add(mac)
            plans[n.name].macs[i.name] = mac
    segs = segments(topo)
    nets = _assign_networks(topo, segs)
    for seg in segs:
        _assign_addresses(topo, seg, nets[seg.index], plans)
    _routes(topo, segs, nets, plans)
    return plans


def _explicit(topo: Topology, seg: Segment) -> list[IPv4Interface]:
    out = []
    for node, iface in seg.endpoints:
        addr = topo.node(node).interface(iface).address  # type: ignore[union-attr]
        if addr:
            ip = ipaddress.ip_interface(addr)
            if isinstance(ip, IPv4Interface):
                out.append(ip)
    return out


def _assign_networks(topo: Topology, segs: list[Segment]) -> dict[int, IPv4Network]:
    nets: dict[int, IPv4Network] = {}
    used: list[IPv4Network] = [SLIRP_NET]
    for seg in segs:
        explicit = _explicit(topo, seg)
        if seg.has_slirp:
            nets[seg.index] = SLIRP_NET
        elif explicit:
            nets[seg.index] = explicit[0].network
            used.append(explicit[0].network)
    # a /24 candidate overlaps a used network when it holds it (the used one is a /24 or
    # smaller: compare their /24s) or lies inside it (a wider one: few, checked one by one)
    used24 = {u.supernet(new_prefix=24) if u.prefixlen > 24 else u
              for u in used if u.prefixlen >= 24}
    wide = [u for u in used if u.prefixlen < 24]
    candidates = (IPv4Network(f"10.{x}.{y}.0/24") for x in range(256) for y in range(256))
    for seg in segs:
        if seg.index in nets:
            continue
        for net in candidates:
            if net not in used24 and not any(net.subnet_of(w) for w in wide):
                nets[seg.index] = net
                used24.add(net)
                break
        else:
            raise TopologyError("no free 10.x.y.0/24 subnet is left for automatic addressing")
    return nets


def _assign_addresses(topo: Topology, seg: Segment, net: IPv4Network,
                      plans: dict[str, MachinePlan]) -> None:
    taken = {SLIRP_GATEWAY, SLIRP_DNS} if seg.has_slirp else set()
    pending = []
    for node, iface in seg.endpoints:
        addr = topo.node(node).interface(iface).address  # type: ignore[union-attr]
        if addr:
            ip = ipaddress.ip_interface(addr)
            if isinstance(ip, IPv4Interface):
                plans[node].addresses[iface] = ip
                taken.add(ip.ip)
        else:
            pending.append((node, iface))
    pending.sort(key=lambda e: topo.node(e[0]).kind is not NodeKind.ROUTER)
    start = 15 if seg.has_slirp else 1
    hosts = (h for h in net.hosts() if int(h) - int(net.network_address) >= start)
    for node, iface in pending:
        for h in hosts:
            if h not in taken:
                plans[node].addresses[iface] = IPv4Interface((int(h), net.prefixlen))
                taken.add(h)
                break
        else:
            raise TopologyError(f"subnet {net} has no free address left for {node}.{iface}")


def _routes(topo: Topology, segs: list[Segment], nets: dict[int, IPv4Network],
            plans: dict[str, MachinePlan]) -> None:
    routers = {n.name for n in topo.nodes if n.kind is NodeKind.ROUTER}
    g = nx.Graph()
    for seg in segs:
        for node, _ in seg.endpoints:
            if node in routers:
                g.add_edge(("router", node), ("seg", seg.index))
    for seg in segs:
        seg_routers = [(n, i) for n, i in seg.endpoints if n in routers]
        for node, _ in seg.endpoints:
            if node in routers:
                continue
            p = plans[node]
            if any(r.destination.prefixlen == 0 for r in p.routes):
                continue
            if seg_routers:
                rn, ri = seg_routers[0]
                p.routes.append(Route(IPv4Network("0.0.0.0/0"), plans[rn].addresses[ri].ip))
                p.dns.append(plans[rn].addresses[ri].ip)
            elif seg.has_slirp:
                p.routes.append(Route(IPv4Network("0.0.0.0/0"), SLIRP_GATEWAY))
                p.dns.append(SLIRP_DNS)
    for r in sorted(routers):
        src = ("router", r)
        if src not in g:
            continue
        paths = nx.single_source_shortest_path(g, src)
        own = {seg.index for seg in segs for n, _ in seg.endpoints if n == r}
        for seg in segs:
            if seg.index in own or ("seg", seg.index) not in paths:
                if seg.has_slirp and seg.index in own:
                    plans[r].routes.append(Route(IPv4Network("0.0.0.0/0"), SLIRP_GATEWAY))
                    plans[r].dns.append(SLIRP_DNS)
                    # the NAT answers only its own subnet: the hosts behind hide behind r
                    plans[r].masquerade += [i for n, i in seg.endpoints if n == r]
                continue
            path = paths[("seg", seg.index)]
            first_seg, next_router = path[1][1], path[2][1]
            hop = next(plans[next_router].addresses[i] for n, i in segs[first_seg].endpoints
                       if n == next_router)
            plans[r].routes.append(Route(nets[seg.index], hop.ip))
