"""Cumulative counters of one port direction.

Counters only ever grow (except the queue gauges); the reader turns deltas into rates over the
monotonic time `t` that comes with every snapshot. `offered_*` counts what entered the direction,
`frames`/`bytes` what left it; every frame that entered and did not leave is in one drop cause or
still queued / on the wire.
"""

from __future__ import annotations

from typing import Any

DROP_CAUSES = ("loss", "ber", "queue", "mtu", "down", "invalid")


class DirCounters:
    """Plain attributes (no properties) so the data path pays one attribute add per batch."""

    __slots__ = ("bytes", "corrupted", "drop_ber", "drop_down", "drop_invalid", "drop_loss",
                 "drop_mtu", "drop_queue", "duplicated", "frames", "last_change",
                 "offered_bytes", "offered_frames")

    def __init__(self) -> None:
        self.offered_frames = 0
        self.offered_bytes = 0
        self.frames = 0
        self.bytes = 0
        self.drop_loss = 0
        self.drop_ber = 0
        self.drop_queue = 0
        self.drop_mtu = 0
        self.drop_down = 0
        self.drop_invalid = 0
        self.duplicated = 0
        self.corrupted = 0
        self.last_change = 0.0

    def drop(self, cause: str, n: int, now: float) -> None:
        """Count `n` frames dropped for `cause` (one of DROP_CAUSES). Not for the hot path."""
        name = "drop_" + cause
        setattr(self, name, getattr(self, name) + n)
        self.last_change = now

    def snapshot(self, queue_frames: int = 0, queue_bytes: int = 0) -> dict[str, Any]:
        return {
            "offered_frames": self.offered_frames, "offered_bytes": self.offered_bytes,
            "frames": self.frames, "bytes": self.bytes,
            "drops": {c: getattr(self, "drop_" + c) for c in DROP_CAUSES},
            "duplicated": self.duplicated, "corrupted": self.corrupted,
            "queue_frames": queue_frames, "queue_bytes": queue_bytes,
            "last_change": self.last_change,
        }
