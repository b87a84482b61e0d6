"""VM-to-VM TCP throughput (iperf3) through nemu's vswitch, against QEMU's direct socket and
vde_switch, and through a chain of 8 vswitch hops. Every path is measured in the same run.

Run: ``.venv/bin/python benchmarks/vm_throughput.py [--seconds 5] [--repeats 3]``
(about 3 minutes under TCG). Prints a markdown table of medians and ratios against the direct
QEMU socket. Guests are the `host` image; every process started is stopped by its PID.

Paths:
* direct: h1's NIC listens on a unix socket (`-netdev stream,server=on`), h2's connects to it;
* nemu 1 hop: a two-host session with a perfect link (one vswitch `link` device);
* vde_switch: Debian vde2's switch, both NICs `-netdev vde`;
* nemu 8 hops: h1 - s1 - ... - s7 - h2, seven vswitch switches joined by patch ports.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from engine.hosts import LocalHost, ProcessHandle  # noqa: E402
from engine.images.accel import choose_accel  # noqa: E402
from engine.images.builder import Builder, find_image  # noqa: E402
from engine.images.guest_agent import GuestAgent  # noqa: E402
from engine.images.qemu_boot import GuestMachine, NicSpec, prepare_node  # noqa: E402
from engine.model import Interface, Node, NodeKind, Topology  # noqa: E402
from engine.plan.addressing import plan  # noqa: E402
from engine.session.machines import node_config  # noqa: E402
from engine.session.session import Session  # noqa: E402


async def iperf(client: GuestAgent, server: GuestAgent, dst: str, seconds: int
                ) -> tuple[float, int]:
    await server.exec("iperf3 -s -D -1", timeout=10)
    await asyncio.sleep(0.5)
    r = await client.exec(f"iperf3 -c {dst} -t {seconds} -J", timeout=seconds + 60)
    if r.exitcode != 0:
        raise RuntimeError(r.stdout.decode()[-300:] + r.stderr.decode()[-300:])
    end = json.loads(r.stdout)["end"]
    return end["sum_received"]["bits_per_second"] / 1e6, end["sum_sent"].get("retransmits", 0)


def pair_topology() -> Topology:
    t = Topology(name="pair")
    for n in ("h1", "h2"):
        t.add_node(Node(n, NodeKind.HOST, [Interface("eth0")]))
    return t


async def raw_pair(tmp: Path, netdevs: tuple[str, str], repeats: int, seconds: int
                   ) -> list[tuple[float, int]]:
    """Two machines whose NIC backends are given as QEMU -netdev strings (no vswitch)."""
    host = LocalHost()
    image = find_image("host") or await Builder(host).build("host")
    accel = await choose_accel(host)
    topo = pair_topology()
    topo.connect("h1", "h2")
    plans = plan(topo)
    machines = []
    try:
        for name, netdev in zip(("h1", "h2"), netdevs, strict=True):
            node = topo.node(name)
            spec = await prepare_node(host, name, tmp / name, image, accel,
                                      config=node_config(node, plans[name]),
                                      nics=[NicSpec(plans[name].macs["eth0"], netdev)])
            m = GuestMachine(host, spec)
            await m.start()
            machines.append(m)
        dst = str(plans["h2"].addresses["eth0"].ip)
        return [await iperf(machines[0].agent, machines[1].agent, dst, seconds)
                for _ in range(repeats)]
    finally:
        for m in machines:
            await m.stop()


async def direct(tmp: Path, repeats: int, seconds: int) -> list[tuple[float, int]]:
    sock = tmp / "wire.sock"
    return await raw_pair(tmp, (f"stream,server=on,addr.type=unix,addr.path={sock}",
                                f"stream,server=off,addr.type=unix,addr.path={sock}"),
                          repeats, seconds)


async def vde(tmp: Path, repeats: int, seconds: int) -> list[tuple[float, int]]:
    host = LocalHost()
    ctl, pidfile = tmp / "vde.ctl", tmp / "vde.pid"
    # vde_switch reads commands from stdin unless daemonized: run it as a daemon and own it by
    # the PID (and start time) from its pidfile.
    await host.run(["vde_switch", "-d", "-s", str(ctl), "-p", str(pidfile)], timeout=10)
    for _ in range(100):
        if pidfile.exists() and pidfile.read_text().strip():
            break
        await asyncio.sleep(0.05)
    pid = int(pidfile.read_text())
    proc = ProcessHandle("local", pid, psutil.Process(pid).create_time(), ("vde_switch",))
    try:
        return await raw_pair(tmp, (f"vde,sock={ctl}", f"vde,sock={ctl}"), repeats, seconds)
    finally:
        await host.stop(proc)


async def through_session(topo: Topology, tmp: Path, repeats: int, seconds: int
                          ) -> list[tuple[float, int]]:
    s = Session.create(topo, base=tmp)
    try:
        await s.up()
        dst = str(s.plans["h2"].addresses["eth0"].ip)
        return [await iperf(s.node("h1").agent, s.node("h2").agent, dst, seconds)
                for _ in range(repeats)]
    finally:
        await s.down()


async def one_hop(tmp: Path, repeats: int, seconds: int) -> list[tuple[float, int]]:
    t = pair_topology()
    t.connect("h1", "h2")
    return await through_session(t, tmp, repeats, seconds)


async def one_hop_asyncio(tmp: Path, repeats: int, seconds: int) -> list[tuple[float, int]]:
    """The same hop with the vswitch on asyncio's own event loop instead of uvloop."""
    os.environ["NEMU_VSWITCH_LOOP"] = "asyncio"       # inherited by the session's vswitch
    try:
        return await one_hop(tmp, repeats, seconds)
    finally:
        del os.environ["NEMU_VSWITCH_LOOP"]


