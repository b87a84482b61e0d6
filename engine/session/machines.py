"""From a model node and its address plan to a bootable guest (config + QEMU spec)."""

from __future__ import annotations

from pathlib import Path

from engine.hosts.base import Host
from engine.images.accel import AccelChoice
from engine.images.builder import Image
from engine.images.node_config import GuestFile, InterfaceConfig, NodeConfig
from engine.images.qemu_boot import MachineSpec, NicSpec, prepare_node
from engine.model import Node, NodeKind
from engine.plan.addressing import MachinePlan


def nic_netdev(socket: Path) -> str:
    """QEMU listens on the NIC's socket; the vswitch connects (and reconnects) to it."""
    return f"stream,server=on,addr.type=unix,addr.path={socket}"


def node_config(node: Node, plan: MachinePlan, ssh_keys: list[str] | None = None) -> NodeConfig:
    cfg = NodeConfig(hostname=node.name, ssh_keys=list(ssh_keys or []))
    for iface in node.interfaces:
        addr = plan.addresses.get(iface.name)
        cfg.interfaces.append(InterfaceConfig(iface.name, plan.macs[iface.name],
                                              [str(addr)] if addr else []))
    for route in plan.routes:
        dest = "default" if route.destination.prefixlen == 0 else str(route.destination)
        cfg.routes.append(f"{dest} via {route.via}")
    if node.kind is NodeKind.ROUTER:
        cfg.sysctls["net.ipv4.ip_forward"] = "1"
    if plan.dns:
        resolv = "".join(f"nameserver {d}\n" for d in plan.dns)
        cfg.files.append(GuestFile("/etc/resolv.conf", resolv.encode()))
    return cfg


async def prepare_machine(host: Host, node: Node, plan: MachinePlan, node_dir: Path,
                          image: Image | Path, accel: AccelChoice,
                          nic_socket: dict[str, Path]) -> MachineSpec:
    """The node's overlay (made once, kept across restarts), config file and QEMU spec."""
    nics = [NicSpec(plan.macs[i.name], nic_netdev(nic_socket[i.name]),
                    node.nic.value if node.nic else "virtio") for i in node.interfaces]
    spec = await prepare_node(host, node.name, node_dir, image, accel,
                              config=node_config(node, plan), nics=nics,
                              memory_mb=node.memory)
    spec.cpus = node.cpus or 1
    spec.arch = node.arch or "x86_64"
    spec.storages = list(node.storages)
    return spec
