"""Wires the run-control layer into the window: Run actions, status bar, badges, forwarding.

Owns no engine state (that is `EngineBridge`); it only connects the bridge's queued signals to
widgets and the window's gestures to the bridge, so `main_window.py` stays about editing.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QDockWidget, QInputDialog, QLabel, QMenu, QProgressBar
from shiboken6 import isValid

from engine.errors import TopologyError
from engine.lab import holder_of
from engine.model import Topology
from engine.session.session import running_labs
from nemu_gui.console_dock import ConsoleDock, ConsoleTab
from nemu_gui.context_menus import CanvasMenus
from nemu_gui.engine_bridge import EngineBridge, RunState
from nemu_gui.notifications import Level
from nemu_gui.properties.link_form import applied_summary
from nemu_gui.stats_dock import StatsDock
from nemu_gui.summary_dock import SummaryDock

__all__ = ["RunControls"]

CONSOLE_ROWS = 21          # a console is opened with room for this many lines, if it fits

if TYPE_CHECKING:
    from nemu_gui.main_window import MainWindow



class RunControls(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.w = window
        self.bridge: EngineBridge = window.bridge
        self.progress = QProgressBar()
        self.progress.setObjectName("bootProgress")
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.accel_label = QLabel()
        self.accel_label.setObjectName("accelLabel")
        self.consoles = ConsoleDock(self.bridge)
        self.stats = StatsDock()
        self.summary = SummaryDock(window.controller, self.bridge, window.planned)
        self.menus = CanvasMenus(window)
        self.docks: dict[str, QDockWidget] = {}

    def install(self) -> None:
        w, b, a = self.w, self.bridge, self.w.acts
        self._install_docks()
        self.menus.install()
        b.linkStats.connect(self.stats.add)
        self.consoles.failed.connect(lambda t, d: w.notify(t, d, Level.WARNING))
        w.scene.selectionChanged.connect(self._follow_selection)
        sb = w.statusBar()
        sb.insertPermanentWidget(0, self.accel_label)
        sb.addPermanentWidget(self.progress)
        a.start_selected.triggered.connect(lambda: self._selected("start"))
        a.stop_selected.triggered.connect(lambda: self._selected("stop"))
        a.start_all.triggered.connect(self.start_all)
        a.stop_all.triggered.connect(self.stop_all)
        a.attach_lab.triggered.connect(lambda: self.attach_dialog())
        b.attached.connect(self._show_attached)
        b.labHeld.connect(self._held)
        b.lostControl.connect(lambda lab, who: w.notify(
            f"Lab {lab} was taken over", f"{who} controls it now; it keeps running there. "
            "This window no longer controls it.", Level.WARNING))
        b.interfaceKept.connect(lambda node, iface, _why:
                                w.controller.forget_refused_removal(node, iface))
        b.runStateChanged.connect(self._on_run_state)
        b.progress.connect(self._on_progress)
        b.nodeState.connect(lambda *_: self._progress_tooltip())
        b.nodeHealth.connect(w.scene.set_node_health)
        b.linkApplied.connect(w.properties.link_form.show_applied)
        b.linkApplied.connect(self._applied_status)
        b.info.connect(lambda t, d: w.notify(t, d, Level.INFO))
        w.controller.topologyEvent.connect(b.forward)
        w.controller.topologyReset.connect(self._on_reset)
        self._on_run_state(b.state)

    def _install_docks(self) -> None:
        w = self.w
        bottom = Qt.DockWidgetArea.BottomDockWidgetArea
        for title, widget in (("Consoles", self.consoles), ("Statistics", self.stats),
                              ("Summary", self.summary)):
            self.docks[title] = w._dock(title, widget, bottom)
        w.tabifyDockWidget(self.docks["Consoles"], self.docks["Statistics"])
        w.tabifyDockWidget(self.docks["Statistics"], self.docks["Summary"])
        self.docks["Summary"].raise_()
        w.resizeDocks([self.docks["Consoles"]], [230], Qt.Orientation.Vertical)
        for act in w.menuBar().actions():
            menu = act.menu()
            if act.text() == "&View" and isinstance(menu, QMenu):
                for dock in self.docks.values():
                    menu.addAction(dock.toggleViewAction())

    def _follow_selection(self) -> None:
        """Plot every selected link; a selection without links keeps the plot as it is."""
        if not isValid(self.w.scene):       # the scene goes first when the window closes
            return
        links = self.w.scene.selected_links()
        if links:
            self._show_in_stats(*links)

    def _show_in_stats(self, *names: str) -> None:
        topo = self.w.controller.topology
        for name in names:
            link = topo.link(name)
            self.stats.set_ends(name, link.a.node, link.b.node)
        self.stats.show_links(names)

    def plot_link(self, name: str) -> None:
        self._show_in_stats(name)
        self.docks["Statistics"].show()
        self.docks["Statistics"].raise_()

    def open_console(self, node: str) -> object:
        self.docks["Consoles"].show()
        self.docks["Consoles"].raise_()
        tab = self.consoles.open(node)
        QTimer.singleShot(0, self._console_room)       # once the new tab is laid out
        return tab

    def _console_room(self, rows: int = CONSOLE_ROWS, tries: int = 3) -> None:
        """Make the bottom docks tall enough for a usable shell (`rows` lines), within
        reason: at most 55 % of the window, so the canvas stays. The docks' layout decides
        the final height, so it is measured again after each step."""
        dock = self.docks["Consoles"]
        tab = self.consoles.currentWidget()
        if not isinstance(tab, ConsoleTab) or tries <= 0:
            return
        term = tab.terminal
        missing = rows - term.term.lines
        cap = int(self.w.height() * 0.55)
        if missing <= 0 or dock.height() >= cap:
            return
        want = min(dock.height() + int(missing * term.cell_h) + 2, cap)
        self.w.resizeDocks([dock], [want], Qt.Orientation.Vertical)
        QTimer.singleShot(0, lambda: self._console_room(rows, tries - 1))

    # ---- actions -------------------------------------------------------------------
    def start_all(self) -> bool:
        t: Topology = self.w.controller.topology
        if not t.nodes:
            self.w.notify("Nothing to start", "Add nodes to the lab first.", Level.INFO)
            return False
        for node in self.w.scene.nodes.values():
            node.set_state("stopped")
        self.stats.clear()
        return self.bridge.start_all(t)

    def stop_all(self) -> bool:
        return self.bridge.stop_all()

    def ask_session(self, names: list[str]) -> str:
        """Which running lab to take over ('' for none); replaceable in tests."""
        name, ok = QInputDialog.getItem(self.w, "Attach to a running lab",
                                        "Labs running on this machine:", names, 0, False)
        return name if ok else ""

    def attach_dialog(self, ask_if_one: bool = True) -> bool:
        labs = {}
        for sdir in running_labs():
            who = holder_of(sdir)
            labs[sdir.name if who is None else
                 f"{sdir.name} — controlled by {who.describe()}"] = sdir.name
        if not labs:
            self.w.notify("No lab is running", "Start one here, or with `nemu up FILE`; it "
                          "then appears in this list.", Level.INFO)
            return False
        names = list(labs)
        choice = names[0] if len(names) == 1 and not ask_if_one else self.ask_session(names)
        return bool(choice) and self.attach(labs[choice])

    def attach(self, name: str, take_over: bool = False) -> bool:
        """Take over the running session `name`: its topology replaces the lab on the canvas
        (after asking about unsaved work). One another window controls is refused, with a
        notification naming it and offering to take it over (`take_over`)."""
        if self.bridge.state is not RunState.IDLE:
            self.w.notify("A lab is running here", "Stop it before attaching to another.",
                          Level.INFO)
            return False
        if not self.w.file_menu.confirm_discard("attach to a running lab"):
            return False
        self.stats.clear()
        return self.bridge.attach_running(name, take_over)

    def _held(self, lab: str, who: str) -> None:
        self.w.notify(f"Lab {lab} is controlled by another window",
                      f"{who} controls it. Take it over to control it here: it keeps "
                      "running, and the other window lets go of it.", Level.WARNING,
                      {"Take Over": functools.partial(self.attach, lab, True)})

    def offer_running_labs(self) -> None:
        """At start-up: a lab still running without a controller (this window's lab when it
        crashed, or one from `nemu up`) is offered for taking over, never taken silently. A
        lab another live window controls is not offered (Attach to Running Lab… names it)."""
        for sdir in running_labs():
            if holder_of(sdir) is not None:
                continue
            self.w.notifications.notify(
                f"Lab {sdir.name} is still running",
                "Its machines run without a window. Attach to see and control it here, or "
                f"stop it with `nemu down -s {sdir.name}`.", Level.INFO,
                {"Attach": functools.partial(self.attach, sdir.name)})

    def _show_attached(self, topology: Topology) -> None:
        self.w.document.replace(topology, None, dirty=True)   # not saved anywhere yet
        self.w.view.fit_all()

    # ---- feedback ------------------------------------------------------------------
    def _on_run_state(self, state: RunState) -> None:
        a = self.w.acts
        busy = {RunState.STARTING: "the lab is starting", RunState.STOPPING: "the lab is "
                "stopping", RunState.RUNNING: "a lab is running here"}.get(state, "")
        not_running = "" if state is RunState.RUNNING else (
            busy if state is not RunState.IDLE else "no lab is running")
        stoppable = "" if state in (RunState.STARTING, RunState.RUNNING) else (
            busy or "no lab is running")
        for act, tip, why_not in (
                (a.start_all, "Start every node of the lab", busy),
                (a.stop_all, "Stop the running lab", stoppable),
                (a.start_selected, "Start the selected stopped machines of the running lab",
                 not_running),
                (a.stop_selected, "Stop the selected machines of the running lab", not_running),
                (a.attach_lab, "Take over a lab started elsewhere (nemu up, or a window that "
                 "closed without stopping it)", busy and f"{busy}; stop it first")):
            keys = act.shortcut().toString()
            text = tip + (f" ({keys})" if keys else "") + (f": not now, {why_not}"
                                                           if why_not else "")
            act.setEnabled(not why_not)
            act.setToolTip(text)
            act.setStatusTip(text)
        self.progress.setVisible(state in (RunState.STARTING, RunState.STOPPING))
        if state is RunState.STOPPING:
            self.progress.setRange(0, 0)              # busy
            self.progress.setFormat("stopping…")
        if state is RunState.IDLE:
            self.w.scene.clear_live()
            self.consoles.lab_stopped()
            self.w.properties.link_form.clear_applied()
        b = self.bridge
        if b.accel:
            self.accel_label.setText(b.accel.upper())
            self.accel_label.setToolTip(b.accel_reason)
        self.accel_label.setStyleSheet(
            "color: #b9770e; font-weight: bold;" if b.accel == "tcg" else
            "color: #1e8449; font-weight: bold;")

    def _applied_status(self, link: str, changes: dict[str, dict[str, object]]) -> None:
        """What the running lab confirmed, in the status bar too: the form's own line may
        be below the fold while a slider is dragged."""
        try:
            lk = self.w.controller.topology.link(link)
        except TopologyError:
            return                          # deleted meanwhile
        parts = []
        for end, fields in sorted(changes.items()):
            src, dst = (lk.a.node, lk.b.node) if end == "a" else (lk.b.node, lk.a.node)
            parts.append(f"{src} → {dst}: {applied_summary(fields)}")
        self.w.statusBar().showMessage(f"✓ {link} in the running lab: " + "; ".join(parts),
                                       6000)

    def _selected(self, verb: str) -> None:
        for node in self.w.scene.selected_nodes():
            if verb in self.bridge.actions.node_verbs(node):
                self.bridge.actions.node_action(node, verb)

    def _on_progress(self, done: int, total: int, message: str) -> None:
        if self.bridge.state is not RunState.STARTING:
            return
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)
        self.progress.setFormat(f"%v/%m {message[:40]}")
        self.w.statusBar().showMessage(message, 5000)
        self._progress_tooltip()

    def _progress_tooltip(self) -> None:
        states = self.bridge.node_states
        self.progress.setToolTip("<br>".join(f"{n}: {s}" for n, s in sorted(states.items())))

    def _on_reset(self, _topology: Topology) -> None:
        if self.bridge.session is not None:
            self.w.notify("The running lab was stopped",
                          "Another lab replaced the one that was running.", Level.INFO)
            self.bridge.stop_all()

