"""A session runs one topology: QEMU machines, slirp NATs and one vswitch, kept under control.

This is the seed paper's "manager" as an asyncio library: the CLI, the interactive shell,
scripts and the GUI all use it. Lifecycle: create()/attach() -> up() -> (set_link, run,
stats, ...) -> down(). Every process goes through the Host seam and the ProcessRegistry, so
`down()` (or a later controller, after attach()) stops exactly what was started.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, overload

import psutil

from engine import topofile
from engine.errors import NemuError, SessionError, TopologyErrors
from engine.fabric import NO_FIFO_READER, VSwitchFabric
from engine.hosts import LocalHost
from engine.hosts.base import Host, ProcessHandle, ProcessState
from engine.images.accel import AccelChoice, choose_accel, kvm_failure, remember
from engine.images.builder import Builder, Image, find_image
from engine.images.disk import backing_file
from engine.images.guest_agent import ExecResult, GuestAgent, GuestAgentError
from engine.images.qemu_boot import GuestMachine, MachineSpec, QemuExitedError, socket_dir
from engine.model import End, NodeKind, Topology
from engine.model.node import parse_forward
from engine.plan.addressing import SLIRP_NET, MachinePlan, plan
from engine.plan.wiring import Wiring, plan_wiring
from engine.qemu.argv import PortForward, slirp_argv
from engine.session import guest_jobs
from engine.session.directory import (
    SessionDir,
    create_session_dir,
    find_session,
    sweep_socket_dirs,
)
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
from engine.session.guest_jobs import GuestJob
from engine.session.linkstats import LinkStatsReader
from engine.session.live_edit import LiveEditing
from engine.session.machines import is_disk_path, machine_image, prepare_machine
from engine.session.registry import ProcessRegistry
from engine.session.resources import memory_problems

Listener = Callable[[SessionEvent], None]


@dataclass
class NodeControl:
    """What a script does with one running machine: `await session.node("h1").run("ip a")`."""

    name: str
    agent: GuestAgent

    async def _ready(self) -> GuestAgent:
        if not self.agent.connected:   # re-attached, or a user's disk: connect on first use
            try:
                await self.agent.connect(timeout=15)
            except GuestAgentError as e:
                raise SessionError(
                    f"node {self.name}: no guest agent answers ({e}); nemu runs commands "
                    "through qemu-guest-agent on the virtio-serial port "
                    "org.qemu.guest_agent.0, which a user's own disk must run") from None
        return self.agent

    @overload
    async def run(self, command: str | list[str], timeout: float = ...,
                  input: bytes | None = ..., detach: Literal[False] = ...) -> ExecResult: ...

    @overload
    async def run(self, command: str | list[str], timeout: float = ...,
                  input: bytes | None = ..., *, detach: Literal[True]) -> GuestJob: ...

    async def run(self, command: str | list[str], timeout: float = 60.0,
                  input: bytes | None = None, detach: bool = False) -> ExecResult | GuestJob:
        """Run a command (a string through /bin/sh -c, a list as an argv) and wait for it;
        with `detach`, leave it running as a job (see `guest_jobs`) and return at once."""
        if not detach:
            return await (await self._ready()).exec(command, timeout=timeout, input=input)
        argv, text = guest_jobs.start_argv(command)
        r = await (await self._ready()).exec(argv, timeout=timeout)
        if r.exitcode != 0 or not r.text.strip().isdigit():
            raise SessionError(f"{self.name}: starting {text!r} failed: "
                               f"{(r.stderr or r.stdout).decode(errors='replace').strip()}")
        return guest_jobs.GuestJob(self.name, int(r.text.strip()), text)

    async def jobs(self) -> list[GuestJob]:
        """The jobs started with `run(detach=True)` since the guest booted."""
        r = await (await self._ready()).exec(guest_jobs.list_argv(), timeout=30)
        return guest_jobs.parse_list(self.name, r.text)

    async def kill_job(self, pid: int) -> None:
        """Stop a job (its whole process group: TERM, then KILL after 3 s)."""
        r = await (await self._ready()).exec(guest_jobs.kill_argv(pid), timeout=30)
        if r.exitcode != 0:
            raise SessionError(f"{self.name}: {r.stderr.decode(errors='replace').strip()} "
                               "(started with `nemu exec --detach`?)")

    async def read_file(self, path: str) -> bytes:
        return await (await self._ready()).read_file(path)

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
        await (await self._ready()).write_file(path, data)


class Session(LiveEditing):
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
        """Start whatever of the lab is not running: everything for a new session; after a
        crash, only what is gone (a running QEMU is never launched twice). Returns when every
        machine's agent answers. A start that fails stops what it started and nothing else."""
        live = {r for r in self.registry.roles()
                if self.registry.state(r) is ProcessState.RUNNING}
        machines = [n for n in self.topo.nodes if n.kind.is_machine
                    and self._role(n.name) not in live]
        slirps = [n for n in self.topo.nodes if n.kind is NodeKind.SLIRP
                  and self._role(n.name) not in live]
        total = 3 + len(machines) + len(slirps)
        done = 0

        def step(msg: str) -> None:
            nonlocal done
            done += 1
            self.emit(Progress(min(done, total), total, msg))

        short = memory_problems(machines, await self.host.memory())
        if short:
            raise SessionError("; ".join(short) + f" (on {self.host.name}); nothing was "
                               "started: lower the nodes' memory")
        sweep_socket_dirs(keep=frozenset({self.dir.root.resolve()}))
        self.dir.prepare()
        state = self.dir.read_state()
        state["status"] = "starting"
        self.dir.write_state(state)
        # images first: on a fresh machine the accelerator test needs their kernel
        images = await self._images(lambda m: self.emit(Progress(done, total, m)))
        if self.accel is None:
            self.accel = await choose_accel(self.host)
        self._record_accel()
        step(f"accelerator: {self.accel.accel.upper()} ({self.accel.reason})")
        self.plans = plan(self.topo)
        self.wiring = self._wiring()
        self._images_by_name = images
        try:
            if "vswitch" in live:
                if self.fabric.client is None:
                    self.fabric.proc = self.registry.get("vswitch")
                    await self.fabric.connect(timeout=5)
                step("vswitch already up")
            else:
                await self.registry.stop("vswitch")        # a dead one's record
                self._stopping.discard("vswitch")
                self.registry.add("vswitch", await self.fabric.start())
                step("vswitch up")
            for n in self.topo.nodes:
                if n.kind.is_fabric:
                    self._set_state(n.name, NodeState.RUNNING)
            for n in slirps:
                await self._launch(n.name)
                step(f"{n.name} (NAT) up")
            if "vswitch" not in live:     # a new vswitch: every link anew (QEMUs reconnect)
                await self.fabric.apply(self.wiring)
            step("links wired")

            async def boot(name: str) -> None:
                await self._launch(name)
                step(f"{name} running")

            await asyncio.gather(*(boot(n.name) for n in machines))
        except BaseException:
            if live:
                await self._stop_roles([r for r in self.registry.roles() if r not in live])
            else:
                await self.down()
            raise
        state = self.dir.read_state()
        state["status"] = "up"
        self.dir.write_state(state)
        self.dir.make_private()
        self.watch()

    async def _launch(self, name: str) -> None:
        """Start one machine or NAT, dropping the record of a dead one it replaces."""
        role = self._role(name)
        if role in self.registry.roles():          # a crashed process's record
            await self.registry.stop(role)
        self._stopping.discard(role)
        if self.topo.node(name).kind.is_machine:
            await self._start_machine(name)
        elif self.topo.node(name).kind is NodeKind.SLIRP:
            await self._start_slirp(name)
        else:
            raise SessionError(f"{name} runs inside the vswitch and has no process of its own")

    async def _stop_roles(self, roles: list[str]) -> None:
        self._stopping.update(roles)
        await asyncio.gather(*(self.registry.stop(r) for r in roles))
        for role in roles:
            self._stopping.discard(role)

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
        self._nics.update((name, i.name) for i in node.interfaces)
        self._set_state(name, NodeState.STARTING)
        try:
            try:
                seconds = await self._boot(name, spec)
            except QemuExitedError as e:
                reason = kvm_failure(e.log) if spec.accel.accel == "kvm" else None
                if reason is None:
                    raise
                self._fall_back_to_tcg(reason)
                spec.accel = self.accel
                seconds = await self._boot(name, spec)
        except BaseException as e:
            self._set_state(name, NodeState.CRASHED, str(e))
            raise
        self.dir.make_private(self.dir.node_dir(name))
        self._set_state(name, NodeState.RUNNING, f"agent ready in {seconds:.1f} s"
                        if spec.wait_for_agent else f"QEMU running in {seconds:.1f} s (own disk)")

    async def _boot(self, name: str, spec: MachineSpec) -> float:
        """Start one machine's QEMU, recorded as soon as it has a PID, and wait until it is
        ready; the seconds it took."""
        m = GuestMachine(self.host, spec)
        self.agents[name] = m.agent
        boot_task = asyncio.ensure_future(m.start())
        while m.handle is None and not boot_task.done():
            await asyncio.sleep(0.01)
        if m.handle is not None:
            self.registry.add(self._role(name), m.handle)
        return await boot_task

    def _record_accel(self) -> None:
        assert self.accel is not None
        state = self.dir.read_state()
        state.update(accel=self.accel.accel, accel_reason=self.accel.reason)
        self.dir.write_state(state)

    def _fall_back_to_tcg(self, reason: str) -> None:
        """A guest died under KVM although the probe passed: the session (and every later
        one on this machine) runs under TCG; said once, however many guests hit it."""
        if self.accel is not None and self.accel.accel == "tcg":
            return
        self.accel = AccelChoice("tcg", f"KVM failed here: {reason}; using TCG")
        remember(self.host, self.accel)
        self._record_accel()
        self.emit(Problem("accelerator", self.accel.reason))

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
        self._remove_sockets()

    def _remove_sockets(self) -> None:
        """Nothing runs: its sockets go (and those of other sessions that are down or gone)."""
        for node in self.topo.nodes:
            nd = self.dir.node_dir(node.name)
            if socket_dir(nd) != nd:
                shutil.rmtree(socket_dir(nd), ignore_errors=True)
        self.dir.remove_sockets()
        sweep_socket_dirs()

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
                    applied[e] = await self.fabric.set_direction(tap, diff)   # same units
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
