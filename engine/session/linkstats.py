"""Per-link rates from the vswitch's counters, read at the taps of the wiring plan."""

from __future__ import annotations

from typing import Any

from engine.model import Topology
from engine.plan.wiring import Wiring
from engine.stats import CounterSample, DirectionRate, LinkStats, RateMeter


class LinkStatsReader:
    def __init__(self, topo: Topology) -> None:
        self.topo = topo
        self._meters: dict[tuple[str, str], RateMeter] = {}

    def update(self, counters: dict[str, Any], wiring: Wiring) -> list[LinkStats]:
        t = float(counters["t"])
        devices = counters["devices"]
        out = []
        for link in self.topo.links:
            rates: dict[str, DirectionRate] = {}
            for e in ("a", "b"):
                tap = wiring.taps.get((link.name, e))
                d = devices.get(tap.device, {}).get(tap.port, {}).get(tap.direction) \
                    if tap else None
                if d is None:
                    rates[e] = DirectionRate()
                    continue
                sample = CounterSample(t, int(d["frames"]), int(d["bytes"]), dict(d["drops"]),
                                       int(d["queue_frames"]), int(d["queue_bytes"]))
                meter = self._meters.setdefault((link.name, e), RateMeter())
                rates[e] = meter.update(sample, link.end(e).params.bandwidth)
            out.append(LinkStats(link.name, t, rates["a"], rates["b"]))
        return out
