"""``nemu-vswitch``: run one vswitch process (normally started by the engine, also by hand).

The process serves a control socket and hosts any number of devices. Devices can be created
through the control socket (what the engine does), from a JSON file of control requests
(``--config``), or with the shortcuts ``--link``, ``--hub`` and ``--switch``.

When ready, it prints one JSON line on stdout: ``{"ready": true, "pid": ..., "control":
"unix:...", "control_tcp": "tcp:host:port" | null}`` (the real TCP port when 0 was asked).
SIGTERM or SIGINT, or the ``shutdown`` request, stop it cleanly: transports closed, captures
flushed, socket files removed. Exit status: 0 after a clean stop, 2 on bad arguments or setup.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from vswitch.addresses import parse_address
from vswitch.control import ControlServer
from vswitch.errors import RequestError, VSwitchError
from vswitch.runtime import SLACK, TIMERS, VSwitch

log = logging.getLogger("vswitch")

PORT_SPEC_HELP = """\
port specs for --link/--hub/--switch:
  listen:unix:PATH | listen:tcp:HOST:PORT     wait for QEMU (-netdev stream/socket connect)
  connect:unix:PATH | connect:tcp:HOST:PORT   connect to QEMU (-netdev stream,server=on)
  dgram:LOCAL[,REMOTE]                        -netdev dgram; LOCAL/REMOTE udp:H:P or unix:PATH
  trunk-listen:tcp:HOST:PORT:TOKEN            another vswitch connects here
  trunk-connect:tcp:HOST:PORT:TOKEN           connect to another vswitch's trunk-listen

examples:
  nemu-vswitch --control /tmp/vs.sock --link l1 listen:unix:/tmp/a.sock listen:unix:/tmp/b.sock
  nemu-vswitch --control /tmp/vs.sock --switch sw connect:unix:/tmp/h1.sock \\
      connect:unix:/tmp/h2.sock connect:unix:/tmp/h3.sock
  then:  echo '{"id":1,"cmd":"list"}' | socat - UNIX-CONNECT:/tmp/vs.sock
