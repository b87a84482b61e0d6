"""Changing a running network (the seed paper's "dynamicity"): nodes and links added or removed
while everything else keeps running. A mixin of `Session`, kept apart so each module stays about
one idea; it uses the session's fabric, plans, wiring and agents.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from engine import topofile
from engine.errors import SessionError
from engine.images.qemu_boot import hotplug_buses, socket_dir
from engine.model import DirectionParams, End, Link, NicModel, Node, NodeKind
from engine.plan.addressing import MachinePlan, plan
from engine.plan.segments import segments
from engine.plan.wiring import DevicePlan, Wiring, add_link
from engine.qemu.argv import NIC_DEVICE
from engine.qemu.qmp import Qmp
from engine.session.events import NodeState

if TYPE_CHECKING:
    from engine.fabric import VSwitchFabric
    from engine.images.guest_agent import GuestAgent
    from engine.model import Topology
    from engine.session.directory import SessionDir
    from engine.session.registry import ProcessRegistry
    from engine.session.session import NodeControl


class LiveEditing:
    """What this mixin needs of the Session it is mixed into."""

    topo: Topology
    dir: SessionDir
    fabric: VSwitchFabric
    plans: dict[str, MachinePlan]
    wiring: Wiring
    states: dict[str, NodeState]
    agents: dict[str, GuestAgent]
    registry: ProcessRegistry
    _nics: set[tuple[str, str]]
    _stopping: set[str]

    def nic_socket(self, node: str, iface: str) -> Path:
        raise NotImplementedError

    def _patch_socket(self, link: str) -> Path:
        raise NotImplementedError

    def _role(self, node: str) -> str:
        raise NotImplementedError

    def _set_state(self, node: str, state: NodeState, reason: str = "") -> None:
        raise NotImplementedError

    def node(self, name: str) -> NodeControl:
        raise NotImplementedError

    async def _start_machine(self, name: str) -> None:
        raise NotImplementedError

    async def _start_slirp(self, name: str) -> None:
        raise NotImplementedError

    async def _launch(self, name: str) -> None:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self.fabric.client is not None

    def _save_topology(self) -> None:
        topofile.save(self.topo, self.dir.topology_path, backup=False)

    async def stop_node(self, name: str) -> None:
        """Stop one machine or NAT; its links stay drawn and reconnect when it starts again."""
        node = self.topo.node(name)
        if node.kind.is_fabric:
            raise SessionError(f"{name} runs inside the vswitch; set its links down instead")
        role = self._role(name)
        self._stopping.add(role)
        self._set_state(name, NodeState.STOPPING)
        agent = self.agents.pop(name, None)
        if agent is not None:
            await agent.close()
        await self.registry.stop(role)
        self._stopping.discard(role)
        self._set_state(name, NodeState.STOPPED)

    async def start_node(self, name: str) -> None:
        """Start one stopped (or crashed) machine or NAT of a running session. Its disk overlay
        keeps what it wrote; the vswitch reconnects its links by itself."""
        node = self.topo.node(name)
        if not self.running:
            raise SessionError(f"the lab is not running; start it first (then {name})")
        if self.states.get(name) in (NodeState.RUNNING, NodeState.STARTING):
            raise SessionError(f"{name} is already {self.states[name].value}")
        if node.kind.is_fabric:
            raise SessionError(f"{name} runs inside the vswitch and has no process of its own")
        await self._launch(name)

    async def restart_node(self, name: str) -> None:
        await self.stop_node(name)
        await self.start_node(name)

    async def add_node(self, node: Node) -> None:
        """Add a node; while running, start it (a machine boots with the NICs it has)."""
        self.topo.add_node(node)
        self.states[node.name] = NodeState.STOPPED
        self._save_topology()
        if not self.running:
            return
        self.plans = plan(self.topo)
        if node.kind.is_machine:
            await self._start_machine(node.name)
        elif node.kind is NodeKind.SLIRP:
            await self._start_slirp(node.name)
        else:
            dev = DevicePlan(node.name, node.kind.value)
            self.wiring.devices[node.name] = dev
            await self.fabric.add_device(dev)
            self._set_state(node.name, NodeState.RUNNING)

    async def connect(self, a: str, b: str, a_iface: str | None = None,
                      b_iface: str | None = None, params: DirectionParams | None = None,
                      name: str | None = None) -> Link:
        """Draw a link; while running, plug it in (hot-plugging a NIC if the machine needs one)."""
        link = self.topo.connect(a, b, a_iface, b_iface, params, name)
        self._save_topology()
        if self.running:
            try:
                await self._wire_link(link)
            except BaseException:
                self.topo.remove_link(link.name)
                self._save_topology()
                raise
        return link

    async def _wire_link(self, link: Link) -> None:
        new_plan = plan(self.topo)
        for end in (link.a, link.b):
            node = self.topo.node(end.node)
            if not node.kind.is_machine:
                continue
            if self.states.get(node.name) is not NodeState.RUNNING:
                self.plans[node.name] = new_plan[node.name]   # it boots with what it has now
                continue
            self.plans[node.name].macs.setdefault(end.iface, new_plan[node.name].macs[end.iface])
            if (node.name, end.iface) not in self._nics:
                await self._hotplug_nic(node.name, end.iface)
            await self._configure_live(node.name, end.iface, new_plan[node.name])
        sub = Wiring()
        add_link(sub, self.topo, link, self.nic_socket, self._patch_socket)
        for dev in sub.devices.values():
            existing = self.wiring.devices.get(dev.name)
            if existing is None:
                self.wiring.devices[dev.name] = dev
                await self.fabric.add_device(dev)
            else:
                for port in dev.ports:
                    existing.ports.append(port)
                    await self.fabric.add_port(dev.name, port)
        self.wiring.taps.update(sub.taps)

    async def _hotplug_nic(self, node: str, iface: str) -> None:
        qmp = Qmp(node, socket_dir(self.dir.node_dir(node)) / "qmp.sock")
        await qmp.connect(timeout=5)
        try:
            n = self.topo.node(node)
            sock = self.nic_socket(node, iface)
            await qmp.hotplug_nic(f"hp-{iface}", sock, NIC_DEVICE[n.nic or NicModel.VIRTIO],
                                  self.plans[node].macs[iface], f"hp-{iface}",
                                  hotplug_buses(n.arch or "x86_64"))
        finally:
            await qmp.close()
        self._nics.add((node, iface))

    async def remove_interface(self, node: str, iface: str) -> None:
        """Take an interface (a NIC) out of a machine; its link must be removed first. While
        the machine runs, a NIC hot-plugged since it booted leaves the guest at once, and
        everything else keeps running; one it booted with sits on q35's root bus, which has
        no hot-plug, so that is refused until the node is stopped."""
        n = self.topo.node(node)
        if n.interface(iface) is None:
            raise SessionError(f"{node} has no interface {iface}")
        link = self.topo.link_at(node, iface)
        if link is not None:
            raise SessionError(f"{node}.{iface} carries link {link.name}: remove the link first")
        if (node, iface) in self._nics and self.states.get(node) is NodeState.RUNNING:
            qmp = Qmp(node, socket_dir(self.dir.node_dir(node)) / "qmp.sock")
            await qmp.connect(timeout=5)
            try:
                if f"hp-{iface}" not in await qmp.devices():
                    raise SessionError(
                        f"{node}.{iface} was plugged in when {node} booted and cannot be "
                        f"unplugged while it runs: stop {node}, remove the interface, start it")
                await qmp.unplug_nic(f"hp-{iface}", f"hp-{iface}")
            finally:
                await qmp.close()
        self._nics.discard((node, iface))
        self.topo.update_node(node, interfaces=[i for i in n.interfaces if i.name != iface])
        if node in self.plans:
            self.plans[node].macs.pop(iface, None)
            self.plans[node].addresses.pop(iface, None)
        self._save_topology()

    async def _configure_live(self, node: str, iface: str, new: MachinePlan) -> None:
        """Name, raise and address an interface in a running guest, as its boot would have."""
        mac = self.plans[node].macs[iface]
        addr = new.addresses.get(iface)
        script = (f'for d in /sys/class/net/*; do [ "$(cat $d/address)" = {mac} ] && '
                  f'[ "${{d##*/}}" != {iface} ] && ip link set dev "${{d##*/}}" name {iface}; '
                  f'done; ip link set dev {iface} up')
        if addr and addr != self.plans[node].addresses.get(iface):
            script += f"; ip addr replace {addr} dev {iface}"
            self.plans[node].addresses[iface] = addr
        for route in new.routes:
            if route not in self.plans[node].routes:
                dest = "default" if route.destination.prefixlen == 0 else str(route.destination)
                script += f"; ip route replace {dest} via {route.via}"
                self.plans[node].routes.append(route)
        for _ in range(50):   # a hot-plugged NIC takes a moment to appear in the guest
            r = await self.node(node).run(f"grep -qx {mac} /sys/class/net/*/address")
            if r.exitcode == 0:
                break
            await asyncio.sleep(0.1)
        r = await self.node(node).run(script)
        if r.exitcode != 0:
            raise SessionError(f"{node}.{iface}: configuring the interface failed: "
                               f"{r.stderr.decode(errors='replace').strip()}")

    async def remove_link(self, name: str) -> Link:
        """Unplug a link; both ends stay up, nothing else is disturbed."""
        link = self.topo.link(name)
        if self.running:
            await self._unwire_link(link)
        self.topo.remove_link(name)
        self._save_topology()
        return link

    async def _unwire_link(self, link: Link) -> None:
        """Take a link out of the vswitch (the topology keeps it)."""
        dev = f"link:{link.name}"
        if dev in self.wiring.devices:
            await self.fabric.remove_device(dev)
            del self.wiring.devices[dev]
        for end in (link.a, link.b):
            fab = self.wiring.devices.get(end.node)
            if fab is not None and self.topo.node(end.node).kind.is_fabric:
                await self.fabric.remove_port(end.node, end.iface)
                fab.ports = [p for p in fab.ports if p.name != end.iface]
        for e in ("a", "b"):
            self.wiring.taps.pop((link.name, e), None)

    async def move_link_end(self, name: str, which: End, iface: str | None = None) -> Link:
        """Plug one end of a link into another interface of its node (a new one when `iface`
        is None or one the node lacks: `Topology.set_link_iface`). While running, the link is
        unplugged, the interface it leaves goes down in a running guest (its address would
        clash: the segment hands the new interface the same one), and the link is plugged in
        again, hot-plugging a NIC when the machine needs one; the peers forget the old MAC."""
        link = self.topo.link(name)
        new = self.topo.set_link_iface(name, which, iface)
        self._save_topology()
        if not self.running or new == link:
            return new
        old = link.end(which)
        await self._unwire_link(link)
        await self._release_interface(old.node, old.iface)
        await self._wire_link(new)
        if old.node in self.agents:
            await self._forget_neighbour(old.node)
        return new

    async def _release_interface(self, node: str, iface: str) -> None:
        """Take a running guest's interface out of use: no address, down, and its address and
        the routes through it gone from the plan (so plugging a link in there re-adds them)."""
        if self.states.get(node) is not NodeState.RUNNING or node not in self.agents:
            return
        p = self.plans[node]
        addr = p.addresses.pop(iface, None)
        if addr is not None:
            p.routes = [r for r in p.routes if r.via not in addr.network]
        r = await self.node(node).run(f"ip addr flush dev {iface}; ip link set dev {iface} down")
        if r.exitcode != 0:
            raise SessionError(f"{node}.{iface}: taking the interface down failed: "
                               f"{r.stderr.decode(errors='replace').strip()}")

    async def rename_node(self, old: str, new: str) -> None:
        """Rename a node. In a running lab a machine or NAT restarts under its new name (its
        disk kept; its MACs follow the name); a hub or switch, which lives inside the vswitch,
        is renamed while the lab is stopped."""
        node = self.topo.node(old)
        if self.running and node.kind.is_fabric:
            raise SessionError(f"{old} runs inside the vswitch: rename it while the lab is "
                               "stopped")
        restart = self.running and self.states.get(old) in (NodeState.RUNNING,
                                                            NodeState.STARTING)
        if restart:
            await self.stop_node(old)
        links = [lk.name for lk in self.topo.links_of(old)]
        if self.running:
            for name in links:
                await self._unwire_link(self.topo.link(name))
        self.topo.rename_node(old, new)
        if self.dir.node_dir(old).exists():
            self.dir.node_dir(old).rename(self.dir.node_dir(new))
        self.states[new] = self.states.pop(old, NodeState.STOPPED)
        self._nics = {(new if n == old else n, i) for n, i in self._nics}
        self._save_topology()
        if self.running:
            self.plans = plan(self.topo)
            for name in links:
                await self._wire_link(self.topo.link(name))
            if restart:
                await self.start_node(new)
                await self._forget_neighbour(new)

    async def _forget_neighbour(self, name: str) -> None:
        """The machines that share a segment with `name` drop their ARP entries, which hold
        the MACs it had under its old name, rather than wait for them to go stale."""
        peers = {n for seg in segments(self.topo) if any(e[0] == name for e in seg.endpoints)
                 for n, _ in seg.endpoints if n != name and n in self.agents}
        for peer in sorted(peers):
            await self.node(peer).run("ip neigh flush all", timeout=10)

    async def remove_node(self, name: str) -> None:
        """Remove a node and its links; while running, stop its process."""
        node = self.topo.node(name)
        for link in self.topo.links_of(name):
            await self.remove_link(link.name)
        if self.running:
            if node.kind.is_fabric:
                await self.fabric.remove_device(name)
                self.wiring.devices.pop(name, None)
            else:
                role = self._role(name)
                self._stopping.add(role)
                agent = self.agents.pop(name, None)
                if agent is not None:
                    await agent.close()
                await self.registry.stop(role)
                self._stopping.discard(role)
        self._nics = {(n, i) for n, i in self._nics if n != name}
        self.topo.remove_node(name)
        self.states.pop(name, None)
        self._save_topology()

