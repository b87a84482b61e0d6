"""`nemu up/down/status/start/save/restore/shell/run`: running networks from a terminal.

`nemu up` boots a topology and returns, leaving the network running; the other commands find
the session (the only one running, or `-s NAME`) and re-attach to it by its recorded PIDs.
Commands on one node live in `node_cmds`, on links in `link_cmds`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from engine import topofile
from engine.errors import NemuError
from engine.hosts import LocalHost
from engine.hosts.base import ProcessState
from engine.session.directory import SessionDir, find_session, list_sessions, running_sessions
from engine.session.events import NodeStateChanged, Problem, Progress, SessionEvent
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

    p = sub.add_parser("status", help="sessions, the nodes of one session, or one node "
                       "(with its detached jobs)")
    session_arg(p)
    p.add_argument("node", nargs="?", help="one node of the session, in detail")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("save", help="save a session (topology, disks) as one archive")
    session_arg(p)
    p.add_argument("archive", type=Path)
    p.set_defaults(func=cmd_save)

    p = sub.add_parser("restore", help="unpack a saved session (and boot it with --up)")
    p.add_argument("archive", type=Path)
    p.add_argument("--name", help="session name (default: the archive's name)")
    p.add_argument("--up", action="store_true", help="boot it at once")
    p.set_defaults(func=cmd_restore)

    p = sub.add_parser("start", help="boot what of a session is not running (all of a "
                       "session that is down, e.g. restored; only the crashed nodes of one "
                       "that runs), or the nodes named")
    session_arg(p)
    p.add_argument("nodes", nargs="*", metavar="NODE")
    p.set_defaults(func=cmd_start)

    p = sub.add_parser("shell", help="interactive Python with the session bound to `session`")
    session_arg(p)
    p.set_defaults(func=cmd_shell)

    p = sub.add_parser("run", help="run a Python script with the session bound to `session`")
    session_arg(p)
    p.add_argument("script", type=Path)
    p.add_argument("script_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_run)


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
    elif isinstance(event, Problem):
        print(f"nemu: {event.where}: {event.message}", file=sys.stderr)


def cmd_up(args: argparse.Namespace) -> int:
    return boot(Session.create(topofile.load(args.file), args.name))


def boot(session: Session | Callable[[], Awaitable[Session]]) -> int:
    """Bring a session up (one made here, or one a coroutine attaches to in the same loop
    that starts it) and print what runs."""
    made: list[Session] = [session] if isinstance(session, Session) else []

    async def go() -> None:
        if not made:
            assert not isinstance(session, Session)
            made.append(await session())
        made[0].subscribe(print_event)
        await made[0].up()

    try:
        asyncio.run(go())
    except KeyboardInterrupt:
        if isinstance(session, Session):     # a new lab goes; an attached one keeps running
            asyncio.run(session.down())
        raise
    session = made[0]
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
    if args.node:
        from engine.cli.node_cmds import node_status
        return node_status(sdir, args.node)

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
            usage = session.host.usage(proc)
            extra = f"pid {proc.pid}" + (f", {usage.rss_bytes / 2**20:.0f} MiB"
                                         if usage is not None else "")
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


def _controlled_by(sdir: SessionDir) -> str:
    """'  (controlled by nemu-gui (pid 123, since 10:02:03))' when a live controller holds it."""
    from engine.session.control import holder
    who = holder(sdir, LocalHost())
    return f"  (controlled by {who.describe()})" if who is not None else ""


def cmd_start(args: argparse.Namespace) -> int:
    if not args.session:
        raise NemuError("choose the session to start with -s NAME")
    sdir = find_session(args.session)
    if not args.nodes:
        return boot(lambda: Session.attach(str(sdir.root)))
    from engine.cli.node_cmds import node_verb
    return node_verb(sdir, args.nodes, "start")


def cmd_shell(args: argparse.Namespace) -> int:
    from engine.manager import interactive
    return interactive(pick_session(args.session))


def cmd_run(args: argparse.Namespace) -> int:
    from engine.manager import run_script
    return run_script(pick_session(args.session), args.script, args.script_args)
