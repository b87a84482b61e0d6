"""Booting a node from an image: its overlay, its QEMU command line, its guest agent.

The engine builds on this. A node directory holds the node's own files:

    disk.qcow2    copy-on-write overlay on the image's read-only base (persists across boots)
    config.sh     per-node configuration, handed to the guest via fw_cfg (node_config.py)
    agent.sock    qemu-guest-agent (virtio-serial port org.qemu.guest_agent.0)
    console.sock  the serial console (ttyS0, a root shell), also logged to console.log
    qmp.sock      QMP monitor

Lifecycle of a `GuestMachine`: created (nothing runs) -> start() (QEMU running, agent answering)
-> poweroff() or stop() (QEMU gone; the overlay keeps what the guest wrote).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import NemuError
from engine.hosts import Host, ProcessHandle, ProcessState
from engine.images.accel import AccelChoice
from engine.images.builder import READY_FILE, Image
from engine.images.disk import create_overlay
from engine.images.guest_agent import GuestAgent, GuestAgentError
from engine.images.node_config import FW_CFG_NAME, NodeConfig
from engine.model import Storage
from engine.qemu.argv import NIC_DEVICE, qemu_binary, storage_args

NIC_MODELS = {model.value: device for model, device in NIC_DEVICE.items()}
_SOCKET_MAX = 100  # sun_path is 108 bytes
HOTPLUG_SLOTS = 4  # NICs a running x86 machine can gain before it needs a restart


class BootError(NemuError):
    """A node that could not be booted or did not come up; names the node."""


class QemuExitedError(BootError):
    """QEMU itself ended while the guest was booting; `log` is the end of its output."""

    def __init__(self, message: str, log: str) -> None:
        super().__init__(message)
        self.log = log


@dataclass
class NicSpec:
    """One NIC: guest MAC, model (virtio | e1000 | rtl8139) and the QEMU -netdev backend.

    `netdev` is the backend without its id, e.g. "stream,server=off,addr.type=unix,addr.path=P",
    "socket,connect=127.0.0.1:5000" or "user,restrict=on".
    """

    mac: str
    netdev: str
    model: str = "virtio"


@dataclass
class MachineSpec:
    """Everything needed to write one node's QEMU command line."""

    name: str
    disk: Path
    agent_socket: Path
    accel: AccelChoice
    kernel: Path | None = None
    initrd: Path | None = None
    cmdline: str = ""
    config: Path | None = None
    memory_mb: int = 128
    nics: list[NicSpec] = field(default_factory=list)
    console_socket: Path | None = None
    console_log: Path | None = None
    qmp_socket: Path | None = None
    extra_args: list[str] = field(default_factory=list)
    ready_file: str | None = None     # a nemu image's "configured" marker, read via the agent
    wait_for_agent: bool = True       # False for a user's disk, which may run no qemu-ga
    cpus: int = 1
    arch: str = "x86_64"              # selects qemu-system-<arch> (legacy guests: i386...)
    storages: list[Storage] = field(default_factory=list)   # the seed paper's extra storages


