"""Layer-2 segments: the sets of machine interfaces that hear each other's broadcasts.

A direct link between two machines is a segment; hubs, switches and slirps merge everything
linked to them into one segment (VLANs are ignored here: addressing treats a switch as one LAN).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from engine.model import NodeKind, Topology


@dataclass
class Segment:
    index: int
    endpoints: list[tuple[str, str]] = field(default_factory=list)   # (machine, iface)
    fabric: list[str] = field(default_factory=list)                  # hub/switch/slirp names
    links: list[str] = field(default_factory=list)

    slirps: list[str] = field(default_factory=list)

    @property
    def has_slirp(self) -> bool:
        return bool(self.slirps)


def segments(topo: Topology) -> list[Segment]:
    """Segments in a stable order (by first link in the file)."""
    g = nx.Graph()
    for link in topo.links:
        ends = []
        for end in (link.a, link.b):
            kind = topo.node(end.node).kind
            ends.append(("fabric", end.node) if not kind.is_machine else
                        ("if", end.node, end.iface))
        g.add_edge(ends[0], ends[1], link=link.name)
    order = {link.name: i for i, link in enumerate(topo.links)}
    found = list(nx.connected_components(g))
    comp_of = {v: i for i, comp in enumerate(found) for v in comp}
    links_of: list[list[str]] = [[] for _ in found]       # each component's links, once
    for u, _v, d in g.edges(data=True):
        links_of[comp_of[u]].append(d["link"])
    ranked = sorted(range(len(found)), key=lambda c: min(order[lk] for lk in links_of[c]))
    node_index = {n.name: i for i, n in enumerate(topo.nodes)}
    out = []
    for i, c in enumerate(ranked):
        comp = found[c]
        seg = Segment(i)
        for v in sorted(comp, key=str):
            if v[0] == "if":
                seg.endpoints.append((v[1], v[2]))
            else:
                seg.fabric.append(v[1])
                if topo.node(v[1]).kind is NodeKind.SLIRP:
                    seg.slirps.append(v[1])
        seg.endpoints.sort(key=lambda e: _position(topo, e, node_index))
        seg.links = sorted(set(links_of[c]), key=order.__getitem__)
        out.append(seg)
    return out


def _position(topo: Topology, end: tuple[str, str], node_index: dict[str, int]
              ) -> tuple[int, int]:
    node = topo.node(end[0])
    return node_index[end[0]], [i.name for i in node.interfaces].index(end[1])
