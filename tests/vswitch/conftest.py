"""Shared fakes for vswitch tests: a scripted random source and a manual clock."""

from __future__ import annotations

from collections.abc import Iterable

import pytest


class FakeRng:
    """Returns the scripted values in order; fails loudly when the script runs out."""

    def __init__(self, values: Iterable[float] = ()) -> None:
        self.values = list(values)
        self.calls = 0

    def random(self) -> float:
        self.calls += 1
        if not self.values:
            raise AssertionError("FakeRng: unexpected draw")
        return self.values.pop(0)


@pytest.fixture
def fake_rng() -> type[FakeRng]:
    return FakeRng


class FakeScheduler:
    """Records what ports ask of the event loop; tests run pumps and flushes by hand."""

    def __init__(self) -> None:
        self.wakes: dict[object, float] = {}
        self.ready: list[object] = []

    def wake(self, port, at: float) -> None:  # type: ignore[no-untyped-def]
        cur = self.wakes.get(port)
        if cur is None or at < cur:
            self.wakes[port] = at

    def output_ready(self, port) -> None:  # type: ignore[no-untyped-def]
        self.ready.append(port)

    def run_until(self, now: float) -> None:
        """Pump every port due by `now`, then flush everything ready."""
        while True:
            due = [p for p, t in self.wakes.items() if t <= now]
            if not due:
                break
            for p in due:
                del self.wakes[p]
                nd = p.pump(now)  # type: ignore[attr-defined]
                if nd is not None:
                    self.wake(p, nd)
        ready, self.ready = self.ready, []
        for p in ready:
            p.flush(now)  # type: ignore[attr-defined]


@pytest.fixture
def sched() -> FakeScheduler:
    return FakeScheduler()

