"""The timerfd the vswitch's shaper and delay line wake on: readable at an absolute monotonic
instant, not before; disarmed, never; an instant already past, at once."""

from __future__ import annotations

import select
import time

from vswitch.timerfd import TimerFd, available


def readable(t: TimerFd, timeout: float) -> bool:
    return bool(select.select([t], [], [], timeout)[0])


def test_timerfd_fires_at_its_instant_and_not_before() -> None:
    assert available()                     # Linux: the vswitch uses it
    t = TimerFd()
    try:
        at = time.monotonic() + 0.05
        t.arm(at)
        assert not readable(t, 0.02)
        assert readable(t, 2.0)
        assert time.monotonic() >= at      # the same clock as time.monotonic()
        assert t.drain() == 1
        assert t.drain() == 0              # nothing more until armed again

        t.arm(time.monotonic() - 1.0)      # already past: at once
        assert readable(t, 1.0) and t.drain() == 1

        t.arm(time.monotonic() + 0.03)
        t.arm(time.monotonic() + 0.5)      # re-arming replaces the instant
        assert not readable(t, 0.1)
        t.disarm()
        assert not readable(t, 0.6)
    finally:
        t.close()
