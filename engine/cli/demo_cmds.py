"""`nemu demo`: the main job on a ready example lab, with or without a screen.

With a display it opens the designer on the lab and starts it; headless it runs the same lab
from the CLI: boots it, shows a ping across it and the live link rates, and leaves it running.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from engine import examples, topofile
from engine.cli.session_cmds import print_event
from engine.cli.topology_cmds import render_summary
from engine.model import NodeKind, Topology
from engine.session.session import Session
from engine.units import format_rate


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="open (or, headless, run) a ready example lab")
    p.add_argument("--example", "-e", default="star", choices=sorted(examples.EXAMPLES))
    p.add_argument("--dir", type=Path, default=examples.labs_dir(),
                   help="where the lab file is written (default: $NEMU_LABS or ~/nemu-labs)")
    p.add_argument("--headless", action="store_true", help="do not open the GUI")
    p.set_defaults(func=cmd_demo)


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def cmd_demo(args: argparse.Namespace) -> int:
    args.dir.mkdir(parents=True, exist_ok=True)
    path = args.dir / f"{args.example}.yaml"
    if not path.exists():
        topofile.save(examples.build(args.example), path)
        print(f"nemu demo: wrote the example lab {path}")
    topo = topofile.load(path)
    gui = shutil.which("nemu-gui") or str(Path(sys.executable).with_name("nemu-gui"))
    if (not args.headless and has_display() and importlib.util.find_spec("nemu_gui.app")
            and Path(gui).exists()):
        print(f"nemu demo: opening {path} in the designer and starting it")
        os.execv(gui, [gui, str(path), "--start"])
    print(render_summary(topo), end="")
    print(f"\nnemu demo: no display here, so the lab runs from the CLI ({path})")
    return asyncio.run(run_headless(topo))


async def run_headless(topo: Topology) -> int:
    session = Session.create(topo)
    session.subscribe(print_event)
    try:
        await session.up()
    except BaseException:
        await session.down()
        raise
    hosts = [n.name for n in topo.nodes if n.kind is NodeKind.HOST
             and session.plans[n.name].addresses] or list(session.plans)
    src, dst = hosts[0], hosts[-1]
    dst_ip = next(iter(session.plans[dst].addresses.values())).ip
    print(f"\n$ nemu exec {src} ping -c 3 {dst_ip}")
    r = await session.node(src).run(f"ping -c 3 -W 3 {dst_ip}")
    print(r.stdout.decode(errors="replace"), end="")
    await session.sample_stats()
    await asyncio.sleep(1.0)
    print("\nlink rates over the last second:")
    for ls in (await session.sample_stats()).links:
        print(f"  {ls.link:12s} {format_rate(ls.a_to_b.bps):>10s} -> "
              f"{format_rate(ls.b_to_a.bps):>10s} <-")
    print(f"\nsession {session.dir.name} keeps running. Try: nemu status -s {session.dir.name}; "
          f"nemu exec {src} ip addr; nemu console {src}; nemu stats; nemu down")
    return 0 if r.exitcode == 0 else 1
