"""Entry point of `nemu`: builds the parser from the subcommand modules and runs one.

Each module in COMMAND_MODULES has `register(subparsers)`, which adds its subcommands and sets
`func(args) -> int` on them. Errors nemu raises on purpose print as one clear line, no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from engine.errors import NemuError

COMMAND_MODULES = (
    "engine.cli.topology_cmds",
    "engine.cli.demo_cmds",
    "engine.cli.session_cmds",
    "engine.cli.images_cmds",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nemu",
        description="nemu: design, validate and run emulated networks of QEMU machines.")
    parser.add_argument("--version", action="version", version="%(prog)s 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except NemuError as e:
        print(f"nemu: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nemu: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