def qemu_argv(spec: MachineSpec) -> list[str]:
    """The full QEMU argv for a node (the one builder of machine command lines)."""
    # q35: its PCIe IRQ routing costs the guest ~0.3 s less at boot than pc's ACPI link objects
    # under TCG. NICs hot-plug into empty root ports (HOTPLUG_BUSES) made here.
    machine = ["-M", "q35"] if hotplug_buses(spec.arch) else []
    argv = [qemu_binary(spec.arch), "-name", f"nemu-{spec.name}", *machine,
            *spec.accel.qemu_args(), "-m", str(spec.memory_mb), "-smp", str(spec.cpus),
            "-nodefaults", "-no-user-config", "-display", "none",
            "-drive", f"if=none,id=root,file={spec.disk},format=qcow2,discard=unmap",
            "-device", "virtio-blk-pci,drive=root"]
    if spec.kernel is not None:
        if machine:
            # qboot (shipped with QEMU) boots a -kernel straight away: ~0.2 s less than SeaBIOS.
            argv += ["-bios", "qboot.rom"]
        argv += ["-kernel", str(spec.kernel)]
        if spec.initrd is not None:
            argv += ["-initrd", str(spec.initrd)]
        argv += ["-append", spec.cmdline]
    if spec.config is not None:
        argv += ["-fw_cfg", f"name={FW_CFG_NAME},file={spec.config}"]
    argv += ["-chardev", f"socket,id=qga0,path={spec.agent_socket},server=on,wait=off",
             "-device", "virtio-serial-pci",
             "-device", "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0"]
    if spec.console_socket is not None:
        log = f",logfile={spec.console_log}" if spec.console_log else ""
        argv += ["-chardev", f"socket,id=con0,path={spec.console_socket},server=on,wait=off{log}",
                 "-serial", "chardev:con0"]
    elif spec.console_log is not None:
        argv += ["-serial", f"file:{spec.console_log}"]
    if spec.qmp_socket is not None:
        argv += ["-qmp", f"unix:{spec.qmp_socket},server=on,wait=off"]
    for i, nic in enumerate(spec.nics):
        if nic.model not in NIC_MODELS:
            raise BootError(f"node {spec.name}: NIC model {nic.model!r} is not one of "
                            f"{', '.join(NIC_MODELS)}")
        argv += ["-netdev", f"{nic.netdev},id=net{i}",
                 "-device", f"{NIC_MODELS[nic.model]},netdev=net{i},mac={nic.mac},id=nic{i}"]
    for i, storage in enumerate(spec.storages):
        argv += storage_args(storage, i)
    for k, bus in enumerate(hotplug_buses(spec.arch)):
        argv += ["-device", f"pcie-root-port,id={bus},chassis={k + 1},slot={k + 1}"]
    return argv + spec.extra_args


def hotplug_buses(arch: str) -> list[str]:
    """The empty PCIe root ports a running machine plugs NICs into (until it restarts); none
    where QEMU's default bus takes hot-plugged devices itself."""
    return [f"hp{k}" for k in range(HOTPLUG_SLOTS)] if arch in ("x86_64", "i386") else []


def socket_dir(node_dir: Path) -> Path:
    """Where a node's sockets go: its directory, or a short /tmp path if that is too long."""
    if len(str(node_dir / "console.sock")) <= _SOCKET_MAX:
        return node_dir
    digest = hashlib.sha256(str(node_dir.resolve()).encode()).hexdigest()[:12]
    short = Path(tempfile.gettempdir()) / f"nemu-{digest}"
    short.mkdir(mode=0o700, exist_ok=True)
    return short


async def disk_format(host: Host, path: Path) -> str:
    res = await host.run(["qemu-img", "info", "--output=json", str(path)], timeout=30)
    return str(json.loads(res.text).get("format", "raw"))


async def prepare_node(host: Host, name: str, node_dir: Path, base: Image | Path,
                       accel: AccelChoice, config: NodeConfig | None = None,
                       nics: list[NicSpec] | None = None,
                       memory_mb: int | None = None) -> MachineSpec:
    """Create the node's overlay (first time only) and config file; return its MachineSpec.

    `base` is a built nemu image or a user-supplied qcow2/raw disk that boots by itself (its
    own boot loader and kernel; it gets the same agent port and fw_cfg config, which it may use).
    """
    node_dir.mkdir(parents=True, exist_ok=True)
    overlay = node_dir / "disk.qcow2"
    base_disk = base.disk if isinstance(base, Image) else base
    if not base_disk.exists():
        raise BootError(f"node {name}: base disk {base_disk} does not exist")
    if not overlay.exists():
        if isinstance(base, Image):
            await create_overlay(host, base_disk, overlay)
        else:
            fmt = await disk_format(host, base_disk)
            await host.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", fmt, "-b",
                            str(base_disk.resolve()), str(overlay)], timeout=60)
    cfg_path = config.write(node_dir / "config.sh") if config is not None else None
    sockets = socket_dir(node_dir)
    spec = MachineSpec(
        name=name, disk=overlay, agent_socket=sockets / "agent.sock", accel=accel,
        config=cfg_path, nics=list(nics or []), console_socket=sockets / "console.sock",
        console_log=node_dir / "console.log", qmp_socket=sockets / "qmp.sock",
        memory_mb=memory_mb or (base.memory_mb if isinstance(base, Image) else 256))
    if isinstance(base, Image):
        spec.kernel, spec.initrd, spec.cmdline = base.kernel, base.initrd, base.cmdline
        spec.arch = base.arch             # an i386 image boots under qemu-system-i386
        spec.ready_file = READY_FILE
    else:
        spec.wait_for_agent = False       # ready once QEMU runs; the agent is met on first use
    return spec