async def eight_hops(tmp: Path, repeats: int, seconds: int) -> list[tuple[float, int]]:
    t = pair_topology()
    switches = [f"s{i}" for i in range(1, 8)]
    for s in switches:
        t.add_node(Node(s, NodeKind.SWITCH))
    chain = ["h1", *switches, "h2"]
    for a, b in itertools.pairwise(chain):
        t.connect(a, b)
    return await through_session(t, tmp, repeats, seconds)


PATHS: dict[str, Callable[[Path, int, int], Awaitable[list[tuple[float, int]]]]] = {
    "QEMU direct socket": direct,
    "nemu vswitch, 1 hop": one_hop,
    "nemu vswitch, 1 hop, asyncio loop": one_hop_asyncio,
    "vde_switch": vde,
    "nemu vswitch, 8 hops": eight_hops,
}


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    results: dict[str, list[tuple[float, int]]] = {}
    for name, run in PATHS.items():
        with tempfile.TemporaryDirectory(prefix="nemu-bench-") as tmp:
            print(f"measuring {name} ...", file=sys.stderr, flush=True)
            results[name] = await run(Path(tmp), args.repeats, args.seconds)
    base = statistics.median(r[0] for r in results["QEMU direct socket"])
    print(f"\nVM-to-VM iperf3 TCP, {args.seconds} s x {args.repeats} runs, medians "
          f"(accelerator: {(await choose_accel(LocalHost())).accel.upper()})\n")
    print("| path | Mbit/s | vs direct | retransmits | runs (Mbit/s) |")
    print("|---|---:|---:|---:|---|")
    for name, rs in results.items():
        med = statistics.median(r[0] for r in rs)
        retr = statistics.median(r[1] for r in rs)
        runs = ", ".join(f"{r[0]:.0f}" for r in rs)
        print(f"| {name} | {med:.0f} | {med / base:.2f}x | {retr:.0f} | {runs} |")


if __name__ == "__main__":
    asyncio.run(main())
