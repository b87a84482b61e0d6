"""The seed paper's manager as an interpreter and a script launcher, bound to one session.

Both run the session on an engine thread, so plain synchronous code can drive it:
`run(session.set_link("h1-h2", bandwidth="2Mbit"))` or `sh("h1", "ping -c1 10.0.0.2")`.
Scripts may also define `async def main(session)`, which is awaited.
"""

from __future__ import annotations

import code
import inspect
import runpy
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from engine.runtime import EngineThread
from engine.session.directory import SessionDir
from engine.session.session import Session


def _bindings(et: EngineThread, session: Session) -> dict[str, Any]:
    def run(coro: Coroutine[Any, Any, Any], timeout: float = 600.0) -> Any:
        """Run a coroutine of the session and return its result."""
        return et.submit(coro).result(timeout)

    def sh(node: str, command: str, timeout: float = 60.0) -> str:
        """Run a shell command in a node; print and return its output."""
        r = run(session.node(node).run(command, timeout=timeout))
        out = (r.stdout + r.stderr).decode(errors="replace")
        print(out, end="")
        return out

    return {"session": session, "topology": session.topo, "run": run, "sh": sh}


def _attached(sdir: SessionDir) -> tuple[EngineThread, Session]:
    et = EngineThread()
    et.start()
    return et, et.submit(Session.attach(str(sdir.root))).result(60)


def interactive(sdir: SessionDir) -> int:
    et, session = _attached(sdir)
    banner = (f"nemu shell: session {sdir.name} is `session`; try\n"
              f"  sh('{next(iter(session.agents), 'h1')}', 'ip addr')\n"
              "  run(session.set_link('LINK', bandwidth='2Mbit'))\n"
              "  run(session.sample_stats())\nCtrl-D leaves (the network keeps running).")
    try:
        code.interact(banner=banner, local=_bindings(et, session), exitmsg="")
    finally:
        et.stop()
    return 0


def run_script(sdir: SessionDir, script: Path, argv: list[str]) -> int:
    et, session = _attached(sdir)
    old_argv = sys.argv
    sys.argv = [str(script), *argv]
    try:
        env = runpy.run_path(str(script), init_globals=_bindings(et, session),
                             run_name="__nemu__")
        main = env.get("main")
        if main is not None and inspect.iscoroutinefunction(main):
            et.submit(main(session)).result()
    finally:
        sys.argv = old_argv
        et.stop()
    return 0
