"""The run-control layer: the one QObject between the Qt thread and the engine.

The engine runs on its own asyncio thread (`engine.runtime.EngineThread`). The Qt thread only
submits coroutines there and never waits for them. Whatever comes back (session events, stats
samples, finished futures) is posted through one queued signal (`_posted`) and handled on the
Qt thread, where the public signals below are emitted, so every slot runs on the Qt thread
whatever connection type its owner chose.

Lifecycle: idle -> start_all() -> starting -> running -> stop_all() -> stopping -> idle.
A lab another controller started (`nemu up`, or a window that crashed) is taken over with
attach_running() (idle -> starting -> running); quitting leaves such a lab running.
The session runs its OWN copy of the topology (it changes it on the engine thread); edits of the
canvas model while running are forwarded here (`forward`) and replayed on the session: link
parameters (debounced, latest value wins, one message in flight per link), new and deleted
nodes and links (hot-plug), a link end moved to another interface (unplugged and plugged in
again), interfaces taken off a node (a hot-plugged NIC leaves the guest), in the order they
were made. An interface the running lab refuses to give up (a NIC its machine booted with) is
put back into the canvas model, so model and lab agree.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import copy
import enum
import functools
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from engine import topofile
from engine.errors import TopologyError
from engine.hosts.local import LocalHost
from engine.model import (
    Interface,
    LinkAdded,
    LinkChanged,
    LinkRemoved,
    LinkRewired,
    NodeAdded,
    NodeChanged,
    NodeRemoved,
    NodeRenamed,
    Topology,
    TopologyEvent,
)
from engine.runtime import EngineThread
from engine.session import control
from engine.session.control import Controller, LabHeld
from engine.session.directory import SessionDir, find_session
from engine.session.events import (
    LinkParamsApplied,
    NodeHealth,
    NodeState,
    NodeStateChanged,
    Problem,
    ProcessDied,
    Progress,
    SessionEvent,
    StatsUpdate,
)
from engine.session.live_address import INTERFACE_FIELDS
from engine.session.session import Session
from engine.stats import LinkStats
from nemu_gui.scene.topology_scene import TopologyScene

NODE_VERBS = ("start", "stop", "restart")
CONTROLLER = "nemu-gui"     # what a window's claim on its lab calls it
CLAIM_CHECK_S = 1.0         # how often a window checks it still controls its lab

# engine NodeState -> the badge names the canvas knows
BADGE = {NodeState.STOPPED: "stopped", NodeState.STARTING: "booting",
         NodeState.RUNNING: "running", NodeState.STOPPING: "stopping",
         NodeState.CRASHED: "crashed"}


@dataclass(frozen=True)
class KeptInterface:
    """An interface the running lab refused to take off a node, or to give a new address or
    MAC (engine thread -> Qt thread): what to put back into the canvas model, where, and the
    engine's reason."""

    node: str
    iface: Interface
    after: str | None        # the interface before it in the lab's list (None: first)
    index: int
    reason: str
    fields: bool = False     # True: it is there, but the lab refused its new address or MAC


