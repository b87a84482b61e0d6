"""Wires the run-control layer into the window: Run actions, status bar, badges, forwarding.

Owns no engine state (that is `EngineBridge`); it only connects the bridge's queued signals to
widgets and the window's gestures to the bridge, so `main_window.py` stays about editing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QLabel, QProgressBar

from engine.model import Topology
from nemu_gui.engine_bridge import EngineBridge, RunState
from nemu_gui.notifications import Level

if TYPE_CHECKING:
    from nemu_gui.main_window import MainWindow

PER_NODE_TODO = "needs per-node start/stop in the engine (Session has start/stop all only)"


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

    def install(self) -> None:
        w, b, a = self.w, self.bridge, self.w.acts
        sb = w.statusBar()
        sb.insertPermanentWidget(0, self.accel_label)
        sb.addPermanentWidget(self.progress)
        for act in (a.start_selected, a.stop_selected):
            act.setToolTip(f"{act.text()}: {PER_NODE_TODO}")
            act.setStatusTip(PER_NODE_TODO)
        a.start_all.setToolTip("Start every node of the lab (Ctrl+R)")
        a.stop_all.setToolTip("Stop the running lab (Ctrl+Shift+R)")
        a.start_all.triggered.connect(self.start_all)
        a.stop_all.triggered.connect(self.stop_all)
        b.runStateChanged.connect(self._on_run_state)
        b.progress.connect(self._on_progress)
        b.nodeState.connect(lambda *_: self._progress_tooltip())
        b.nodeHealth.connect(w.scene.set_node_health)
        b.info.connect(lambda t, d: w.notify(t, d, Level.INFO))
        w.controller.topologyEvent.connect(b.forward)
        w.controller.topologyReset.connect(self._on_reset)
        self._on_run_state(b.state)

    # ---- actions -------------------------------------------------------------------
    def start_all(self) -> bool:
        t: Topology = self.w.controller.topology
        if not t.nodes:
            self.w.notify("Nothing to start", "Add nodes to the lab first.", Level.INFO)
            return False
        for node in self.w.scene.nodes.values():
            node.set_state("stopped")
        return self.bridge.start_all(t)

    def stop_all(self) -> bool:
        return self.bridge.stop_all()

    # ---- feedback ------------------------------------------------------------------
    def _on_run_state(self, state: RunState) -> None:
        a = self.w.acts
        a.start_all.setEnabled(state is RunState.IDLE)
        a.stop_all.setEnabled(state in (RunState.STARTING, RunState.RUNNING))
        a.start_selected.setEnabled(False)
        a.stop_selected.setEnabled(False)
        self.progress.setVisible(state in (RunState.STARTING, RunState.STOPPING))
        if state is RunState.STOPPING:
            self.progress.setRange(0, 0)              # busy
            self.progress.setFormat("stopping…")
        if state is RunState.IDLE:
            self.w.scene.clear_live()
        b = self.bridge
        if b.accel:
            self.accel_label.setText(b.accel.upper())
            self.accel_label.setToolTip(b.accel_reason)
        self.accel_label.setStyleSheet(
            "color: #b9770e; font-weight: bold;" if b.accel == "tcg" else
            "color: #1e8449; font-weight: bold;")

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

