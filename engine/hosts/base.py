"""What every host (local or remote) offers: commands, long-running processes, files.

A process handle records PID *and* start time, so a later stop can never hit a recycled PID.
Lifecycle of a handle: RUNNING -> (EXITED | KILLED | LOST); LOST means it vanished without
us reaping it (e.g. the controlling program restarted and re-attached).
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


class ProcessState(enum.Enum):
    RUNNING = "running"
    EXITED = "exited"
    KILLED = "killed"
    LOST = "lost"


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def text(self) -> str:
        return self.stdout.decode(errors="replace")


@dataclass
class ProcessHandle:
    """A process a host started (or re-attached to), identified by PID and start time."""

    host: str
    pid: int
    create_time: float
    argv: tuple[str, ...]
    label: str = ""
    log_path: Path | None = None

    def to_record(self) -> dict[str, object]:
        """A JSON-able record, written to the session directory for re-attaching."""
        return {"host": self.host, "pid": self.pid, "create_time": self.create_time,
                "argv": list(self.argv), "label": self.label,
                "log_path": str(self.log_path) if self.log_path else None}

    @classmethod
    def from_record(cls, rec: Mapping[str, object]) -> ProcessHandle:
        log = rec.get("log_path")
        argv = rec.get("argv") or []
        assert isinstance(argv, list)
        return cls(host=str(rec["host"]), pid=int(str(rec["pid"])),
                   create_time=float(str(rec["create_time"])), argv=tuple(map(str, argv)),
                   label=str(rec.get("label") or ""), log_path=Path(str(log)) if log else None)


@dataclass(frozen=True)
class MemoryInfo:
    """A host's memory in bytes: all of it, and what new processes can still get."""

    total: int
    available: int


def parse_meminfo(text: str) -> MemoryInfo:
    """`MemTotal` and `MemAvailable` (+ `SwapFree`) of a /proc/meminfo text."""
    kib: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            kib[key.strip()] = int(parts[0])
    return MemoryInfo(kib.get("MemTotal", 0) * 1024,
                      (kib.get("MemAvailable", kib.get("MemFree", 0)) + kib.get("SwapFree", 0))
                      * 1024)


@dataclass(frozen=True)
class ProcessUsage:
    cpu_percent: float        # since the previous reading of the same process
    rss_bytes: int


class Host(ABC):
    """A machine nemu can run things on."""

    name: str

    def usage(self, proc: ProcessHandle) -> ProcessUsage | None:
        """CPU and memory of a running process, or None when it is gone or unknown here."""
        return None

    async def memory(self) -> MemoryInfo:
        """The host's memory, read from its /proc/meminfo (a host may know a faster way)."""
        return parse_meminfo((await self.run(["cat", "/proc/meminfo"], timeout=30)).text)

    @abstractmethod
    async def run(self, argv: Sequence[str], *, input: bytes | None = None,
                  timeout: float | None = None, cwd: Path | None = None,
                  env: Mapping[str, str] | None = None, check: bool = True) -> CommandResult:
        """Run a command to completion; raise CommandError on failure when `check`."""

    @abstractmethod
    async def start(self, argv: Sequence[str], *, label: str = "", cwd: Path | None = None,
                    env: Mapping[str, str] | None = None,
                    log_path: Path | None = None) -> ProcessHandle:
        """Start a long-running process detached from our stdio; output goes to `log_path`."""

    @abstractmethod
    def state(self, proc: ProcessHandle) -> ProcessState:
        """RUNNING if that very process (PID and start time) is alive, else why not."""

    @abstractmethod
    async def stop(self, proc: ProcessHandle, *, grace: float = 3.0) -> ProcessState:
        """Terminate that process (SIGTERM, then SIGKILL after `grace`), never another one."""

    @abstractmethod
    def which(self, program: str) -> str | None:
        """The full path of `program` on this host, or None."""
