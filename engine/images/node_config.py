"""Per-node configuration that reaches a guest without rebuilding its image.

The engine describes a node with `NodeConfig`; `render()` turns it into the guest's config file, a
shell file of `nemu_*` calls with every argument quoted, which QEMU hands to the guest as the
fw_cfg blob `opt/nemu/config` (`-fw_cfg name=opt/nemu/config,file=...`). At each boot the guest's
`/etc/nemu/apply-config` reads `/sys/firmware/qemu_fw_cfg/by_name/opt/nemu/config/raw` and applies
it before the guest agent starts, so "agent ready" means "configured". Changing the file and
restarting the node (a new QEMU process) applies a new configuration; the node's disk overlay
keeps everything else.

Verbs (docs/images.md): nemu_hostname NAME; nemu_iface MAC NAME [mtu N]; nemu_addr NAME CIDR;
nemu_route ARGS... (as `ip route replace`); nemu_sshkey KEY; nemu_file PATH MODE BASE64;
nemu_sysctl KEY=VALUE; nemu_service NAME [ARGS...]; nemu_exec SHELL-COMMAND.
"""

from __future__ import annotations

import base64
import ipaddress
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import NemuError
from engine.plan.addressing import mac_for as plan_mac_for

FW_CFG_NAME = "opt/nemu/config"
CONFIG_VERSION = 1

_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_IFNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,14}$")
_MAC = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")
_SERVICE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class NodeConfigError(NemuError):
    """A node configuration that the guest could not apply; says which node and field."""


def mac_for(node: str, index: int) -> str:
    """The MAC the engine gives a node's `index`-th interface (eth<index>): one derivation,
    `engine.plan.addressing.mac_for`, for the images' tools and for running sessions alike."""
    return plan_mac_for(node, f"eth{index}", set())


@dataclass
class InterfaceConfig:
    """One NIC: found in the guest by MAC, renamed to `name`, brought up with its addresses."""

    name: str
    mac: str
    addresses: list[str] = field(default_factory=list)
    mtu: int | None = None


@dataclass
class GuestFile:
    path: str
    content: bytes
    mode: int = 0o644


@dataclass
class NodeConfig:
    """Everything a node needs at boot besides its image."""

    hostname: str
    interfaces: list[InterfaceConfig] = field(default_factory=list)
    routes: list[str] = field(default_factory=list)      # e.g. "default via 10.0.0.1"
    ssh_keys: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)    # e.g. "ssh", "dnsmasq", "bird"
    files: list[GuestFile] = field(default_factory=list)
    sysctls: dict[str, str] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)    # shell commands run last

    def validate(self) -> None:
        where = f"node {self.hostname!r}"
        if not _HOSTNAME.match(self.hostname):
            raise NodeConfigError(f"{where}: hostname must be letters, digits and '-'")
        names: set[str] = set()
        macs: set[str] = set()
        for i, iface in enumerate(self.interfaces):
            w = f"{where}: interfaces[{i}]"
            if not _IFNAME.match(iface.name) or iface.name.startswith("nemutmp"):
                raise NodeConfigError(f"{w}: bad interface name {iface.name!r}")
            if not _MAC.match(iface.mac):
                raise NodeConfigError(f"{w}: MAC {iface.mac!r} must look like 52:54:00:12:34:56")
            if iface.name in names or iface.mac in macs:
                raise NodeConfigError(f"{w}: duplicate name or MAC")
            names.add(iface.name)
            macs.add(iface.mac)
            for addr in iface.addresses:
                try:
                    ipaddress.ip_interface(addr)
                except ValueError:
                    raise NodeConfigError(f"{w}: {addr!r} is not an address/prefix") from None
                if "/" not in addr:
                    raise NodeConfigError(f"{w}: {addr!r} needs a prefix length (/24)")
            if iface.mtu is not None and not 68 <= iface.mtu <= 65535:
                raise NodeConfigError(f"{w}: mtu {iface.mtu} out of range")
        for s in self.services:
            if not _SERVICE.match(s.split()[0] if s.split() else ""):
                raise NodeConfigError(f"{where}: bad service {s!r}")
        for f in self.files:
            if not f.path.startswith("/"):
                raise NodeConfigError(f"{where}: file path {f.path!r} must be absolute")
        for key in self.sysctls:
            if not re.match(r"^[a-z0-9_.]+$", key):
                raise NodeConfigError(f"{where}: bad sysctl {key!r}")

    def render(self) -> str:
        """The guest's config file (a POSIX shell file of nemu_* calls)."""
        self.validate()
        q = shlex.quote
        lines = [f"# nemu node configuration for {self.hostname}",
                 f"nemu_version {CONFIG_VERSION}", f"nemu_hostname {q(self.hostname)}"]
        for key, value in self.sysctls.items():
            lines.append(f"nemu_sysctl {q(f'{key}={value}')}")
        for iface in self.interfaces:
            mtu = f" mtu {iface.mtu}" if iface.mtu else ""
            lines.append(f"nemu_iface {iface.mac} {q(iface.name)}{mtu}")
            lines.extend(f"nemu_addr {q(iface.name)} {q(a)}" for a in iface.addresses)
        for route in self.routes:
            lines.append("nemu_route " + " ".join(q(t) for t in route.split()))
        for key in self.ssh_keys:
            lines.append(f"nemu_sshkey {q(key.strip())}")
        for f in self.files:
            b64 = base64.b64encode(f.content).decode()
            lines.append(f"nemu_file {q(f.path)} {f.mode:o} {b64}")
        for s in self.services:
            lines.append("nemu_service " + " ".join(q(t) for t in s.split()))
        for cmd in self.commands:
            lines.append(f"nemu_exec {q(cmd)}")
        return "\n".join(lines) + "\n"

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.render())
        return path

    def to_dict(self) -> dict[str, Any]:
        return {
            "hostname": self.hostname,
            "interfaces": [{"name": i.name, "mac": i.mac, "addresses": list(i.addresses),
                            **({"mtu": i.mtu} if i.mtu else {})} for i in self.interfaces],
            "routes": list(self.routes), "ssh_keys": list(self.ssh_keys),
            "services": list(self.services),
            "files": [{"path": f.path, "mode": f"{f.mode:o}",
                       "content_b64": base64.b64encode(f.content).decode()} for f in self.files],
            "sysctls": dict(self.sysctls), "commands": list(self.commands),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NodeConfig:
        try:
            cfg = cls(
                hostname=str(data["hostname"]),
                interfaces=[InterfaceConfig(name=str(i["name"]), mac=str(i["mac"]).lower(),
                                            addresses=[str(a) for a in i.get("addresses", [])],
                                            mtu=int(i["mtu"]) if i.get("mtu") else None)
                            for i in data.get("interfaces", [])],
                routes=[str(r) for r in data.get("routes", [])],
                ssh_keys=[str(k) for k in data.get("ssh_keys", [])],
                services=[str(s) for s in data.get("services", [])],
                files=[GuestFile(path=str(f["path"]), mode=int(str(f.get("mode", "644")), 8),
                                 content=base64.b64decode(f["content_b64"]) if "content_b64" in f
                                 else str(f.get("content", "")).encode())
                       for f in data.get("files", [])],
                sysctls={str(k): str(v) for k, v in (data.get("sysctls") or {}).items()},
                commands=[str(c) for c in data.get("commands", [])],
            )
        except (KeyError, TypeError, ValueError) as e:
            raise NodeConfigError(f"node configuration: bad or missing field: {e}") from None
        cfg.validate()
        return cfg
