"""`nemu set-link/stats/capture`: the links of a running session, live."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from engine import units
from engine.cli.session_cmds import pick_session
from engine.errors import NemuError
from engine.session.session import Session


def register(sub: Any) -> None:
    def session_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("-s", "--session", help="session name or directory (default: the only "
                       "running one)")
    p = sub.add_parser("set-link", help="change link parameters live: bandwidth=2Mbit delay=20ms")
    session_arg(p)
    p.add_argument("link")
    p.add_argument("params", nargs="+", metavar="KEY=VALUE")
    p.add_argument("--end", choices=("a", "b", "both"), default="both",
                   help="which direction: frames sent by end a, by end b, or both (default)")
    p.set_defaults(func=cmd_set_link)

    p = sub.add_parser("stats", help="live link rates")
    session_arg(p)
    p.add_argument("--hz", type=float, default=1.0)
    p.add_argument("--count", type=int, default=0, help="stop after N updates (0: never)")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("capture", help="capture a link's frames to a pcap file (Ctrl-C stops)")
    session_arg(p)
    p.add_argument("link")
    p.add_argument("--end", choices=("a", "b"), default="a",
                   help="capture the frames sent by this end (default a)")
    p.add_argument("-w", "--write", type=Path, required=True,
                   help="pcap file, a FIFO that `wireshark -k -i FIFO` reads, or - for a "
                        "live pcap stream on stdout (`... -w - | wireshark -k -i -`)")
    p.add_argument("--seconds", type=float, default=0, help="stop after this long")
    p.set_defaults(func=cmd_capture)


def parse_assignments(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise NemuError(f"expected KEY=VALUE, got {item!r}")
        out[{"bw": "bandwidth"}.get(key, key)] = value
    return out


def cmd_set_link(args: argparse.Namespace) -> int:
    sdir = pick_session(args.session)
    changes = parse_assignments(args.params)

    async def go() -> None:
        s = await Session.attach(str(sdir.root))
        await s.set_link(args.link, args.end, **changes)

    asyncio.run(go())
    print(f"{args.link}: " + ", ".join(f"{k}={v}" for k, v in changes.items()))
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    sdir = pick_session(args.session)

    async def go() -> None:
        s = await Session.attach(str(sdir.root))
        n = 0
        async for update in s.stats(args.hz):
            n += 1
            if n == 1:
                continue   # the first sample only sets the baseline
            width = shutil.get_terminal_size((100, 20)).columns
            lines = [f"{'link':16s} {'a->b':>12s} {'b->a':>12s} {'drops/s':>9s} {'queue':>6s}"]
            for ls in update.links:
                drops = sum(ls.a_to_b.drops_per_s.values()) + sum(ls.b_to_a.drops_per_s.values())
                lines.append(f"{ls.link[:16]:16s} {units.format_rate(ls.a_to_b.bps):>12s} "
                             f"{units.format_rate(ls.b_to_a.bps):>12s} {drops:9.1f} "
                             f"{ls.a_to_b.queue_frames + ls.b_to_a.queue_frames:6d}")
            if sys.stdout.isatty():
                print("\x1b[H\x1b[J", end="")
            print("\n".join(line[:width] for line in lines), flush=True)
            if args.count and n > args.count:
                return

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(go())
    return 0


def cmd_capture(args: argparse.Namespace) -> int:
    sdir = pick_session(args.session)
    to_stdout = str(args.write) == "-"

    async def go() -> None:
        s = await Session.attach(str(sdir.root))
        with tempfile.TemporaryDirectory(prefix="nemu-capture-") as tmp:
            target = Path(tmp) / "pcap.fifo" if to_stdout else args.write.resolve()
            reader = None
            if to_stdout:
                os.mkfifo(target, 0o600)
                # opened before the vswitch opens it for writing, which needs a reader
                reader = os.open(target, os.O_RDONLY | os.O_NONBLOCK)
            try:
                await s.capture(args.link, args.end, target)
                print(f"capturing {args.link} ({args.end} -> other end) to "
                      f"{'stdout' if to_stdout else args.write}; Ctrl-C stops", file=sys.stderr)
                try:
                    if reader is None:
                        await asyncio.sleep(args.seconds or 10**9)
                    else:
                        await _copy_to_stdout(reader, args.seconds or 10**9)
                finally:
                    await s.capture(args.link, args.end, target, start=False)
            finally:
                if reader is not None:
                    os.close(reader)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(go())
    return 0


async def _copy_to_stdout(fd: int, seconds: float) -> None:
    """The capture's FIFO to stdout as it comes, until `seconds` pass or the reader of
    stdout goes away (a closed Wireshark ends the capture, not an error)."""
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    loop.add_reader(fd, ready.set)
    out = sys.stdout.buffer
    deadline = loop.time() + seconds
    try:
        while (left := deadline - loop.time()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ready.wait(), min(left, 1.0))
            ready.clear()
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                continue
            if not chunk:               # the vswitch closed its end
                await asyncio.sleep(0.05)
                continue
            try:
                out.write(chunk)
                out.flush()
            except BrokenPipeError:
                with contextlib.suppress(OSError):   # no "Exception ignored" at exit
                    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                return
    finally:
        loop.remove_reader(fd)
