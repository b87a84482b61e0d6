"""Nodes of a topology: what the user drew, never a running process.

Kinds follow the seed paper: `host` (VHost), `router` (VRouter with services), `hub`,
`switch` (VHub/VSwitch, run by the vswitch) and `slirp` (NAT to the outside through QEMU
user networking).
"""

from __future__ import annotations

import difflib
import enum
import ipaddress
import math
import re
from dataclasses import dataclass, field
from typing import Any

from engine.errors import TopologyError

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")
MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


class NodeKind(enum.Enum):
    HOST = "host"
    ROUTER = "router"
    HUB = "hub"
    SWITCH = "switch"
    SLIRP = "slirp"

    @property
    def is_machine(self) -> bool:
        """Hosts and routers are QEMU machines; the others are emulated by vswitch or QEMU."""
        return self in (NodeKind.HOST, NodeKind.ROUTER)

    @property
    def is_fabric(self) -> bool:
        """Hubs and switches forward between several ports."""
        return self in (NodeKind.HUB, NodeKind.SWITCH)

    @property
    def iface_prefix(self) -> str:
        return "eth" if self.is_machine else ("nat" if self is NodeKind.SLIRP else "p")


class NicModel(enum.Enum):
    VIRTIO = "virtio"
    E1000 = "e1000"
    RTL8139 = "rtl8139"


class StorageKind(enum.Enum):
    """The seed paper's virtual storages."""

    DISK = "disk"          # a qcow2/raw file, attached through a copy-on-write overlay
    SQUASHFS = "squashfs"  # a read-only compressed image
    FAT = "fat"            # a host directory seen as a FAT disk
    VIRTFS = "9p"          # a host directory shared with virtio-9p
    NBD = "nbd"            # a network block device export


@dataclass(frozen=True)
class Storage:
    kind: StorageKind
    source: str            # file, directory, or nbd://host:port/name
    readonly: bool = False
    tag: str = ""          # mount tag for 9p; free label otherwise


@dataclass(frozen=True)
class Interface:
    """A NIC of a machine, or a port of a hub/switch/slirp."""

    name: str
    address: str | None = None   # "10.0.0.1/24"; None = nemu assigns (or none on fabric ports)
    mac: str | None = None       # None = deterministic MAC chosen by the engine
    vlan: int | None = None      # switch ports: access VLAN

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]{0,14}", self.name):
            raise TopologyError(f"interface name {self.name!r} must be 1-15 letters, digits, "
                                "'_', '-', '.' starting with a letter", "name")
        if self.address is not None:
            try:
                ipaddress.ip_interface(self.address)
            except ValueError:
                raise TopologyError(f"{self.address!r} is not an address with prefix, e.g. "
                                    "'10.0.0.1/24'", "address") from None
            if "/" not in self.address:
                raise TopologyError(f"{self.address!r} needs a prefix length, e.g. "
                                    f"'{self.address}/24'", "address")
        if self.mac is not None:
            if not MAC_RE.match(self.mac):
                raise TopologyError(f"{self.mac!r} is not a MAC address like "
                                    "'52:54:00:12:34:56' (lower case)", "mac")
            if int(self.mac[:2], 16) & 1:
                raise TopologyError(f"{self.mac!r} is a multicast MAC; a NIC needs a unicast "
                                    "one", "mac")
        if self.vlan is not None and not 1 <= self.vlan <= 4094:
            raise TopologyError(f"vlan {self.vlan} must be between 1 and 4094", "vlan")


@dataclass(frozen=True)
class Forward:
    """An outside port on 127.0.0.1 that reaches a machine behind a slirp NAT."""

    protocol: str
    host_port: int
    node: str
    guest_port: int


def parse_forward(text: str, where: str = "forwards") -> Forward:
    """'tcp:2222:h1:22' -> Forward; says what is wrong otherwise."""
    parts = text.split(":") if isinstance(text, str) else []
    if len(parts) != 4 or parts[0] not in ("tcp", "udp"):
        raise TopologyError(f"{text!r} must read PROTOCOL:HOSTPORT:NODE:GUESTPORT, e.g. "
                            "'tcp:2222:h1:22'", where)
    try:
        host_port, guest_port = int(parts[1]), int(parts[3])
    except ValueError:
        raise TopologyError(f"{text!r}: ports must be numbers", where) from None
    if not (1 <= host_port <= 65535 and 1 <= guest_port <= 65535):
        raise TopologyError(f"{text!r}: ports must be between 1 and 65535", where)
    return Forward(parts[0], host_port, parts[2], guest_port)


DEFAULT_IMAGE = {NodeKind.HOST: "host", NodeKind.ROUTER: "router"}

