"""`nemu exec/stop/restart/console`: one node of a running session (and its detached jobs)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from typing import Any

from engine.cli.session_cmds import pick_session, print_event
from engine.errors import NemuError
from engine.hosts.base import ProcessState
from engine.plan.addressing import MachinePlan
from engine.session.directory import SessionDir
from engine.session.events import NodeState
from engine.session.session import Session


def register(sub: Any) -> None:
    def session_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("-s", "--session", help="session name or directory (default: the only "
                       "running one)")
    p = sub.add_parser(
        "exec", help="run a command in a node (through its guest agent)",
        description="Several words are an argv, run as given (`nemu exec h1 sh -c 'echo a  "
        "b'`); one word is a shell command line (`nemu exec h1 'ping -c1 r1 | tail -1'`).")
    session_arg(p)
    p.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--detach", "-d", action="store_true",
                      help="leave it running in the background; prints its PID (its output "
                           "goes to a file in the guest; `nemu status -s S NODE` lists jobs)")
    mode.add_argument("--kill", "-k", action="store_true",
                      help="stop the detached job whose PID is given instead of a command")
    p.add_argument("node")
    p.add_argument("command", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_exec)

    p = sub.add_parser("stop", help="stop nodes of a running session (their links stay)")
    session_arg(p)
    p.add_argument("nodes", nargs="+", metavar="NODE")
    p.set_defaults(func=cmd_stop)

    p = sub.add_parser("restart", help="restart nodes of a running session (disks kept)")
    session_arg(p)
    p.add_argument("nodes", nargs="+", metavar="NODE")
    p.set_defaults(func=cmd_restart)

    p = sub.add_parser("console", help="attach this terminal to a node's serial console "
                       "(Ctrl-] leaves)")
    session_arg(p)
    p.add_argument("node")
    p.set_defaults(func=cmd_console)


def node_status(sdir: SessionDir, name: str) -> int:
    """One node: its state, process, addresses and the jobs detached in it."""
    async def go() -> int:
        s = await Session.attach(str(sdir.root))
        node = s.topo.node(name)
        print(f"{name}: {node.kind.value}, {s.states[name].value}")
        proc = s.process(name)
        if proc is not None and s.host.state(proc) is ProcessState.RUNNING:
            print(f"  pid {proc.pid} on {proc.host}")
        for iface, addr in s.plans.get(name, MachinePlan(name)).addresses.items():
            print(f"  {iface:8s} {addr}")
        if name in s.agents and s.states[name] is NodeState.RUNNING:
            jobs = await s.node(name).jobs()
            print(f"  jobs: {len(jobs) or 'none'}")
            for job in jobs:
                print(f"    {job.pid:>6d} {'running' if job.running else 'exited ':8s} "
                      f"{job.command}   (output: {job.output})")
        return 0

    return asyncio.run(go())


def cmd_exec(args: argparse.Namespace) -> int:
    if not args.command:
        raise NemuError("give a command to run, e.g. `nemu exec h1 ip addr`"
                        if not args.kill else "give the PID of the job to stop")
    sdir = pick_session(args.session)
    # one word: a shell command line; several: an argv, every word kept as typed
    command: str | list[str] = args.command[0] if len(args.command) == 1 else args.command

    async def go() -> int:
        s = await Session.attach(str(sdir.root))
        node = s.node(args.node)
        if args.kill:
            if len(args.command) != 1 or not args.command[0].isdigit():
                raise NemuError(f"--kill takes one PID, got {' '.join(args.command)!r}")
            await node.kill_job(int(args.command[0]))
            print(f"{args.node}: job {args.command[0]} stopped")
            return 0
        if args.detach:
            job = await node.run(command, timeout=args.timeout, detach=True)
            print(job.pid)
            print(f"{args.node}: job {job.pid} running; output in {job.output}; "
                  f"`nemu exec --kill {args.node} {job.pid}` stops it", file=sys.stderr)
            return 0
        r = await node.run(command, timeout=args.timeout)
        sys.stdout.buffer.write(r.stdout)
        sys.stdout.flush()
        sys.stderr.buffer.write(r.stderr)
        return r.exitcode

    return asyncio.run(go())


def cmd_stop(args: argparse.Namespace) -> int:
    return node_verb(pick_session(args.session), args.nodes, "stop")


def cmd_restart(args: argparse.Namespace) -> int:
    return node_verb(pick_session(args.session), args.nodes, "restart")


def node_verb(sdir: SessionDir, nodes: list[str], verb: str) -> int:
    """Start, stop or restart single nodes of a running session, in order."""
    async def go() -> None:
        s = await Session.attach(str(sdir.root))
        s.subscribe(print_event)
        for name in nodes:
            s.topo.node(name)                       # an unknown name fails before anything
        for name in nodes:
            await {"start": s.start_node, "stop": s.stop_node,
                   "restart": s.restart_node}[verb](name)
            print(f"{name}: {s.states[name].value}")

    asyncio.run(go())
    return 0


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
