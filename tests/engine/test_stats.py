import asyncio
import threading

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
