"""Changing a running network (the seed paper's "dynamicity"): nodes and links added or removed,
renamed or re-plugged while everything else keeps running. Each change goes to the session's
own model first, then, while the lab runs, to the guests (NIC hot-plug, addresses) and the
vswitch (devices and ports).
"""

from __future__ import annotations

import asyncio

from engine.errors import SessionError
from engine.images.qemu_boot import hotplug_buses, socket_dir
from engine.model import DirectionParams, End, Link, NicModel, Node, NodeKind
from engine.plan.addressing import MachinePlan, plan
from engine.plan.segments import segments
from engine.plan.wiring import DevicePlan, Wiring, add_link
from engine.qemu.argv import NIC_DEVICE
from engine.qemu.qmp import Qmp
from engine.session.core import SessionCore
from engine.session.events import NodeState
from engine.session.lifecycle import NodeLifecycle


class LiveTopology:
    def __init__(self, core: SessionCore, lifecycle: NodeLifecycle) -> None:
        self.c = core
        self.lifecycle = lifecycle

    async def add_node(self, node: Node) -> None:
        """Add a node; while running, start it (a machine boots with the NICs it has)."""
        self.c.topo.add_node(node)
        self.c.states[node.name] = NodeState.STOPPED
        self.c.save_topology()
        if not self.c.running:
            return
        self.c.plans = plan(self.c.topo)
        if node.kind.is_machine or node.kind is NodeKind.SLIRP:
            await self.lifecycle.launch(node.name)
        else:
            dev = DevicePlan(node.name, node.kind.value)
            self.c.wiring.devices[node.name] = dev
            await self.c.fabric.add_device(dev)
            self.c.set_state(node.name, NodeState.RUNNING)

    async def connect(self, a: str, b: str, a_iface: str | None = None,
                      b_iface: str | None = None, params: DirectionParams | None = None,
                      name: str | None = None) -> Link:
        """Draw a link; while running, plug it in (hot-plugging a NIC if the machine needs one)."""
        link = self.c.topo.connect(a, b, a_iface, b_iface, params, name)
        self.c.save_topology()
        if self.c.running:
            try:
                await self._wire_link(link)
            except BaseException:
                self.c.topo.remove_link(link.name)
                self.c.save_topology()
                raise
        return link

    async def _wire_link(self, link: Link) -> None:
        new_plan = plan(self.c.topo)
        for end in (link.a, link.b):
            node = self.c.topo.node(end.node)
            if not node.kind.is_machine:
                continue
            if self.c.states.get(node.name) is not NodeState.RUNNING:
                self.c.plans[node.name] = new_plan[node.name]   # it boots with what it has now
                continue
            self.c.plans[node.name].macs.setdefault(end.iface, new_plan[node.name].macs[end.iface])
            if (node.name, end.iface) not in self.c.nics:
                await self._hotplug_nic(node.name, end.iface)
            await self._configure_live(node.name, end.iface, new_plan[node.name])
        sub = Wiring()
        add_link(sub, self.c.topo, link, self.c.nic_socket, self.c.patch_socket)
        for dev in sub.devices.values():
            existing = self.c.wiring.devices.get(dev.name)
            if existing is None:
                self.c.wiring.devices[dev.name] = dev
                await self.c.fabric.add_device(dev)
            else:
                for port in dev.ports:
                    existing.ports.append(port)
                    await self.c.fabric.add_port(dev.name, port)
        self.c.wiring.taps.update(sub.taps)

    async def _hotplug_nic(self, node: str, iface: str) -> None:
        qmp = Qmp(node, socket_dir(self.c.dir.node_dir(node)) / "qmp.sock")
        await qmp.connect(timeout=5)
        try:
            n = self.c.topo.node(node)
            sock = self.c.nic_socket(node, iface)
            await qmp.hotplug_nic(f"hp-{iface}", sock, NIC_DEVICE[n.nic or NicModel.VIRTIO],
                                  self.c.plans[node].macs[iface], f"hp-{iface}",
                                  hotplug_buses(n.arch or "x86_64"))
        finally:
            await qmp.close()
        self.c.nics.add((node, iface))

    async def remove_interface(self, node: str, iface: str) -> None:
        """Take an interface (a NIC) out of a machine; its link must be removed first. While
        the machine runs, a NIC hot-plugged since it booted leaves the guest at once, and
        everything else keeps running; one it booted with sits on q35's root bus, which has
        no hot-plug, so that is refused until the node is stopped."""
        n = self.c.topo.node(node)
        if n.interface(iface) is None:
            raise SessionError(f"{node} has no interface {iface}")
        link = self.c.topo.link_at(node, iface)
        if link is not None:
            raise SessionError(f"{node}.{iface} carries link {link.name}: remove the link first")
        if (node, iface) in self.c.nics and self.c.states.get(node) is NodeState.RUNNING:
            qmp = Qmp(node, socket_dir(self.c.dir.node_dir(node)) / "qmp.sock")
            await qmp.connect(timeout=5)
            try:
                if f"hp-{iface}" not in await qmp.devices():
                    raise SessionError(
                        f"{node}.{iface} was plugged in when {node} booted and cannot be "
                        f"unplugged while it runs: stop {node}, remove the interface, start it")
                await qmp.unplug_nic(f"hp-{iface}", f"hp-{iface}")
            finally:
                await qmp.close()
        self.c.nics.discard((node, iface))
        self.c.topo.update_node(node, interfaces=[i for i in n.interfaces if i.name != iface])
        if node in self.c.plans:
            self.c.plans[node].macs.pop(iface, None)
            self.c.plans[node].addresses.pop(iface, None)
        self.c.save_topology()

    async def _configure_live(self, node: str, iface: str, new: MachinePlan) -> None:
        """Name, raise and address an interface in a running guest, as its boot would have."""
        mac = self.c.plans[node].macs[iface]
        addr = new.addresses.get(iface)
        script = (f'for d in /sys/class/net/*; do [ "$(cat $d/address)" = {mac} ] && '
                  f'[ "${{d##*/}}" != {iface} ] && ip link set dev "${{d##*/}}" name {iface}; '
                  f'done; ip link set dev {iface} up')
        if addr and addr != self.c.plans[node].addresses.get(iface):
            script += f"; ip addr replace {addr} dev {iface}"
            self.c.plans[node].addresses[iface] = addr
        for route in new.routes:
            if route not in self.c.plans[node].routes:
                dest = "default" if route.destination.prefixlen == 0 else str(route.destination)
                script += f"; ip route replace {dest} via {route.via}"
                self.c.plans[node].routes.append(route)
        for _ in range(50):   # a hot-plugged NIC takes a moment to appear in the guest
            r = await self.c.node(node).run(f"grep -qx {mac} /sys/class/net/*/address")
            if r.exitcode == 0:
                break
            await asyncio.sleep(0.1)
        r = await self.c.node(node).run(script)
        if r.exitcode != 0:
            raise SessionError(f"{node}.{iface}: configuring the interface failed: "
                               f"{r.stderr.decode(errors='replace').strip()}")

    async def remove_link(self, name: str) -> Link:
        """Unplug a link; both ends stay up, nothing else is disturbed."""
        link = self.c.topo.link(name)
        if self.c.running:
            await self._unwire_link(link)
        self.c.topo.remove_link(name)
        self.c.save_topology()
        return link

    async def _unwire_link(self, link: Link) -> None:
        """Take a link out of the vswitch (the topology keeps it)."""
        dev = f"link:{link.name}"
        if dev in self.c.wiring.devices:
            await self.c.fabric.remove_device(dev)
            del self.c.wiring.devices[dev]
        for end in (link.a, link.b):
            fab = self.c.wiring.devices.get(end.node)
            if fab is not None and self.c.topo.node(end.node).kind.is_fabric:
                await self.c.fabric.remove_port(end.node, end.iface)
                fab.ports = [p for p in fab.ports if p.name != end.iface]
        for e in ("a", "b"):
            self.c.wiring.taps.pop((link.name, e), None)

    async def move_link_end(self, name: str, which: End, iface: str | None = None) -> Link:
        """Plug one end of a link into another interface of its node (a new one when `iface`
        is None or one the node lacks: `Topology.set_link_iface`). While running, the link is
        unplugged, the interface it leaves goes down in a running guest (its address would
        clash: the segment hands the new interface the same one), and the link is plugged in
        again, hot-plugging a NIC when the machine needs one; the peers forget the old MAC."""
        link = self.c.topo.link(name)
        new = self.c.topo.set_link_iface(name, which, iface)
        self.c.save_topology()
        if not self.c.running or new == link:
            return new
        old = link.end(which)
        await self._unwire_link(link)
        await self._release_interface(old.node, old.iface)
        await self._wire_link(new)
        if old.node in self.c.agents:
            await self._forget_neighbour(old.node)
        return new

    async def _release_interface(self, node: str, iface: str) -> None:
        """Take a running guest's interface out of use: no address, down, and its address and
        the routes through it gone from the plan (so plugging a link in there re-adds them)."""
        if self.c.states.get(node) is not NodeState.RUNNING or node not in self.c.agents:
            return
        p = self.c.plans[node]
        addr = p.addresses.pop(iface, None)
        if addr is not None:
            p.routes = [r for r in p.routes if r.via not in addr.network]
        r = await self.c.node(node).run(f"ip addr flush dev {iface}; ip link set dev {iface} down")
        if r.exitcode != 0:
            raise SessionError(f"{node}.{iface}: taking the interface down failed: "
                               f"{r.stderr.decode(errors='replace').strip()}")

    async def rename_node(self, old: str, new: str) -> None:
        """Rename a node. In a running lab a machine or NAT restarts under its new name (its
        disk kept; its MACs follow the name); a hub or switch, which lives inside the vswitch,
        is renamed while the lab is stopped."""
        node = self.c.topo.node(old)
        if self.c.running and node.kind.is_fabric:
            raise SessionError(f"{old} runs inside the vswitch: rename it while the lab is "
                               "stopped")
        restart = self.c.running and self.c.states.get(old) in (NodeState.RUNNING,
                                                            NodeState.STARTING)
        if restart:
            await self.lifecycle.stop_node(old)
        links = [lk.name for lk in self.c.topo.links_of(old)]
        if self.c.running:
            for name in links:
                await self._unwire_link(self.c.topo.link(name))
        self.c.topo.rename_node(old, new)
        if self.c.dir.node_dir(old).exists():
            self.c.dir.node_dir(old).rename(self.c.dir.node_dir(new))
        self.c.states[new] = self.c.states.pop(old, NodeState.STOPPED)
        self.c.nics = {(new if n == old else n, i) for n, i in self.c.nics}
        self.c.save_topology()
        if self.c.running:
            self.c.plans = plan(self.c.topo)
            for name in links:
                await self._wire_link(self.c.topo.link(name))
            if restart:
                await self.lifecycle.start_node(new)
                await self._forget_neighbour(new)

    async def _forget_neighbour(self, name: str) -> None:
        """The machines that share a segment with `name` drop their ARP entries, which hold
        the MACs it had under its old name, rather than wait for them to go stale."""
        peers = {n for seg in segments(self.c.topo) if any(e[0] == name for e in seg.endpoints)
                 for n, _ in seg.endpoints if n != name and n in self.c.agents}
        for peer in sorted(peers):
            await self.c.node(peer).run("ip neigh flush all", timeout=10)

    async def remove_node(self, name: str) -> None:
        """Remove a node and its links; while running, stop its process."""
        node = self.c.topo.node(name)
        for link in self.c.topo.links_of(name):
            await self.remove_link(link.name)
        if self.c.running:
            if node.kind.is_fabric:
                await self.c.fabric.remove_device(name)
                self.c.wiring.devices.pop(name, None)
            else:
                role = self.c.role(name)
                self.c.stopping.add(role)
                agent = self.c.agents.pop(name, None)
                if agent is not None:
                    await agent.close()
                await self.c.registry.stop(role)
                self.c.stopping.discard(role)
        self.c.nics = {(n, i) for n, i in self.c.nics if n != name}
        self.c.topo.remove_node(name)
        self.c.states.pop(name, None)
        self.c.save_topology()