# what attaching hands the Qt thread: the session, its topology copy, its nodes' states, and
# the controller it was taken over from (None: nobody held it)
Attached = tuple[Session, Topology, dict[str, NodeState], Controller | None]


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
        self.session: Session | None = None
        self.state = RunState.IDLE
        self.node_states: dict[str, str] = {}
        self.accel = ""
        self.accel_reason = ""
        self.stats_hz = stats_hz
        self._stats_task: asyncio.Task[None] | None = None
        self._lock: asyncio.Lock | None = None          # orders model changes on the loop
        self._pending: dict[str, dict[str, dict[str, Any]]] = {}
        self._in_flight: set[str] = set()
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(debounce_ms)
        self._debounce.timeout.connect(self._flush_links)
        self._posted.connect(self._run_posted, Qt.ConnectionType.QueuedConnection)
        self.sent_link_updates = 0                      # control messages sent (tests, bench)
        self._started_topo: Topology | None = None      # the lab as it was started
        # the model the canvas edits (what start_all was given): what the running lab refuses
        # to change is put back there
        self.canvas_topology: Topology | None = None
        self.started_elsewhere = False                  # attached: quitting leaves it running
        # this window's claim on the running lab (engine.session.control), set and used on
        # the engine thread: one controller per lab
        self._claim: tuple[SessionDir, Controller] | None = None

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
        ordered call (topology changes must reach the session in the order they were made)."""
        if ordered:
            coro = self._in_order(coro)
        fut = self.engine.submit(coro)

        def finished(f: concurrent.futures.Future[Any]) -> None:
            if f.cancelled():
                return
            err = f.exception()
            if err is not None:
                self._post(lambda: self.failed.emit(what, _describe(err)))
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
        self.submit(self._start(own, name), "Could not start the lab", self._started)
        return True

    async def _start(self, topo: Topology, name: str | None) -> Session:
        s = Session.create(topo, name)
        me = Controller.this_process(CONTROLLER)
        control.claim(s.dir, s.host, me)           # a new session: nobody else holds it
        self._claim = (s.dir, me)
        self._post(lambda: self._adopt(s))
        s.subscribe(self._on_session_event)      # engine thread
        try:
            await s.up()
        except BaseException:
            self._let_go()
            self._post(self._stopped)
            raise
        self._stats_task = asyncio.ensure_future(self._poll(s))
        return s

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

    async def _attach(self, name: str, take_over: bool = False) -> Attached | None:
        me = Controller.this_process(CONTROLLER)
        try:
            sdir = find_session(name)
            taken_from = control.claim(sdir, LocalHost(), me, take_over)
        except LabHeld as e:
            held, who = e.session, e.holder.describe()
            self._post(self._stopped)
            self._post(lambda: self.labHeld.emit(held, who))
            return None
        except BaseException:
            self._post(self._stopped)
            raise
        try:
            s = await Session.attach(name)
        except BaseException:
            control.release(sdir, me)
            self._post(self._stopped)
            raise
        self._claim = (s.dir, me)
        s.subscribe(self._on_session_event)      # engine thread
        s.watch()
        self._stats_task = asyncio.ensure_future(self._poll(s))
        topo = topofile.loads(topofile.dumps(s.topo))
        topo.base_dir = s.base_dir               # its relative disk paths stay where they were
        return s, topo, dict(s.states), taken_from

    def _attached(self, result: Attached | None) -> None:
        if result is None:                       # refused: another controller holds it
            return
        s, topo, states, taken_from = result
        self.attached.emit(topo)                 # the window shows it as its document
        self.canvas_topology = topo
        self._started_topo = topofile.loads(topofile.dumps(topo))
        self.started_elsewhere = True
        self._started(s)
        for node, state in states.items():
            self.node_states[node] = BADGE[state]
            self.nodeState.emit(node, BADGE[state], "")
        self.engineState.emit(self.status_text())
        if taken_from is not None:
            self.info.emit(f"Took over lab {s.dir.name}",
                           f"from {taken_from.describe()}, which no longer controls it")

    def _adopt(self, s: Session) -> None:
        self.session = s
        self.engineState.emit(self.status_text())

    def _started(self, s: Session) -> None:
        self.session = s
        if s.accel is not None:
            self.accel, self.accel_reason = s.accel.accel, s.accel.reason
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
        self.submit(self._stop(self.session), "Could not stop the lab",
                    lambda _r: self._stopped())
        return True

    async def _detach(self, s: Session) -> None:
        task, self._stats_task = self._stats_task, None
        if task is not None:
            task.cancel()
        await s.detach()
        self._let_go()

    async def _stop(self, s: Session) -> None:
        task, self._stats_task = self._stats_task, None
        if task is not None:
            task.cancel()
        await s.down()
        self._let_go()

    def _let_go(self) -> None:
        """Engine thread: give up this window's claim on its lab (if it still has it)."""
        claim, self._claim = self._claim, None
        if claim is not None:
            control.release(*claim)

    def _lost(self, holder: Controller | None) -> None:
        """Qt thread: another controller took the lab over; let go of it, leave it running."""
        s = self.session
        if s is None or self.state is not RunState.RUNNING:
            return
        self._set_state(RunState.STOPPING)
        self.submit(self._detach(s), f"Could not let go of {s.dir.name}",
                    lambda _r: self._stopped())
        self.lostControl.emit(s.dir.name, holder.describe() if holder else "another controller")

    def _stopped(self) -> None:
        self.started_elsewhere = False
        self._pending.clear()
        self._in_flight.clear()
        self._debounce.stop()
        self.session = None
        self.node_states = {n: "stopped" for n in self.node_states}
        self._set_state(RunState.IDLE)
        self.progress.emit(1, 1, "")

    def shutdown(self, timeout: float = 30.0) -> None:
        """At exit: stop the session (waiting for it), or let go of one started elsewhere
        (it keeps running: `nemu down` or another window stops it); then the engine thread."""
        if self.session is not None and self._engine is not None:
            end = self._detach if self.started_elsewhere else self._stop
            with contextlib.suppress(Exception):    # exiting anyway; the PIDs are recorded
                self._engine.submit(end(self.session)).result(timeout)
            self.session = None
            self.state = RunState.IDLE
        if self._engine is not None and self._own_engine:
            self._engine.stop()

    # ---- what the session reports (engine thread) ----------------------------------
    def _on_session_event(self, ev: SessionEvent) -> None:
        self._post(lambda: self._handle(ev))

    def _handle(self, ev: SessionEvent) -> None:
        match ev:
            case NodeStateChanged(node=node, state=state, reason=reason):
                badge = BADGE[state]
                self.node_states[node] = badge
                self.nodeState.emit(node, badge, reason)
                self.engineState.emit(self.status_text())
            case Progress(done=done, total=total, message=message):
                self.progress.emit(done, total, message)
            case StatsUpdate(links=links):
                for st in links:
                    self._emit_rates(st)
            case LinkParamsApplied(link=link, changes=changes):
                self.linkApplied.emit(link, changes)
            case NodeHealth(node=node, cpu_percent=cpu, rss_bytes=rss):
                self.nodeHealth.emit(node, cpu, rss)
            case ProcessDied(role=role, pid=pid, detail=detail):
                self.failed.emit(f"{role} stopped unexpectedly", f"pid {pid}: {detail}")
            case Problem(where=where, message=message):
                self.failed.emit(f"Problem in {where}", message)

    def _emit_rates(self, st: LinkStats) -> None:
        utils = [u for u in (st.a_to_b.utilisation, st.b_to_a.utilisation) if u is not None]
        self.linkRates.emit(st.link, st.a_to_b.bps, st.b_to_a.bps, max(utils) if utils else None)
        self.linkStats.emit(st)

    async def _poll(self, s: Session) -> None:
        """Link stats at `stats_hz`, on the engine thread (the session itself reports node
        CPU and memory as NodeHealth events); every CLAIM_CHECK_S, whether this window still
        controls the lab (another may have taken it over)."""
        period = 1.0 / self.stats_hz
        loop = asyncio.get_running_loop()
        checked = loop.time()
        while True:
            t0 = loop.time()
            claim = self._claim
            if claim is not None and t0 - checked >= CLAIM_CHECK_S:
                checked = t0
                if not control.holds(*claim):
                    holder = control.holder(claim[0], s.host)
                    self._post(functools.partial(self._lost, holder))
                    return
            try:
                s.emit(await s.sample_stats())
            except asyncio.CancelledError:
                raise
            except Exception:   # a missed sample is not worth a notification
                pass
            await asyncio.sleep(max(0.05, period - (loop.time() - t0)))

    # ---- edits of the canvas model while running -----------------------------------
    def forward(self, event: TopologyEvent) -> None:
        """Replay a canvas model change on the running session (Qt thread)."""
        if self.session is None or self.state is not RunState.RUNNING:
            return
        s = self.session
        match event:
            case LinkChanged(link=link, changes=changes):
                per_link = self._pending.setdefault(link.name, {})
                for end, fields in changes.items():
                    per_link.setdefault(end, {}).update(fields)
                if not self._debounce.isActive():
                    self._debounce.start()
            case NodeAdded(node=node):
                n = copy.deepcopy(node)
                self.node_states[n.name] = "stopped"
                self.engineState.emit(self.status_text())
                self.submit(s.add_node(n), f"Could not start {n.name}", ordered=True)
            case LinkAdded(link=link):
                lk = copy.deepcopy(link)
                self.submit(self._connect(s, lk), f"Could not plug in link {lk.name}",
                            ordered=True)
            case LinkRemoved(link=link):
                self._pending.pop(link.name, None)
                self.submit(s.remove_link(link.name), f"Could not unplug link {link.name}",
                            ordered=True)
            case LinkRewired(link=link, end=end):
                to = link.end(end)
                self.submit(s.move_link_end(link.name, end, to.iface),
                            f"Could not plug link {link.name} into {to.label}", ordered=True)
            case NodeRemoved(node=node):
                self.node_states.pop(node.name, None)
                self.engineState.emit(self.status_text())     # it no longer counts
                self.submit(s.remove_node(node.name), f"Could not stop {node.name}",
                            ordered=True)
            case NodeChanged(name=name, changes=fields) if "interfaces" in fields:
                wanted = copy.deepcopy(list(fields["interfaces"]))
                self.submit(self._sync_interfaces(s, name, wanted),
                            f"Could not change the interfaces of {name}", self._kept,
                            ordered=True)
            case NodeRenamed(old=old, new=new):
                if old in self.node_states:
                    self.node_states[new] = self.node_states.pop(old)
                if self.node_states.get(new) == "running":
                    self.info.emit(f"{old} restarts as {new}",
                                   "A running machine takes a new name by restarting; its "
                                   "disk is kept.")
                self.submit(s.rename_node(old, new), f"Could not rename {old} to {new}",
                            ordered=True)

    @staticmethod
    async def _connect(s: Session, link: Any) -> None:
        await s.connect(link.a.node, link.b.node, link.a.iface, link.b.iface, link.a.params,
                        link.name)
        if link.b.params != link.a.params:
            diff = link.b.params.changes_from(link.a.params)
            await s.set_link(link.name, "b", **diff)

    @staticmethod
    async def _sync_interfaces(s: Session, node: str, wanted: list[Interface]
                               ) -> list[KeptInterface]:
        """Make `node`'s interfaces in the running lab what the canvas has: take off every
        interface the canvas no longer has (a removed one, or one an undo dropped again) and
        give the others the address and MAC the canvas gives them (`Session.set_interface`,
        which re-plans the running machines). Compared here, in order with the other edits,
        against the lab's own copy: the event only says what the node has now. The session
        adds interfaces by itself when a link needs them, so new ones are not sent."""
        if not s.topo.has_node(node):
            return []
        have = list(s.topo.node(node).interfaces)
        keep = {i.name: i for i in wanted}
        kept: list[KeptInterface] = []
        for index, iface in enumerate(have):
            if iface.name in keep:
                continue
            try:
                await s.remove_interface(node, iface.name)
            except Exception as e:       # the lab still has it: the canvas must too
                kept.append(KeptInterface(node, copy.deepcopy(iface),
                                          have[index - 1].name if index else None, index,
                                          _describe(e)))
        for iface in have:
            new = keep.get(iface.name)
            if new is None:
                continue
            fields = {f: getattr(new, f) for f in INTERFACE_FIELDS
                      if getattr(new, f) != getattr(iface, f)}
            if not fields:
                continue
            try:
                await s.set_interface(node, iface.name, **fields)
            except Exception as e:       # the lab keeps its own: so must the canvas
                kept.append(KeptInterface(node, copy.deepcopy(iface), None, -1, _describe(e),
                                          fields=True))
        return kept

    def _kept(self, kept: list[KeptInterface]) -> None:
        """Qt thread: say why, and put each refused interface back as the lab has it."""
        for k in kept:
            self._put_back(k)
            what = f"{k.iface.name}'s address and MAC" if k.fields else k.iface.name
            self.failed.emit(f"{k.node} keeps {what}", k.reason)
            self.interfaceKept.emit(k.node, k.iface.name, k.reason)

    def _put_back(self, k: KeptInterface) -> None:
        t = self.canvas_topology
        if t is None or not t.has_node(k.node):
            return
        if k.fields:                       # the lab refused new fields: it keeps its own
            ifaces = [k.iface if i.name == k.iface.name else i
                      for i in t.node(k.node).interfaces]
            with contextlib.suppress(TopologyError):
                t.update_node(k.node, interfaces=ifaces)
            return
        if t.node(k.node).interface(k.iface.name) is not None:
            return
        ifaces = list(t.node(k.node).interfaces)
        names = [i.name for i in ifaces]
        at = names.index(k.after) + 1 if k.after in names else min(k.index, len(ifaces))
        ifaces.insert(at, k.iface)
        with contextlib.suppress(TopologyError):    # the canvas moved on (a clash): leave it
            t.update_node(k.node, interfaces=ifaces)

    def _flush_links(self) -> None:
        if self.session is None:
            return
        for name in [n for n in self._pending if n not in self._in_flight]:
            changes = self._pending.pop(name)
            self._in_flight.add(name)
            self.sent_link_updates += 1
            fut = self.submit(self._apply_link(self.session, name, changes),
                              f"Could not change link {name}", ordered=True)
            fut.add_done_callback(self._link_done_callback(name))

    def _link_done_callback(self, name: str) -> Callable[[object], None]:
        return lambda _f: self._post(lambda: self._link_done(name))

    @staticmethod
    async def _apply_link(s: Session, name: str, changes: dict[str, dict[str, Any]]) -> None:
        if changes.get("a") is not None and changes.get("a") == changes.get("b"):
            await s.set_link(name, "both", **changes["a"])
            return
        for end, fields in changes.items():
            if fields:
                await s.set_link(name, end, **fields)   # type: ignore[arg-type]

    def _link_done(self, name: str) -> None:
        self._in_flight.discard(name)
        if name in self._pending and not self._debounce.isActive():
            self._debounce.start()

    # ---- one-off operations --------------------------------------------------------
    def set_link_now(self, name: str, which: str = "both", **changes: Any) -> None:
        if self.session is not None:
            self.submit(self.session.set_link(name, which, **changes),  # type: ignore[arg-type]
                        f"Could not change link {name}", ordered=True)

    def run_command(self, node: str, command: str, timeout: float = 60.0) -> None:
        """Run `command` in a running machine; the result comes back as `commandDone`."""
        if self.session is None:
            return
        self.submit(self.session.node(node).run(command, timeout=timeout)
                    if node in self.session.agents else _not_running(node),
                    f"{node}: {command}",
                    lambda r: self.commandDone.emit(node, command, r))

    def resize_console(self, node: str, rows: int, columns: int) -> None:
        """Give `node`'s serial console the size of the terminal showing it."""
        if self.session is not None and node in self.session.agents:
            self.submit(self.session.node(node).resize_console(rows, columns),
                        f"{node}: console size")

    def node_action(self, node: str, verb: str) -> None:
        """Start, stop or restart one machine or NAT of the running lab."""
        if self.session is None or verb not in NODE_VERBS:
            return
        call = getattr(self.session, f"{verb}_node")
        self.submit(call(node), f"Could not {verb} {node}", ordered=True)

    def node_verbs(self, node: str) -> set[str]:
        """What `node_action` can do with this node now."""
        if self.session is None or not self.running or node not in self.node_states:
            return set()
        kind = self.session.topo.node(node).kind if self.session.topo.has_node(node) else None
        if kind is None or kind.is_fabric:
            return set()
        if self.node_states[node] == "running":
            return {"stop", "restart"}
        if self.node_states[node] in ("stopped", "crashed"):
            return {"start"}
        return set()

    def capture(self, link: str, end: str, file: Path, start: bool = True) -> None:
        if self.session is None:
            return
        verb = "Capturing" if start else "Stopped capturing"
        self.submit(self.session.capture(link, end, file, start),  # type: ignore[arg-type]
                    f"Could not capture on {link}",
                    lambda _r: self.info.emit(f"{verb} {link} ({end} side)", str(file)))

    def start_process(self, argv: list[str], label: str, what: str) -> None:
        """Start a helper program (terminal, Wireshark) through the session's host seam."""
        if self.session is None:
            return
        s = self.session

        async def start() -> None:
            await s.host.start(argv, label=label, log_path=s.dir.logs / f"{label}.log")
        self.submit(start(), what)

    def wireshark(self, link: str, end: str, program: str) -> None:
        """Start Wireshark on a FIFO, then tell the vswitch to capture into it."""
        if self.session is None:
            return
        s = self.session
        fifo = s.dir.root / f"capture-{link}-{end}.fifo"

        async def go() -> None:
            import os
            if not fifo.exists():
                os.mkfifo(fifo)
            reader = await s.host.start([program, "-k", "-i", str(fifo)],
                                        label=f"wireshark-{link}",
                                        log_path=s.dir.logs / f"wireshark-{link}.log")
            await s.capture_to_reader(link, end, fifo, reader)   # type: ignore[arg-type]
        self.submit(go(), f"Could not open {link} in Wireshark",
                    lambda _r: self.info.emit(f"{link} ({end} side) is live in Wireshark",
                                              str(fifo)))


async def _not_running(node: str) -> None:
    raise RuntimeError(f"{node} is not a running machine")


def _describe(err: BaseException) -> str:
    return str(err) or type(err).__name__
