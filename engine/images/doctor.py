"""`nemu doctor`: what this machine can do — KVM or TCG (and why), tools present or missing."""

from __future__ import annotations

from dataclasses import dataclass

from engine.hosts import Host
from engine.hosts.local import PACKAGE_OF
from engine.images.accel import AccelChoice, choose_accel

# (program, Debian package, what nemu uses it for)
TOOLS: tuple[tuple[str, str, str], ...] = (
    ("qemu-system-x86_64", "qemu-system-x86", "runs every node"),
    ("qemu-img", "qemu-utils", "node overlays and image disks"),
    ("apt-get", "apt", "downloads image packages (apt-get download)"),
    ("apt-cache", "apt", "resolves image package dependencies"),
    ("dpkg-deb", "dpkg", "unpacks image packages"),
    ("mke2fs", "e2fsprogs", "makes image root file systems"),
    ("debugfs", "e2fsprogs", "sets root ownership in images built without root"),
)


@dataclass(frozen=True)
class ToolStatus:
    program: str
    package: str
    purpose: str
    path: str | None


@dataclass(frozen=True)
class DoctorReport:
    accel: AccelChoice
    tools: tuple[ToolStatus, ...]

    @property
    def missing(self) -> list[ToolStatus]:
        return [t for t in self.tools if t.path is None]

    def render(self) -> str:
        lines = [f"accelerator: {self.accel.accel.upper()} — {self.accel.reason}"]
        for t in self.tools:
            state = t.path if t.path else f"MISSING (install the Debian package `{t.package}`)"
            lines.append(f"  {t.program:20s} {state}   [{t.purpose}]")
        if self.missing:
            pkgs = sorted({t.package for t in self.missing})
            lines.append(f"to install what is missing: sudo apt-get install {' '.join(pkgs)}")
        else:
            lines.append("all tools present")
        return "\n".join(lines) + "\n"


async def diagnose(host: Host) -> DoctorReport:
    tools = tuple(ToolStatus(prog, PACKAGE_OF.get(prog, pkg), why, host.which(prog))
                  for prog, pkg, why in TOOLS)
    return DoctorReport(await choose_accel(host, refresh=True), tools)   # probes anew
