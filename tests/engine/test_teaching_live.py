"""Teaching labs for real: `nemu lab check` on the example lab fails as it starts and passes
with the teacher's solution; `nemu lab grade` on two saved sessions (one solved, one not)
writes the expected CSV. Real `nemu` processes and real machines throughout."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "examples" / "labs" / "static-routing"
pytestmark = pytest.mark.qemu


def make_nemu(tmp: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    env = {**os.environ, "NEMU_SESSIONS": str(tmp / "sessions")}

    def nemu(*args: str, code: int | None = 0) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([sys.executable, "-m", "engine.cli.main", *args], cwd=tmp, env=env,
                           capture_output=True, text=True, timeout=600, check=False)
        if code is not None:
            assert r.returncode == code, r.stdout + r.stderr
        return r

    return nemu


def test_check_fails_at_the_start_passes_with_the_solution_and_grading(tmp_path):
    nemu = make_nemu(tmp_path)
    # booted headless by `check` itself, then down again
    start = nemu("lab", "check", str(LAB), code=1)
    assert "score                               1/6" in start.stdout, start.stdout
    assert "hint: gw drops what is not for itself" in start.stdout
    assert not any((tmp_path / "sessions").glob("*/sockets/*.sock"))

    # a student who solves it, and one who does not: both save their lab
    nemu("up", str(LAB / "lab.yaml"), "--name", "alice")
    nemu("up", str(LAB / "lab.yaml"), "--name", "bob")
    try:
        mid = nemu("lab", "check", str(LAB), "-s", "alice", code=1)
        assert "gw forwards packets                 0/1    FAIL" in mid.stdout
        solved = nemu("lab", "check", str(LAB), "-s", "alice", "--solution", code=0)
        assert "score                               6/6" in solved.stdout, solved.stdout
        assert "changed since the last check: gw forwards packets" in solved.stdout
        assert (tmp_path / "sessions" / "alice" / "teaching.json").exists()
        nemu("save", "-s", "alice", str(tmp_path / "alice.tar.gz"))
        nemu("save", "-s", "bob", str(tmp_path / "bob.tar.gz"))
    finally:
        nemu("down", "-s", "alice", code=None)
        nemu("down", "-s", "bob", code=None)

    # graded after a restore and a fresh boot: alice's work lives in her disks' rc.local
    graded = nemu("lab", "grade", str(tmp_path / "alice.tar.gz"), str(tmp_path / "bob.tar.gz"),
                  "--lab", str(LAB), "--csv", str(tmp_path / "grades.csv"))
    assert "grades of 2 submissions" in graded.stdout
    rows = list(csv.reader((tmp_path / "grades.csv").open()))
    assert rows[0] == ["student", "gw forwards packets", "h1 sends LAN 2 traffic to gw",
                       "h2 sends LAN 1 traffic to gw", "h1 reaches h2",
                       "the slow link keeps its 10 Mbit/s", "score", "total"]
    assert rows[1] == ["alice", "1", "1", "1", "2", "1", "6", "6"]
    assert rows[2] == ["bob", "0", "0", "0", "0", "1", "1", "6"]
