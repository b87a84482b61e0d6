"""`nemu lab new|check|grade`: teaching labs for the teacher (see docs/teaching.md).

`check` boots a lab headless (or uses a running session), optionally applies the teacher's
solution first, runs the lab's checks and prints the table; its exit status is 0 only with full
marks, so it fits a script. `grade` does the same on students' saved sessions (`nemu save`
archives) and writes one CSV row per student, one column per check.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from engine import topofile
from engine.cli.session_cmds import print_event
from engine.errors import NemuError
from engine.model import Topology
from engine.model.teaching import TeachingLab
from engine.session import archive
from engine.session.session import Session
from engine.teaching import progress

LAB_FILE = "lab.yaml"


def labs_dir() -> Path:
    """The example labs shipped with nemu (a source checkout's examples/labs)."""
    return Path(__file__).resolve().parents[2] / "examples" / "labs"


def register(sub: Any) -> None:
    lab = sub.add_parser("lab", help="teaching labs: new, check, grade")
    verbs = lab.add_subparsers(dest="verb", metavar="VERB", required=True)

    p = verbs.add_parser("new", help="start a lab folder from an example lab")
    p.add_argument("dir", type=Path, nargs="?")
    p.add_argument("--example", "-e", default="static-routing",
                   help="which example lab to start from (default static-routing; "
                        "`nemu lab new --list` lists them)")
    p.add_argument("--list", action="store_true", help="list the example labs")
    p.set_defaults(func=cmd_new)

    p = verbs.add_parser("check", help="run a lab's checks (boots it headless unless a "
                         "session is given); exit status 0 only with full marks")
    p.add_argument("lab", type=Path, metavar="LAB", help="a lab folder or its lab.yaml")
    p.add_argument("-s", "--session", help="check this running session instead of booting")
    p.add_argument("--solution", action="store_true",
                   help="apply the lab's solution/NODE.sh scripts first")
    p.add_argument("--keep", action="store_true", help="leave the booted lab running")
    p.set_defaults(func=cmd_check)

    p = verbs.add_parser("grade", help="grade students' saved sessions (nemu save archives)")
    p.add_argument("submissions", nargs="+", type=Path, metavar="ARCHIVE")
    p.add_argument("--csv", type=Path, required=True, help="where to write the grades")
    p.add_argument("--lab", type=Path, help="grade with this lab's checks (recommended: a "
                   "student's copy could have changed its own)")
    p.set_defaults(func=cmd_grade)


def load_lab(path: Path) -> tuple[Topology, TeachingLab, Path]:
    """A lab folder (or its file): its topology, its teaching part, and its folder."""
    file = path / LAB_FILE if path.is_dir() else path
    topo = topofile.load(file)
    if topo.teaching is None:
        raise NemuError(f"{file}: not a teaching lab (no `lab:` section)")
    return topo, topo.teaching, file.resolve().parent


def cmd_new(args: argparse.Namespace) -> int:
    examples = sorted(p.name for p in labs_dir().iterdir() if (p / LAB_FILE).exists())
    if args.list:
        for name in examples:
            print(f"  {name:18s} {load_lab(labs_dir() / name)[1].title}")
        return 0
    if args.dir is None:
        raise NemuError("give the folder to create, e.g. `nemu lab new mylab`")
    if args.example not in examples:
        raise NemuError(f"no example lab {args.example!r} (there are: {', '.join(examples)})")
    if args.dir.exists() and any(args.dir.iterdir()):
        raise NemuError(f"{args.dir} exists and is not empty")
    shutil.copytree(labs_dir() / args.example, args.dir, dirs_exist_ok=True)
    print(f"{args.dir}: a lab from {args.example}; edit {args.dir / LAB_FILE} (topology, "
          f"instructions, checks, locks), then `nemu lab check {args.dir} --solution`")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    topo, lab, folder = load_lab(args.lab)

    async def go() -> progress.Report:
        if args.session:
            s = await Session.attach(args.session)
            if args.solution:
                await progress.apply_solution(s, folder)
            return await progress.check(s, lab)
        s = Session.create(topo, f"lab-{folder.name}")
        s.subscribe(print_event)
        try:
            await s.up()
            if args.solution:
                done = await progress.apply_solution(s, folder)
                print(f"solution applied on {', '.join(done) or 'no node'}", file=sys.stderr)
            return await progress.check(s, lab)
        finally:
            if not args.keep:
                await s.down()

    report = asyncio.run(go())
    print(report.table())
    return 0 if report.full_marks else 1


def cmd_grade(args: argparse.Namespace) -> int:
    teacher = load_lab(args.lab)[1] if args.lab else None
    rows = []
    titles: list[str] = []
    with tempfile.TemporaryDirectory(prefix="nemu-grade-") as tmp:
        for sub in args.submissions:
            student = sub.name.split(".")[0]
            report = asyncio.run(_grade_one(sub, teacher, Path(tmp)))
            titles = titles or [r.title for r in report.results]
            rows.append([student, *(r.earned for r in report.results), report.score,
                         report.total])
            print(f"{student}: {report.score}/{report.total}", file=sys.stderr)
    with args.csv.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", *titles, "score", "total"])
        w.writerows(rows)
    print(f"grades of {len(rows)} submissions in {args.csv}")
    return 0


async def _grade_one(sub: Path, teacher: TeachingLab | None, base: Path) -> progress.Report:
    s = await archive.restore(sub, base=base)
    lab = teacher or progress.lab_of(s)
    try:
        await s.up()
        return await progress.check(s, lab, record=False)
    finally:
        await s.down()
        shutil.rmtree(s.dir.root, ignore_errors=True)
