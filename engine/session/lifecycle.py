"""Starting and stopping a session's machines and NATs, one at a time or all of them.

Images are found (or built) before anything boots; each machine gets its overlay, config and
QEMU from `machines.prepare_machine`, its PID is recorded as soon as it has one, and it counts
as running when its guest agent answers. A guest whose QEMU dies under KVM with a KVM error
makes the session fall back to TCG (said once) and boots again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

from engine.errors import SessionError
from engine.hosts.base import ProcessState
from engine.images.accel import AccelChoice, kvm_failure, remember
from engine.images.builder import Builder, Image, find_image
from engine.images.disk import backing_file
from engine.images.qemu_boot import GuestMachine, MachineSpec, QemuExitedError
from engine.model import NodeKind
from engine.model.node import parse_forward
from engine.plan.addressing import SLIRP_NET, MachinePlan
from engine.qemu.argv import PortForward, slirp_argv
from engine.session.core import SessionCore
from engine.session.events import NodeState, Problem, Progress
from engine.session.machines import is_disk_path, machine_image, prepare_machine
from engine.session.node_control import AGENT_IDLE_S


class NodeLifecycle:
    def __init__(self, core: SessionCore) -> None:
        self.core = core
        self.images_by_name: dict[str, Image | Path] = {}

    # ---- images ------------------------------------------------------------------------
    def disk_image(self, name: str) -> Image | None:
        """The cached image node `name`'s disk is built on (an overlay is only meaningful on
        its own base: a node keeps it when the recipe changes, until its disk is reset)."""
        overlay = self.core.dir.node_dir(name) / "disk.qcow2"
        base = backing_file(overlay) if overlay.exists() else None
        if base is None or not (base.parent / "manifest.json").exists():
            return None
        return Image.load(base.parent)

    async def images(self, progress: Callable[[str], None]) -> dict[str, Image | Path]:
        """The image of each name that nodes without a disk yet will be made from."""
        c = self.core
        wanted = {machine_image(n) for n in c.topo.nodes   # host -> host-i386 for i386
                  if n.kind.is_machine and n.image and self.disk_image(n.name) is None}
        out: dict[str, Image | Path] = {}
        for name in sorted(wanted):
            if is_disk_path(name):
                out[name] = c.resolve_path(name)
                continue
            image = find_image(name)
            if image is None:
                progress(f"building image {name} (first use; cached afterwards)")
                image = await Builder(c.host, lambda m, d, t: progress(m)).build(name)
            out[name] = image
        self.images_by_name.update(out)
        return out

    # ---- one node ----------------------------------------------------------------------
    async def launch(self, name: str) -> None:
        """Start one machine or NAT, dropping the record of a dead one it replaces."""
        c = self.core
        role = c.role(name)
        if role in c.registry.roles():          # a crashed process's record
            await c.registry.stop(role)
        c.stopping.discard(role)
        if c.topo.node(name).kind.is_machine:
            await self._start_machine(name)
        elif c.topo.node(name).kind is NodeKind.SLIRP:
            await self._start_slirp(name)
        else:
            raise SessionError(f"{name} runs inside the vswitch and has no process of its own")

    async def start_node(self, name: str) -> None:
        """Start one stopped (or crashed) machine or NAT of a running session. Its disk overlay
        keeps what it wrote; the vswitch reconnects its links by itself."""
        c = self.core
        node = c.topo.node(name)
        if not c.running:
            raise SessionError(f"the lab is not running; start it first (then {name})")
        if c.states.get(name) in (NodeState.RUNNING, NodeState.STARTING):
            raise SessionError(f"{name} is already {c.states[name].value}")
        if node.kind.is_fabric:
            raise SessionError(f"{name} runs inside the vswitch and has no process of its own")
        await self.launch(name)

    async def stop_node(self, name: str) -> None:
        """Stop one machine or NAT; its links stay drawn and reconnect when it starts again."""
        c = self.core
        if c.topo.node(name).kind.is_fabric:
            raise SessionError(f"{name} runs inside the vswitch; set its links down instead")
        role = c.role(name)
        c.stopping.add(role)
        c.set_state(name, NodeState.STOPPING)
        agent = c.agents.pop(name, None)
        if agent is not None:
            await agent.close()
        await c.registry.stop(role)
        c.stopping.discard(role)
        c.set_state(name, NodeState.STOPPED)

    async def restart_node(self, name: str) -> None:
        await self.stop_node(name)
        await self.start_node(name)

    async def stop_roles(self, roles: list[str]) -> None:
        c = self.core
        c.stopping.update(roles)
        await asyncio.gather(*(c.registry.stop(r) for r in roles))
        for role in roles:
            c.stopping.discard(role)

    # ---- machines ----------------------------------------------------------------------
    async def _start_machine(self, name: str) -> None:
        c = self.core
        node = c.topo.node(name)
        image: Image | Path | None = self.disk_image(name)
        if image is None:
            key = machine_image(node)      # the image for the node's arch (host -> host-i386)
            image = self.images_by_name.get(key)
            if image is None:
                image = (await self.images(lambda m: c.emit(Progress(0, 1, m))))[key]
        assert c.accel is not None
        spec = await prepare_machine(
            c.host, node, c.plans[name], c.dir.node_dir(name), image, c.accel,
            {i.name: c.nic_socket(name, i.name) for i in node.interfaces},
            c.resolve_path)
        c.nics.update((name, i.name) for i in node.interfaces)
        c.set_state(name, NodeState.STARTING)
        try:
            try:
                seconds = await self._boot(name, spec)
            except QemuExitedError as e:
                reason = kvm_failure(e.log) if spec.accel.accel == "kvm" else None
                if reason is None:
                    raise
                self.fall_back_to_tcg(reason)
                spec.accel = c.accel
                seconds = await self._boot(name, spec)
        except BaseException as e:
            c.set_state(name, NodeState.CRASHED, str(e))
            raise
        c.agents[name].release_when_idle(AGENT_IDLE_S)
        c.dir.make_private(c.dir.node_dir(name))
        c.set_state(name, NodeState.RUNNING, f"agent ready in {seconds:.1f} s"
                    if spec.wait_for_agent else f"QEMU running in {seconds:.1f} s (own disk)")

    async def _boot(self, name: str, spec: MachineSpec) -> float:
        """Start one machine's QEMU, recorded as soon as it has a PID, and wait until it is
        ready; the seconds it took."""
        c = self.core
        m = GuestMachine(c.host, spec)
        c.agents[name] = m.agent
        return await m.start(started=lambda handle: c.registry.add(c.role(name), handle))

    def record_accel(self) -> None:
        c = self.core
        assert c.accel is not None
        state = c.dir.read_state()
        state.update(accel=c.accel.accel, accel_reason=c.accel.reason)
        c.dir.write_state(state)

    def fall_back_to_tcg(self, reason: str) -> None:
        """A guest died under KVM although the probe passed: the session (and every later
        one on this machine) runs under TCG; said once, however many guests hit it."""
        c = self.core
        if c.accel is not None and c.accel.accel == "tcg":
            return
        c.accel = AccelChoice("tcg", f"KVM failed here: {reason}; using TCG")
        remember(c.host, c.accel)
        self.record_accel()
        c.emit(Problem("accelerator", c.accel.reason))

    # ---- NATs --------------------------------------------------------------------------
    async def _start_slirp(self, name: str) -> None:
        c = self.core
        log = c.dir.logs / f"{name}.log"
        sock = c.nic_socket(name, "")
        with contextlib.suppress(FileNotFoundError):
            sock.unlink()
        forwards = []
        for text in c.topo.node(name).forwards:
            f = parse_forward(text)
            plan_of = c.plans.get(f.node, MachinePlan(f.node))
            addrs = [a for a in plan_of.addresses.values() if a.ip in SLIRP_NET]
            if not addrs:
                raise SessionError(f"{name}: cannot forward to {f.node}: it has no address "
                                   "behind this NAT")
            forwards.append(PortForward(f.protocol, f.host_port, str(addrs[0].ip),
                                        f.guest_port))
        proc = await c.host.start(
            slirp_argv(name, sock, c.dir.socket(f"{name}.qmp"), forwards),
            label=f"slirp {name}", log_path=log)
        c.registry.add(c.role(name), proc)
        for _ in range(200):
            if sock.exists():
                break
            if c.host.state(proc) is not ProcessState.RUNNING:
                raise SessionError(f"{name}: the NAT's QEMU exited: {log.read_text()[-400:]}")
            await asyncio.sleep(0.02)
        c.set_state(name, NodeState.RUNNING)
