"""A session runs one topology: QEMU machines, slirp NATs and one vswitch, kept under control.

This is the seed paper's "manager" as an asyncio library: the CLI, the interactive shell,
scripts and the GUI all use it. Lifecycle: create()/attach() -> up() -> (set_link, run,
stats, ...) -> down(). Every process goes through the Host seam and the ProcessRegistry, so
`down()` (or a later controller, after attach()) stops exactly what was started.

A Session is the state its parts share (`core.SessionCore`) plus that lifecycle; the rest is
done by its parts, whose calls it offers as its own: `lifecycle` (start, stop, restart one
node), `live` (nodes and links added, removed, renamed, re-plugged while running), `links`
(parameters, statistics, captures), `addressing` (addresses and MACs changed while running) and
`monitor` (crashes and health).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

from engine import topofile
from engine.errors import SessionError, TopologyErrors
from engine.hosts.base import Host, ProcessHandle, ProcessState
from engine.images.accel import AccelChoice, choose_accel
from engine.images.guest_agent import GuestAgent
from engine.images.qemu_boot import socket_dir
from engine.model import DirectionParams, End, Interface, Link, Node, NodeKind, Topology
from engine.plan.addressing import plan
from engine.session.core import SessionCore
from engine.session.directory import (
    SessionDir,
    create_session_dir,
    find_session,
    sweep_socket_dirs,
)
from engine.session.events import NodeState, Progress, StatsUpdate
from engine.session.lifecycle import NodeLifecycle
from engine.session.link_control import LinkControl
from engine.session.live_address import LiveAddressing
from engine.session.live_edit import LiveTopology
from engine.session.monitor import Monitor
from engine.session.node_control import AGENT_IDLE_S, ExecResult, GuestJob, NodeControl
from engine.session.registry import live_sessions
from engine.session.resources import memory_problems

__all__ = ["ExecResult", "GuestJob", "NodeControl", "Session", "SessionDir", "running_labs"]


def running_labs(base: Path | None = None) -> list[SessionDir]:
    """Sessions left running whose processes still run here (by PID and start time): the
    labs a controller can attach to."""
    from engine.hosts import LocalHost
    return live_sessions({"local": LocalHost()}, base)


class Session(SessionCore):
    def __init__(self, topo: Topology, sdir: SessionDir, host: Host | None = None,
                 accel: AccelChoice | None = None) -> None:
        super().__init__(topo, sdir, host, accel)
        self.lifecycle = NodeLifecycle(self)
        self.live = LiveTopology(self, self.lifecycle)
        self.links = LinkControl(self)
        self.addressing = LiveAddressing(self)
        self.monitor = Monitor(self)

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
        s.wiring = s.plan_wiring()
        if s.registry.state("vswitch") is ProcessState.RUNNING:
            s.fabric.proc = s.registry.get("vswitch")
            await s.fabric.connect(timeout=5)
        for node in s.topo.nodes:
            role = s.role(node.name)
            running = s.registry.state(role) is ProcessState.RUNNING
            if node.kind.is_machine and running:
                s.nics.update((node.name, i.name) for i in node.interfaces)
                s.agents[node.name] = GuestAgent(
                    socket_dir(sdir.node_dir(node.name)) / "agent.sock", node.name)
                s.agents[node.name].release_when_idle(AGENT_IDLE_S)
                s.agents[node.name].release_when_idle(AGENT_IDLE_S)
            s.states[node.name] = NodeState.RUNNING if running else (
                NodeState.CRASHED if role in s.registry.roles() else NodeState.STOPPED)
        return s

    # ---- the whole lab -----------------------------------------------------------------
    async def up(self) -> None:
        """Start whatever of the lab is not running: everything for a new session; after a
        crash, only what is gone (a running QEMU is never launched twice). Returns when every
        machine's agent answers. A start that fails stops what it started and nothing else."""
        live = {r for r in self.registry.roles()
                if self.registry.state(r) is ProcessState.RUNNING}
        machines = [n for n in self.topo.nodes if n.kind.is_machine
                    and self.role(n.name) not in live]
        slirps = [n for n in self.topo.nodes if n.kind is NodeKind.SLIRP
                  and self.role(n.name) not in live]
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
        await self.lifecycle.images(lambda m: self.emit(Progress(done, total, m)))
        if self.accel is None:
            self.accel = await choose_accel(self.host)
        self.lifecycle.record_accel()
        step(f"accelerator: {self.accel.accel.upper()} ({self.accel.reason})")
        self.plans = plan(self.topo)
        self.wiring = self.plan_wiring()
        try:
            if "vswitch" in live:
                if self.fabric.client is None:
                    self.fabric.proc = self.registry.get("vswitch")
                    await self.fabric.connect(timeout=5)
                step("vswitch already up")
            else:
                await self.registry.stop("vswitch")        # a dead one's record
                self.stopping.discard("vswitch")
                self.registry.add("vswitch", await self.fabric.start())
                step("vswitch up")
            for n in self.topo.nodes:
                if n.kind.is_fabric:
                    self.set_state(n.name, NodeState.RUNNING)
            for n in slirps:
                await self.lifecycle.launch(n.name)
                step(f"{n.name} (NAT) up")
            if "vswitch" not in live:     # a new vswitch: every link anew (QEMUs reconnect)
                await self.fabric.apply(self.wiring)
            step("links wired")

            async def boot(name: str) -> None:
                await self.lifecycle.launch(name)
                step(f"{name} running")

            await asyncio.gather(*(boot(n.name) for n in machines))
        except BaseException:
            if live:
                await self.lifecycle.stop_roles(
                    [r for r in self.registry.roles() if r not in live])
            else:
                await self.down()
            raise
        state = self.dir.read_state()
        state["status"] = "up"
        self.dir.write_state(state)
        self.dir.make_private()
        self.watch()

    def watch(self) -> None:
        """Report crashes (ProcessDied, CRASHED) and node health as events from now on; `up`
        does this, a controller that attached calls it when it wants the events."""
        self.monitor.start()

    async def detach(self) -> None:
        """Let go of a running session and leave it running: stop watching, close the guest
        agent and vswitch control connections. `Session.attach` takes it back."""
        await self.monitor.stop()
        for agent in self.agents.values():
            with contextlib.suppress(Exception):
                await agent.close()
        if self.fabric.client is not None:
            with contextlib.suppress(Exception):
                await self.fabric.client.close()
            self.fabric.client = None

    async def down(self) -> None:
        """Stop every process of the session (by PID), machines first."""
        self.stopping.update(self.registry.roles())    # no crash reports for these
        for name in self.agents:
            self.set_state(name, NodeState.STOPPING)
        await self.detach()
        await self.registry.stop_all()
        self.agents.clear()
        for name in self.states:
            self.set_state(name, NodeState.STOPPED)
        state = self.dir.read_state()
        state["status"] = "down"
        self.dir.write_state(state)
        self.stopping.clear()
        self._remove_sockets()

    def _remove_sockets(self) -> None:
        """Nothing runs: its sockets go (and those of other sessions that are down or gone)."""
        for node in self.topo.nodes:
            nd = self.dir.node_dir(node.name)
            if socket_dir(nd) != nd:
                shutil.rmtree(socket_dir(nd), ignore_errors=True)
        self.dir.remove_sockets()
        sweep_socket_dirs()

    def process(self, node: str) -> ProcessHandle | None:
        return self.registry.get(self.role(node))

    # ---- one node (lifecycle) ----------------------------------------------------------
    async def start_node(self, name: str) -> None:
        await self.lifecycle.start_node(name)

    async def stop_node(self, name: str) -> None:
        await self.lifecycle.stop_node(name)

    async def restart_node(self, name: str) -> None:
        await self.lifecycle.restart_node(name)

    # ---- changing the running network (live) -------------------------------------------
    async def add_node(self, node: Node) -> None:
        await self.live.add_node(node)

    async def connect(self, a: str, b: str, a_iface: str | None = None,
                      b_iface: str | None = None, params: DirectionParams | None = None,
                      name: str | None = None) -> Link:
        return await self.live.connect(a, b, a_iface, b_iface, params, name)

    async def remove_link(self, name: str) -> Link:
        return await self.live.remove_link(name)

    async def remove_node(self, name: str) -> None:
        await self.live.remove_node(name)

    async def rename_node(self, old: str, new: str) -> None:
        await self.live.rename_node(old, new)

    async def move_link_end(self, name: str, which: End, iface: str | None = None) -> Link:
        return await self.live.move_link_end(name, which, iface)

    async def remove_interface(self, node: str, iface: str) -> None:
        await self.live.remove_interface(node, iface)

    async def set_interface(self, node: str, iface: str, **fields: Any) -> Interface:
        return await self.addressing.set_interface(node, iface, **fields)

    # ---- links (parameters, statistics, captures) --------------------------------------
    async def set_link(self, name: str, which: End | Literal["both"] = "both",
                       **changes: Any) -> None:
        await self.links.set_link(name, which, **changes)

    async def sample_stats(self) -> StatsUpdate:
        return await self.links.sample_stats()

    def stats(self, hz: float = 2.0) -> AsyncIterator[StatsUpdate]:
        return self.links.stats(hz)

    async def capture(self, link: str, end: End, file: Path, start: bool = True) -> None:
        await self.links.capture(link, end, file, start)

    async def capture_to_reader(self, link: str, end: End, fifo: Path, reader: ProcessHandle,
                                timeout: float = 30.0) -> None:
        await self.links.capture_to_reader(link, end, fifo, reader, timeout)

    async def capture_live(self, link: str, end: End, program: str) -> Path:
        return await self.links.capture_live(link, end, program)

    async def start_helper(self, argv: list[str], label: str) -> ProcessHandle:
        """A helper program beside the lab (a terminal on a console), through the Host seam,
        with its log in the session's logs."""
        return await self.host.start(argv, label=label, log_path=self.dir.logs / f"{label}.log")
