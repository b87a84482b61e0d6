import os
from pathlib import Path

import pytest

from engine.errors import NemuError
from engine.session.directory import (
    SessionDir,
    create_session_dir,
    find_session,
    list_sessions,
    sessions_root,
)


def test_sessions_root_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("NEMU_SESSIONS", str(tmp_path / "s"))
    assert sessions_root() == tmp_path / "s"
    monkeypatch.delenv("NEMU_SESSIONS")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert sessions_root() == tmp_path / "state" / "nemu" / "sessions"


def test_create_names_uniquely_and_lists(tmp_path):
    a = create_session_dir("lab", tmp_path)
    b = create_session_dir("lab", tmp_path)
    assert (a.name, b.name) == ("lab", "lab-2")
    for sd in (a, b):
        sd.topology_path.write_text("version: 1\n")
    assert [s.name for s in list_sessions(tmp_path)] == ["lab", "lab-2"]
    assert find_session("lab-2", tmp_path) == b
    assert find_session(str(a.root)) == SessionDir(a.root.resolve())
    with pytest.raises(NemuError, match="no session named 'nope'"):
        find_session("nope", tmp_path)
    with pytest.raises(NemuError, match="session name"):
        create_session_dir("../escape", tmp_path)


def test_sockets_live_in_a_short_private_directory(tmp_path):
    deep = tmp_path / ("x" * 120)
    sd = create_session_dir("lab", deep)
    sock = sd.socket("h1-eth0.sock")
    assert len(str(sock)) < 100
    assert sd.sockets.is_dir() and (sd.root / "sockets").resolve() == sd.sockets.resolve()
    assert oct(sd.sockets.stat().st_mode & 0o777) == "0o700"
    other = create_session_dir("lab", deep)
    assert other.sockets != sd.sockets


def test_state_is_written_atomically_and_bad_state_is_reported(tmp_path):
    sd = create_session_dir("lab", tmp_path)
    assert sd.read_state() == {}
    sd.write_state({"processes": [{"pid": os.getpid()}]})
    assert sd.read_state()["processes"] == [{"pid": os.getpid()}]
    sd.state_path.write_text("{half")
    with pytest.raises(NemuError, match="unreadable session state"):
        sd.read_state()


def test_relative_disk_paths_start_at_the_lab_files_folder(tmp_path, monkeypatch):
    """A lab names its disks relative to its own file; a session keeps that folder, also for
    the controller that re-attaches later from anywhere."""
    import asyncio

    from engine import examples, topofile
    from engine.session.session import Session

    lab = tmp_path / "labs" / "two.yaml"
    lab.parent.mkdir()
    topofile.save(examples.two_hosts(), lab)
    monkeypatch.chdir(tmp_path)
    s = Session.create(topofile.load(lab), base=tmp_path / "sessions")
    assert s.resolve_path("disks/a.qcow2") == tmp_path / "labs" / "disks" / "a.qcow2"
    assert s.resolve_path("/abs/b.img") == Path("/abs/b.img")
    monkeypatch.chdir(tmp_path / "sessions")
    again = asyncio.run(Session.attach(str(s.dir.root)))
    assert again.resolve_path("a.img") == tmp_path / "labs" / "a.img"
    unsaved = Session.create(examples.two_hosts(), base=tmp_path / "sessions")
    assert unsaved.resolve_path("a.img") == tmp_path / "sessions" / "a.img"   # the cwd
