"""Benchmark: boot-to-agent-ready time of the host and router images, their sizes, and the
guest QEMU's memory (RSS).

    python benchmarks/images_boot.py [--runs 5] [--images host router] [--accel tcg kvm]

RSS counts the kernel file pages QEMU maps (shared by every node through the page cache);
USS is the memory one more node really adds. Targets (issue 4): under TCG, agent ready in
<= 3 s (host) and <= 5 s (router); image compressed size <= 40 MB. "Agent ready" is measured
from starting QEMU until the guest agent answers and the guest has applied its node
configuration (GuestMachine.start()). Each run
boots a fresh overlay (first boot of a node). KVM is measured only where it really works
(`nemu doctor`). Images are built first if needed (instant when cached).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.hosts import LocalHost
from engine.images import (
    Builder,
    GuestMachine,
    Image,
    InterfaceConfig,
    NicSpec,
    NodeConfig,
    mac_for,
    prepare_node,
    probe_kvm,
)
from engine.images.accel import AccelChoice

TARGETS = {"host": 3.0, "router": 5.0}


async def one_boot(image: Image, accel: AccelChoice, workdir: Path,
                   i: int) -> tuple[float, int, int, list[str]]:
    host = LocalHost()
    name = f"b{i}"
    node = workdir / name
    sock = node / "nic0.sock"
    node.mkdir(parents=True)
    nic = NicSpec(mac_for(name, 0), f"stream,server=on,addr.type=unix,addr.path={sock}")
    cfg = NodeConfig(hostname=name, interfaces=[InterfaceConfig("eth0", nic.mac, ["10.0.0.1/24"])])
    spec = await prepare_node(host, name, node, image, accel, cfg, [nic])
    machine = GuestMachine(host, spec)
    try:
        seconds = await machine.start(agent_timeout=120)
        await asyncio.sleep(1.0)   # let boot-time services settle before reading memory
        assert machine.handle is not None
        mem = psutil.Process(machine.handle.pid).memory_full_info()
        stamps = (await machine.agent.read_file("/run/nemu/boot-times")).decode().split("\n")
    finally:
        await machine.stop()
        shutil.rmtree(node, ignore_errors=True)
    return seconds, mem.rss, mem.uss, [s for s in stamps if s]


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--images", nargs="+", default=["host", "router"])
    ap.add_argument("--accel", nargs="+", default=["tcg", "kvm"], choices=["tcg", "kvm"])
    args = ap.parse_args()
    host = LocalHost()
    builder = Builder(host)
    images = {n: await builder.build(n) for n in args.images}
    os.environ.pop("NEMU_ACCEL", None)
    kvm = await probe_kvm(host)
    accels = []
    for a in args.accel:
        if a == "tcg":
            accels.append(AccelChoice("tcg", "always available"))
        elif kvm.accel == "kvm":
            accels.append(kvm)
        else:
            print(f"KVM not measured: {kvm.reason}")
    print(f"{'image':12s} {'size MiB':>9s} {'MB':>6s}  vmlinuz + initrd.gz + base.qcow2 (MiB)")
    for img in images.values():
        parts = " + ".join(f"{p.stat().st_size / 2**20:.1f}" for p in (
            img.directory / "vmlinuz", img.directory / "initrd.gz", img.disk))
        print(f"{img.name:12s} {img.size_bytes() / 2**20:9.1f} {img.size_bytes() / 1e6:6.1f}  "
              f"{parts}")
    print()
    print(f"{'image':12s} {'accel':5s} {'runs':>4s} {'median s':>9s} {'min s':>6s} {'max s':>6s} "
          f"{'target':>7s} {'RSS MiB':>8s} {'USS MiB':>8s}  guest uptime at each boot stage")
    with tempfile.TemporaryDirectory(prefix="nemu-bench-") as tmp:
        for accel in accels:
            for img in images.values():
                times, rss, uss, stages = [], [], [], []
                for i in range(args.runs):
                    t, r, u, st = await one_boot(img, accel, Path(tmp), i)
                    times.append(t)
                    rss.append(r)
                    uss.append(u)
                    stages.append(st)
                mid = stages[times.index(statistics.median_low(times))]
                target = TARGETS.get(img.name)
                ok = "" if target is None or accel.accel != "tcg" else (
                    f"{'<=' if statistics.median(times) <= target else '> '}{target:.0f}s")
                print(f"{img.name:12s} {accel.accel:5s} {args.runs:4d} "
                      f"{statistics.median(times):9.2f} {min(times):6.2f} {max(times):6.2f} "
                      f"{ok:>7s} {statistics.median(rss) / 2**20:8.0f} "
                      f"{statistics.median(uss) / 2**20:8.0f}  {', '.join(mid)}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
