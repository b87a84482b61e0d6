"""What `Topology` checks and derives without changing anything, kept out of its module.

Whole-topology checks no single edit can see (names used twice, addresses given twice, hubs
and switches in a loop, placements on unknown machines): `validate` reports them all at once.
Also the queries a form asks before an edit (where can a link end move?) and copies of parts.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

import networkx as nx

from engine.errors import TopologyError
from engine.model import teaching
from engine.model.link import End, Link
from engine.model.node import Interface, parse_forward

if TYPE_CHECKING:
    from engine.model.topology import Topology

LINK_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,79}$")


def link_problems(topo: Topology, link: Link, index: int | None = None) -> list[TopologyError]:
    where = f"links[{index}]" if index is not None else f"link {link.name}"
    out: list[TopologyError] = []
    if not LINK_NAME_RE.match(link.name):
        out.append(TopologyError(f"link name {link.name!r} must start with a letter and "
                                 "hold letters, digits, '_', '-' or '.'", f"{where}.name"))
    if index is None and any(other.name == link.name for other in topo.links):
        out.append(TopologyError(f"a link named {link.name!r} exists already", where))
    for which, end in (("a", link.a), ("b", link.b)):
        if end.node not in topo.graph:
            out.append(TopologyError(f"unknown node {end.node!r}", f"{where}.{which}.node"))
            continue
        node = topo.node(end.node)
        if node.interface(end.iface) is None:
            have = ", ".join(i.name for i in node.interfaces) or "none"
            out.append(TopologyError(f"node {end.node} has no interface {end.iface!r} "
                                     f"(it has: {have})", f"{where}.{which}.iface"))
            continue
        taken = topo.link_at(end.node, end.iface)
        if taken is not None and taken.name != link.name:
            out.append(TopologyError(f"{end.label} already carries link {taken.name}",
                                     f"{where}.{which}.iface"))
    if link.a.node == link.b.node:
        out.append(TopologyError(f"link joins {link.a.node} to itself", where))
    return out

def validate(topo: Topology) -> list[TopologyError]:
    """Every problem of the whole topology (empty when it can run)."""
    problems: list[TopologyError] = []
    machines = {m.name for m in topo.machines}
    for i, node in enumerate(topo.nodes):
        if node.host != "local" and node.host not in machines:
            problems.append(TopologyError(f"node {node.name} is placed on unknown machine "
                                          f"{node.host!r}", f"nodes[{i}].host"))
    seen_if: dict[tuple[str, str], str] = {}
    for i, link in enumerate(topo.links):
        for which, end in (("a", link.a), ("b", link.b)):
            key = (end.node, end.iface)
            if key in seen_if and seen_if[key] != link.name:
                problems.append(TopologyError(
                    f"{end.label} is used by link {seen_if[key]} too",
                    f"links[{i}].{which}.iface"))
            seen_if[key] = link.name
    for i, node in enumerate(topo.nodes):
        for j, text in enumerate(node.forwards):
            target = parse_forward(text).node
            if not topo.has_node(target) or not topo.node(target).kind.is_machine:
                problems.append(TopologyError(f"{node.name} forwards to {target!r}, which "
                                              "is not a machine", f"nodes[{i}].forwards[{j}]"))
    problems += _address_problems(topo)
    if topo.teaching is not None:
        problems += teaching.reference_problems(
            topo.teaching, {n.name for n in topo.nodes}, {lk.name for lk in topo.links})
    problems += _fabric_loops(topo)
    return problems

def _address_problems(topo: Topology) -> list[TopologyError]:
    out: list[TopologyError] = []
    seen: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, str] = {}
    for i, node in enumerate(topo.nodes):
        for j, iface in enumerate(node.interfaces):
            ip = _ip_of(iface.address)
            if ip is None:
                continue
            if ip in seen:
                out.append(TopologyError(_clash(ip, seen[ip]),
                                         f"nodes[{i}].interfaces[{j}].address"))
            seen[ip] = f"{node.name}.{iface.name}"
    return out


def address_clash(topo: Topology, node: str, iface: Interface) -> TopologyError | None:
    ip = _ip_of(iface.address)
    if ip is None:
        return None
    for n in topo.nodes:
        for other in n.interfaces:
            if (n.name, other.name) != (node, iface.name) and _ip_of(other.address) == ip:
                return TopologyError(_clash(ip, f"{n.name}.{other.name}"), "address")
    return None


def _fabric_loops(topo: Topology) -> list[TopologyError]:
    """Hubs and switches joined in a cycle would flood frames around it for ever."""
    fabric = [n.name for n in topo.nodes if n.kind.is_fabric]
    sub = nx.Graph()
    sub.add_nodes_from(fabric)
    out: list[TopologyError] = []
    for link in topo.links:
        a, b = link.a.node, link.b.node
        if a in sub and b in sub:
            if sub.has_edge(a, b) or nx.has_path(sub, a, b):
                cycle = [*nx.shortest_path(sub, a, b), a]
                out.append(TopologyError(
                    "hubs and switches joined in a loop (" + " - ".join(cycle) +
                    "): frames would circle for ever; remove one link of the loop",
                    f"link {link.name}"))
                continue
            sub.add_edge(a, b)
    return out


def interface_choices(topo: Topology, name: str, which: End) -> tuple[list[str], str | None]:
    """Where end `which` of link `name` can plug in: its node's interfaces that carry no
    other link (the current one included, in the node's order), and the name a new
    interface would get (None when the node takes no more, such as a slirp)."""
    link = topo.link(name)
    node = topo.node(link.end(which).node)
    used = topo.links_by_iface(node.name)
    free = [i.name for i in node.interfaces
            if (taken := used.get(i.name)) is None or taken.name == name]
    try:
        new, _ = check_link_iface(topo, name, which, None)
    except TopologyError:
        new = None
    return free, new

def check_link_iface(topo: Topology, name: str, which: End, iface: str | None = None
                     ) -> tuple[str, bool]:
    """(interface, whether it must be added) for moving end `which` of link `name` to
    `iface` (None: a new interface). Changes nothing, so a form can check a choice before
    applying it; a refusal names the link, the end and the interface."""
    end = topo.link(name).end(which)
    node = topo.node(end.node)
    wanted = node.next_interface_name() if iface is None else iface
    if wanted == end.iface:
        return wanted, False
    refused = f"end {which} of link {name} cannot move to {end.node}.{wanted}"
    if node.interface(wanted) is None:
        try:
            dataclasses.replace(node, interfaces=[*node.interfaces, Interface(wanted)])
        except TopologyError as e:
            raise TopologyError(f"{refused}: {e.message}") from None
        return wanted, True
    taken = topo.link_at(end.node, wanted)
    if taken is not None:
        raise TopologyError(f"{refused}: it carries link {taken.name}")
    return wanted, False


def subgraph(topo: Topology, names: Iterable[str]) -> Topology:
    """A new topology with copies of these nodes and the links among them (copy/paste)."""
    keep = set(names)
    sub = type(topo)(name=topo.name, machines=list(topo.machines))
    for node in topo.nodes:
        if node.name in keep:
            sub.graph.add_node(node.name, node=dataclasses.replace(
                node, interfaces=list(node.interfaces), storages=list(node.storages),
                services=dict(node.services)))
    for link in topo.links:
        if link.a.node in keep and link.b.node in keep:
            sub.graph.add_edge(link.a.node, link.b.node, key=link.name, link=link)
    return sub


def _ip_of(address: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP of an interface's address (None: none, or not an IP address)."""
    if address is None:
        return None
    try:
        return ipaddress.ip_interface(address).ip
    except ValueError:
        return None


def _clash(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, holder: str) -> str:
    return f"address {ip} is given to {holder} too"


def pick_interface(topo: Topology, node_name: str, wanted: str | None) -> tuple[str, bool]:
    """(interface name, whether it must be added); checks without changing anything."""
    node = topo.node(node_name)
    if wanted is not None:
        if node.interface(wanted) is None:
            dataclasses.replace(node, interfaces=[*node.interfaces, Interface(wanted)])
            return wanted, True
        taken = topo.link_at(node_name, wanted)
        if taken is not None:
            raise TopologyError(f"{node_name}.{wanted} already carries link {taken.name}")
        return wanted, False
    used = topo.links_by_iface(node_name)
    for iface in node.interfaces:
        if iface.name not in used:
            return iface.name, False
    new = node.next_interface_name()
    dataclasses.replace(node, interfaces=[*node.interfaces, Interface(new)])  # checks
    return new, True
