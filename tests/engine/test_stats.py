import asyncio
import gc
import threading
import time

import pytest

from engine.runtime import EngineThread
from engine.stats import CounterSample, RateMeter


def test_rates_from_counter_deltas():
    m = RateMeter()
    first = m.update(CounterSample(10.0, 100, 150_000, {"loss": 1}), bandwidth=10_000_000)
    assert first.bps == 0 and first.utilisation == 0.0
    r = m.update(CounterSample(10.5, 600, 775_000, {"loss": 6, "queue": 0}, 3, 4500),
                 bandwidth=10_000_000)
    assert r.bps == pytest.approx(10_000_000)
    assert r.fps == pytest.approx(1000)
    assert r.drops_per_s == {"loss": pytest.approx(10), "queue": 0}
    assert r.utilisation == pytest.approx(1.0)
    assert (r.queue_frames, r.queue_bytes) == (3, 4500)
    assert r.dropping


def test_unlimited_link_has_no_utilisation_and_restart_resets_baseline():
    m = RateMeter()
    m.update(CounterSample(1.0, 10, 1000))
    assert m.update(CounterSample(2.0, 20, 2000)).utilisation is None
    after_restart = m.update(CounterSample(3.0, 5, 500))
    assert after_restart.bps == 0 and after_restart.fps == 0
    assert m.update(CounterSample(4.0, 15, 1500)).bps == pytest.approx(8000)


def test_engine_thread_runs_coroutines_off_the_caller_thread():
    et = EngineThread()
    et.start()
    try:
        async def where() -> str:
            await asyncio.sleep(0.01)
            return threading.current_thread().name
        assert et.submit(where()).result(timeout=5) == "nemu-engine"
    finally:
        et.stop()
    assert not et.running


def test_engine_thread_holds_a_task_whose_wait_only_a_cycle_references():
    """The loop keeps tasks weakly: a call waiting on a future nothing else holds (a QMP
    handshake in a reference cycle) was collected mid-call and its coroutine closed."""
    et = EngineThread()
    et.start()
    try:
        ended: list[str] = []

        async def waits_on_its_own_future() -> None:
            try:
                await asyncio.get_running_loop().create_future()
            except asyncio.CancelledError:
                ended.append("cancelled")
                raise
            except GeneratorExit:
                ended.append("collected")
                raise

        et.submit(waits_on_its_own_future())    # the GUI keeps no future either
        for _ in range(3):
            time.sleep(0.05)
            gc.collect()
        assert ended == [], "the engine let a pending call be garbage-collected"

        async def pending() -> int:
            return len(asyncio.all_tasks()) - 1
        assert et.submit(pending()).result(timeout=5) == 1
    finally:
        et.stop()
    assert ended == ["cancelled"]
