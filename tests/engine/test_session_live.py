"""A real session: two QEMU hosts on a vswitch link (TCG or KVM), driven through the engine API.

One session serves the whole module (booting is the slow part); tests run in file order and the
last one kills a machine and brings the session down, asserting by PID that nothing is left.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time

import psutil
import pytest

from engine import examples
from engine.session.events import (
    NodeHealth,
    NodeState,
    NodeStateChanged,
    ProcessDied,
    StatsUpdate,
)
from engine.session.session import Session

pytestmark = pytest.mark.qemu


@pytest.fixture(scope="module")
def lab(engine, tmp_path_factory):
    events: list = []
    s = Session.create(examples.two_hosts(), base=tmp_path_factory.mktemp("sessions"))
    s.subscribe(events.append)
    try:
        engine.run(s.up())
    except BaseException:
        engine.run(s.down())
        raise
    yield s, events
    engine.run(s.down())


def test_ping_both_ways(engine, lab):
    s, events = lab
    for src, dst in (("h1", "10.0.0.2"), ("h2", "10.0.0.1")):
        r = engine.run(s.node(src).run(f"ping -c 2 -W 3 {dst}"))
        assert r.exitcode == 0, r.stdout + r.stderr
    assert any(isinstance(e, NodeStateChanged) and e.node == "h1"
               and e.state is NodeState.RUNNING for e in events)


def _bytes_a(counters) -> tuple[float, int]:
    d = counters["devices"]["link:h1-h2"]["a"]["in"]
    return counters["t"], d["bytes"]


def test_shaped_tcp_then_live_change_shows_in_stats_within_a_second(engine, lab):
    s, _ = lab
    engine.run(s.node("h2").run("iperf3 -s -D -1"))
    engine.run(asyncio.sleep(0.5))

    async def measure():
        client = asyncio.ensure_future(
            s.node("h1").run("iperf3 -c 10.0.0.2 -t 12 -J", timeout=60))
        await asyncio.sleep(3.0)                       # past slow start
        t0, b0 = _bytes_a(await s.fabric.counters())
        await asyncio.sleep(4.0)
        t1, b1 = _bytes_a(await s.fabric.counters())
        rate_10 = (b1 - b0) * 8 / (t1 - t0)
        async def rates():
            out = []
            async for update in s.stats(hz=10):
                out.append((time.monotonic(), update))
                if len(out) >= 25:
                    return out
        changed_at = time.monotonic()
        stats_task = asyncio.ensure_future(rates())
        await s.set_link("h1-h2", "a", bandwidth="2Mbit")
        samples = await stats_task
        result = await client
        return rate_10, changed_at, samples, result

    rate_10, changed_at, samples, result = engine.run(measure())
    assert result.exitcode == 0, result.stderr
    assert json.loads(result.stdout)["end"]["sum_received"]["bytes"] > 0
    assert 0.98 * 10e6 <= rate_10 <= 1.02 * 10e6, rate_10
    settled = [t for t, u in samples
               if isinstance(u, StatsUpdate) and 0.0 < u.links[0].a_to_b.bps <= 2.2e6]
    assert settled, [u.links[0].a_to_b.bps for _, u in samples]
    assert settled[0] - changed_at <= 1.0
    assert s.topo.link("h1-h2").a.params.bandwidth == 2_000_000


def test_one_machine_stops_and_starts_again_with_its_disk(engine, lab):
    s, _ = lab
    engine.run(s.node("h2").write_file("/root/kept", b"still here\n"))
    engine.run(s.node("h2").run("sync"))
    old = s.process("h2").pid
    engine.run(s.stop_node("h2"))
    assert s.states["h2"] is NodeState.STOPPED and not psutil.pid_exists(old)
    assert engine.run(s.node("h1").run("ping -c 1 -W 2 10.0.0.2")).exitcode != 0
    engine.run(s.start_node("h2"))
    assert s.states["h2"] is NodeState.RUNNING and s.process("h2").pid != old
    assert engine.run(s.node("h2").read_file("/root/kept")) == b"still here\n"
    assert engine.run(s.node("h1").run("ping -c 2 -W 3 10.0.0.2")).exitcode == 0


def test_machines_report_cpu_and_memory(engine, lab):
    _, events = lab
    start = len(events)           # earlier tests restart h2: judge fresh reports only
    deadline = time.monotonic() + 15

    def fresh() -> list[NodeHealth]:
        return [e for e in events[start:] if isinstance(e, NodeHealth)]
    while time.monotonic() < deadline and {e.node for e in fresh()} < {"h1", "h2"}:
        time.sleep(0.2)
    latest = {e.node: e for e in fresh()}
    assert set(latest) >= {"h1", "h2"}
    assert all(50 * 2**20 < e.rss_bytes < 1024 * 2**20 for e in latest.values()), latest


def test_killed_qemu_is_reported_and_down_leaves_nothing(engine, lab):
    s, events = lab
    pids = [p.pid for _, p in s.registry.items()]
    assert len(pids) == 3                              # vswitch + two QEMUs
    victim = s.process("h2")
    os.kill(victim.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any(
            isinstance(e, ProcessDied) and e.pid == victim.pid for e in events):
        time.sleep(0.1)
    assert any(isinstance(e, ProcessDied) and e.role == "qemu:h2" for e in events)
    assert s.states["h2"] is NodeState.CRASHED
    assert s.states["h1"] is NodeState.RUNNING
    engine.run(s.down())
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
