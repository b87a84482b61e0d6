"""KVM or TCG: find out whether hardware acceleration really works, by trying it.

`/dev/kvm` existing is not enough: on some hosts (nested PVM) a real-mode boot sector runs but a
Linux kernel hangs or QEMU aborts on an MSR. So KVM is chosen only when a real guest kernel
(from a built image, or the cached kernel package) boots under `-accel kvm -cpu host` with no
root disk and `panic=-1`: a working KVM reaches "Kernel panic" and QEMU exits (`-no-reboot`)
within a second or two. Without any kernel yet, a 512-byte boot sector that writes to QEMU's
isa-debug-exit port still tells whether KVM is worth a real test, but never picks KVM by itself
(on those hosts it passes while every guest then dies): TCG until a kernel exists.

The verdict is remembered per machine in `<cache>/accel.json`, keyed by what decides it (QEMU's
binary, the test kernel, `/dev/kvm`, the host kernel's release), so each `nemu` command does not
pay the probe again; `choose_accel(refresh=True)` (`nemu doctor`) probes anew, and a session
whose guests die under KVM anyway records TCG there (`remember`). `NEMU_ACCEL=kvm|tcg` overrides
everything.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


_cached: dict[str, AccelChoice] = {}    # this process's verdicts, by cache key


def boot_sector() -> bytes:
    return _BOOT_CODE + b"\0" * (510 - len(_BOOT_CODE)) + b"\x55\xaa"


def _any_kernel() -> Path | None:
    from engine.images.paths import cache_dir
    for pattern in ("images/*/vmlinuz", "kernels/*/boot/vmlinuz-*"):
        for p in sorted(cache_dir().glob(pattern)):
            return p
    return None


def _forced() -> AccelChoice | None:
    forced = os.environ.get("NEMU_ACCEL", "").lower()
    if forced in ("kvm", "tcg"):
        return AccelChoice(forced, f"forced by NEMU_ACCEL={forced}")
    return None


def _precheck(host: Host) -> AccelChoice | None:
    """TCG without trying, when KVM cannot even be tried."""
    dev = Path("/dev/kvm")
    if not dev.exists():
        return AccelChoice("tcg", "/dev/kvm does not exist (no KVM module or not a VM host)")
    if not os.access(dev, os.R_OK | os.W_OK):
        return AccelChoice("tcg", "/dev/kvm is not readable and writable by this user "
                                  "(add yourself to the `kvm` group)")
    if host.which(QEMU) is None:
        return AccelChoice("tcg", f"{QEMU} is not installed (Debian package qemu-system-x86)")
    return None


async def probe_kvm(host: Host, timeout: float = 8.0,
                    kernel: Path | None = None) -> AccelChoice:
    """Try KVM for real; fall back to TCG with the reason."""
    early = _forced() or _precheck(host)
    if early is not None:
        return early
    kernel = kernel or _any_kernel()
    if kernel is not None:
        return await _kernel_test(host, kernel, timeout)
    return await _boot_sector_test(host, timeout)


async def _kernel_test(host: Host, kernel: Path, timeout: float) -> AccelChoice:
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
    return AccelChoice("tcg", "/dev/kvm exists but a test kernel failed under KVM: "
                       + _last_line(res.stderr, res.returncode))


async def _boot_sector_test(host: Host, timeout: float) -> AccelChoice:
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
        return AccelChoice("tcg", "no guest kernel to test KVM with yet (a boot sector runs "
                                  "under KVM, which does not prove a Linux guest will); TCG "
                                  "until an image is built (`nemu images build`)")
    return AccelChoice("tcg", "KVM test guest failed: " + _last_line(res.stderr, res.returncode))


def _last_line(stderr: bytes, returncode: int) -> str:
    err = stderr.decode(errors="replace").strip().splitlines()
    return err[-1] if err else f"exit status {returncode}"


# ---- the verdict, remembered per machine ---------------------------------------------------

def _stat_key(path: Path | str | None) -> list[Any] | None:
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [str(Path(path).resolve()), st.st_size, st.st_mtime_ns]


def cache_key(host: Host, kernel: Path | None = None) -> str | None:
    """What a verdict depends on on this machine, or None when there is nothing to test
    with yet (no kernel: such a verdict is provisional and never stored)."""
    kernel = kernel or _any_kernel()
    if kernel is None:
        return None
    try:
        kvm = os.stat("/dev/kvm")
        dev: list[Any] | None = [kvm.st_rdev, os.access("/dev/kvm", os.R_OK | os.W_OK)]
    except OSError:
        dev = None
    key = {"qemu": _stat_key(host.which(QEMU)), "kernel": _stat_key(kernel), "kvm": dev,
           "host_kernel": os.uname().release}
    return json.dumps(key, sort_keys=True)


def _cache_file() -> Path:
    from engine.images.paths import cache_dir
    return cache_dir() / "accel.json"


def _load(key: str) -> AccelChoice | None:
    try:
        data = json.loads(_cache_file().read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("key") != key:
        return None
    accel, reason = data.get("accel"), data.get("reason")
    if accel not in ("kvm", "tcg") or not isinstance(reason, str):
        return None
    return AccelChoice(accel, reason)


def remember(host: Host, choice: AccelChoice) -> None:
    """Store a verdict for this machine (also one a session learnt the hard way: KVM chosen,
    guests died under it)."""
    key = cache_key(host)
    if key is None:
        return
    _cached[key] = choice
    path = _cache_file()
    with contextlib.suppress(OSError):          # a read-only cache only costs a probe
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"key": key, "accel": choice.accel,
                                   "reason": choice.reason}, indent=1))
        tmp.replace(path)


async def choose_accel(host: Host, refresh: bool = False) -> AccelChoice:
    """The accelerator to run guests with: NEMU_ACCEL, else the verdict remembered for this
    machine, else a probe (stored when a real kernel decided it). `refresh` probes anew."""
    forced = _forced()
    if forced is not None:
        return forced
    key = cache_key(host)
    if key is not None and not refresh:
        known = _cached.get(key) or _load(key)
        if known is not None:
            _cached[key] = known
            return known
    choice = await probe_kvm(host)
    remember(host, choice)
    return choice


def kvm_failure(log_text: str) -> str | None:
    """The KVM error in a QEMU log that died under KVM (its last line naming KVM or an MSR),
    or None when it died for another reason."""
    lines = [ln.strip() for ln in log_text.splitlines() if ln.strip()]
    for line in reversed(lines):
        low = line.lower()
        if "kvm" in low or "msr" in low:
            return line
    return None
