"""The `nemu` command line on topology files, run as a user runs it (a real subprocess)."""

import subprocess
import sys
from pathlib import Path

import pytest

from engine import examples, topofile

REPO = Path(__file__).resolve().parents[2]
NEMU = [sys.executable, "-m", "engine.cli.main"]


def nemu(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NEMU, *args], cwd=cwd, capture_output=True, text=True, check=False,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})


@pytest.mark.parametrize("name", sorted(examples.EXAMPLES))
def test_validate_and_show_every_example(name):
    path = REPO / "examples" / f"{name}.yaml"
    v = nemu("validate", str(path))
    assert v.returncode == 0, v.stderr
    assert ": ok (" in v.stdout
    s = nemu("show", str(path))
    assert s.returncode == 0, s.stderr
    topo = topofile.load(path)
    for node in topo.nodes:
        assert node.name in s.stdout
    for link in topo.links:
        assert link.name in s.stdout


def test_new_writes_an_example_and_refuses_to_overwrite(tmp_path):
    r = nemu("new", "--example", "chain", "--size", "8", "c.yaml", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert topofile.load(tmp_path / "c.yaml") == examples.chain(8)
    again = nemu("new", "-e", "star", "c.yaml", cwd=tmp_path)
    assert again.returncode == 2 and "exists already" in again.stderr
    assert topofile.load(tmp_path / "c.yaml") == examples.chain(8)


def test_new_lists_examples():
    r = nemu("new", "--list")
    assert r.returncode == 0
    for name in examples.EXAMPLES:
        assert name in r.stdout


def test_validate_reports_errors_with_file_and_path(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nnodes:\n- {name: h1, kind: host, interfaces: [eth0]}\n"
                   "- {name: h2, kind: host, interfaces: [eth0]}\n"
                   "links:\n- {a: h1.eth0, b: h2.eth0, delay: -5ms}\n")
    r = nemu("validate", str(bad))
    assert r.returncode == 1
    assert f"{bad}: links[0].delay: '-5ms' must be >= 0" in r.stderr
    assert "Traceback" not in r.stderr


def test_show_missing_file_is_one_clear_line(tmp_path):
    r = nemu("show", str(tmp_path / "nope.yaml"))
    assert r.returncode == 2
    assert r.stderr.strip() == f"nemu: error: {tmp_path / 'nope.yaml'}: no such file"


def test_status_tells_a_session_whose_processes_are_gone_and_down_clears_it(tmp_path):
    """A session left up whose machines no longer run (the computer restarted) is listed as
    gone, with what to do; `nemu down` marks it down and keeps its files."""
    import json
    sessions = tmp_path / "sessions"
    stale = sessions / "stale"
    stale.mkdir(parents=True)
    topofile.save(examples.two_hosts(), stale / "topology.yaml")
    dead = {"host": "local", "pid": 4_000_000, "create_time": 1.0, "argv": ["qemu"],
            "label": "h1"}
    (stale / "state.json").write_text(json.dumps({"status": "up",
                                                  "processes": {"qemu:h1": dead}}))
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "NEMU_SESSIONS": str(sessions)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*NEMU, *args], cwd=tmp_path, capture_output=True, text=True,
                              check=False, env=env)

    listing = run("status")
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.split()[:2] == ["stale", "gone"]
    assert "`nemu down -s stale` marks it down" in listing.stdout
    down = run("down", "-s", "stale")
    assert down.returncode == 0, down.stderr
    assert run("status").stdout.split()[:2] == ["stale", "down"]
    assert (stale / "topology.yaml").exists()
