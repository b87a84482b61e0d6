"""QEMU command lines, built from plain specs (pure functions, unit-tested argument by argument).

Every machine gets: a QMP socket (control), a serial console on a unix socket with a
scroll-back log, a guest-agent channel on virtio-serial, and one NIC per interface whose
backend is a `-netdev stream` unix socket *QEMU listens on*; the vswitch connects to it. That
way a restarted vswitch (or a restarted QEMU) is simply reconnected by the vswitch.

A slirp node is a QEMU with no machine at all (`-M none`): its user-mode network and its
stream socket are joined by a QEMU hub, the seed paper's "empty QEMU" trick.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from engine.model import NicModel, Storage, StorageKind

NIC_DEVICE = {NicModel.VIRTIO: "virtio-net-pci", NicModel.E1000: "e1000",
              NicModel.RTL8139: "rtl8139"}

QEMU_BINARY = {"x86_64": "qemu-system-x86_64", "i386": "qemu-system-i386",
               "aarch64": "qemu-system-aarch64", "arm": "qemu-system-arm",
               "riscv64": "qemu-system-riscv64", "mips": "qemu-system-mips",
               "ppc": "qemu-system-ppc", "ppc64": "qemu-system-ppc64"}


@dataclass(frozen=True)
class NicSpec:
    iface: str
    mac: str
    socket: Path                      # unix socket QEMU listens on; the vswitch connects
    model: NicModel = NicModel.VIRTIO


@dataclass(frozen=True)
class BootSpec:
    """How the guest boots: a kernel + initramfs (built images) or a disk's own loader."""

    kernel: Path | None = None
    initrd: Path | None = None
    append: str = ""


@dataclass(frozen=True)
class MachineSpec:
    name: str
    disk: Path                        # the node's own copy-on-write overlay (qcow2)
    qmp_socket: Path
    console_socket: Path
    console_log: Path
    agent_socket: Path
    boot: BootSpec = field(default_factory=BootSpec)
    arch: str = "x86_64"
    memory: int = 128                 # MiB
    cpus: int = 1
    accel: str = "tcg"                # "kvm" or "tcg"
    nics: Sequence[NicSpec] = ()
    storages: Sequence[Storage] = ()
    config: Path | None = None        # the node's configuration, seen by the guest in fw_cfg


def qemu_binary(arch: str) -> str:
    return QEMU_BINARY.get(arch, f"qemu-system-{arch}")


def _unix_server(chardev_id: str, path: Path, extra: str = "") -> list[str]:
    return ["-chardev", f"socket,id={chardev_id},path={path},server=on,wait=off{extra}"]


def netdev_args(nic: NicSpec, index: int) -> list[str]:
    """The backend and device of one NIC; also usable for hot-plug through QMP."""
    nd = f"net{index}"
    return ["-netdev", f"stream,id={nd},server=on,addr.type=unix,addr.path={nic.socket}",
            "-device", f"{NIC_DEVICE[nic.model]},netdev={nd},mac={nic.mac},id=nic{index}"]


def storage_args(s: Storage, index: int) -> list[str]:
    ro = ",readonly=on" if s.readonly else ""
    if s.kind is StorageKind.VIRTFS:
        tag = s.tag or f"share{index}"
        return ["-virtfs", f"local,path={s.source},mount_tag={tag},security_model=none,"
                           f"id=fs{index}{ro}"]
    if s.kind is StorageKind.FAT:
        mode = "" if s.readonly else "rw:"
        return ["-drive", f"file=fat:{mode}{s.source},format=raw,if=virtio,id=st{index}"]
    if s.kind is StorageKind.SQUASHFS:
        return ["-drive", f"file={s.source},format=raw,if=virtio,readonly=on,id=st{index}"]
    if s.kind is StorageKind.NBD:
        return ["-drive", f"file={s.source},format=raw,if=virtio,id=st{index}{ro}"]
    return ["-drive", f"file={s.source},if=virtio,id=st{index}{ro}"]


def machine_argv(spec: MachineSpec) -> list[str]:
    accel = "kvm" if spec.accel == "kvm" else "tcg,tb-size=64"
    argv = [qemu_binary(spec.arch),
            "-name", f"{spec.name},process=nemu-{spec.name}",
            "-nodefaults", "-no-user-config", "-display", "none", "-vga", "none",
            "-accel", accel, "-m", str(spec.memory), "-smp", str(spec.cpus)]
    if spec.accel == "kvm":
        argv += ["-cpu", "host"]
    if spec.boot.kernel:
        argv += ["-kernel", str(spec.boot.kernel)]
        if spec.boot.initrd:
            argv += ["-initrd", str(spec.boot.initrd)]
        if spec.boot.append:
            argv += ["-append", spec.boot.append]
    argv += ["-drive", f"file={spec.disk},format=qcow2,if=virtio,cache=writeback,id=root"]
    if spec.config:
        argv += ["-fw_cfg", f"name=opt/nemu/config,file={spec.config}"]
    argv += [*_unix_server("qmp", spec.qmp_socket), "-mon", "chardev=qmp,mode=control"]
    argv += _unix_server("console", spec.console_socket,
                         f",logfile={spec.console_log},logappend=on")
    argv += ["-serial", "chardev:console"]
    argv += _unix_server("qga", spec.agent_socket)
    argv += ["-device", "virtio-serial-pci,id=vser",
             "-device", "virtserialport,chardev=qga,name=org.qemu.guest_agent.0"]
    for i, nic in enumerate(spec.nics):
        argv += netdev_args(nic, i)
    for i, s in enumerate(spec.storages):
        argv += storage_args(s, i)
    return argv


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
