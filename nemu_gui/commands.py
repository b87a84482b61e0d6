"""Undoable edits of a Topology (QUndoCommand), addressed by node and link names.

Each command knows how to apply (`do`) and revert (`undo`) one edit through the model's
public methods; the scene redraws from the model's events, so a command never touches items.
The controller applies a command once itself (so a refused edit never reaches the stack) and
pushes it already applied: the first `redo()` the stack makes is then skipped.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from PySide6.QtGui import QUndoCommand

from engine.model import USER_PARAMS, DirectionParams, End, Interface, Link, Node, Topology

Pos = tuple[float, float]
Which = End | Literal["both"]

MERGE_LINK_PARAMS = 1


class ModelCommand(QUndoCommand):
    def __init__(self, topo: Topology, text: str) -> None:
        super().__init__(text)
        self.topo = topo
        self.applied = False     # True: the controller has already done it

    def do(self) -> None:
        raise NotImplementedError

    def revert(self) -> None:
        raise NotImplementedError

    def redo(self) -> None:
        if self.applied:
            self.applied = False
            return
        self.do()

    def undo(self) -> None:
        self.revert()


class AddNodeCommand(ModelCommand):
    def __init__(self, topo: Topology, node: Node) -> None:
        super().__init__(topo, f"add {node.name}")
        self.node = node

    def do(self) -> None:
        self.topo.add_node(self.node)

    def revert(self) -> None:
        self.node, _ = self.topo.remove_node(self.node.name)


class AddLinkCommand(ModelCommand):
    """Put back a complete link (paste); `ConnectCommand` is the drawn one."""

    def __init__(self, topo: Topology, link: Link) -> None:
        super().__init__(topo, f"add link {link.name}")
        self.link = link

    def do(self) -> None:
        self.topo.add_link(self.link)

    def revert(self) -> None:
        self.topo.remove_link(self.link.name)


class ConnectCommand(ModelCommand):
    """Join two nodes on free interfaces; undo also drops interfaces it had to add."""

    def __init__(self, topo: Topology, a: str, b: str) -> None:
        super().__init__(topo, f"link {a} – {b}")
        self.a, self.b = a, b
        self.link: Link | None = None
        self.before: dict[str, list[Interface]] = {}
        self.after: dict[str, list[Interface]] = {}

    def do(self) -> None:
        if self.link is None:                       # first time: let the model choose
            self.before = {n: list(self.topo.node(n).interfaces) for n in (self.a, self.b)}
            try:
                self.link = self.topo.connect(self.a, self.b)
            except Exception:
                self._restore(self.before)
                raise
            self.after = {n: list(self.topo.node(n).interfaces) for n in (self.a, self.b)}
            return
        self._restore(self.after)
        self.topo.add_link(self.link)

    def revert(self) -> None:
        assert self.link is not None
        self.topo.remove_link(self.link.name)
        self._restore(self.before)

    def _restore(self, ifaces: dict[str, list[Interface]]) -> None:
        for name, lst in ifaces.items():
            if self.topo.node(name).interfaces != lst:
                self.topo.update_node(name, interfaces=lst)


class RemoveCommand(ModelCommand):
    """Delete links and nodes (with the links they carry); undo restores all of them."""

    def __init__(self, topo: Topology, nodes: list[str], links: list[str]) -> None:
        what = ", ".join([*nodes, *links])
        super().__init__(topo, f"delete {what if len(what) < 40 else what[:37] + '...'}")
        self.node_names, self.link_names = nodes, links
        self.removed_nodes: list[Node] = []
        self.removed_links: list[Link] = []

    def do(self) -> None:
        self.removed_nodes, self.removed_links = [], []
        for name in self.link_names:
            self.removed_links.append(self.topo.remove_link(name))
        for name in self.node_names:
            node, links = self.topo.remove_node(name)
            self.removed_nodes.append(node)
            self.removed_links.extend(links)

    def revert(self) -> None:
        for node in self.removed_nodes:
            self.topo.add_node(node)
        for link in self.removed_links:
            self.topo.add_link(link)


class MoveNodesCommand(ModelCommand):
    """A drag, an alignment or a distribution: every node from its old to its new place."""

    def __init__(self, topo: Topology, moves: dict[str, tuple[Pos, Pos]],
                 verb: str = "move") -> None:
        names = ", ".join(moves)
        super().__init__(topo, f"{verb} {names if len(names) < 40 else f'{len(moves)} nodes'}")
        self.moves = moves

    def do(self) -> None:
        for name, (_, new) in self.moves.items():
            self.topo.update_node(name, pos=new)

    def revert(self) -> None:
        for name, (old, _) in self.moves.items():
            self.topo.update_node(name, pos=old)


class UpdateNodeCommand(ModelCommand):
    def __init__(self, topo: Topology, name: str, changes: dict[str, Any]) -> None:
        super().__init__(topo, f"change {', '.join(changes)} of {name}")
        self.name = name
        self.changes = changes
        node = topo.node(name)
        self.old = {k: getattr(node, k) for k in changes}

    def do(self) -> None:
        self.topo.update_node(self.name, **self.changes)

    def revert(self) -> None:
        self.topo.update_node(self.name, **self.old)


class RenameNodeCommand(ModelCommand):
    def __init__(self, topo: Topology, old: str, new: str) -> None:
        super().__init__(topo, f"rename {old} to {new}")
        self.old, self.new = old, new

    def do(self) -> None:
        self.topo.rename_node(self.old, self.new)

    def revert(self) -> None:
        self.topo.rename_node(self.new, self.old)


class RemoveInterfaceCommand(ModelCommand):
    """Take a free interface off a node; undo puts it back where it was (same fields, same
    position, so automatic addresses and the file's order come back too). Both directions
    leave alone what is already so: a running lab that refused the removal has put the
    interface back itself (`EngineBridge`), and undoing must not add it twice."""

    def __init__(self, topo: Topology, node: str, iface: str) -> None:
        super().__init__(topo, f"remove interface {node}.{iface}")
        self.node, self.name = node, iface
        ifaces = topo.node(node).interfaces
        self.index = [i.name for i in ifaces].index(iface)
        self.iface = ifaces[self.index]

    def do(self) -> None:
        ifaces = self.topo.node(self.node).interfaces
        if any(i.name == self.name for i in ifaces):
            self.topo.update_node(self.node,
                                  interfaces=[i for i in ifaces if i.name != self.name])

    def revert(self) -> None:
        ifaces = list(self.topo.node(self.node).interfaces)
        if not any(i.name == self.name for i in ifaces):
            ifaces.insert(min(self.index, len(ifaces)), self.iface)
            self.topo.update_node(self.node, interfaces=ifaces)


class SetInterfaceCommand(ModelCommand):
    """Give one interface of a node other fields (address, MAC); undo gives back the old
    ones. An interface gone meanwhile (removed by a later step) is left alone."""

    def __init__(self, topo: Topology, node: str, iface: str, fields: dict[str, Any]) -> None:
        super().__init__(topo, f"set {', '.join(fields)} of {node}.{iface}")
        self.node, self.name = node, iface
        current = topo.node(node).interface(iface)
        assert current is not None
        self.old = {f: getattr(current, f) for f in fields}
        self.new = dict(fields)

    def _set(self, fields: dict[str, Any]) -> None:
        ifaces = self.topo.node(self.node).interfaces
        if any(i.name == self.name for i in ifaces):
            self.topo.update_node(self.node, interfaces=[
                dataclasses.replace(i, **fields) if i.name == self.name else i for i in ifaces])

    def do(self) -> None:
        self._set(self.new)

    def revert(self) -> None:
        self._set(self.old)


class SetLinkIfaceCommand(ModelCommand):
    """Plug one end of a link into another interface of its node (None: a new one); undo
    plugs it back and drops the interface the move had to add."""

    def __init__(self, topo: Topology, link: str, which: End, iface: str | None) -> None:
        end = topo.link(link).end(which)
        super().__init__(topo, f"plug {link} into {end.node}.{iface or 'new interface'}")
        self.link, self.which, self.iface = link, which, iface
        self.node, self.old = end.node, end.iface
        self.before = list(topo.node(end.node).interfaces)

    def do(self) -> None:
        # the first time the model names a new interface; redo asks for that same name
        new = self.topo.set_link_iface(self.link, self.which, self.iface)
        self.iface = new.end(self.which).iface
        self.setText(f"plug {self.link} into {self.node}.{self.iface}")

    def revert(self) -> None:
        self.topo.set_link_iface(self.link, self.which, self.old)
        if self.topo.node(self.node).interfaces != self.before:
            self.topo.update_node(self.node, interfaces=self.before)


class SetLinkParamsCommand(ModelCommand):
    """Change link parameters; successive edits with the same `merge_key` (one slider drag)
    merge into one undo step."""

    def __init__(self, topo: Topology, link: str, which: Which, changes: dict[str, Any],
                 merge_key: object | None = None) -> None:
        super().__init__(topo, f"set {', '.join(changes)} of {link}")
        self.link, self.which, self.changes = link, which, dict(changes)
        self.merge_key = merge_key
        current = topo.link(link)
        self.old: dict[End, DirectionParams] = {"a": current.a.params, "b": current.b.params}

    def do(self) -> None:
        self.topo.set_link_params(self.link, self.which, **self.changes)

    def revert(self) -> None:
        ends: tuple[End, End] = ("a", "b")
        for end in ends:
            old = self.old[end]
            self.topo.set_link_params(self.link, end, **{f: getattr(old, f) for f in USER_PARAMS})

    def id(self) -> int:
        return MERGE_LINK_PARAMS if self.merge_key is not None else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not (isinstance(other, SetLinkParamsCommand) and other.merge_key is not None
                and other.merge_key == self.merge_key and other.link == self.link
                and other.which == self.which):
            return False
        self.changes.update(other.changes)
        self.setText(f"set {', '.join(self.changes)} of {self.link}")
        return True

