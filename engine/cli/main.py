"""Entry point of `nemu`: builds the parser from the subcommand modules and runs one.

Each module in COMMAND_MODULES has `register(subparsers)`, which adds its subcommands and sets
`func(args) -> int` on them. Errors nemu raises on purpose print as one clear line, no traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import select
import sys
from collections.abc import Sequence

from engine.errors import NemuError

COMMAND_MODULES = (
    "engine.cli.topology_cmds",
    "engine.cli.demo_cmds",
    "engine.cli.session_cmds",
    "engine.cli.node_cmds",
    "engine.cli.link_cmds",
    "engine.cli.images_cmds",
    "engine.cli.lab_cmds",
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
    except BrokenPipeError:
        if not _stdout_closed():
            raise
        # the reader of our output went away (`nemu status | head -1`): end quietly, as
        # Unix tools do, and keep Python from complaining when it flushes stdout at exit
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _stdout_closed() -> bool:
    """Whether stdout is a pipe nobody reads any more (a broken pipe elsewhere, e.g. a
    socket, is a real error)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(ev & select.POLLERR for _, ev in poller.poll(0))
    except (OSError, ValueError):
        return False


if __name__ == "__main__":
    sys.exit(main())
