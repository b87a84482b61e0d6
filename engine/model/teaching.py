"""A teaching lab's part of a topology file: title, instructions, checks, locks, time limit.

A lab is a folder holding `lab.yaml`: a topology whose `lab:` section says what students are
asked to do (Markdown instructions, pictures beside it), how their work is checked (a list of
declarative checks, each with a title, points and a hint shown when it fails), what they may
not change (locks: a node, a link, or one parameter of a link, read-only or hidden), and how
long they have. This module is the description only; checks run in `engine.teaching`.

    lab:
      title: Static routing between two LANs
      instructions: |
        Make `gw` forward packets between the two LANs ...
      time_limit: 45min
      locks:
        - {node: gw, mode: read-only}
        - {link: h1-sw1, param: bandwidth, mode: hidden}
      checks:
        - title: h1 reaches h2
          points: 2
          hint: does gw forward? does h1 know where 10.0.2.0/24 is?
          ping: {from: h1, to: h2}
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine import units
from engine.errors import TopologyError, UnitError
from engine.model.params import USER_PARAMS


class LockMode(enum.Enum):
    READ_ONLY = "read-only"     # shown, not changed
    HIDDEN = "hidden"           # not shown (and so not changed)


# Each kind of check: its required and optional keys, and what it asks.
CHECK_KINDS: dict[str, tuple[frozenset[str], frozenset[str], str]] = {
    "ping": (frozenset({"from", "to"}), frozenset({"expect"}),
             "`from` pings `to` (a node or an address); expect: reach (default) or no-reach"),
    "command": (frozenset({"node", "run"}), frozenset({"match", "exit"}),
                "a command's output in a node matches a pattern (a regular expression) and/or "
                "it exits with a status"),
    "route": (frozenset({"node", "to"}), frozenset({"via", "dev"}),
              "a node has a route to a network (through a gateway, out of an interface)"),
    "link": (frozenset({"name", "param", "value"}), frozenset({"end"}),
             "a link parameter has a value in the running lab (end a, b or both)"),
    "file": (frozenset({"node", "path"}), frozenset({"match"}),
             "a file in a node exists and (optionally) matches a pattern"),
}
# Kinds that need what this nemu cannot do yet: refused, not ignored.
NOT_YET = {"service": "router services", "lease": "router services (DHCP)"}
CHECK_COMMON = frozenset({"title", "points", "hint"})


@dataclass(frozen=True)
class Check:
    title: str
    kind: str
    args: dict[str, Any]
    points: int = 1
    hint: str = ""


@dataclass(frozen=True)
class Lock:
    mode: LockMode
    node: str | None = None
    link: str | None = None
    param: str | None = None        # one parameter of a link

    @property
    def target(self) -> str:
        if self.node is not None:
            return f"node {self.node}"
        return f"link {self.link}" + (f" {self.param}" if self.param else "")


@dataclass
class TeachingLab:
    title: str
    instructions: str = ""
    time_limit: int | None = None   # ns
    checks: list[Check] = field(default_factory=list)
    locks: list[Lock] = field(default_factory=list)

    @property
    def total_points(self) -> int:
        return sum(c.points for c in self.checks)

    def lock_on(self, node: str | None = None, link: str | None = None,
                param: str | None = None) -> Lock | None:
        """The lock that keeps this node, link or link parameter from being changed."""
        for lock in self.locks:
            if node is not None and lock.node == node:
                return lock
            if link is not None and lock.link == link and (lock.param is None
                                                           or lock.param == param):
                return lock
        return None

    def hidden(self, node: str | None = None, link: str | None = None,
               param: str | None = None) -> bool:
        lock = self.lock_on(node, link, param)
        return lock is not None and lock.mode is LockMode.HIDDEN and (
            param is not None or lock.param is None)


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def read(data: Any, where: str = "lab") -> tuple[TeachingLab | None, list[TopologyError]]:
    """The `lab:` section of a file, and every problem in it (with its path)."""
    errors: list[TopologyError] = []

    def fail(at: str, message: str) -> None:
        errors.append(TopologyError(message, at))

    if not isinstance(data, Mapping):
        return None, [TopologyError("expected a mapping (title, instructions, checks, locks, "
                                    "time_limit)", where)]
    known = {"title", "instructions", "time_limit", "checks", "locks"}
    for key in data:
        if key not in known:
            fail(_at(where, str(key)), f"unknown key {key!r} (allowed here: "
                 f"{', '.join(sorted(known))})")
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        fail(_at(where, "title"), "a lab needs a title (text)")
        title = ""
    instructions = data.get("instructions", "")
    if not isinstance(instructions, str):
        fail(_at(where, "instructions"), "expected Markdown text")
        instructions = ""
    limit = None
    if data.get("time_limit") is not None:
        try:
            limit = units.parse_duration(data["time_limit"], "")
        except UnitError as e:
            fail(_at(where, "time_limit"), str(e))
    checks = _read_list(data.get("checks", []), _at(where, "checks"), _read_check, fail)
    locks = _read_list(data.get("locks", []), _at(where, "locks"), _read_lock, fail)
    if errors:
        return None, errors
    return TeachingLab(title, instructions, limit, checks, locks), []


def _read_list(items: Any, where: str, one: Any, fail: Any) -> list[Any]:
    if not isinstance(items, list):
        fail(where, "expected a list")
        return []
    out = []
    for i, item in enumerate(items):
        got = one(item, f"{where}[{i}]", fail)
        if got is not None:
            out.append(got)
    return out


def _read_check(item: Any, where: str, fail: Any) -> Check | None:
    if not isinstance(item, Mapping):
        fail(where, "expected a mapping: title, points, hint and one kind of check")
        return None
    kinds = [k for k in item if k not in CHECK_COMMON]
    if len(kinds) != 1:
        fail(where, f"give exactly one kind of check (one of: {', '.join(CHECK_KINDS)}); "
             f"got {', '.join(map(str, kinds)) or 'none'}")
        return None
    kind = str(kinds[0])
    if kind in NOT_YET:
        fail(_at(where, kind), f"{kind} checks are not supported yet (they need "
             f"{NOT_YET[kind]})")
        return None
    if kind not in CHECK_KINDS:
        fail(_at(where, kind), f"unknown kind of check {kind!r} (known: "
             f"{', '.join(CHECK_KINDS)})")
        return None
    required, optional, _ = CHECK_KINDS[kind]
    args = item[kind]
    if not isinstance(args, Mapping):
        fail(_at(where, kind), f"expected a mapping with {', '.join(sorted(required))}")
        return None
    ok = True
    for key in args:
        if key not in required | optional:
            fail(_at(_at(where, kind), str(key)), f"unknown key {key!r} (allowed here: "
                 f"{', '.join(sorted(required | optional))})")
            ok = False
    for key in sorted(required - set(args)):
        fail(_at(where, kind), f"missing key {key!r}")
        ok = False
    if kind == "ping" and args.get("expect", "reach") not in ("reach", "no-reach"):
        fail(_at(_at(where, kind), "expect"), "expected reach or no-reach")
        ok = False
    if kind == "link" and args.get("param") not in USER_PARAMS:
        fail(_at(_at(where, kind), "param"), f"unknown link parameter {args.get('param')!r} "
             f"(known: {', '.join(USER_PARAMS)})")
        ok = False
    if kind == "link" and args.get("end", "both") not in ("a", "b", "both"):
        fail(_at(_at(where, kind), "end"), "expected a, b or both")
        ok = False
    if kind == "command" and "exit" in args and (isinstance(args["exit"], bool) or
                                                 not isinstance(args["exit"], int)):
        fail(_at(_at(where, kind), "exit"), "expected a whole number (an exit status)")
        ok = False
    if "match" in args:
        try:
            re.compile(str(args["match"]))
        except re.error as e:
            fail(_at(_at(where, kind), "match"), f"not a regular expression: {e}")
            ok = False
    title = item.get("title")
    if not isinstance(title, str) or not title:
        fail(_at(where, "title"), "a check needs a title (text)")
        ok = False
    points = item.get("points", 1)
    if isinstance(points, bool) or not isinstance(points, int) or not 0 <= points <= 1000:
        fail(_at(where, "points"), "expected a whole number from 0 to 1000")
        ok = False
    hint = item.get("hint", "")
    if not isinstance(hint, str):
        fail(_at(where, "hint"), "expected text")
        ok = False
    if not ok:
        return None
    return Check(str(title), kind, {str(k): v for k, v in args.items()}, int(points), hint)


def _read_lock(item: Any, where: str, fail: Any) -> Lock | None:
    if not isinstance(item, Mapping):
        fail(where, "expected a mapping: {node: NAME} or {link: NAME[, param: P]}, and mode")
        return None
    allowed = {"node", "link", "param", "mode"}
    for key in item:
        if key not in allowed:
            fail(_at(where, str(key)), f"unknown key {key!r} (allowed here: "
                 f"{', '.join(sorted(allowed))})")
            return None
    try:
        mode = LockMode(item.get("mode", "read-only"))
    except ValueError:
        fail(_at(where, "mode"), "expected read-only or hidden")
        return None
    node, link, param = item.get("node"), item.get("link"), item.get("param")
    if (node is None) == (link is None):
        fail(where, "lock one node or one link")
        return None
    if param is not None and (link is None or param not in USER_PARAMS):
        fail(_at(where, "param"), f"a lock's param is a link parameter (one of: "
             f"{', '.join(USER_PARAMS)})")
        return None
    if not all(v is None or isinstance(v, str) for v in (node, link)):
        fail(where, "node and link are names (text)")
        return None
    return Lock(mode, node, link, param)


def write(lab: TeachingLab) -> dict[str, Any]:
    """The `lab:` section as the file holds it."""
    doc: dict[str, Any] = {"title": lab.title}
    if lab.instructions:
        doc["instructions"] = lab.instructions
    if lab.time_limit is not None:
        doc["time_limit"] = units.format_duration(lab.time_limit)
    if lab.locks:
        doc["locks"] = [{k: v for k, v in (("node", lk.node), ("link", lk.link),
                                           ("param", lk.param), ("mode", lk.mode.value))
                         if v is not None} for lk in lab.locks]
    if lab.checks:
        doc["checks"] = [{"title": c.title, **({"points": c.points} if c.points != 1 else {}),
                          **({"hint": c.hint} if c.hint else {}), c.kind: dict(c.args)}
                         for c in lab.checks]
    return doc


def reference_problems(lab: TeachingLab, nodes: set[str], links: set[str]
                       ) -> list[TopologyError]:
    """Checks and locks that name nodes or links the topology lacks."""
    out = []
    for i, c in enumerate(lab.checks):
        names = [c.args.get(k) for k in ("from", "node")] + (
            [c.args["to"]] if c.kind == "ping" and str(c.args.get("to", "")) in nodes else [])
        for name in names:
            if name is not None and name not in nodes:
                out.append(TopologyError(f"no node named {name!r}", f"lab.checks[{i}]"))
        if c.kind == "link" and c.args.get("name") not in links:
            out.append(TopologyError(f"no link named {c.args.get('name')!r}",
                                     f"lab.checks[{i}]"))
    for i, lk in enumerate(lab.locks):
        if lk.node is not None and lk.node not in nodes:
            out.append(TopologyError(f"no node named {lk.node!r}", f"lab.locks[{i}]"))
        if lk.link is not None and lk.link not in links:
            out.append(TopologyError(f"no link named {lk.link!r}", f"lab.locks[{i}]"))
    return out
