"""Checking a whole lab: every check, the score, what changed since the last time, and the
record of it kept with the student's work (`teaching.json` in the session folder, which
`nemu save` archives with the rest)."""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import NemuError, SessionError
from engine.model.teaching import TeachingLab
from engine.session.session import Session
from engine.teaching.checks import CheckResult, run_check
from engine.topofile import write_atomic

PROGRESS_FILE = "teaching.json"


@dataclass
class Report:
    results: list[CheckResult]
    at: float = field(default_factory=time.time)
    changed: list[str] = field(default_factory=list)   # checks that flipped since last time

    @property
    def score(self) -> int:
        return sum(r.earned for r in self.results)

    @property
    def total(self) -> int:
        return sum(r.points for r in self.results)

    @property
    def full_marks(self) -> bool:
        return all(r.passed for r in self.results)

    def table(self) -> str:
        """The report as a terminal shows it."""
        width = max([len(r.title) for r in self.results] + [5])
        lines = [f"{'check':{width}s}  points  result"]
        for r in self.results:
            mark = "pass" if r.passed else "FAIL"
            lines.append(f"{r.title:{width}s}  {r.earned:>2d}/{r.points:<3d}  {mark}  {r.detail}")
            if r.hint:
                lines.append(f"{'':{width}s}          hint: {r.hint}")
        lines.append(f"{'score':{width}s}  {self.score:>2d}/{self.total:<3d}")
        if self.changed:
            lines.append("changed since the last check: " + ", ".join(self.changed))
        return "\n".join(lines)


def lab_of(session: Session) -> TeachingLab:
    if session.topo.teaching is None:
        raise SessionError(f"session {session.dir.name} runs no teaching lab (its topology "
                           "has no `lab:` section)")
    return session.topo.teaching


async def check(session: Session, lab: TeachingLab | None = None, record: bool = True) -> Report:
    """Run every check of the lab (by default the one the session runs) against it."""
    lab = lab or lab_of(session)
    if not session.running:
        raise SessionError("the lab is not running; start it, then check")
    results = [await run_check(session, c) for c in lab.checks]
    last = load(session)
    before = {r.title: r.passed for r in last.results} if last else {}
    changed = [r.title for r in results if r.title in before and before[r.title] != r.passed]
    report = Report(results, changed=changed)
    if record:
        save(session, report)
    return report


def load(session: Session) -> Report | None:
    """The last check's report (None before the first one)."""
    path = session.dir.root / PROGRESS_FILE
    try:
        data = json.loads(path.read_text())
        return Report([CheckResult(**r) for r in data["last"]["results"]],
                      float(data["last"]["at"]), list(data["last"].get("changed", [])))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise NemuError(f"{path}: unreadable progress ({e})") from None


def save(session: Session, report: Report) -> None:
    path = session.dir.root / PROGRESS_FILE
    history: list[dict[str, Any]] = []
    if path.exists():
        try:
            history = list(json.loads(path.read_text()).get("history", []))
        except (OSError, ValueError, AttributeError):
            history = []
    entry = {"at": report.at, "score": report.score, "total": report.total,
             "results": [dataclasses.asdict(r) for r in report.results],
             "changed": report.changed}
    history.append({"at": report.at, "score": report.score, "total": report.total})
    write_atomic(path, json.dumps({"last": entry, "history": history}, indent=1).encode(),
                 backup=False)


async def apply_solution(session: Session, folder: Path) -> list[str]:
    """Run the teacher's `solution/<node>.sh` (or `solution.sh` beside a single node) in each
    running node it names; return the nodes done."""
    done = []
    sol = folder / "solution"
    for script in sorted(sol.glob("*.sh")) if sol.is_dir() else []:
        node = script.stem
        if not session.topo.has_node(node):
            raise SessionError(f"{script}: no node named {node!r} in the lab")
        r = await session.node(node).run(["/bin/sh", "-s"], input=script.read_bytes(),
                                         timeout=120)
        if r.exitcode != 0:
            raise SessionError(f"{script} failed on {node} (status {r.exitcode}): "
                               f"{r.stderr.decode(errors='replace').strip()[-400:]}")
        done.append(node)
    return done
