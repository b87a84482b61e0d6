"""Who controls a running lab: one controller (a designer window, a script) at a time.

The claim is a small file in the session directory, `controller.json`: the holder's PID and
process start time (a recycled PID is never taken for it), what it is (`nemu-gui`), a token
(two windows of one process are two controllers) and since when. A holder whose process is
gone, even killed with -9, holds nothing: the next look (`holder`) drops its claim. Taking a
lab from a live holder is explicit (`claim(..., take_over=True)`); the old holder then sees
`holds()` turn False and lets go, leaving the lab running. One-shot commands (`nemu exec`,
`set-link`, `stats`) do not claim: they work beside a controller.

Lifecycle of a claim: claim() -> (holds() while it lasts) -> release() | taken over | the
holder dies. Changes are made under an exclusive lock (`controller.lock`), so two windows
claiming at once cannot both win.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

from engine.errors import SessionError
from engine.hosts import LocalHost
from engine.hosts.base import Host, ProcessHandle, ProcessState
from engine.session.directory import SessionDir
from engine.topofile import write_atomic

CONTROL_FILE = "controller.json"
LOCK_FILE = "controller.lock"


@dataclass(frozen=True)
class Controller:
    """One controller of a lab: a process (PID and start time) and a token within it."""

    pid: int
    create_time: float
    program: str
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    since: float = field(default_factory=time.time)
    host: str = "local"                # the Host (seam) its process runs on

    @classmethod
    def this_process(cls, program: str) -> Controller:
        """A new controller identity for this process (one per window or script)."""
        me = LocalHost().this_process(program)
        return cls(me.pid, me.create_time, program)

    def describe(self) -> str:
        return (f"{self.program} (pid {self.pid}, since "
                f"{time.strftime('%H:%M:%S', time.localtime(self.since))})")

    def handle(self) -> ProcessHandle:
        return ProcessHandle(self.host, self.pid, self.create_time, (self.program,))

    def same(self, other: Controller | None) -> bool:
        return other is not None and (self.pid, self.create_time, self.token) == (
            other.pid, other.create_time, other.token)


class LabHeld(SessionError):
    """Another live controller holds the lab."""

    def __init__(self, session: str, holder: Controller) -> None:
        super().__init__(f"lab {session} is controlled by {holder.describe()}; take it over "
                         "to control it here (it keeps running)")
        self.session = session
        self.holder = holder


@contextlib.contextmanager
def _locked(sdir: SessionDir) -> Iterator[None]:
    fd = os.open(sdir.root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)   # private, as all
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _read(sdir: SessionDir) -> Controller | None:
    try:
        data = json.loads((sdir.root / CONTROL_FILE).read_text())
        return Controller(**data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError):
        return None                    # unreadable: nobody can be shown to hold it


def _write(sdir: SessionDir, who: Controller) -> None:
    write_atomic(sdir.root / CONTROL_FILE, json.dumps(asdict(who), indent=1).encode(),
                 backup=False)


def _drop(sdir: SessionDir) -> None:
    with contextlib.suppress(FileNotFoundError):
        (sdir.root / CONTROL_FILE).unlink()


def _alive(who: Controller, host: Host) -> bool:
    return who.host == host.name and host.state(who.handle()) is ProcessState.RUNNING


def holder(sdir: SessionDir, host: Host) -> Controller | None:
    """The live controller of the lab, if any; a dead one's claim is dropped here."""
    with _locked(sdir):
        who = _read(sdir)
        if who is not None and not _alive(who, host):
            _drop(sdir)
            return None
        return who


def claim(sdir: SessionDir, host: Host, me: Controller, take_over: bool = False
          ) -> Controller | None:
    """Make `me` the lab's controller. Raises LabHeld if another live controller holds it,
    unless `take_over`; returns the controller it was taken from (None: nobody's)."""
    with _locked(sdir):
        who = _read(sdir)
        if who is not None and not _alive(who, host):
            who = None
        if who is not None and not me.same(who) and not take_over:
            raise LabHeld(sdir.name, who)
        _write(sdir, me)
        return None if who is None or me.same(who) else who


def holds(sdir: SessionDir, me: Controller) -> bool:
    """Whether `me` still controls the lab (False once taken over or released)."""
    return me.same(_read(sdir))


def release(sdir: SessionDir, me: Controller) -> bool:
    """Let go of the lab if `me` holds it (another's claim is left alone)."""
    with _locked(sdir):
        if me.same(_read(sdir)):
            _drop(sdir)
            return True
        return False
