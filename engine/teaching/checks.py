"""Each kind of check, run against a running session: a result with a short detail.

A check never raises for a student's mistake: a node that is down, a command that fails or a
file that is missing is a failed check with its reason. Only a check the lab describes wrongly
(a node it names is not a machine) is an error.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from ipaddress import ip_address

from engine.errors import NemuError
from engine.model import parse_value
from engine.model.teaching import Check
from engine.session.session import Session


@dataclass(frozen=True)
class CheckResult:
    title: str
    points: int
    earned: int
    detail: str
    hint: str = ""

    @property
    def passed(self) -> bool:
        return self.earned == self.points


def _address_of(s: Session, target: str) -> str:
    """A node's first address in the running lab's plan, or an address as given."""
    if s.topo.has_node(target):
        plan = s.plans.get(target)
        if plan is None or not plan.addresses:
            raise NemuError(f"{target} has no address to ping")
        return str(next(iter(plan.addresses.values())).ip)
    ip_address(target)          # raises ValueError for a bad address
    return target


async def _run(s: Session, node: str, command: str, timeout: float = 30.0) -> tuple[int, str]:
    r = await s.node(node).run(command, timeout=timeout)
    return r.exitcode, (r.stdout + r.stderr).decode(errors="replace")


async def ping(s: Session, c: Check) -> tuple[bool, str]:
    src, target = str(c.args["from"]), str(c.args["to"])
    addr = _address_of(s, target)
    code, _ = await _run(s, src, f"ping -c 3 -i 0.3 -W 2 {addr}")
    reached = code == 0
    want = c.args.get("expect", "reach") == "reach"
    said = "answers" if reached else "does not answer"
    return reached == want, f"{target} ({addr}) {said} from {src}"


async def command(s: Session, c: Check) -> tuple[bool, str]:
    node, run = str(c.args["node"]), str(c.args["run"])
    code, out = await _run(s, node, run)
    problems = []
    if "exit" in c.args and code != int(c.args["exit"]):
        problems.append(f"exited with {code}, not {c.args['exit']}")
    if "match" in c.args and not re.search(str(c.args["match"]), out, re.MULTILINE):
        last = out.strip().splitlines()[-1:] or ["nothing"]
        problems.append(f"output does not match /{c.args['match']}/ (last line: {last[0]!r})")
    return not problems, "; ".join(problems) or f"`{run}` on {node} as expected"


async def route(s: Session, c: Check) -> tuple[bool, str]:
    node, to = str(c.args["node"]), str(c.args["to"])
    _, out = await _run(s, node, f"ip -4 route show {to}")
    lines = [ln for ln in out.splitlines() if ln.strip()]
    want = [f"via {c.args['via']}" if "via" in c.args else "",
            f"dev {c.args['dev']}" if "dev" in c.args else ""]
    good = [ln for ln in lines if all(w in ln for w in want if w)]
    if good:
        return True, f"{node}: {good[0].strip()}"
    return False, (f"{node} has no route to {to}" if not lines
                   else f"{node}: {lines[0].strip()} (expected {' '.join(w for w in want if w)})")


async def link(s: Session, c: Check) -> tuple[bool, str]:
    name, param = str(c.args["name"]), str(c.args["param"])
    want = parse_value(param, c.args["value"])
    lk = s.topo.link(name)
    ends = ["a", "b"] if c.args.get("end", "both") == "both" else [str(c.args["end"])]
    have = {e: getattr(lk.end(e).params, param) for e in ends}   # type: ignore[arg-type]
    ok = all(v == want for v in have.values())
    return ok, f"{name} {param}: " + ", ".join(f"{e} {v}" for e, v in have.items())


async def file(s: Session, c: Check) -> tuple[bool, str]:
    node, path = str(c.args["node"]), str(c.args["path"])
    try:
        data = (await s.node(node).read_file(path)).decode(errors="replace")
    except NemuError:
        return False, f"{node}: {path} cannot be read (missing?)"
    if "match" in c.args and not re.search(str(c.args["match"]), data, re.MULTILINE):
        return False, f"{node}: {path} does not match /{c.args['match']}/"
    return True, f"{node}: {path} as expected"


RUNNERS: dict[str, Callable[[Session, Check], Awaitable[tuple[bool, str]]]] = {
    "ping": ping, "command": command, "route": route, "link": link, "file": file,
}


async def run_check(s: Session, c: Check) -> CheckResult:
    """One check against the running lab; a failure (a node down, an agent that does not
    answer) is a failed check with its reason, never an exception."""
    try:
        passed, detail = await RUNNERS[c.kind](s, c)
    except (NemuError, ValueError) as e:
        passed, detail = False, str(e)
    return CheckResult(c.title, c.points, c.points if passed else 0, detail,
                       "" if passed else c.hint)
