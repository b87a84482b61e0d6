"""`nemu up/down/status/exec/set-link/stats/capture/console`: running networks from a terminal.

`nemu up` boots a topology and returns, leaving the network running; the other commands find
the session (the only one running, or `-s NAME`) and re-attach to it by its recorded PIDs.
"""

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

import psutil

from engine import topofile, units
from engine.errors import NemuError
from engine.hosts import LocalHost
from engine.hosts.base import ProcessState
from engine.session.directory import SessionDir, find_session, list_sessions, running_sessions
from engine.session.events import NodeStateChanged, Progress, SessionEvent
from engine.session.registry import live_sessions
from engine.session.session import Session


def register(sub: Any) -> None:
    def session_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("-s", "--session", help="session name or directory (default: the only "
                       "running one)")

    p = sub.add_parser("up", help="start a topology as a running network")
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("--name", help="session name (default: the topology's name)")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("down", help="stop a running network (every process, by PID)")
    session_arg(p)
    p.set_defaults(func=cmd_down)

    p = sub.add_parser("status", help="sessions, or the nodes of one session")
    session_arg(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("exec", help="run a command in a node (through its guest agent)")
    session_arg(p)
    p.add_argument("node")
    p.add_argument("command", nargs=argparse.REMAINDER)
    p.add_argument("--timeout", type=float, default=60.0)
    p.set_defaults(func=cmd_exec)

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

    p = sub.add_parser("save", help="save a session (topology, disks) as one archive")
    session_arg(p)
    p.add_argument("archive", type=Path)
    p.set_defaults(func=cmd_save)

    p = sub.add_parser("restore", help="unpack a saved session (and boot it with --up)")
    p.add_argument("archive", type=Path)
    p.add_argument("--name", help="session name (default: the archive's name)")
    p.add_argument("--up", action="store_true", help="boot it at once")
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser("start", help="boot a session that is down (e.g. restored)")
    session_arg(p)
    p.set_defaults(func=cmd_start)

    p = sub.add_parser("shell", help="interactive Python with the session bound to `session`")
    session_arg(p)
    p.set_defaults(func=cmd_shell)

    p = sub.add_parser("run", help="run a Python script with the session bound to `session`")
    session_arg(p)
    p.add_argument("script", type=Path)
    p.add_argument("script_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("console", help="attach this terminal to a node's serial console "
                       "(Ctrl-] leaves)")
    session_arg(p)
    p.add_argument("node")
    p.set_defaults(func=cmd_console)


def pick_session(name: str | None) -> SessionDir:
    if name:
        return find_session(name)
    running = running_sessions()
    if len(running) == 1:
        return running[0]
    if not running:
        raise NemuError("no session is running (start one with `nemu up FILE`)")
    raise NemuError("several sessions are running; choose one with -s: "
                    + ", ".join(s.name for s in running))


def print_event(event: SessionEvent) -> None:
    if isinstance(event, Progress):
        bar = "#" * round(20 * event.done / max(event.total, 1))
        print(f"[{bar:20s}] {event.done}/{event.total} {event.message}", file=sys.stderr)
    elif isinstance(event, NodeStateChanged) and event.reason:
        print(f"  {event.node}: {event.state.value} ({event.reason})", file=sys.stderr)


def cmd_up(args: argparse.Namespace) -> int:
    return boot(Session.create(topofile.load(args.file), args.name))


def boot(session: Session) -> int:
    async def go() -> None:
        session.subscribe(print_event)
        await session.up()

    try:
        asyncio.run(go())
    except KeyboardInterrupt:
        asyncio.run(session.down())
        raise
    print(f"session {session.dir.name} is up ({session.dir.root})")
    print(f"accelerator: {session.accel.accel.upper() if session.accel else '?'}")
    for name, p in session.plans.items():
        addrs = ", ".join(f"{i} {a}" for i, a in p.addresses.items())
        print(f"  {name:12s} {addrs}")
    print(f"next: nemu exec {next(iter(session.plans), 'NODE')} ip addr | nemu stats | "
          "nemu console NODE | nemu down")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    sdir = pick_session(args.session)

    async def go() -> None:
        s = await Session.attach(str(sdir.root))
        await s.down()

    asyncio.run(go())
    print(f"session {sdir.name} is down")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    if not args.session:
        sessions = list_sessions()
        if not sessions:
            print("no sessions")
        live = {s.root for s in live_sessions({"local": LocalHost()})}
        gone = []
        for s in sessions:
            st = s.read_state()
            status = st.get("status", "created")
            if status in ("up", "starting") and s.root not in live:
                status = "gone"                 # left up, but none of its processes runs
                gone.append(s.name)
            print(f"{s.name:24s} {status:9s} {st.get('accel', ''):4s} {s.root}"
                  + _controlled_by(s))
        if gone:
            print(f"gone: left up, but none of its processes runs any more (the machine "
                  f"restarted?); `nemu down -s {gone[0]}` marks it down, its disks are kept")
        return 0
    sdir = find_session(args.session)

    async def go() -> Session:
        return await Session.attach(str(sdir.root))

    session = asyncio.run(go())
    print(f"session {sdir.name}: {sdir.read_state().get('status', 'created')}, "
          f"{(session.accel.accel.upper() if session.accel else '')}")
    for node in session.topo.nodes:
        proc = session.process(node.name) if node.kind.is_machine or node.kind.value == "slirp" \
            else session.registry.get("vswitch")
        extra = ""
        if proc is not None and session.host.state(proc) is ProcessState.RUNNING:
            try:
                p = psutil.Process(proc.pid)
                extra = f"pid {proc.pid}, {p.memory_info().rss / 2**20:.0f} MiB"
            except psutil.Error:
                pass
        elif proc is not None:
            extra = f"pid {proc.pid} is gone"
        state = session.states[node.name].value
        print(f"  {node.name:12s} {node.kind.value:7s} {state:8s} {extra}")
    vswitch = session.registry.get("vswitch")
    if vswitch is not None:         # every link, hub and switch lives in this one process
        if session.host.state(vswitch) is ProcessState.RUNNING:
            print(f"  {'(links)':12s} vswitch running  pid {vswitch.pid}")
        else:
            print(f"  {'(links)':12s} vswitch crashed  pid {vswitch.pid} is gone: no link "
                  "carries frames; `nemu down`, then `nemu up` again")
    return 0


def _controlled_by(sdir: SessionDir) -> str:
    """'  (controlled by nemu-gui (pid 123, since 10:02:03))' when a live controller holds it."""
    from engine.session.control import holder
    who = holder(sdir, LocalHost())
    return f"  (controlled by {who.describe()})" if who is not None else ""


def cmd_exec(args: argparse.Namespace) -> int:
    if not args.command:
        raise NemuError("give a command to run, e.g. `nemu exec h1 ip addr`")
    sdir = pick_session(args.session)
    command = args.command[0] if len(args.command) == 1 else " ".join(args.command)

    async def go() -> int:
        s = await Session.attach(str(sdir.root))
        r = await s.node(args.node).run(command, timeout=args.timeout)
        sys.stdout.buffer.write(r.stdout)
        sys.stderr.buffer.write(r.stderr)
        return r.exitcode

    return asyncio.run(go())


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


def cmd_save(args: argparse.Namespace) -> int:
    from engine.session import archive
    sdir = pick_session(args.session) if args.session or _any_running() else None
    if sdir is None:
        raise NemuError("choose the session to save with -s NAME")

    async def go() -> Path:
        return await archive.save(await Session.attach(str(sdir.root)), args.archive)

    print(f"saved session {sdir.name} to {asyncio.run(go())}")
    return 0


def _any_running() -> bool:
    return bool(running_sessions())


def cmd_restore(args: argparse.Namespace) -> int:
    from engine.session import archive
    session = asyncio.run(archive.restore(args.archive, args.name))
    print(f"restored session {session.dir.name} ({session.dir.root})")
    return boot(session) if args.up else 0


def cmd_start(args: argparse.Namespace) -> int:
    if not args.session:
        raise NemuError("choose the session to start with -s NAME")
    sdir = find_session(args.session)
    return boot(Session(topofile.load(sdir.topology_path), sdir))


def cmd_shell(args: argparse.Namespace) -> int:
    from engine.manager import interactive
    return interactive(pick_session(args.session))


def cmd_run(args: argparse.Namespace) -> int:
    from engine.manager import run_script
    return run_script(pick_session(args.session), args.script, args.script_args)


def cmd_console(args: argparse.Namespace) -> int:
    from engine.console import attach_terminal
    sdir = pick_session(args.session)

    def resize(rows: int, columns: int) -> None:
        async def go() -> None:
            s = await Session.attach(str(sdir.root))
            try:
                await s.node(args.node).resize_console(rows, columns)
            finally:
                await s.agents[args.node].close()   # the GUI may want the agent next

        # a machine whose agent does not answer keeps its console's size: not worth an error
        with contextlib.suppress(NemuError):
            asyncio.run(go())

    return attach_terminal(sdir, args.node, resize)
