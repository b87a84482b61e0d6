"""A session runs one topology: QEMU machines, slirp NATs and one vswitch, kept under control.

This is the seed paper's "manager" as an asyncio library: the CLI, the interactive shell,
scripts and the GUI all use it. Lifecycle: create()/attach() -> up() -> (set_link, run,
stats, ...) -> down(). Every process goes through the Host seam and the ProcessRegistry, so
`down()` (or a later controller, after attach()) stops exactly what was started.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import psutil

from engine import topofile
from engine.errors import NemuError, SessionError, TopologyErrors
from engine.fabric import NO_FIFO_READER, VSwitchFabric
from engine.hosts import LocalHost
from engine.hosts.base import Host, ProcessHandle, ProcessState
from engine.images.accel import AccelChoice, choose_accel
from engine.images.builder import Builder, Image, find_image
from engine.images.disk import backing_file
from engine.images.guest_agent import ExecResult, GuestAgent, GuestAgentError
from engine.images.qemu_boot import GuestMachine, socket_dir
from engine.model import End, NodeKind, Topology
from engine.model.node import parse_forward
from engine.plan.addressing import SLIRP_NET, MachinePlan, plan
from engine.plan.wiring import Wiring, plan_wiring, vswitch_changes
from engine.qemu.argv import PortForward, slirp_argv
from engine.session.directory import SessionDir, create_session_dir, find_session
from engine.session.events import (
    LinkParamsApplied,
    NodeHealth,
    NodeState,
    NodeStateChanged,
    ProcessDied,
    Progress,
    SessionEvent,
    StatsUpdate,
)
from engine.session.linkstats import LinkStatsReader
from engine.session.live_address import LiveAddressing
from engine.session.machines import is_disk_path, machine_image, prepare_machine
from engine.session.registry import ProcessRegistry

Listener = Callable[[SessionEvent], None]
# A guest agent socket serves one client at a time: a controller lets go of it after this many
# idle seconds, so `nemu exec` (and another controller) can use it beside a running window.
AGENT_IDLE_S = 1.0


@dataclass
class NodeControl:
    """What a script does with one running machine: `await session.node("h1").run("ip a")`."""

    name: str
    agent: GuestAgent

    @contextlib.asynccontextmanager
    async def _ready(self) -> AsyncIterator[GuestAgent]:
        """The agent, connected for the calls in the block (re-attached, a user's disk, or
        released when idle so `nemu exec` could use it: connect on use)."""
        if not self.agent.connected:
            try:
                await self.agent.connect(timeout=15)
            except GuestAgentError as e:
                raise SessionError(
                    f"node {self.name}: no guest agent answers ({e}); nemu runs commands "
                    "through qemu-guest-agent on the virtio-serial port "
                    "org.qemu.guest_agent.0, which a user's own disk must run") from None
        async with self.agent.in_use(connect_timeout=15) as agent:
            yield agent

    async def run(self, command: str | list[str], timeout: float = 60.0,
                  input: bytes | None = None) -> ExecResult:
        async with self._ready() as agent:
            return await agent.exec(command, timeout=timeout, input=input)

    async def read_file(self, path: str) -> bytes:
        async with self._ready() as agent:
            return await agent.read_file(path)

    async def resize_console(self, rows: int, columns: int) -> None:
        """Tell the serial console's shell the size of the terminal showing it. A serial line
        carries no window size, so it is set out of band, through the agent (SIGWINCH follows)."""
        if not (1 <= rows <= 1000 and 1 <= columns <= 1000):
            raise SessionError(f"{self.name}: console size {rows}x{columns} is out of range")
        r = await self.run(["stty", "-F", "/dev/ttyS0", "rows", str(rows), "cols", str(columns)],
                           timeout=10)
        if r.exitcode != 0:
            raise SessionError(f"{self.name}: setting the console size failed: "
                               f"{r.stderr.decode(errors='replace').strip()}")

    async def write_file(self, path: str, data: bytes) -> None:
        async with self._ready() as agent:
            await agent.write_file(path, data)


class Session(LiveAddressing):
    def __init__(self, topo: Topology, sdir: SessionDir, host: Host | None = None,
                 accel: AccelChoice | None = None) -> None:
        self.topo = topo
        self.dir = sdir
        self.host = host or LocalHost()
        self.accel = accel
        self.registry = ProcessRegistry(sdir, {self.host.name: self.host})
        self.fabric = VSwitchFabric(self.host, sdir.socket("vswitch.sock"),
                                    sdir.logs / "vswitch.log")
        self.agents: dict[str, GuestAgent] = {}     # one per running machine
        self.states: dict[str, NodeState] = {n.name: NodeState.STOPPED for n in topo.nodes}
        self.plans: dict[str, MachinePlan] = {}
        self.wiring = Wiring()
        self.stats_reader = LinkStatsReader(topo)
        self._listeners: list[Listener] = []
        self._images_by_name: dict[str, Image | Path] = {}
        self._nics: set[tuple[str, str]] = set()    # NICs the running QEMUs have
        self._monitor: asyncio.Task[None] | None = None
        self._stopping: set[str] = set()
        self.base_dir = (topo.base_dir or Path.cwd()).resolve()   # of relative disk paths

    def resolve_path(self, path: str) -> Path:
        """A disk or storage path as written in the lab: relative to the lab file's folder
        (to the folder nemu ran in for a lab never saved), `~` expanded."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    # ---- creation ----------------------------------------------------------------------
    @classmethod
    def create(cls, topo: Topology, name: str | None = None, base: Path | None = None,
               host: Host | None = None) -> Session:
        problems = topo.validate()
        if problems:
            raise TopologyErrors(problems)
        sdir = create_session_dir(name or topo.name, base)
        topofile.save(topo, sdir.topology_path, backup=False)
        s = cls(topo, sdir, host)
        # the session keeps its own copy of the lab: remember where relative paths start
        state = sdir.read_state()
        state["base_dir"] = str(s.base_dir)
        sdir.write_state(state)
        return s

    @classmethod
    async def attach(cls, name_or_path: str, base: Path | None = None,
                     host: Host | None = None) -> Session:
        """Take control of a session started by another (possibly dead) controller."""
        sdir = find_session(name_or_path, base)
        s = cls(topofile.load(sdir.topology_path), sdir, host)
        s.dir.prepare()
        s.registry.load()
        state = sdir.read_state()
        if "base_dir" in state:
            s.base_dir = Path(state["base_dir"])
        if "accel" in state:
            s.accel = AccelChoice(state["accel"], state.get("accel_reason", ""))
        s.plans = plan(s.topo)
        s.wiring = s._wiring()
        if s.registry.state("vswitch") is ProcessState.RUNNING:
            s.fabric.proc = s.registry.get("vswitch")
            await s.fabric.connect(timeout=5)
        for node in s.topo.nodes:
            role = s._role(node.name)
            running = s.registry.state(role) is ProcessState.RUNNING
            if node.kind.is_machine and running:
                s._nics.update((node.name, i.name) for i in node.interfaces)
                s.agents[node.name] = GuestAgent(
                    socket_dir(sdir.node_dir(node.name)) / "agent.sock", node.name)
                s.agents[node.name].release_when_idle(AGENT_IDLE_S)
            s.states[node.name] = NodeState.RUNNING if running else (
                NodeState.CRASHED if role in s.registry.roles() else NodeState.STOPPED)
        return s

    # ---- events ------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def emit(self, event: SessionEvent) -> None:
        for listener in list(self._listeners):
            listener(event)

    def _set_state(self, node: str, state: NodeState, reason: str = "") -> None:
        if self.states.get(node) is not state:
            self.states[node] = state
            self.emit(NodeStateChanged(node, state, reason))

    # ---- naming ------------------------------------------------------------------------
    def _role(self, node: str) -> str:
        kind = self.topo.node(node).kind
        return f"qemu:{node}" if kind.is_machine else (
            f"slirp:{node}" if kind is NodeKind.SLIRP else "vswitch")

    def nic_socket(self, node: str, iface: str) -> Path:
        if self.topo.node(node).kind is NodeKind.SLIRP:
            return self.dir.socket(f"{node}.nat.sock")
        return self.dir.socket(f"{node}.{iface}.sock")

    def _patch_socket(self, link: str) -> Path:
        return self.dir.socket(f"patch.{link}.sock")

    def _wiring(self) -> Wiring:
        return plan_wiring(self.topo, self.nic_socket, self._patch_socket)

    # ---- running -----------------------------------------------------------------------
    def _disk_image(self, name: str) -> Image | None:
        """The cached image node `name`'s disk is built on (an overlay is only meaningful on
        its own base: a node keeps it when the recipe changes, until its disk is reset)."""
        overlay = self.dir.node_dir(name) / "disk.qcow2"
        base = backing_file(overlay) if overlay.exists() else None
        if base is None or not (base.parent / "manifest.json").exists():
            return None
        return Image.load(base.parent)

    async def _images(self, progress: Callable[[str], None]) -> dict[str, Image | Path]:
        """The image of each name that nodes without a disk yet will be made from."""
        wanted = {machine_image(n) for n in self.topo.nodes   # host -> host-i386 for i386
                  if n.kind.is_machine and n.image and self._disk_image(n.name) is None}
        out: dict[str, Image | Path] = {}
        for name in sorted(wanted):
            if is_disk_path(name):
                out[name] = self.resolve_path(name)
                continue
            image = find_image(name)
            if image is None:
                progress(f"building image {name} (first use; cached afterwards)")
                image = await Builder(self.host, lambda m, d, t: progress(m)).build(name)
            out[name] = image
        return out

    async def up(self) -> None:
        """Start everything; returns when every machine's agent answers."""
        machines = [n for n in self.topo.nodes if n.kind.is_machine]
        slirps = [n for n in self.topo.nodes if n.kind is NodeKind.SLIRP]
        total = 3 + len(machines) + len(slirps)
        done = 0

        def step(msg: str) -> None:
            nonlocal done
            done += 1
            self.emit(Progress(min(done, total), total, msg))

        self.dir.prepare()
        if self.accel is None:
            self.accel = await choose_accel(self.host)
        state = self.dir.read_state()
        state.update(accel=self.accel.accel, accel_reason=self.accel.reason, status="starting")
        self.dir.write_state(state)
        step(f"accelerator: {self.accel.accel.upper()} ({self.accel.reason})")
        images = await self._images(lambda m: self.emit(Progress(done, total, m)))
        self.plans = plan(self.topo)
        self.wiring = self._wiring()
        self._images_by_name = images
        try:
            proc = await self.fabric.start()
            self.registry.add("vswitch", proc)
            for n in self.topo.nodes:
                if n.kind.is_fabric:
                    self._set_state(n.name, NodeState.RUNNING)
            step("vswitch up")
            for n in slirps:
                await self._start_slirp(n.name)
                step(f"{n.name} (NAT) up")
            await self.fabric.apply(self.wiring)
            step("links wired")

            async def boot(name: str) -> None:
                await self._start_machine(name)
                step(f"{name} running")

            await asyncio.gather(*(boot(n.name) for n in machines))
        except BaseException:
            await self.down()
            raise
        state = self.dir.read_state()
        state["status"] = "up"
        self.dir.write_state(state)
        self.watch()

    def watch(self) -> None:
        """Report crashes (ProcessDied, CRASHED) and node health as events from now on; `up`
        does this, a controller that attached calls it when it wants the events."""
        if self._monitor is None or self._monitor.done():
            self._monitor = asyncio.ensure_future(self._watch())

    async def _stop_watching(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
            self._monitor = None

    async def detach(self) -> None:
        """Let go of a running session and leave it running: stop watching, close the guest
        agent and vswitch control connections. `Session.attach` takes it back."""
        await self._stop_watching()
        for agent in self.agents.values():
            with contextlib.suppress(Exception):
                await agent.close()
        if self.fabric.client is not None:
            with contextlib.suppress(Exception):
                await self.fabric.client.close()
            self.fabric.client = None

    async def _start_machine(self, name: str) -> None:
        node = self.topo.node(name)
        image: Image | Path | None = self._disk_image(name)
        if image is None:
            key = machine_image(node)      # the image for the node's arch (host -> host-i386)
            image = self._images_by_name.get(key)
            if image is None:
                image = (await self._images(lambda m: self.emit(Progress(0, 1, m))))[key]
                self._images_by_name[key] = image
        assert self.accel is not None
        spec = await prepare_machine(
            self.host, node, self.plans[name], self.dir.node_dir(name), image, self.accel,
            {i.name: self.nic_socket(name, i.name) for i in node.interfaces},
            self.resolve_path)
        m = GuestMachine(self.host, spec)
        self.agents[name] = m.agent
        self._nics.update((name, i.name) for i in node.interfaces)
        self._set_state(name, NodeState.STARTING)
        boot_task = asyncio.ensure_future(m.start())
        while m.handle is None and not boot_task.done():
            await asyncio.sleep(0.01)
        if m.handle is not None:
            self.registry.add(self._role(name), m.handle)
        try:
            seconds = await boot_task
        except BaseException as e:
            self._set_state(name, NodeState.CRASHED, str(e))
            raise
        m.agent.release_when_idle(AGENT_IDLE_S)
        self._set_state(name, NodeState.RUNNING, f"agent ready in {seconds:.1f} s"
                        if spec.wait_for_agent else f"QEMU running in {seconds:.1f} s (own disk)")

    async def _start_slirp(self, name: str) -> None:
        log = self.dir.logs / f"{name}.log"
        sock = self.nic_socket(name, "")
        with contextlib.suppress(FileNotFoundError):
            sock.unlink()
        forwards = []
        for text in self.topo.node(name).forwards:
            f = parse_forward(text)
            plan_of = self.plans.get(f.node, MachinePlan(f.node))
            addrs = [a for a in plan_of.addresses.values() if a.ip in SLIRP_NET]
            if not addrs:
                raise SessionError(f"{name}: cannot forward to {f.node}: it has no address "
                                   "behind this NAT")
            forwards.append(PortForward(f.protocol, f.host_port, str(addrs[0].ip),
                                        f.guest_port))
        proc = await self.host.start(
            slirp_argv(name, sock, self.dir.socket(f"{name}.qmp"), forwards),
            label=f"slirp {name}", log_path=log)
        self.registry.add(self._role(name), proc)
        for _ in range(200):
            if sock.exists():
                break
            if self.host.state(proc) is not ProcessState.RUNNING:
                raise SessionError(f"{name}: the NAT's QEMU exited: {log.read_text()[-400:]}")
            await asyncio.sleep(0.02)
        self._set_state(name, NodeState.RUNNING)

    async def _watch(self, interval: float = 0.5, health_every: int = 4) -> None:
        """Report processes that die without being asked to, and machines' CPU and memory."""
        meters: dict[int, psutil.Process] = {}
        tick = 0
        while True:
            await asyncio.sleep(interval)
            tick += 1
            if tick % health_every == 0:
                self._report_health(meters)
            for role, proc in self.registry.items():
                if role in self._stopping:
                    continue
                st = self.registry.host_of(proc).state(proc)
                if st is ProcessState.RUNNING:
                    continue
                self._stopping.add(role)
                detail = f"{st.value}"
                self.emit(ProcessDied(role, proc.pid, detail))
                nodes = ([n.name for n in self.topo.nodes if n.kind.is_fabric]
                         if role == "vswitch" else [role.split(":", 1)[1]])
                for node in nodes:
                    self._set_state(node, NodeState.CRASHED, f"{role} (pid {proc.pid}) {detail}")

    def _report_health(self, meters: dict[int, psutil.Process]) -> None:
        for name in list(self.agents):
            proc = self.registry.get(self._role(name))
            if proc is None or proc.host != "local":
                continue
            try:
                p = meters.get(proc.pid) or meters.setdefault(proc.pid, psutil.Process(proc.pid))
                self.emit(NodeHealth(name, p.cpu_percent(None), p.memory_info().rss))
            except psutil.Error:
                meters.pop(proc.pid, None)

    async def down(self) -> None:
        """Stop every process of the session (by PID), machines first."""
        self._stopping.update(self.registry.roles())    # no crash reports for these
        for name in self.agents:
            self._set_state(name, NodeState.STOPPING)
        await self.detach()
        await self.registry.stop_all()
        self.agents.clear()
        for name in self.states:
            self._set_state(name, NodeState.STOPPED)
        state = self.dir.read_state()
        state["status"] = "down"
        self.dir.write_state(state)
        self._stopping.clear()

    # ---- using it ----------------------------------------------------------------------
    def node(self, name: str) -> NodeControl:
        self.topo.node(name)
        agent = self.agents.get(name)
        if agent is None:
            raise SessionError(f"{name} is not a running machine")
        return NodeControl(name, agent)

    def process(self, node: str) -> ProcessHandle | None:
        return self.registry.get(self._role(node))

    async def set_link(self, name: str, which: End | Literal["both"] = "both",
                       **changes: Any) -> None:
        """Change link parameters in the model and, while running, in the vswitch."""
        before = self.topo.link(name)
        after = self.topo.set_link_params(name, which, **changes)
        applied: dict[str, dict[str, Any]] = {}
        if self.fabric.client is not None:
            for e in ("a", "b"):
                diff = after.end(e).params.changes_from(before.end(e).params)
                if diff:
                    tap = self.wiring.taps[(name, e)]
                    applied[e] = await self.fabric.set_direction(tap, vswitch_changes(diff))
        topofile.save(self.topo, self.dir.topology_path, backup=False)
        self.emit(LinkParamsApplied(name, applied))

    async def sample_stats(self) -> StatsUpdate:
        counters = await self.fabric.counters()
        return StatsUpdate(tuple(self.stats_reader.update(counters, self.wiring)))

    async def stats(self, hz: float = 2.0) -> AsyncIterator[StatsUpdate]:
        """Link rates at `hz`, also delivered to subscribers."""
        period = 1.0 / hz
        while True:
            t0 = time.monotonic()
            update = await self.sample_stats()
            self.emit(update)
            yield update
            await asyncio.sleep(max(0.0, period - (time.monotonic() - t0)))

    async def capture(self, link: str, end: End, file: Path, start: bool = True) -> None:
        self.topo.link(link)
        await self.fabric.capture(self.wiring.taps[(link, end)], file, start)

    async def capture_to_reader(self, link: str, end: End, fifo: Path, reader: ProcessHandle,
                                timeout: float = 30.0) -> None:
        """Capture into `fifo` once `reader` (Wireshark, still starting) has opened it: the
        vswitch writes a FIFO without blocking, so it refuses one that nobody reads yet."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                await self.capture(link, end, fifo, True)
                return
            except NemuError as e:
                if NO_FIFO_READER not in str(e):
                    raise
                if self.host.state(reader) is not ProcessState.RUNNING:
                    raise SessionError(f"{link}: the capture reader (pid {reader.pid}) exited "
                                       "before opening the FIFO; see its log") from None
                if loop.time() > deadline:
                    raise SessionError(f"{link}: the capture reader did not open {fifo} "
                                       f"within {timeout:.0f} s") from None
            await asyncio.sleep(0.2)
