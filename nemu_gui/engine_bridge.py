"""Where the run-control layer plugs in: one QObject between the Qt thread and the engine.

The engine runs on its own thread (`engine.runtime.EngineThread`). Whatever it reports comes
back through the signals below, which are connected to the GUI with queued connections, so the
slots always run on the Qt thread however the signal was emitted. This editing-only version
has no engine: `available` is False, the Run actions stay disabled, and nothing is started.

A later run-control layer subclasses or replaces this object, sets `available`, and emits:
- `linkRates(link, tx_bps, rx_bps, utilisation)`: a stats sample (tx = what end a sends);
- `nodeState(node, state, detail)`: stopped / booting / running / crashed;
- `engineState(text)`: the status-bar text ("engine: 2 running, 1 booting");
- `failed(title, detail)`: an engine error, shown as a non-modal notification.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, Signal

from nemu_gui.scene.topology_scene import TopologyScene

NOT_AVAILABLE = "engine not available yet"


class EngineBridge(QObject):
    linkRates = Signal(str, float, float, object)
    nodeState = Signal(str, str, str)
    engineState = Signal(str)
    failed = Signal(str, str)

    available = False

    def attach(self, scene: TopologyScene) -> None:
        """Route live updates to the canvas; queued, so emitting from any thread is safe."""
        q = Qt.ConnectionType.QueuedConnection
        self.linkRates.connect(scene.set_link_rates, q)
        self.nodeState.connect(scene.set_node_state, q)

    def status_text(self) -> str:
        return "engine: not started"