"""


def port_spec(text: str) -> dict[str, Any]:
    """Turn a command-line port spec into a control-protocol transport object."""
    kind, _, rest = text.partition(":")
    if kind in ("listen", "connect"):
        return {"type": "stream", "mode": kind, "address": rest}
    if kind == "dgram":
        local, _, remote = rest.partition(",")
        return {"type": "dgram", "local": local, **({"remote": remote} if remote else {})}
    if kind in ("trunk-listen", "trunk-connect"):
        addr, _, token = rest.rpartition(":")
        return {"type": "trunk", "mode": kind.split("-")[1], "address": addr, "token": token}
    raise argparse.ArgumentTypeError(f"unknown port spec {text!r} (see --help)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="nemu-vswitch", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="nemu's userspace data plane: links, hubs and switches joining QEMU "
                    "machines, with live link emulation (bandwidth, delay, jitter, loss, "
                    "bit errors, duplication, MTU, queues), counters and capture.",
        epilog=PORT_SPEC_HELP)
    p.add_argument("--control", metavar="PATH", required=True,
                   help="unix control socket to create (mode 0600); line-delimited JSON, see "
                        "docs/vswitch-protocol.md")
    p.add_argument("--control-tcp", metavar="HOST:PORT",
                   help="also serve the control protocol on TCP (e.g. 127.0.0.1:0); needs a "
                        "token (--token-file or $NEMU_VSWITCH_TOKEN)")
    p.add_argument("--token-file", metavar="FILE",
                   help="file holding the session token for --control-tcp")
    p.add_argument("--config", metavar="FILE",
                   help="JSON list of control requests to run at start (as on the socket)")
    for kind in ("link", "hub", "switch"):
        p.add_argument(f"--{kind}", nargs="+", action="append", default=[],
                       metavar=("NAME", "PORT"),
                       help=f"create a {kind} NAME with ports from port specs "
                            + ("(exactly 2: a and b)" if kind == "link" else "(p0, p1, ...)"))
    p.add_argument("--slack-us", type=float, default=SLACK * 1e6,
                   help="send frames due within this many microseconds per timer wake-up "
                        "(default %(default)g; smaller = more precise, more CPU)")
    p.add_argument("--log-level", default="info",
                   choices=["debug", "info", "warning", "error"], help="default %(default)s")
    p.add_argument("--log-file", metavar="FILE", help="log here instead of stderr")
    p.add_argument("--event-loop", choices=["auto", "uvloop", "asyncio"],
                   default=os.environ.get("NEMU_VSWITCH_LOOP", "auto"),
                   help="uvloop (faster, if installed), asyncio (the standard one), or auto: "
                        "uvloop when it can be imported (default: $NEMU_VSWITCH_LOOP or auto)")
    p.add_argument("--timer", choices=list(TIMERS),
                   default=os.environ.get("NEMU_VSWITCH_TIMER", "auto"),
                   help="what wakes the shaper and delay line: timerfd (Linux; within tens of "
                        "microseconds of a frame's due time), loop (the event loop's timers, "
                        "millisecond grain), or auto: timerfd where there is one "
                        "(default: $NEMU_VSWITCH_TIMER or auto)")
    return p


async def run(args: argparse.Namespace) -> int:
    token = os.environ.get("NEMU_VSWITCH_TOKEN")
    if args.token_file:
        with open(args.token_file, encoding="utf-8") as f:
            token = f.read().strip()
    vs = VSwitch(slack=args.slack_us / 1e6, timer=args.timer)
    await vs.start()
    done = asyncio.Event()

    async def shutdown() -> None:
        done.set()

    ctl = ControlServer(vs, token, on_shutdown=shutdown)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    try:
        ctl_addr = await ctl.listen_unix(args.control)
        tcp_addr = None
        if args.control_tcp:
            a = parse_address("tcp:" + args.control_tcp, "--control-tcp", ("tcp",))
            tcp_addr = await ctl.listen_tcp(a.host, a.port)
        if args.config:
            with open(args.config, encoding="utf-8") as f:
                requests = json.load(f)
            if not isinstance(requests, list):
                raise RequestError("config", "must be a JSON list of requests")
            from vswitch.control import ControlConnection
            conn = ControlConnection(ctl, False)
            for i, req in enumerate(requests):
                reply, _ = await conn.handle_line(json.dumps(req).encode())
                if not reply["ok"]:
                    err = reply["error"]
                    raise RequestError(f"config[{i}].{err['field']}", err["message"])
        for kind in ("link", "hub", "switch"):
            for name, *specs in getattr(args, kind):
                vs.add_device(name, kind)
                names = ["a", "b"] if kind == "link" else [f"p{i}" for i in range(len(specs))]
                if kind == "link" and len(specs) != 2:
                    raise RequestError("--link", "a link needs exactly 2 port specs")
                for pname, spec in zip(names, specs, strict=False):
                    await vs.add_port(name, pname, port_spec(spec))
    except (VSwitchError, OSError, ValueError, argparse.ArgumentTypeError) as exc:
        log.error("%s", exc)
        await ctl.close()
        await vs.stop()
        return 2
    print(json.dumps({"ready": True, "pid": os.getpid(), "control": str(ctl_addr),
                      "control_tcp": str(tcp_addr) if tcp_addr else None}), flush=True)
    await done.wait()
    log.info("shutting down")
    await ctl.close()
    await vs.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()), filename=args.log_file,
        format="%(asctime)s nemu-vswitch[%(process)d] %(levelname)s %(message)s")
    try:
        with asyncio.Runner(loop_factory=loop_factory(args.event_loop)) as runner:
            return runner.run(run(args))
    except KeyboardInterrupt:
        return 0


def loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop the data path runs on (None: asyncio's own)."""
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise SystemExit("nemu-vswitch: --event-loop uvloop, but uvloop is not installed "
                             "(pip install uvloop)") from None
        return None
    log.info("event loop: uvloop %s", uvloop.__version__)
    return uvloop.new_event_loop


if __name__ == "__main__":
    sys.exit(main())
