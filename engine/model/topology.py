"""A topology: the nodes and links a user drew, on a networkx multigraph.

This is pure description (Mininet's `Topo`): it can be built, edited, validated and saved
without starting anything. Every mutation goes through a method that checks it and tells the
listeners, so the canvas and a running session stay in step with the model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import networkx as nx

from engine.errors import LinkParamError, LockedError, TopologyError
from engine.model import validation
from engine.model.events import (
    LinkAdded,
    LinkChanged,
    LinkRemoved,
    LinkRewired,
    NodeAdded,
    NodeChanged,
    NodeRemoved,
    NodeRenamed,
    TopologyChanged,
    TopologyEvent,
)
from engine.model.link import End, Endpoint, Link
from engine.model.machine import Machine
from engine.model.node import NAME_RE, Interface, Node, NodeKind
from engine.model.params import DirectionParams
from engine.model.teaching import TeachingLab

Listener = Callable[[TopologyEvent], None]


@dataclass
class Topology:
    name: str = "untitled"
    description: str = ""
    seed: int | None = None    # makes loss, jitter and bit errors reproducible run after run
    machines: list[Machine] = field(default_factory=list)
    graph: nx.MultiGraph = field(default_factory=nx.MultiGraph, repr=False)
    _listeners: list[Listener] = field(default_factory=list, repr=False, compare=False)
    # where the lab file lives (not saved in it): relative disk and storage paths start here
    base_dir: Path | None = field(default=None, repr=False, compare=False)
    teaching: TeachingLab | None = None     # a teaching lab: instructions, checks, locks
    enforce_locks: bool = field(default=True, repr=False, compare=False)   # False: a teacher

    def guard(self, node: str | None = None, link: str | None = None,
              param: str | None = None) -> None:
        """Refuse an edit of what the teaching lab locks, naming it and the lock."""
        lock = self.teaching.lock_on(node, link, param) if (
            self.teaching is not None and self.enforce_locks) else None
        if lock is not None:
            raise LockedError(f"{lock.target} is locked by the lab ({lock.mode.value})")

    def _guard_link(self, link: Link) -> None:
        for node in (link.a.node, link.b.node):
            self.guard(node=node, link=link.name)

    # ---- reading -------------------------------------------------------------------
    @property
    def nodes(self) -> list[Node]:
        return [d["node"] for _, d in self.graph.nodes(data=True)]

    @property
    def links(self) -> list[Link]:
        return [d["link"] for _, _, d in self.graph.edges(data=True)]

    def node(self, name: str) -> Node:
        try:
            node: Node = self.graph.nodes[name]["node"]
            return node
        except KeyError:
            raise TopologyError(f"no node named {name!r}") from None

    def has_node(self, name: str) -> bool:
        return name in self.graph

    def link(self, name: str) -> Link:
        for link in self.links:
            if link.name == name:
                return link
        raise TopologyError(f"no link named {name!r}")

    def links_of(self, node: str) -> list[Link]:
        return [d["link"] for _, _, d in self.graph.edges(node, data=True)]

    def link_at(self, node: str, iface: str) -> Link | None:
        """The link plugged into that interface, if any."""
        return self.links_by_iface(node).get(iface)

    def links_by_iface(self, node: str) -> dict[str, Link]:
        """Interface -> the link plugged into it, for one node: one pass over its links, so
        a check over every interface of a 300-port switch is not 300 passes."""
        out: dict[str, Link] = {}
        for link in self.links_of(node):
            for end in (link.a, link.b):
                if end.node == node:
                    out[end.iface] = link
        return out

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def snapshot(self) -> Topology:
        """A copy to read elsewhere (another thread) while this one is edited: nodes and
        links are immutable, so they are shared; only the graph's structure is copied."""
        return Topology(self.name, self.description, self.seed, list(self.machines),
                        self.graph.copy(), base_dir=self.base_dir, teaching=self.teaching)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Topology):
            return NotImplemented
        return (self.name, self.description, self.seed, self.machines, self.nodes,
                self.links, self.teaching) == (other.name, other.description, other.seed,
                                               other.machines, other.nodes, other.links,
                                               other.teaching)

    # ---- listening -----------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` on every change; returns a function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _emit(self, event: TopologyEvent) -> None:
        for listener in list(self._listeners):
            listener(event)

    # ---- editing -------------------------------------------------------------------
    def unique_name(self, stem: str) -> str:
        """`stem` followed by the first number that makes a free node name: h1, h2..."""
        n = 1
        while f"{stem}{n}" in self.graph:
            n += 1
        return f"{stem}{n}"

    def add_node(self, node: Node) -> Node:
        if node.name in self.graph:
            raise TopologyError(f"a node named {node.name!r} exists already")
        self.graph.add_node(node.name, node=node)
        self._emit(NodeAdded(node))
        return node

    def remove_node(self, name: str) -> tuple[Node, list[Link]]:
        """Remove a node and its links; returns both so an undo can put them back."""
        node = self.node(name)
        self.guard(node=name)
        for link in self.links_of(name):
            self._guard_link(link)
        links = self.links_of(name)
        for link in links:
            self.remove_link(link.name)
        self.graph.remove_node(name)
        self._emit(NodeRemoved(node))
        return node, links

    def update_node(self, name: str, **changes: Any) -> Node:
        """Change node fields (image, memory, pos, services...); checked before it applies."""
        node = self.node(name)
        if set(changes) != {"pos"}:                # moving a locked node on the canvas is fine
            self.guard(node=name)
        if "name" in changes:
            raise TopologyError("use rename_node() to rename")
        if "interfaces" in changes:
            used = self.links_by_iface(name)
            kept = {i.name for i in changes["interfaces"]}
            for iface in node.interfaces:
                if iface.name in used and iface.name not in kept:
                    raise TopologyError(f"interface {name}.{iface.name} carries a link; "
                                        "remove the link first")
        new = dataclasses.replace(node, **changes)  # runs Node's checks
        if new.host != "local" and new.host not in {m.name for m in self.machines}:
            raise TopologyError(f"{name}: no machine named {new.host!r}", "host")
        self.graph.nodes[name]["node"] = new
        self._emit(NodeChanged(name, changes))
        return new

    def rename_node(self, old: str, new: str) -> None:
        node = self.node(old)
        self.guard(node=old)
        if new in self.graph:
            raise TopologyError(f"a node named {new!r} exists already")
        renamed = dataclasses.replace(node, name=new)

        def name(n: str) -> str:
            return new if n == old else n

        # Rebuilt in the same node and edge order (relabelling in place would move the node and
        # its links to the end): the order decides automatic addresses and the file's order,
        # which a rename must not reshuffle.
        g = nx.MultiGraph()
        g.graph.update(self.graph.graph)
        for n, d in self.graph.nodes(data=True):
            g.add_node(name(n), **d)
        g.nodes[new]["node"] = renamed
        for u, v, key, d in self.graph.edges(keys=True, data=True):
            link: Link = d["link"]
            a = dataclasses.replace(link.a, node=new) if link.a.node == old else link.a
            b = dataclasses.replace(link.b, node=new) if link.b.node == old else link.b
            g.add_edge(name(u), name(v), key=key, **{**d, "link": dataclasses.replace(
                link, a=a, b=b)})
        self.graph = g
        self._emit(NodeRenamed(old, new))

    def add_interface(self, node_name: str, iface: Interface | None = None) -> Interface:
        node = self.node(node_name)
        iface = iface or Interface(node.next_interface_name())
        self.update_node(node_name, interfaces=[*node.interfaces, iface])
        return iface

    def free_interface(self, node_name: str) -> str:
        """An interface of that node with no link, adding one if all are taken."""
        node = self.node(node_name)
        used = self.links_by_iface(node_name)
        for iface in node.interfaces:
            if iface.name not in used:
                return iface.name
        return self.add_interface(node_name).name

    def unique_link_name(self, a: str, b: str) -> str:
        names = {link.name for link in self.links}
        stem = f"{a}-{b}"
        if stem not in names:
            return stem
        n = 2
        while f"{stem}-{n}" in names:
            n += 1
        return f"{stem}-{n}"

    def add_link(self, link: Link) -> Link:
        self._guard_link(link)
        problems = self._link_problems(link)
        if problems:
            raise problems[0]
        self.graph.add_edge(link.a.node, link.b.node, key=link.name, link=link)
        self._emit(LinkAdded(link))
        return link

    def connect(self, a: str, b: str, a_iface: str | None = None, b_iface: str | None = None,
                params: DirectionParams | None = None, name: str | None = None) -> Link:
        """Join two nodes, choosing (or adding) free interfaces when none are given.

        Atomic: everything is checked before the first change, so a refused link leaves the
        topology (and its listeners) untouched.
        """
        if a == b:
            self.node(a)
            raise TopologyError(f"link joins {a} to itself")
        for n in (a, b):
            self.guard(node=n)
        a_if, add_a = validation.pick_interface(self, a, a_iface)
        b_if, add_b = validation.pick_interface(self, b, b_iface)
        p = params or DirectionParams()
        link = Link(name or self.unique_link_name(a, b), Endpoint(a, a_if, p),
                    Endpoint(b, b_if, p))
        if any(other.name == link.name for other in self.links):
            raise TopologyError(f"a link named {link.name!r} exists already")
        if add_a:
            self.add_interface(a, Interface(a_if))
        if add_b:
            self.add_interface(b, Interface(b_if))
        return self.add_link(link)

    def set_link_end(self, name: str, which: End | Literal["both"],
                     params: DirectionParams) -> Link:
        """Replace the whole parameter set of one direction (or both): what undo needs."""
        link = self.link(name)
        ends: list[End] = ["a", "b"] if which == "both" else [which]
        diff: dict[str, dict[str, Any]] = {
            e: d for e in ends if (d := params.changes_from(link.end(e).params))}
        if not diff:
            return link
        new = link.with_params(which, params)
        self.graph.edges[link.a.node, link.b.node, name]["link"] = new
        self._emit(LinkChanged(new, diff))
        return new

    def interface_choices(self, name: str, which: End) -> tuple[list[str], str | None]:
        return validation.interface_choices(self, name, which)

    def check_link_iface(self, name: str, which: End, iface: str | None = None
                         ) -> tuple[str, bool]:
        return validation.check_link_iface(self, name, which, iface)

    def set_link_iface(self, name: str, which: End, iface: str | None = None) -> Link:
        """Plug end `which` of link `name` into another interface of the same node: a free
        one, or a new one (the next free name when `iface` is None, or a name the node lacks),
        which is added. Checked before anything changes. The link keeps its name, parameters
        and place (which decides automatic addresses); the interface it leaves stays."""
        wanted, add = self.check_link_iface(name, which, iface)
        link = self.link(name)
        self.guard(node=link.end(which).node, link=name)
        old = link.end(which)
        if wanted == old.iface:
            return link
        if add:
            self.add_interface(old.node, Interface(wanted))
        moved = dataclasses.replace(old, iface=wanted)
        new = (dataclasses.replace(link, a=moved) if which == "a"
               else dataclasses.replace(link, b=moved))
        self.graph.edges[link.a.node, link.b.node, name]["link"] = new
        self._emit(LinkRewired(new, which, old.iface))
        return new

    def remove_link(self, name: str) -> Link:
        link = self.link(name)
        self._guard_link(link)
        self.graph.remove_edge(link.a.node, link.b.node, key=name)
        self._emit(LinkRemoved(link))
        return link

    def set_link_params(self, name: str, which: End | Literal["both"] = "both",
                        **changes: Any) -> Link:
        """Change parameters of one direction or both ('10Mbit' strings are parsed)."""
        link = self.link(name)
        for key in changes:
            self.guard(link=name, param=key)
        ends: list[End] = ["a", "b"] if which == "both" else [which]
        new = link
        diff: dict[str, dict[str, Any]] = {}
        for e in ends:
            try:
                params = link.end(e).params.replace(**changes)
            except LinkParamError as err:
                raise LinkParamError(err.message, f"link {name}: {e}.{err.where}") from None
            new = new.with_params(e, params)
            d = params.changes_from(link.end(e).params)
            if d:
                diff[e] = d
        if not diff:
            return link
        self.graph.edges[link.a.node, link.b.node, name]["link"] = new
        self._emit(LinkChanged(new, diff))
        return new

    def update_meta(self, **changes: Any) -> None:
        """Change the lab's name, description, seed or machines (with an event, for undo)."""
        allowed = {"name", "description", "seed", "machines"}
        unknown = set(changes) - allowed
        if unknown:
            raise TopologyError(f"cannot change {', '.join(sorted(unknown))} of a topology")
        if "machines" in changes:
            names = [m.name for m in changes["machines"]]
            if len(set(names)) != len(names):
                raise TopologyError("machine names must be unique")
            used = {n.host for n in self.nodes} - {"local"}
            missing = used - set(names)
            if missing:
                raise TopologyError(f"nodes are placed on {', '.join(sorted(missing))}; "
                                    "move them first")
            changes["machines"] = list(changes["machines"])
        if "seed" in changes and changes["seed"] is not None and not isinstance(
                changes["seed"], int):
            raise TopologyError(f"seed must be a whole number (got {changes['seed']!r})")
        for key, value in changes.items():
            setattr(self, key, value)
        self._emit(TopologyChanged(changes))

    @staticmethod
    def check_node_name(name: str) -> None:
        """Raise TopologyError if `name` cannot name a node (its form only, not uniqueness)."""
        if not NAME_RE.match(name):
            raise TopologyError(f"node name {name!r} must start with a letter and hold at most "
                                "32 letters, digits, '_' or '-'", "name")

    def subgraph(self, names: Iterable[str]) -> Topology:
        """A new topology with copies of these nodes and the links among them (copy/paste)."""
        return validation.subgraph(self, names)

    # ---- checking ------------------------------------------------------------------
    def _link_problems(self, link: Link, index: int | None = None) -> list[TopologyError]:
        return validation.link_problems(self, link, index)

    def validate(self) -> list[TopologyError]:
        """Every problem of the whole topology (empty when it can run)."""
        return validation.validate(self)

    def address_clash(self, node: str, iface: Interface) -> TopologyError | None:
        """What `validate` would say if `node` had `iface` (in place of its interface of that
        name): its address given to another interface too; None when it has none."""
        return validation.address_clash(self, node, iface)

    def summary_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {k.value: 0 for k in NodeKind}
        for node in self.nodes:
            counts[node.kind.value] += 1
        return counts
