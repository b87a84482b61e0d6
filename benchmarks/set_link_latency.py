"""How long a live link change takes to reach the vswitch (issue 5: `session.set_link(...)`
applied in < 50 ms), against the bare vswitch control call measured in the same run.

    python benchmarks/set_link_latency.py [--calls 300]

* ``vswitch control call``: the vswitch client's `set` request and its reply (the floor);
* ``Session.set_link``: the engine's whole path: model change and check, the `set` request to
  the vswitch (which applies it atomically before replying) and the topology file saved.

The lab is two switches joined by a link, so no machine boots: only the control path is timed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.model import Node, NodeKind, Topology
from engine.session.session import Session


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


async def timed(calls: int, step: Callable[[int], Awaitable[object]]) -> list[float]:
    out = []
    for i in range(calls):
        t = time.perf_counter()
        await step(i)
        out.append((time.perf_counter() - t) * 1000)
    return out


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=300)
    args = ap.parse_args()
    t = Topology(name="control")
    t.add_node(Node("sw1", NodeKind.SWITCH))
    t.add_node(Node("sw2", NodeKind.SWITCH))
    link = t.connect("sw1", "sw2").name
    with tempfile.TemporaryDirectory(prefix="nemu-bench-") as tmp:
        s = Session.create(t, base=Path(tmp))
        try:
            await s.up()
            tap = s.wiring.taps[(link, "a")]
            rates = ["10Mbit", "20Mbit"]

            async def direct(i: int) -> object:
                return await s.fabric.set_direction(tap, {"bandwidth": 10_000_000 + i})

            async def engine(i: int) -> object:
                await s.set_link(link, "a", bandwidth=rates[i % 2])
                return None

            results = {"vswitch control call": await timed(args.calls, direct),
                       "Session.set_link": await timed(args.calls, engine)}
        finally:
            await s.down()
    floor = statistics.median(results["vswitch control call"])
    print(f"\nLive link change, {args.calls} calls each (target: applied in < 50 ms)\n")
    print("| path | median ms | p99 ms | max ms | median vs control call |")
    print("|---|---:|---:|---:|---:|")
    for name, xs in results.items():
        med = statistics.median(xs)
        print(f"| {name} | {med:.2f} | {pct(xs, 0.99):.2f} | {max(xs):.2f} | "
              f"{med / floor:.1f}x |")


if __name__ == "__main__":
    asyncio.run(main())
