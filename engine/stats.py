"""Rates from cumulative counters: what the canvas and `nemu stats` show.

The vswitch only counts (frames, bytes, drops by cause, queue depth); rates are counter deltas
over a monotonic clock, computed here. A counter that goes backwards means the vswitch was
restarted: the sample restarts the baseline instead of producing a negative rate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CounterSample:
    """Cumulative counters of one direction of one link, read at monotonic time `t` (s)."""

    t: float
    frames: int
    bytes: int
    drops: Mapping[str, int] = field(default_factory=dict)   # cause -> frames dropped
    queue_frames: int = 0
    queue_bytes: int = 0


@dataclass(frozen=True)
class DirectionRate:
    bps: float = 0.0
    fps: float = 0.0
    drops_per_s: Mapping[str, float] = field(default_factory=dict)
    queue_frames: int = 0
    queue_bytes: int = 0
    utilisation: float | None = None    # bps / configured bandwidth, None when unlimited

    @property
    def dropping(self) -> bool:
        return any(v > 0 for v in self.drops_per_s.values())


@dataclass(frozen=True)
class LinkStats:
    """Both directions of one link: `a_to_b` are frames sent by end a."""

    link: str
    t: float
    a_to_b: DirectionRate
    b_to_a: DirectionRate


class RateMeter:
    """Turns successive samples of one direction into rates."""

    def __init__(self) -> None:
        self._last: CounterSample | None = None

    def update(self, s: CounterSample, bandwidth: int | None = None) -> DirectionRate:
        last, self._last = self._last, s
        if last is None or s.t <= last.t or s.frames < last.frames or s.bytes < last.bytes:
            return DirectionRate(queue_frames=s.queue_frames, queue_bytes=s.queue_bytes,
                                 utilisation=0.0 if bandwidth else None)
        dt = s.t - last.t
        bps = (s.bytes - last.bytes) * 8 / dt
        drops = {cause: max(0, n - last.drops.get(cause, 0)) / dt for cause, n in s.drops.items()}
        return DirectionRate(bps=bps, fps=(s.frames - last.frames) / dt, drops_per_s=drops,
                             queue_frames=s.queue_frames, queue_bytes=s.queue_bytes,
                             utilisation=(bps / bandwidth) if bandwidth else None)
