"""Two sessions of one topology side by side, and a running session saved and restored."""

from __future__ import annotations

import asyncio
import os
import signal
import tarfile

import psutil
import pytest

from engine import examples
from engine.session import archive
from engine.session.session import Session

pytestmark = pytest.mark.qemu


def test_twin_sessions_are_isolated_and_a_saved_session_restores(engine, tmp_path):
    base = tmp_path / "sessions"
    a = Session.create(examples.two_hosts(), "twin", base)
    b = Session.create(examples.two_hosts(), "twin", base)
    restored = None
    assert (a.dir.name, b.dir.name) == ("twin", "twin-2")
    assert a.dir.sockets != b.dir.sockets
    try:
        async def both_up():
            await asyncio.gather(a.up(), b.up())
        engine.run(both_up())
        for s in (a, b):
            assert engine.run(s.node("h1").run("ping -c 1 -W 3 10.0.0.2")).exitcode == 0
        # kill a's h2: b's network does not notice, a's h1 has lost its peer
        os.kill(a.process("h2").pid, signal.SIGKILL)
        assert engine.run(b.node("h1").run("ping -c 2 -W 2 10.0.0.2")).exitcode == 0
        assert engine.run(a.node("h1").run("ping -c 2 -W 2 10.0.0.2")).exitcode != 0

        # save b while it runs, with a file written in h1's disk
        engine.run(b.node("h1").write_file("/root/marker", b"written before save\n"))
        saved = engine.run(archive.save(b, tmp_path / "twin.tar.gz"))
        assert engine.run(b.node("h1").run("true")).exitcode == 0      # resumed after save
        with tarfile.open(saved) as tar:
            names = tar.getnames()
        assert "./topology.yaml" in names and "./nodes/h1/disk.qcow2" in names
        assert not any(n.endswith(".sock") for n in names)
        engine.run(a.down())
        engine.run(b.down())

        restored = engine.run(archive.restore(saved, "again", tmp_path / "elsewhere"))
        assert restored.dir.root.parent == tmp_path / "elsewhere"
        engine.run(restored.up())
        got = engine.run(restored.node("h1").read_file("/root/marker"))
        assert got == b"written before save\n"
        assert engine.run(restored.node("h1").run("ping -c 1 -W 3 10.0.0.2")).exitcode == 0
    finally:
        pids = []
        for s in (a, b, restored):
            if s is not None:
                pids += [p.pid for _, p in s.registry.items()]
                engine.run(s.down())
        for pid in pids:
            assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
