"""From a model node and its address plan to a bootable guest (config + QEMU spec)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from engine.errors import SessionError
from engine.hosts.base import Host
from engine.images.accel import AccelChoice
from engine.images.builder import Image
from engine.images.node_config import GuestFile, InterfaceConfig, NodeConfig
from engine.images.qemu_boot import MachineSpec, NicSpec, disk_format, prepare_node
from engine.images.recipe import DEFAULT_ARCH, available_recipes, load_recipe
from engine.model import Node, NodeKind, Storage, StorageKind
from engine.plan.addressing import MachinePlan


def is_disk_path(image: str) -> bool:
    """Whether a node's `image` names a user's disk file rather than an image recipe."""
    return "/" in image or Path(image).suffix in (".qcow2", ".img", ".raw")


def machine_image(node: Node) -> str:
    """The image (recipe name or disk path) a machine boots, for its architecture: its `image`
    when that recipe is built for the node's arch, else the recipe `<image>-<arch>` (a node with
    `arch: i386` and the default image `host` boots `host-i386`). A user's disk is taken as is."""
    name = node.image or ""
    if is_disk_path(name):
        return name
    arch = node.arch or DEFAULT_ARCH
    recipe = load_recipe(name)
    if recipe.arch == arch:
        return name
    variant = f"{name}-{arch}"
    if variant in available_recipes() and load_recipe(variant).arch == arch:
        return variant
    raise SessionError(
        f"node {node.name}: no {arch} image for image {name!r} (it is built for {recipe.arch} "
        f"and there is no recipe {variant!r}); choose an image built for {arch} or set the "
        f"node's arch to {recipe.arch}")


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
    for out in plan.masquerade:        # toward a slirp NAT, which answers only its own subnet
        cfg.commands.append(f"iptables -t nat -A POSTROUTING -o {out} -j MASQUERADE")
    if plan.dns:
        resolv = "".join(f"nameserver {d}\n" for d in plan.dns)
        cfg.files.append(GuestFile("/etc/resolv.conf", resolv.encode()))
    return cfg


async def prepare_machine(host: Host, node: Node, plan: MachinePlan, node_dir: Path,
                          image: Image | Path, accel: AccelChoice,
                          nic_socket: dict[str, Path],
                          resolve: Callable[[str], Path] = Path) -> MachineSpec:
    """The node's overlay (made once, kept across restarts), config file and QEMU spec."""
    arch = node.arch or DEFAULT_ARCH
    if isinstance(image, Image) and image.arch != arch:
        raise SessionError(f"node {node.name}: its disk is built on image {image.name!r} for "
                           f"{image.arch}, not {arch}; reset the node's disk to change its arch")
    nics = [NicSpec(plan.macs[i.name], nic_netdev(nic_socket[i.name]),
                    node.nic.value if node.nic else "virtio") for i in node.interfaces]
    spec = await prepare_node(host, node.name, node_dir, image, accel,
                              config=node_config(node, plan), nics=nics,
                              memory_mb=node.memory)
    spec.cpus = node.cpus or 1
    spec.arch = arch
    spec.storages = [await storage_overlay(host, node.name, k, st, node_dir, resolve)
                     for k, st in enumerate(node.storages)]
    return spec


async def storage_overlay(host: Host, node: str, index: int, storage: Storage,
                          node_dir: Path, resolve: Callable[[str], Path] = Path) -> Storage:
    """A storage as QEMU gets it: its path from the lab's folder (`resolve`), and a writable
    extra disk through a copy-on-write overlay in the node's directory (made once, kept
    across restarts, like the root disk): the guest's writes stay with the node and the
    user's file is never changed."""
    if storage.kind is StorageKind.NBD:
        return storage
    source = resolve(storage.source).resolve()
    if not source.exists():
        raise SessionError(f"node {node}: storages[{index}]: {storage.source} does not exist"
                           f" (looked for {source})")
    if storage.kind is not StorageKind.DISK or storage.readonly:
        return replace(storage, source=str(source))
    if not source.is_file():
        raise SessionError(f"node {node}: storages[{index}]: disk {storage.source} does not "
                           "exist or is not a file")
    overlay = node_dir / f"storage{index}.qcow2"
    if not overlay.exists():
        fmt = await disk_format(host, source)
        await host.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", fmt, "-b",
                        str(source), str(overlay)], timeout=60)
    return replace(storage, source=str(overlay))
