"""Pieces of QEMU command lines (pure functions, unit-tested argument by argument).

Machines' full command lines are built by `engine.images.qemu_boot.qemu_argv` from these
pieces: NIC device models, the binary for an architecture, the seed paper's storages. Every NIC
backend is a `-netdev stream` unix socket *QEMU listens on*; the vswitch connects to it, so a
restarted vswitch (or a restarted QEMU) is simply reconnected by the vswitch.

A slirp node is a QEMU with no machine at all (`-M none`): its user-mode network and its
stream socket are joined by a QEMU hub, the seed paper's "empty QEMU" trick.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.model import NicModel, Storage, StorageKind

NIC_DEVICE = {NicModel.VIRTIO: "virtio-net-pci", NicModel.E1000: "e1000",
              NicModel.RTL8139: "rtl8139"}

QEMU_BINARY = {"x86_64": "qemu-system-x86_64", "i386": "qemu-system-i386",
               "aarch64": "qemu-system-aarch64", "arm": "qemu-system-arm",
               "riscv64": "qemu-system-riscv64", "mips": "qemu-system-mips",
               "ppc": "qemu-system-ppc", "ppc64": "qemu-system-ppc64"}


def qemu_binary(arch: str) -> str:
    return QEMU_BINARY.get(arch, f"qemu-system-{arch}")


def _unix_server(chardev_id: str, path: Path, extra: str = "") -> list[str]:
    return ["-chardev", f"socket,id={chardev_id},path={path},server=on,wait=off{extra}"]


def storage_args(s: Storage, index: int) -> list[str]:
    ro = ",readonly=on" if s.readonly else ""
    if s.kind is StorageKind.VIRTFS:
        tag = s.tag or f"share{index}"
        return ["-virtfs", f"local,path={s.source},mount_tag={tag},security_model=none,"
                           f"id=fs{index}{ro}"]
    if s.kind is StorageKind.FAT:
        # QEMU's vvfat is read-only unless asked for rw:, and then the drive must say so too
        mode = "" if s.readonly else "rw:"
        return ["-drive", f"file=fat:{mode}{s.source},format=raw,if=virtio,id=st{index}{ro}"]
    if s.kind is StorageKind.SQUASHFS:
        return ["-drive", f"file={s.source},format=raw,if=virtio,readonly=on,id=st{index}"]
    if s.kind is StorageKind.NBD:
        return ["-drive", f"file={s.source},format=raw,if=virtio,id=st{index}{ro}"]
    return ["-drive", f"file={s.source},if=virtio,id=st{index}{ro}"]


@dataclass(frozen=True)
class PortForward:
    """Outside `host_port` on 127.0.0.1 reaches `guest_port` of `guest` through the NAT."""

    protocol: str       # "tcp" or "udp"
    host_port: int
    guest: str          # guest address inside 10.0.2.0/24
    guest_port: int


def slirp_argv(name: str, socket: Path, qmp_socket: Path,
               forwards: Sequence[PortForward] = ()) -> list[str]:
    """A machine-less QEMU joining user-mode networking (NAT) to one stream socket."""
    user = "user,id=user0,net=10.0.2.0/24"
    for f in forwards:
        user += f",hostfwd={f.protocol}:127.0.0.1:{f.host_port}-{f.guest}:{f.guest_port}"
    return ["qemu-system-x86_64", "-name", f"{name},process=nemu-{name}", "-M", "none",
            "-nodefaults", "-no-user-config", "-display", "none",
            "-netdev", user,
            "-netdev", f"stream,id=wire,server=on,addr.type=unix,addr.path={socket}",
            "-netdev", "hubport,id=hp0,hubid=0,netdev=user0",
            "-netdev", "hubport,id=hp1,hubid=0,netdev=wire",
            *_unix_server("qmp", qmp_socket), "-mon", "chardev=qmp,mode=control"]