# The services a router can be asked to run, each with the guest service that provides it
# (/etc/nemu/services/* in the router image, images/router.yaml). A name outside this list is a
# typo ('dchp') that would otherwise be saved and silently ignored. Options are free-form until
# the services are wired into the guests' configuration, so only their shape is checked.
SERVICES: dict[str, str] = {
    "dhcp": "dnsmasq", "dns": "dnsmasq",
    "rip": "bird", "ospf": "bird", "bgp": "bird",
    "http": "http", "nfs": "nfs", "ntp": "ntp",
}


def service_problems(services: Any) -> list[tuple[str, str]]:
    """(place, message) for each unknown service or options that are not a mapping."""
    out: list[tuple[str, str]] = []
    for name, options in services.items():
        where = f"services.{name}"
        if not isinstance(name, str) or name not in SERVICES:
            close = difflib.get_close_matches(str(name), SERVICES, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            out.append((where, f"unknown service {name!r} (known: "
                               f"{', '.join(sorted(SERVICES))}){hint}"))
        elif not isinstance(options, dict):
            got = "nothing" if options is None else f"{type(options).__name__} {options!r}"
            out.append((where, f"expected a mapping of options, got {got}"))
    return out


@dataclass
class Node:
    """One element of the drawing. Mutate through `Topology` so listeners hear of it."""

    name: str
    kind: NodeKind
    interfaces: list[Interface] = field(default_factory=list)
    image: str | None = None
    memory: int | None = None       # MiB
    cpus: int | None = None
    nic: NicModel | None = None
    arch: str | None = None
    storages: list[Storage] = field(default_factory=list)
    host: str = "local"             # the machine (see Topology.machines) this node runs on
    pos: tuple[float, float] = (0.0, 0.0)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: str = ""
    forwards: list[str] = field(default_factory=list)   # slirp: "tcp:2222:h1:22" (inward)

    def __post_init__(self) -> None:
        if not NAME_RE.match(self.name):
            raise TopologyError(f"node name {self.name!r} must start with a letter and hold at "
                                "most 32 letters, digits, '_' or '-'", "name")
        if self.kind.is_machine:
            self.image = DEFAULT_IMAGE[self.kind] if self.image is None else self.image
            self.memory = 128 if self.memory is None else self.memory
            self.cpus = 1 if self.cpus is None else self.cpus
            self.nic = NicModel.VIRTIO if self.nic is None else self.nic
            self.arch = "x86_64" if self.arch is None else self.arch
            if not self.image:
                raise TopologyError("a machine needs an image", "image")
            if not re.fullmatch(r"[a-z][a-z0-9_]{1,15}", self.arch):
                raise TopologyError(f"arch {self.arch!r} is not a QEMU architecture name "
                                    "(such as x86_64 or i386)", "arch")
            if not 16 <= self.memory <= 1024 * 1024:
                raise TopologyError(f"memory must be between 16 MiB and 1 TiB (got "
                                    f"{self.memory} MiB)", "memory")
        else:
            for attr in ("image", "memory", "cpus", "nic", "arch"):
                if getattr(self, attr) is not None:
                    raise TopologyError(f"a {self.kind.value} is not a machine and has no "
                                        f"{attr}", attr)
            if self.storages:
                raise TopologyError(f"a {self.kind.value} has no storages", "storages")
        if not all(isinstance(v, int | float) and not isinstance(v, bool)
                   and abs(v) <= 1e308 and math.isfinite(v) for v in self.pos):
            # NaN or infinity would poison the canvas (no item can be placed or hit there).
            raise TopologyError(f"position {self.pos!r} must be finite numbers", "pos")
        if self.services and self.kind is not NodeKind.ROUTER:
            raise TopologyError(f"only routers run services; {self.name} is a "
                                f"{self.kind.value}", "services")
        for where, message in service_problems(self.services):
            raise TopologyError(message, where)
        if self.cpus is not None and not 1 <= self.cpus <= 64:
            raise TopologyError(f"cpus must be between 1 and 64 (got {self.cpus})", "cpus")
        if not self.kind.is_fabric and any(i.vlan is not None for i in self.interfaces):
            raise TopologyError("only switch and hub ports carry a vlan", "interfaces")
        names = [i.name for i in self.interfaces]
        for n in names:
            if names.count(n) > 1:
                raise TopologyError(f"interface {n!r} is declared twice", "interfaces")
        if self.kind is NodeKind.SLIRP and len(self.interfaces) > 1:
            raise TopologyError("a slirp has a single interface", "interfaces")
        if self.forwards and self.kind is not NodeKind.SLIRP:
            raise TopologyError("only a slirp forwards ports", "forwards")
        for i, text in enumerate(self.forwards):
            parse_forward(text, f"forwards[{i}]")

    def interface(self, name: str) -> Interface | None:
        return next((i for i in self.interfaces if i.name == name), None)

    def next_interface_name(self) -> str:
        """The first free name in this kind's series: eth0, eth1... or p0, p1..."""
        used = {i.name for i in self.interfaces}
        n = 0
        while f"{self.kind.iface_prefix}{n}" in used:
            n += 1
        return f"{self.kind.iface_prefix}{n}"
