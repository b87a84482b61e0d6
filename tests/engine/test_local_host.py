"""The local Host seam, for real: commands, long-running processes, stop by PID + start time."""

import asyncio
import os
import sys

import psutil
import pytest

from engine.errors import CommandError, ToolMissingError
from engine.hosts import LocalHost, ProcessHandle, ProcessState


def run(coro):
    return asyncio.run(coro)


def test_run_returns_output_and_status():
    r = run(LocalHost().run(["sh", "-c", "echo out; echo err >&2; exit 3"], check=False))
    assert (r.returncode, r.stdout, r.stderr) == (3, b"out\n", b"err\n")
    assert not r.ok


def test_run_failure_says_what_and_where():
    with pytest.raises(CommandError) as e:
        run(LocalHost().run(["sh", "-c", "echo broken disk >&2; exit 4"]))
    assert e.value.returncode == 4
    assert "exited with status 4" in str(e.value) and "broken disk" in str(e.value)


def test_run_timeout_kills_the_whole_group():
    with pytest.raises(CommandError, match="timed out"):
        run(LocalHost().run(["sh", "-c", "sleep 30 & sleep 30"], timeout=0.3))


def test_missing_tool_names_its_package(monkeypatch):
    with pytest.raises(ToolMissingError, match="qemu-nonexistent"):
        run(LocalHost().run(["qemu-nonexistent"]))
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ToolMissingError, match="install the Debian package `qemu-utils`"):
        run(LocalHost().run(["qemu-img", "--version"]))


def test_input_is_passed():
    assert run(LocalHost().run(["cat"], input=b"hello")).stdout == b"hello"


def test_start_state_stop(tmp_path):
    async def scenario():
        host = LocalHost()
        log = tmp_path / "p.log"
        h = await host.start([sys.executable, "-c", "import time; print('up', flush=True); "
                              "time.sleep(60)"], label="sleeper", log_path=log)
        assert host.state(h) is ProcessState.RUNNING
        assert psutil.Process(h.pid).create_time() == pytest.approx(h.create_time)
        await asyncio.sleep(0.3)
        state = await host.stop(h, grace=2)
        return h, state, log.read_text()
    h, state, out = run(scenario())
    assert state is ProcessState.KILLED
    assert "up" in out
    assert not psutil.pid_exists(h.pid) or psutil.Process(h.pid).status() == "zombie"


def test_stop_escalates_to_sigkill(tmp_path):
    async def scenario():
        host = LocalHost()
        h = await host.start([sys.executable, "-c", "import signal, time; "
                              "signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                              "print('ready', flush=True); time.sleep(60)"],
                             log_path=tmp_path / "l")
        for _ in range(50):
            if "ready" in (tmp_path / "l").read_text():
                break
            await asyncio.sleep(0.05)
        return await host.stop(h, grace=0.3)
    assert run(scenario()) is ProcessState.KILLED


def test_a_recycled_pid_is_never_taken_for_ours():
    """A record whose start time does not match is not our process: never signalled."""
    me = psutil.Process(os.getpid())
    stale = ProcessHandle("local", me.pid, me.create_time() - 1000.0, ("old",))
    host = LocalHost()
    assert host.state(stale) is ProcessState.LOST
    assert run(host.stop(stale)) is ProcessState.LOST   # and we are still alive


def test_reattach_to_a_process_started_elsewhere(tmp_path):
    """After a restart the engine re-attaches from a record and can still stop the process."""
    async def scenario():
        first = LocalHost()
        h = await first.start(["sleep", "60"])
        record = h.to_record()
        second = LocalHost()                      # a new controller, no child objects
        again = ProcessHandle.from_record(record)
        assert second.state(again) is ProcessState.RUNNING
        state = await second.stop(again, grace=2)
        await first.wait(h)
        return state, first.state(h)
    seen_by_second, seen_by_first = run(scenario())
    assert seen_by_second is ProcessState.LOST      # gone, and not a child of the new controller
    assert seen_by_first is ProcessState.KILLED     # it really died of our signal
