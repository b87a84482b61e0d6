"""Turns the user's intents (carrying node and link names) into undoable model edits.

The controller owns the Topology being edited and its QUndoStack. It re-emits the model's
change events as a Qt signal, so the scene and the properties dock follow every change however
it was made (a gesture, undo/redo, a file load). A refused edit pushes nothing and is reported
through `problem` with the model's own message.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from engine import topofile
from engine.errors import NemuError, TopologyError
from engine.model import End, Endpoint, Link, Node, NodeKind, Topology
from nemu_gui.arrange import Arrangement, arrange
from nemu_gui.commands import (
    AddLinkCommand,
    AddNodeCommand,
    ConnectCommand,
    ModelCommand,
    MoveNodesCommand,
    RemoveCommand,
    RemoveInterfaceCommand,
    RenameNodeCommand,
    SetInterfaceCommand,
    SetLinkIfaceCommand,
    SetLinkParamsCommand,
    UpdateNodeCommand,
    Which,
)
from nemu_gui.scene.style import KIND_STEM

Pos = tuple[float, float]

PASTE_OFFSET = 40.0


class Controller(QObject):
    topologyEvent = Signal(object)       # an engine.model event, after the model changed
    topologyReset = Signal(object)       # a new Topology replaced the old one
    problem = Signal(str)                # an edit was refused: the model's message

    def __init__(self, topology: Topology | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)
        self._topology = topology or Topology()
        self._unsubscribe = self._topology.subscribe(self.topologyEvent.emit)

    @property
    def topology(self) -> Topology:
        return self._topology

    def set_topology(self, topology: Topology) -> None:
        """Edit another topology (new, open, example); the undo history starts afresh."""
        self._unsubscribe()
        self.undo_stack.clear()
        self._topology = topology
        self._unsubscribe = topology.subscribe(self.topologyEvent.emit)
        self.topologyReset.emit(topology)

    def _run(self, cmd: ModelCommand) -> bool:
        try:
            cmd.do()
        except (NemuError, ValueError) as e:
            self.problem.emit(e.message if isinstance(e, TopologyError) else str(e))
            return False
        cmd.applied = True
        self.undo_stack.push(cmd)
        return True

    def forget_refused_removal(self, node: str, iface: str) -> bool:
        """A running lab refused to take `iface` off `node` (or to give it a new address or
        MAC) and the model has it back as the lab has it: that edit leaves the history (when
        it is the last step), so the next undo undoes the edit before it instead of a step
        that changes nothing."""
        cmd = self.undo_stack.command(self.undo_stack.index() - 1)
        if not (isinstance(cmd, RemoveInterfaceCommand | SetInterfaceCommand)
                and (cmd.node, cmd.name) == (node, iface)):
            return False
        cmd.setObsolete(True)
        self.undo_stack.undo()       # an obsolete command is dropped, not undone
        return True

    # ---- nodes ---------------------------------------------------------------------
    def add_node(self, kind: NodeKind, pos: Pos) -> str | None:
        name = self._topology.unique_name(KIND_STEM[kind])
        node = Node(name, kind, [], pos=pos)
        return name if self._run(AddNodeCommand(self._topology, node)) else None

    def move_nodes(self, moves: dict[str, tuple[Pos, Pos]]) -> bool:
        return self._run(MoveNodesCommand(self._topology, moves))

    def arrange_nodes(self, names: list[str], how: Arrangement) -> bool:
        """Align or distribute `names` as one undoable move; False when nothing moves
        (too few nodes, or already in place), and then nothing is pushed."""
        old = {n: self._topology.node(n).pos for n in names}
        new = arrange(old, how)
        if not new:
            return False
        moves = {n: (old[n], p) for n, p in new.items()}
        return self._run(MoveNodesCommand(self._topology, moves, how.value))

    def rename_node(self, old: str, new: str) -> bool:
        if old == new:
            return True
        try:
            dataclasses.replace(self._topology.node(old), name=new)   # checks the name
        except TopologyError as e:
            self.problem.emit(e.message)
            return False
        return self._run(RenameNodeCommand(self._topology, old, new))

    def update_node(self, name: str, **changes: Any) -> bool:
        node = self._topology.node(name)
        changes = {k: v for k, v in changes.items() if getattr(node, k) != v}
        if not changes:
            return True
        return self._run(UpdateNodeCommand(self._topology, name, changes))

    def interface_problem(self, node: str, iface: str, **fields: Any) -> str | None:
        """Why `node`.`iface` cannot take these fields (address, MAC), in the words the file
        check uses (the model's own validators: the interface's, then the lab's clash
        check), or None when it can."""
        current = self._topology.node(node).interface(iface)
        if current is None:
            return f"{node} has no interface {iface}"
        try:
            new = dataclasses.replace(current, **fields)
        except TopologyError as e:
            return f"{node}.{iface}: {e.message}"
        clash = self._topology.address_clash(node, new)
        return None if clash is None else f"{node}.{iface}: {clash.message}"

    def set_interface(self, node: str, iface: str, **fields: Any) -> bool:
        """Set an interface's address and/or MAC (None: nemu chooses); one undo step. A
        refused value pushes nothing and says why through `problem`."""
        current = self._topology.node(node).interface(iface)
        if current is not None:
            fields = {k: v for k, v in fields.items() if getattr(current, k) != v}
            if not fields:
                return True
        problem = self.interface_problem(node, iface, **fields)
        if problem is not None:
            self.problem.emit(problem)
            return False
        return self._run(SetInterfaceCommand(self._topology, node, iface, fields))

    def remove_interface(self, node: str, iface: str) -> bool:
        """Take a free interface off `node` (one that carries a link is refused by the
        model, with its message); one undo step."""
        if self._topology.node(node).interface(iface) is None:
            self.problem.emit(f"{node} has no interface {iface}")
            return False
        return self._run(RemoveInterfaceCommand(self._topology, node, iface))

    # ---- links ---------------------------------------------------------------------
    def connect_nodes(self, a: str, b: str) -> str | None:
        cmd = ConnectCommand(self._topology, a, b)
        if not self._run(cmd):
            return None
        assert cmd.link is not None
        return cmd.link.name

    def set_link_params(self, link: str, which: Which, merge_key: object | None = None,
                        **changes: Any) -> bool:
        return self._run(SetLinkParamsCommand(self._topology, link, which, changes, merge_key))

    def set_link_iface(self, link: str, which: End, iface: str | None) -> bool:
        """Plug end `which` of `link` into `iface` of its node (None: a new interface)."""
        if iface == self._topology.link(link).end(which).iface:
            return True
        return self._run(SetLinkIfaceCommand(self._topology, link, which, iface))

    # ---- deleting, copy and paste --------------------------------------------------
    def delete(self, nodes: list[str], links: list[str]) -> bool:
        if not nodes and not links:
            return False
        gone = set(nodes)
        # links of deleted nodes go with their nodes
        links = [lk for lk in links
                 if not any(self._topology.link(lk).touches(n) for n in gone)]
        return self._run(RemoveCommand(self._topology, nodes, links))

    def copy_text(self, nodes: list[str]) -> str:
        """The selected nodes and the links between them, as a topology file's text."""
        part = Topology(name="clipboard")
        chosen = set(nodes)
        for name in nodes:
            part.add_node(dataclasses.replace(self._topology.node(name)))
        for link in self._topology.links:
            if link.a.node in chosen and link.b.node in chosen:
                part.add_link(link)
        return topofile.dumps(part)

    def paste_text(self, text: str, offset: float = PASTE_OFFSET) -> list[str]:
        """Add a copied part under fresh names, shifted by `offset`; one undo step.
        Addresses and MACs are dropped so the copy never clashes with its original."""
        try:
            part = topofile.loads(text, "clipboard")
        except (NemuError, ValueError) as e:
            self.problem.emit(f"the clipboard holds no nemu nodes ({e})")
            return []
        if not part.nodes:
            return []
        renamed: dict[str, str] = {}
        self.undo_stack.beginMacro(f"paste {len(part.nodes)} node(s)")
        try:
            for node in part.nodes:
                stem = re.sub(r"\d+$", "", node.name) or node.name
                new = self._topology.unique_name(stem)
                ifaces = [dataclasses.replace(i, address=None, mac=None)
                          for i in node.interfaces]
                copy = dataclasses.replace(node, name=new, interfaces=ifaces,
                                           pos=(node.pos[0] + offset, node.pos[1] + offset))
                if self._run(AddNodeCommand(self._topology, copy)):
                    renamed[node.name] = new
            for link in part.links:
                if link.a.node not in renamed or link.b.node not in renamed:
                    continue
                a, b = renamed[link.a.node], renamed[link.b.node]
                self._run(AddLinkCommand(self._topology, Link(
                    self._topology.unique_link_name(a, b),
                    Endpoint(a, link.a.iface, link.a.params),
                    Endpoint(b, link.b.iface, link.b.params))))
        finally:
            self.undo_stack.endMacro()
        return list(renamed.values())
