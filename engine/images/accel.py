"""KVM or TCG: find out whether hardware acceleration really works, by trying it.

`/dev/kvm` existing is not enough: on some hosts (nested PVM) a real-mode boot sector runs but a
Linux kernel hangs or QEMU aborts on an MSR. So the probe boots a real kernel (from a built image,
or the cached kernel package) under `-accel kvm -cpu host` with no root disk and `panic=-1`:
a working KVM reaches "Kernel panic" and QEMU exits (`-no-reboot`) within a second or two.
Without any kernel yet, it falls back to a 512-byte boot sector that writes to QEMU's
isa-debug-exit port (QEMU exits with status 33) and says the test was partial.
Anything else within the timeout means TCG. `NEMU_ACCEL=kvm|tcg` overrides the probe.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from engine.errors import CommandError, HostError
from engine.hosts import Host

QEMU = "qemu-system-x86_64"
# mov al, 0x10; out 0xf4, al; hlt; jmp $   -> QEMU exit status (0x10 << 1) | 1 = 33
_BOOT_CODE = bytes([0xB0, 0x10, 0xE6, 0xF4, 0xF4, 0xEB, 0xFE])
_EXPECTED = 33


@dataclass(frozen=True)
class AccelChoice:
    accel: str         # "kvm" or "tcg"
    reason: str

    def qemu_args(self) -> list[str]:
        """The -accel/-cpu arguments for this choice (TCG with a smaller translation cache)."""
        if self.accel == "kvm":
            return ["-accel", "kvm", "-cpu", "host"]
        return ["-accel", "tcg,tb-size=32"]


_cached: AccelChoice | None = None


def boot_sector() -> bytes:
    return _BOOT_CODE + b"\0" * (510 - len(_BOOT_CODE)) + b"\x55\xaa"


def _any_kernel() -> Path | None:
    from engine.images.paths import cache_dir
    for pattern in ("images/*/vmlinuz", "kernels/*/boot/vmlinuz-*"):
        for p in sorted(cache_dir().glob(pattern)):
            return p
    return None


async def probe_kvm(host: Host, timeout: float = 8.0,
                    kernel: Path | None = None) -> AccelChoice:
    """Try KVM for real; fall back to TCG with the reason."""
    forced = os.environ.get("NEMU_ACCEL", "").lower()
    if forced in ("kvm", "tcg"):
        return AccelChoice(forced, f"forced by NEMU_ACCEL={forced}")
    dev = Path("/dev/kvm")
    if not dev.exists():
        return AccelChoice("tcg", "/dev/kvm does not exist (no KVM module or not a VM host)")
    if not os.access(dev, os.R_OK | os.W_OK):
        return AccelChoice("tcg", "/dev/kvm is not readable and writable by this user "
                                  "(add yourself to the `kvm` group)")
    if host.which(QEMU) is None:
        return AccelChoice("tcg", f"{QEMU} is not installed (Debian package qemu-system-x86)")
    kernel = kernel or _any_kernel()
    if kernel is not None:
        argv = [QEMU, "-accel", "kvm", "-cpu", "host", "-M", "pc", "-m", "128", "-nodefaults",
                "-no-user-config", "-display", "none", "-serial", "stdio", "-no-reboot",
                "-kernel", str(kernel), "-append", "console=ttyS0 panic=-1 root=/dev/nonexistent"]
        try:
            res = await host.run(argv, timeout=timeout, check=False)
        except CommandError:
            return AccelChoice("tcg", f"/dev/kvm exists but a test kernel did not boot under KVM "
                                      f"within {timeout:.0f} s (KVM not usable with this QEMU)")
        except HostError as e:
            return AccelChoice("tcg", f"cannot run the KVM test: {e}")
        if b"Kernel panic" in res.stdout:
            return AccelChoice("kvm", "/dev/kvm works (a test kernel booted under KVM)")
        err = res.stderr.decode(errors="replace").strip().splitlines()
        return AccelChoice("tcg", "/dev/kvm exists but a test kernel failed under KVM: "
                           + (err[-1] if err else f"exit status {res.returncode}"))
    with tempfile.TemporaryDirectory(prefix="nemu-kvm-") as tmp:
        img = Path(tmp) / "boot.img"
        img.write_bytes(boot_sector())
        argv = [QEMU, "-accel", "kvm", "-M", "pc", "-m", "16", "-nodefaults", "-no-user-config",
                "-display", "none", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                "-drive", f"file={img},format=raw,if=ide"]
        try:
            res = await host.run(argv, timeout=timeout, check=False)
        except CommandError:
            return AccelChoice("tcg", f"a KVM test guest did not finish within {timeout:.0f} s "
                                      "(KVM present but not usable with this QEMU)")
        except HostError as e:
            return AccelChoice("tcg", f"cannot run the KVM test: {e}")
    if res.returncode == _EXPECTED:
        return AccelChoice("kvm", "/dev/kvm works for a boot-sector test (partial: build an "
                                  "image for a full kernel test)")
    err = res.stderr.decode(errors="replace").strip().splitlines()
    return AccelChoice("tcg", "KVM test guest failed: " + (err[-1] if err else
                                                           f"exit status {res.returncode}"))


async def choose_accel(host: Host) -> AccelChoice:
    """`probe_kvm`, done once per process."""
    global _cached
    if _cached is None:
        _cached = await probe_kvm(host)
    return _cached