class GuestMachine:
    """One running node: its QEMU process (owned by PID) and its guest agent connection."""

    def __init__(self, host: Host, spec: MachineSpec) -> None:
        self.host = host
        self.spec = spec
        self.agent = GuestAgent(spec.agent_socket, spec.name)
        self.handle: ProcessHandle | None = None
        self.boot_seconds: float | None = None

    async def start(self, agent_timeout: float = 120.0,
                    started: Callable[[ProcessHandle], None] | None = None) -> float:
        """Start QEMU and wait until the guest agent answers and (nemu images) the node
        configuration is applied, or (a user's disk, `wait_for_agent` off) until QEMU runs the
        machine; return the seconds this took. `started(handle)` is called as soon as QEMU
        has a PID, before anything else can run (a caller records it there)."""
        if self.handle is not None and self.host.state(self.handle) is ProcessState.RUNNING:
            raise BootError(f"node {self.spec.name}: already running (pid {self.handle.pid})")
        for sock in (self.spec.agent_socket, self.spec.console_socket, self.spec.qmp_socket):
            if sock is not None and sock.exists():
                sock.unlink()
        log = self.spec.disk.parent / "qemu.log"
        t0 = time.monotonic()
        self.handle = await self.host.start(qemu_argv(self.spec), label=f"qemu {self.spec.name}",
                                            log_path=log)
        if started is not None:
            started(self.handle)
        waiter = asyncio.ensure_future(self._wait_ready(agent_timeout))
        try:
            while not waiter.done():
                await asyncio.wait({waiter}, timeout=0.2)
                if not waiter.done() and self.host.state(self.handle) is not ProcessState.RUNNING:
                    waiter.cancel()
                    tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
                    raise QemuExitedError(
                        f"node {self.spec.name}: QEMU exited during boot: {tail}", tail)
            waiter.result()
        except BaseException:
            await self.stop()
            raise
        self.boot_seconds = time.monotonic() - t0
        return self.boot_seconds

    async def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        if not self.spec.wait_for_agent:
            await self._wait_qemu_running(deadline)
            return
        try:
            await self.agent.connect(timeout)
        except GuestAgentError as e:
            raise BootError(f"{e}; the console's last lines: {self._console_tail()!r}") from None
        if self.spec.ready_file is None:
            return
        while True:
            try:
                await self.agent.read_file(self.spec.ready_file)
                return
            except GuestAgentError:
                if time.monotonic() > deadline:
                    raise BootError(f"node {self.spec.name}: the guest agent answers but the "
                                    f"node configuration was not applied within {timeout:.0f} s"
                                    ) from None
                await asyncio.sleep(0.03)

    async def _wait_qemu_running(self, deadline: float) -> None:
        """QEMU creates its sockets once it has parsed every option and built the machine,
        just before the guest's first instruction; a bad disk or option exits before that."""
        sockets = [s for s in (self.spec.qmp_socket, self.spec.console_socket) if s is not None]
        while not all(s.exists() for s in sockets):
            if time.monotonic() > deadline:
                raise BootError(f"node {self.spec.name}: QEMU did not start the machine")
            await asyncio.sleep(0.05)

    def _console_tail(self, lines: int = 6) -> str:
        log = self.spec.console_log
        if log is None or not log.exists():
            return ""
        text = log.read_bytes()[-4000:].decode(errors="replace").replace("\r", "")
        return " | ".join([ln for ln in text.split("\n") if ln.strip()][-lines:])

    @property
    def running(self) -> bool:
        return self.handle is not None and self.host.state(self.handle) is ProcessState.RUNNING

    async def poweroff(self, timeout: float = 30.0) -> None:
        """Clean shutdown through the agent (the guest flushes its disk); kill if it hangs."""
        if not self.running:
            return
        try:
            await self.agent.shutdown("powerdown")
            deadline = time.monotonic() + timeout
            while self.running and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
        except NemuError:
            pass
        await self.stop()

    async def stop(self) -> None:
        """Kill QEMU (by its PID and start time) and close the agent connection."""
        await self.agent.close()
        if self.handle is not None:
            await self.host.stop(self.handle, grace=3.0)
