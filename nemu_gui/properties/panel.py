"""The properties panel: shows the form for what is selected on the canvas.

One node → the node form; one link → the link form; nothing → a summary of the lab; several
things → how many. It follows model events, so an undo refreshes the values on show.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QScrollArea, QStackedWidget, QVBoxLayout, QWidget
from shiboken6 import isValid

from engine.errors import TopologyError
from engine.model import (
    LinkAdded,
    LinkChanged,
    LinkRemoved,
    LinkRewired,
    NodeChanged,
    NodeRemoved,
    NodeRenamed,
    TopologyEvent,
)
from engine.units import plural
from nemu_gui.controller import Controller
from nemu_gui.planned import PlannedAddresses
from nemu_gui.properties.link_form import LinkForm
from nemu_gui.properties.node_form import NodeForm
from nemu_gui.scene.topology_scene import TopologyScene


class PropertiesPanel(QScrollArea):
    def __init__(self, controller: Controller, scene: TopologyScene,
                 planned: PlannedAddresses | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.scene = scene
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        self.stack = QStackedWidget()
        self.summary = QLabel()
        self.summary.setObjectName("summary")
        self.summary.setWordWrap(True)
        self.summary.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.summary.setMargin(10)
        self.node_form = NodeForm(controller, planned)
        self.link_form = LinkForm(controller)
        self.many = QLabel()
        self.many.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.many.setMargin(10)
        for w in (self.summary, self.node_form, self.link_form, self.many):
            self.stack.addWidget(w)
        holder = QWidget()
        lay = QVBoxLayout(holder)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.stack)
        self.setWidget(holder)
        scene.selectionChanged.connect(self.follow_selection)
        controller.topologyEvent.connect(self._on_event)
        controller.topologyReset.connect(lambda _t: self.follow_selection())
        self.follow_selection()

    def follow_selection(self) -> None:
        if not isValid(self.scene):       # the scene goes first when the window closes
            return
        nodes, links = self.scene.selected_nodes(), self.scene.selected_links()
        if len(nodes) == 1 and not links:
            self.node_form.show_node(nodes[0])
            self.stack.setCurrentWidget(self.node_form)
        elif len(links) == 1 and not nodes:
            self.link_form.show_link(links[0])
            self.stack.setCurrentWidget(self.link_form)
        elif nodes or links:
            self.many.setText(f"<b>{plural(len(nodes), 'node')}, "
                              f"{plural(len(links), 'link')} selected</b>"
                              "<p>Select one node or one link to edit it.</p>")
            self.stack.setCurrentWidget(self.many)
        else:
            self._show_summary()

    def _show_summary(self) -> None:
        t = self.controller.topology
        counts = ", ".join(plural(n, k) for k, n in t.summary_counts().items() if n)
        desc = f"<p>{t.description}</p>" if t.description else ""
        self.summary.setText(f"<h3>{t.name}</h3>{desc}<p>{counts or 'no nodes yet'}; "
                             f"{plural(len(t.links), 'link')}</p>"
                             "<p style='color:#7f8c8d'>Select a node or a link to edit it.</p>")
        self.stack.setCurrentWidget(self.summary)

    def _on_event(self, event: TopologyEvent) -> None:
        current = self.stack.currentWidget()
        if current is self.node_form:
            if isinstance(event, NodeRenamed) and event.old == self.node_form.node_name:
                self.node_form.node_name = event.new
            if isinstance(event, NodeRemoved) and event.node.name == self.node_form.node_name:
                return
            if isinstance(event, NodeChanged | NodeRenamed):
                self.node_form.refresh()
            elif isinstance(event, LinkAdded | LinkRemoved | LinkRewired) and (
                    event.link.touches(self.node_form.node_name or "")):
                self.node_form.refresh()          # an interface became free or taken
        elif current is self.link_form:
            if isinstance(event, LinkRemoved) and event.link.name == self.link_form.link_name:
                return
            if isinstance(event, LinkChanged) and event.link.name == self.link_form.link_name:
                self.link_form.refresh()
            if isinstance(event, NodeRenamed):
                self.link_form.refresh()
            elif self._frees_or_takes_interfaces(event):
                self.link_form.refresh_ends()
        elif current is self.summary:
            self._show_summary()

    def _frees_or_takes_interfaces(self, event: TopologyEvent) -> bool:
        """Whether `event` may change the interfaces the shown link's ends can move to."""
        name = self.link_form.link_name
        match event:
            case LinkRewired(link=lk) | LinkAdded(link=lk) | LinkRemoved(link=lk):
                nodes = {lk.a.node, lk.b.node}
            case NodeChanged(name=node, changes=changes) if "interfaces" in changes:
                nodes = {node}
            case _:
                return False
        try:
            link = self.controller.topology.link(name or "")
        except TopologyError:        # gone in the same edit (a node deleted with its links)
            return False
        return bool(nodes & {link.a.node, link.b.node})
