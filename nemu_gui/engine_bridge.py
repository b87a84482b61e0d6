"""The one QObject between the Qt thread and the engine: a thread adapter.

The engine runs on its own asyncio thread (`engine.runtime.EngineThread`) and is driven through
its façade, `engine.lab.Lab`. The Qt thread only submits coroutines there and never waits for
them. What comes back (session events, finished futures) is posted through one queued signal
(`_posted`) and handled on the Qt thread, where the public signals below are emitted, so every
slot runs on the Qt thread whatever connection type its owner chose.

Lifecycle: idle -> start_all() -> starting -> running -> stop_all() -> stopping -> idle.
A lab another controller started (`nemu up`, or a window that crashed) is taken over with
attach_running() (idle -> starting -> running); quitting leaves such a lab running. Edits of
the canvas model while running are frozen here and handed to the lab (`forward`), which owns
their order and coalescing; what it refuses comes back as events (an interface a running
machine keeps is put back into the canvas model: `bridge_events`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import enum
from collections.abc import Callable, Coroutine
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

from engine import topofile
from engine.lab import ControlLost, Lab, LabHeld, freeze
from engine.model import NodeAdded, NodeRemoved, NodeRenamed, Topology, TopologyEvent
from engine.runtime import EngineThread
from engine.session.events import NodeState, SessionEvent
from engine.session.session import Session
from nemu_gui import bridge_events
from nemu_gui.lab_actions import LabActions
from nemu_gui.scene.topology_scene import TopologyScene

CONTROLLER = "nemu-gui"     # what a window's claim on its lab calls it

# engine NodeState -> the badge names the canvas knows
BADGE = {NodeState.STOPPED: "stopped", NodeState.STARTING: "booting",
         NodeState.RUNNING: "running", NodeState.STOPPING: "stopping",
         NodeState.CRASHED: "crashed"}


class RunState(enum.Enum):
    IDLE = "idle"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"


class EngineBridge(QObject):
    linkRates = Signal(str, float, float, object)   # link, a->b bps, b->a bps, utilisation
    linkStats = Signal(object)                      # engine.stats.LinkStats (plots, drops)
    nodeState = Signal(str, str, str)               # node, badge, detail
    nodeHealth = Signal(str, float, int)            # node, cpu %, rss bytes
    linkApplied = Signal(str, object)               # link, {end: {field: value}} confirmed
    progress = Signal(int, int, str)                # done, total, message
    runStateChanged = Signal(object)                # RunState
    engineState = Signal(str)                       # status-bar text
    failed = Signal(str, str)                       # title, detail
    info = Signal(str, str)                         # title, detail (non-modal, fades)
    commandDone = Signal(str, str, object)          # node, command, ExecResult
    interfaceKept = Signal(str, str, str)           # node, interface, the lab's reason
    attached = Signal(object)                       # Topology: the attached lab, for the canvas
    labHeld = Signal(str, str)                      # session, its controller: attach refused
    lostControl = Signal(str, str)                  # session, who took it over from here
    _posted = Signal(object)                        # a callable to run on the Qt thread

    available = True

    def __init__(self, parent: QObject | None = None, engine: EngineThread | None = None,
                 debounce_ms: int = 100, stats_hz: float = 2.0) -> None:
        super().__init__(parent)
        self._engine = engine
        self._own_engine = engine is None
        self.lab: Lab | None = None
        self.session: Session | None = None
        self.state = RunState.IDLE
        self.node_states: dict[str, str] = {}
        self.accel = ""
        self.accel_reason = ""
        self.stats_hz = stats_hz
        self.debounce = debounce_ms / 1000
        self._lock: asyncio.Lock | None = None          # orders calls on the loop
        self._listening_to: Session | None = None
        self._posted.connect(self._run_posted, Qt.ConnectionType.QueuedConnection)
        self._started_topo: Topology | None = None      # the lab as it was started
        # the model the canvas edits: what the running lab refuses to change is put back there
        self.canvas_topology: Topology | None = None
        self.started_elsewhere = False                  # attached: quitting leaves it running
        self.actions = LabActions(self)                 # one-off requests (menus, docks)

    # ---- plumbing ------------------------------------------------------------------
    def attach(self, scene: TopologyScene) -> None:
        """Route live updates to the canvas. Direct connections: both live on the Qt thread,
        and a badge must be on the canvas before the run state that follows it is announced."""
        self.linkRates.connect(scene.set_link_rates)
        self.nodeState.connect(scene.set_node_state)
        self.linkStats.connect(lambda st: scene.flash_link(st.link)
                               if st.a_to_b.dropping or st.b_to_a.dropping else None)

    def _post(self, fn: Callable[[], object]) -> None:
        """From any thread: run `fn` on the Qt thread."""
        self._posted.emit(fn)

    def _run_posted(self, fn: Callable[[], object]) -> None:
        fn()

    @property
    def engine(self) -> EngineThread:
        if self._engine is None:
            self._engine = EngineThread("nemu-gui-engine")
        if not self._engine.running:
            self._engine.start()
        return self._engine

    def submit(self, coro: Coroutine[Any, Any, Any], what: str,
               done: Callable[[Any], object] | None = None, ordered: bool = False
               ) -> concurrent.futures.Future[Any]:
        """Run `coro` on the engine; `done(result)` runs on the Qt thread; an exception
        becomes a `failed` notification titled `what`. `ordered` runs it after every earlier
        ordered call."""
        if ordered:
            coro = self._in_order(coro)
        fut = self.engine.submit(coro)

        def finished(f: concurrent.futures.Future[Any]) -> None:
            if f.cancelled():
                return
            err = f.exception()
            if err is not None:
                self._post(lambda: self.failed.emit(what, str(err) or type(err).__name__))
            elif done is not None:
                result = f.result()
                self._post(lambda: done(result))
        fut.add_done_callback(finished)
        return fut

    async def _in_order(self, coro: Coroutine[Any, Any, Any]) -> Any:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            return await coro

    def _listen(self, s: Session) -> None:
        """Engine thread: the session's events come to the Qt thread (once per session)."""
        if self._listening_to is not s:
            s.subscribe(self._on_session_event)
            self._listening_to = s

    def _on_session_event(self, ev: SessionEvent) -> None:
        """Any thread: handle a session event on the Qt thread."""
        self._post(lambda: self._handle(ev))

    def _handle(self, ev: SessionEvent) -> None:
        if isinstance(ev, ControlLost):
            self._lost(ev)
        else:
            bridge_events.dispatch(self, ev)

    # ---- run state -----------------------------------------------------------------
    def _set_state(self, state: RunState) -> None:
        self.state = state
        self.runStateChanged.emit(state)
        self.engineState.emit(self.status_text())

    @property
    def running(self) -> bool:
        return self.state is RunState.RUNNING and self.session is not None

    def status_text(self) -> str:
        if self.state is RunState.IDLE and self.session is None:
            return "engine: not started"
        parts = []
        if self.session is not None:
            parts.append(f"session {self.session.dir.name}")
        counts: dict[str, int] = {}
        for badge in self.node_states.values():
            counts[badge] = counts.get(badge, 0) + 1
        states = ", ".join(f"{n} {b}" for b, n in sorted(counts.items()))
        parts.append(states or self.state.value)
        return " · ".join(parts)

    # ---- run control ---------------------------------------------------------------
    def start_all(self, topology: Topology, name: str | None = None) -> bool:
        """Start a session on a copy of `topology`; False if one exists already."""
        if self.state is not RunState.IDLE:
            return False
        own = topofile.loads(topofile.dumps(topology))
        self.canvas_topology = topology
        self._started_topo = topofile.loads(topofile.dumps(topology))
        self.node_states = {n.name: "stopped" for n in own.nodes}
        self._set_state(RunState.STARTING)
        self.progress.emit(0, 1, "creating the session")
        self.submit(self._start(own, name), "Could not start the lab", self._running)
        return True

    async def _start(self, topo: Topology, name: str | None) -> Lab:
        lab = Lab.create(topo, name, CONTROLLER, self.debounce)
        self._post(lambda: self._adopt(lab))
        self._listen(lab.session)
        try:
            await lab.up()
        except BaseException:
            self._post(self._stopped)
            raise
        lab.start_stats(self.stats_hz)
        lab.watch_control()
        return lab

    def attach_running(self, name: str, take_over: bool = False) -> bool:
        """Take control of a running session (by name or directory); `attached` brings its
        topology to the canvas, then the state is RUNNING. A lab another live controller
        holds is refused (`labHeld` names it) unless `take_over`. False if a lab is already
        here."""
        if self.state is not RunState.IDLE:
            return False
        self._set_state(RunState.STARTING)
        self.progress.emit(0, 1, f"attaching to {name}")
        self.submit(self._attach(name, take_over), f"Could not attach to {name}",
                    self._attached)
        return True

    async def _attach(self, name: str, take_over: bool) -> tuple[Lab, Topology, dict[str, Any]
                                                                   ] | None:
        try:
            lab = await Lab.attach(name, CONTROLLER, take_over, self.debounce)
        except LabHeld as e:
            held, who = e.session, e.holder.describe()
            self._post(self._stopped)
            self._post(lambda: self.labHeld.emit(held, who))
            return None
        except BaseException:
            self._post(self._stopped)
            raise
        self._listen(lab.session)
        lab.start_stats(self.stats_hz)
        lab.watch_control()
        topo = topofile.loads(topofile.dumps(lab.session.topo))
        topo.base_dir = lab.session.base_dir     # its relative disk paths stay where they were
        return lab, topo, dict(lab.session.states)

    def _attached(self, result: tuple[Lab, Topology, dict[str, Any]] | None) -> None:
        if result is None:                       # refused: another controller holds it
            return
        lab, topo, states = result
        self.attached.emit(topo)                 # the window shows it as its document
        self.canvas_topology = topo
        self._started_topo = topofile.loads(topofile.dumps(topo))
        self.started_elsewhere = True
        self._running(lab)
        for node, state in states.items():
            self.node_states[node] = BADGE[state]
            self.nodeState.emit(node, BADGE[state], "")
        self.engineState.emit(self.status_text())
        if lab.taken_from is not None:
            self.info.emit(f"Took over lab {lab.session.dir.name}",
                           f"from {lab.taken_from.describe()}, which no longer controls it")

    def _adopt(self, lab: Lab) -> None:
        self.lab, self.session = lab, lab.session
        self.engineState.emit(self.status_text())

    def _running(self, lab: Lab) -> None:
        self.lab, self.session = lab, lab.session
        if lab.session.accel is not None:
            self.accel, self.accel_reason = lab.session.accel.accel, lab.session.accel.reason
        self._set_state(RunState.RUNNING)

    def started_params(self, link: str) -> dict[str, Any] | None:
        """The parameters `link` had when the lab started, per end (None if it did not)."""
        t = self._started_topo
        if self.session is None or t is None or link not in {lk.name for lk in t.links}:
            return None
        lk = t.link(link)
        return {"a": lk.a.params, "b": lk.b.params}

    def stop_all(self) -> bool:
        if self.session is None or self.state is RunState.STOPPING:
            return False
        self._set_state(RunState.STOPPING)
        self.submit(self._leave(stop=True), "Could not stop the lab",
                    lambda _r: self._stopped())
        return True

    async def _leave(self, stop: bool) -> None:
        if self.lab is not None:
            await self.lab.leave(stop)
        elif self.session is not None and stop:
            await self.session.down()

    def _lost(self, ev: ControlLost) -> None:
        """Another controller took the lab over: let go of it, leave it running."""
        if self.session is None or self.state is not RunState.RUNNING:
            return
        self._set_state(RunState.STOPPING)
        self.submit(self._leave(stop=False), f"Could not let go of {ev.session}",
                    lambda _r: self._stopped())
        self.lostControl.emit(ev.session, ev.holder)

    def _stopped(self) -> None:
        self.started_elsewhere = False
        self.lab = None
        self._listening_to = None
        self.session = None
        self.node_states = {n: "stopped" for n in self.node_states}
        self._set_state(RunState.IDLE)
        self.progress.emit(1, 1, "")

    def shutdown(self, timeout: float = 30.0) -> None:
        """At exit: stop the lab (waiting for it), or let go of one started elsewhere (it
        keeps running: `nemu down` or another window stops it); then the engine thread."""
        if self.session is not None and self._engine is not None:
            with contextlib.suppress(Exception):    # exiting anyway; the PIDs are recorded
                self._engine.submit(self._leave(stop=not self.started_elsewhere)).result(
                    timeout)
            self.lab = self.session = None
            self.state = RunState.IDLE
        if self._engine is not None and self._own_engine:
            self._engine.stop()

    # ---- edits of the canvas model while running -----------------------------------
    def forward(self, event: TopologyEvent) -> None:
        """Hand a canvas model change to the running lab (Qt thread): frozen now, applied on
        the engine thread in order, link parameters coalesced (engine.live_edits)."""
        if self.session is None or self.state is not RunState.RUNNING:
            return
        match event:
            case NodeAdded(node=node):
                self.node_states[node.name] = "stopped"
                self.engineState.emit(self.status_text())
            case NodeRemoved(node=node):
                self.node_states.pop(node.name, None)
                self.engineState.emit(self.status_text())     # it no longer counts
            case NodeRenamed(old=old, new=new):
                if old in self.node_states:
                    self.node_states[new] = self.node_states.pop(old)
                if self.node_states.get(new) == "running":
                    self.info.emit(f"{old} restarts as {new}",
                                   "A running machine takes a new name by restarting; its "
                                   "disk is kept.")
        if self.lab is None or self.lab.session is not self.session:
            self.lab = Lab(self.session, debounce=self.debounce)   # a session set from outside
            self._listen(self.session)
        self.engine.loop.call_soon_threadsafe(self.lab.apply, freeze(event))

    @property
    def sent_link_updates(self) -> int:
        """Link parameter messages the lab sent for this window's edits (tests, benchmarks)."""
        return self.lab.sent_link_updates if self.lab is not None else 0
