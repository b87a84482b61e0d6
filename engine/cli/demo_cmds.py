"""`nemu demo`: the main job on a ready example lab, with or without a screen.

With a display it opens the designer on the lab; headless it runs the same lab from the CLI
(as far as this version can: today it validates and summarises it).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from engine import examples, topofile
from engine.cli.topology_cmds import render_summary


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="open (or, headless, run) a ready example lab")
    p.add_argument("--example", "-e", default="star", choices=sorted(examples.EXAMPLES))
    p.add_argument("--dir", type=Path, default=Path.home() / "nemu-labs",
                   help="where the lab file is written (default: ~/nemu-labs)")
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
        print(f"nemu demo: opening {path} in the designer")
        os.execv(gui, [gui, str(path)])
    print(render_summary(topo), end="")
    print(f"\nnemu demo: {path} is valid. No display here, so the designer was not opened; "
          "running labs headless arrives with the engine (`nemu up`).")
    return 0
