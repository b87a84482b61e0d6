"""`nemu images build|list|path` and `nemu doctor`: guest images and what this machine can do."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from engine.desktop import check_gui
from engine.hosts import LocalHost
from engine.images import Builder, available_recipes, built_images, find_image, load_recipe
from engine.images.builder import image_dir
from engine.images.disk import backing_file
from engine.images.doctor import diagnose
from engine.images.recipe import RecipeError
from engine.session.directory import list_sessions


def register(sub: Any) -> None:
    p = sub.add_parser("images", help="build and locate guest images (host, router)")
    isub = p.add_subparsers(dest="images_command", metavar="ACTION", required=True)

    b = isub.add_parser("build", help="build images from their recipes (instant when cached)")
    b.add_argument("names", nargs="*", default=["all"], metavar="NAME",
                   help="recipe names, or `all` (default)")
    b.add_argument("--force", action="store_true", help="rebuild even if the image is cached")
    b.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    b.set_defaults(func=cmd_build)

    ls = isub.add_parser("list", help="list recipes and built images")
    ls.set_defaults(func=cmd_list)

    pa = isub.add_parser("path", help="print where a built image (or one of its files) is")
    pa.add_argument("name", metavar="NAME")
    pa.add_argument("--file", choices=("dir", "kernel", "initrd", "disk"), default="dir")
    pa.set_defaults(func=cmd_path)

    c = isub.add_parser("clean", help="delete cached images of older recipe versions")
    c.add_argument("--all", action="store_true", help="delete every built image")
    c.add_argument("--force", action="store_true",
                   help="delete images that sessions' disks are built on too (breaks them)")
    c.set_defaults(func=cmd_clean)

    d = sub.add_parser("doctor", help="check KVM (or why TCG), the tools nemu needs and "
                       "whether the designer can open a window")
    d.set_defaults(func=cmd_doctor)


class _Progress:
    """One line per step; on a terminal, a bar redrawn in place."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.last = ""
        self.t0 = time.monotonic()

    def __call__(self, msg: str, done: int, total: int) -> None:
        if self.quiet:
            return
        elapsed = time.monotonic() - self.t0
        if self.tty:
            width = 20
            fill = int(width * done / total) if total else 0
            bar = "#" * fill + "-" * (width - fill)
            sys.stderr.write(f"\r\033[K{elapsed:5.1f}s [{bar}] {msg[:70]}")
            if done >= total and total:
                sys.stderr.write("\n")
            sys.stderr.flush()
        elif msg.split("]")[0] != self.last.split("]")[0] or done >= total:
            print(f"{elapsed:5.1f}s {msg}", file=sys.stderr)
        self.last = msg


def _names(requested: list[str]) -> list[str]:
    if not requested or requested == ["all"]:
        return available_recipes()
    return requested


def cmd_build(args: argparse.Namespace) -> int:
    progress = _Progress(args.quiet)
    builder = Builder(LocalHost(), progress)
    for name in _names(args.names):
        t0 = time.monotonic()
        image = asyncio.run(builder.build(name, force=args.force))
        took = time.monotonic() - t0
        print(f"{name}: {image.directory} ({image.size_bytes() / 2**20:.1f} MiB, "
              f"{'built' if took > 1 else 'cached'} in {took:.1f} s)")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    current = {}
    for name in available_recipes():
        recipe = load_recipe(name)
        current[str(image_dir(recipe))] = name
        state = "built" if find_image(name) else "not built (nemu images build " + name + ")"
        print(f"recipe {name:8s} {state:12s} {recipe.description}")
    images = built_images()
    if images:
        print("cached images:")
    for img in images:
        tag = "current" if str(img.directory) in current else "old recipe"
        print(f"  {img.name:8s} {img.hash}  {img.size_bytes() / 2**20:6.1f} MiB  "
              f"kernel {img.kernel_version}  {tag:10s} {img.directory}")
    return 0


def cmd_path(args: argparse.Namespace) -> int:
    try:
        image = find_image(args.name)
    except RecipeError as e:
        print(f"nemu: error: {e}", file=sys.stderr)
        return 2
    if image is None:
        print(f"nemu: error: image {args.name!r} is not built; run `nemu images build "
              f"{args.name}`", file=sys.stderr)
        return 1
    target = {"dir": image.directory, "kernel": image.kernel, "initrd": image.initrd,
              "disk": image.disk}[args.file]
    print(target)
    return 0


def images_in_use() -> dict[Path, set[str]]:
    """Image directories that sessions' node disks read through to, and the sessions."""
    used: dict[Path, set[str]] = {}
    for sdir in list_sessions():
        nodes = sdir.root / "nodes"
        for disk in nodes.glob("*/disk.qcow2") if nodes.is_dir() else ():
            base = backing_file(disk)
            if base is not None:
                used.setdefault(base.resolve().parent, set()).add(sdir.name)
    return used


def cmd_clean(args: argparse.Namespace) -> int:
    current = {str(image_dir(load_recipe(n))) for n in available_recipes()}
    used = {} if args.force else images_in_use()
    freed = 0
    for img in built_images():
        if not (args.all or str(img.directory) not in current):
            continue
        users = used.get(img.directory.resolve())
        if users:
            print(f"kept {img.directory}: the disks of session(s) {', '.join(sorted(users))} "
                  "are built on it (`nemu down` + delete them, or --force)")
            continue
        freed += sum(p.stat().st_size for p in img.directory.iterdir() if p.is_file())
        shutil.rmtree(img.directory)
        print(f"deleted {img.directory}")
    print(f"freed {freed / 2**20:.1f} MiB")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    report = asyncio.run(diagnose(LocalHost()))
    print(report.render(), end="")
    gui = asyncio.run(check_gui(LocalHost()))
    print(gui.render(), end="")
    return 1 if report.missing or not gui.ok else 0
