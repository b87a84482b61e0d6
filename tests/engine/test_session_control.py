"""One controller per lab (engine/session/control.py), with real processes as controllers:
claimed, refused with the holder named, taken over only when asked, dropped when the holder
is killed with -9, never won by two claimers at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.hosts import LocalHost
from engine.session import control
from engine.session.control import Controller, LabHeld
from engine.session.directory import create_session_dir

REPO = Path(__file__).resolve().parents[2]

# a controller in another process: claims (or takes over), says so, then waits to be told
CHILD = """
import sys, time
from pathlib import Path
from engine.hosts import LocalHost
from engine.session import control
from engine.session.control import Controller, LabHeld
from engine.session.directory import SessionDir
sdir = SessionDir(Path(sys.argv[1]))
me = Controller.this_process("test-child")
start_at = float(sys.argv[3])
while time.time() < start_at:
    time.sleep(0.001)
try:
    control.claim(sdir, LocalHost(), me, take_over=sys.argv[2] == "take")
    print("claimed", flush=True)
except LabHeld:
    print("refused", flush=True)
for line in sys.stdin:
    print("holds" if control.holds(sdir, me) else "lost", flush=True)
"""


class Child:
    def __init__(self, sdir: Path, mode: str = "claim", start_at: float = 0.0) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", CHILD, str(sdir), mode,
                                      str(start_at)], cwd=REPO, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self._first: str | None = None

    @property
    def first(self) -> str:
        """What it said after trying to claim ("claimed" or "refused")."""
        if self._first is None:
            assert self.proc.stdout is not None
            self._first = self.proc.stdout.readline().strip()
        return self._first

    def holds(self) -> bool:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("?\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip() == "holds"

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@pytest.fixture
def sdir(tmp_path: Path):
    return create_session_dir("lab", tmp_path)


def test_a_held_lab_is_refused_naming_its_holder_and_taken_over_only_when_asked(sdir) -> None:
    host = LocalHost()
    child = Child(sdir.root)
    try:
        assert child.first == "claimed"
        who = control.holder(sdir, host)
        assert who is not None and who.pid == child.proc.pid and who.program == "test-child"
        me = Controller.this_process("nemu-gui")
        with pytest.raises(LabHeld) as refused:
            control.claim(sdir, host, me)
        assert f"test-child (pid {child.proc.pid}, since " in str(refused.value)
        assert child.holds() and not control.holds(sdir, me)

        taken = control.claim(sdir, host, me, take_over=True)
        assert taken is not None and taken.pid == child.proc.pid
        assert control.holds(sdir, me) and not child.holds()    # the old holder sees it
        assert not control.release(sdir, Controller.this_process("someone-else"))
        assert control.holds(sdir, me)
        assert control.release(sdir, me) and control.holder(sdir, host) is None
    finally:
        child.close()


def test_a_holder_killed_with_sigkill_holds_nothing(sdir) -> None:
    host = LocalHost()
    child = Child(sdir.root)
    assert child.first == "claimed"
    os.kill(child.proc.pid, signal.SIGKILL)
    child.proc.wait()
    assert (sdir.root / control.CONTROL_FILE).exists()        # its record is still there...
    assert control.holder(sdir, host) is None                  # ...but holds nothing
    assert not (sdir.root / control.CONTROL_FILE).exists()     # and is dropped
    me = Controller.this_process("nemu-gui")
    assert control.claim(sdir, host, me) is None and control.holds(sdir, me)


def test_a_recycled_pid_is_not_the_holder(sdir) -> None:
    """A record whose PID now belongs to another process (its start time differs)."""
    me = Controller.this_process("nemu-gui")
    stale = Controller(os.getpid(), me.create_time - 1000.0, "old-window")
    (sdir.root / control.CONTROL_FILE).write_text(json.dumps(stale.__dict__))
    assert control.holder(sdir, LocalHost()) is None
    assert control.claim(sdir, LocalHost(), me) is None


def test_two_windows_of_one_process_are_two_controllers(sdir) -> None:
    a = Controller.this_process("nemu-gui")
    b = Controller.this_process("nemu-gui")
    control.claim(sdir, LocalHost(), a)
    with pytest.raises(LabHeld):
        control.claim(sdir, LocalHost(), b)
    assert control.claim(sdir, LocalHost(), a) is None          # claiming again is fine


def test_claimers_racing_for_a_free_lab_never_both_win(sdir) -> None:
    start_at = time.time() + 1.5       # all started before any claims: they race
    children = [Child(sdir.root, start_at=start_at) for _ in range(4)]
    try:
        results = sorted(c.first for c in children)
        assert results == ["claimed", "refused", "refused", "refused"], results
        holders = [c for c in children if c.holds()]
        assert len(holders) == 1
    finally:
        for c in children:
            c.close()
