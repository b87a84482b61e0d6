"""Right-click menus on the canvas: what can be done to one node, one link, or a selection.

Menus are built fresh for each click from the current state (running or not, machine or
fabric, link up or down, how many nodes are selected), by `node_menu`, `link_menu` and
`selection_menu`, which tests call directly. Every
action goes through the controller (edits, so undo and the running lab follow) or the bridge
(engine operations); nothing here blocks.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QPoint, Qt
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMenu

from engine.model import DirectionParams
from nemu_gui.lab_actions import NODE_VERBS
from nemu_gui.notifications import Level
from nemu_gui.scene.link_item import LinkItem
from nemu_gui.scene.node_item import NodeItem

if TYPE_CHECKING:
    from engine.session.session import ExecResult
    from nemu_gui.main_window import MainWindow


class CanvasMenus(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.w = window
        self.captures: dict[tuple[str, str], Path] = {}     # (link, end) -> file

    def install(self) -> None:
        view = self.w.view
        view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        view.customContextMenuRequested.connect(self._requested)
        self.w.bridge.commandDone.connect(self._command_done)
        self.w.bridge.runStateChanged.connect(lambda _s: self.captures.clear())

    def _requested(self, pos: QPoint) -> None:
        view = self.w.view
        item = view.itemAt(pos)
        while item is not None and not isinstance(item, NodeItem | LinkItem):
            item = item.parentItem()
        if isinstance(item, NodeItem | LinkItem) and not item.isSelected():
            # the menu acts on this item: show it selected (its properties, its plot), as a
            # left click would; a right click inside a selection keeps it (align, delete)
            self.w.scene.select(*(([item.name], []) if isinstance(item, NodeItem)
                                  else ([], [item.name])))
        if isinstance(item, NodeItem):
            menu = self.node_menu(item.name)
        elif isinstance(item, LinkItem):
            menu = self.link_menu(item.name)
        elif len(self.w.scene.selected_nodes()) >= 2:
            menu = self.selection_menu()
        else:
            return
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.popup(view.viewport().mapToGlobal(pos))

    @property
    def _running(self) -> bool:
        return self.w.bridge.running

    # ---- nodes ---------------------------------------------------------------------
    def node_menu(self, name: str) -> QMenu:
        w = self.w
        node = w.controller.topology.node(name)
        live = self._running and node.kind.is_machine and \
            w.bridge.node_states.get(name) == "running"
        menu = QMenu(w)
        menu.setToolTipsVisible(True)
        console = menu.addAction("Console", lambda: w.run_controls.open_console(name))
        external = menu.addAction("Open in External Terminal",
                                  lambda: w.run_controls.consoles.open_external(name))
        run = menu.addAction("Run Command…", lambda: self.ask_command(name))
        for act in (console, external, run):
            act.setEnabled(live)
        menu.addSeparator()
        verbs = w.bridge.actions.node_verbs(name)
        for verb in NODE_VERBS:
            act = menu.addAction(verb.capitalize(),
                                 partial(w.bridge.actions.node_action, name, verb))
            act.setEnabled(verb in verbs)
        selected = w.scene.selected_nodes()
        if name in selected and len(selected) >= 2:
            menu.addSeparator()
            w.add_align_menu(menu)
        menu.addSeparator()
        menu.addAction("Properties", lambda: self._select(nodes=[name]))
        return menu

    def selection_menu(self) -> QMenu:
        """Right-click beside several selected nodes: arrange them."""
        menu = QMenu(self.w)
        self.w.add_arrange_actions(menu)
        menu.addSeparator()
        menu.addAction(self.w.acts.delete)
        return menu

    def ask_command(self, node: str) -> None:
        dlg = QInputDialog(self.w)
        dlg.setWindowTitle(f"Run in {node}")
        dlg.setLabelText(f"Command to run in {node} (as root):")
        dlg.setTextValue("ip -br addr")
        dlg.textValueSelected.connect(lambda cmd: self.w.bridge.actions.run_command(node, cmd)
                                      if cmd.strip() else None)
        dlg.open()                                  # not modal to the event loop

    def _command_done(self, node: str, command: str, result: ExecResult) -> None:
        out = (result.stdout + result.stderr).decode(errors="replace").strip()
        level = Level.INFO if result.exitcode == 0 else Level.WARNING
        self.w.notify(f"{node}$ {command}  (exit {result.exitcode})", out[-2000:], level)

    # ---- links ---------------------------------------------------------------------
    def link_menu(self, name: str) -> QMenu:
        w = self.w
        link = w.controller.topology.link(name)
        running = self._running
        menu = QMenu(w)
        menu.setToolTipsVisible(True)
        capture = menu.addMenu("Capture to pcap File")
        capture.setEnabled(running)
        for end, src, dst in (("a", link.a.node, link.b.node), ("b", link.b.node, link.a.node)):
            if (name, end) in self.captures:
                capture.addAction(f"Stop capturing {src} → {dst}", self._stopper(name, end))
            else:
                capture.addAction(f"{src} → {dst}…", self._asker(name, end))
        shark = shutil.which("wireshark")
        ws = menu.addAction("Open in Wireshark",
                            lambda: w.bridge.actions.wireshark(name, "a", shark or "wireshark"))
        ws.setEnabled(running and shark is not None)
        if shark is None:
            ws.setToolTip("Wireshark is not installed")
        menu.addSeparator()
        up = link.a.params.up and link.b.params.up
        menu.addAction("Set Link Down" if up else "Set Link Up",
                       lambda: w.controller.set_link_params(name, "both", up=not up))
        menu.addAction("Reset Parameters", lambda: self.reset_link(name))
        menu.addAction("Plot", lambda: w.run_controls.plot_link(name))
        menu.addSeparator()
        menu.addAction("Properties", lambda: self._select(links=[name]))
        return menu

    def _stopper(self, link: str, end: str) -> Callable[[], None]:
        return lambda: self.stop_capture(link, end)

    def _asker(self, link: str, end: str) -> Callable[[], None]:
        return lambda: self.ask_capture(link, end)

    def ask_capture(self, link: str, end: str) -> None:
        s = self.w.bridge.session
        start = str(s.dir.root / f"{link}-{end}.pcap") if s is not None else f"{link}.pcap"
        path, _ = QFileDialog.getSaveFileName(self.w, "Capture to file", start,
                                              "pcap files (*.pcap)")
        if path:
            self.capture(link, end, Path(path))

    def capture(self, link: str, end: str, path: Path) -> None:
        self.captures[(link, end)] = path
        self.w.bridge.actions.capture(link, end, path, True)

    def stop_capture(self, link: str, end: str) -> None:
        path = self.captures.pop((link, end), None)
        if path is not None:
            self.w.bridge.actions.capture(link, end, path, False)

    def reset_link(self, name: str) -> None:
        """Back to the parameters the lab started with (a perfect wire when not running)."""
        w = self.w
        link = w.controller.topology.link(name)
        started = w.bridge.started_params(name)
        w.controller.undo_stack.beginMacro(f"reset {name}")
        try:
            for end in ("a", "b"):
                want = started[end] if started else DirectionParams()
                diff = want.changes_from(link.end(end).params)
                if diff:
                    w.controller.set_link_params(name, end, **diff)
        finally:
            w.controller.undo_stack.endMacro()

    def _select(self, nodes: list[str] | None = None, links: list[str] | None = None) -> None:
        self.w.scene.select(nodes or [], links or [])
        self.w.properties_dock.show()
        self.w.properties_dock.raise_()
