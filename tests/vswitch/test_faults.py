"""Faults against the real ``python -m vswitch`` process, and the conftest check that an
exception swallowed by the event loop fails a test."""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import struct
import subprocess
import sys

import pytest
import uvloop

from vswitch.client import SyncVSwitchClient


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_error_log_check_sees_exceptions_in_callbacks(loop, no_error_logs) -> None:  # type: ignore[no-untyped-def]
    """What the autouse `no_error_logs` fixture relies on: an exception raised in a protocol
    callback reaches no test code, only the loop's error log, which the fixture collects."""
    factory = uvloop.new_event_loop if loop == "uvloop" else None

    class Raising(asyncio.Protocol):
        def data_received(self, data: bytes) -> None:
            raise RuntimeError("bug in a protocol callback")

    async def body() -> None:
        lp = asyncio.get_running_loop()
        lp.call_soon(lambda: 1 / 0)
        a, b = socket.socketpair()
        tr, _ = await lp.create_unix_connection(Raising, sock=a)
        b.send(b"x")
        for _ in range(100):
            await asyncio.sleep(0.01)
            if len(no_error_logs.records) >= 2:
                break
        tr.close()
        b.close()

    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(body())
    text = [r.getMessage() + str(r.exc_info and r.exc_info[1]) for r in no_error_logs.records]
    assert any("Exception in callback" in t and "division" in t for t in text), text
    assert any("bug in a protocol callback" in t for t in text), text
    no_error_logs.records.clear()      # provoked on purpose: do not fail this test


def test_cli_process_survives_garbage(request, tmp_sock_dir, peer_cls, eth, arun) -> None:  # type: ignore[no-untyped-def]
    """The real ``python -m vswitch``: garbage on one port and on the control socket; normal
    traffic still forwards, the process stays up, logs each fault once and no traceback, and
    then stops cleanly. The process runs on the event loop `arun` runs this test on."""
    loop = request.node.callspec.params["arun"]
    ctl = os.path.join(tmp_sock_dir, "ctl")
    logfile = os.path.join(tmp_sock_dir, "vs.log")
    addr = {n: "unix:" + os.path.join(tmp_sock_dir, n) for n in "abc"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vswitch", "--control", ctl, "--log-file", logfile,
         "--event-loop", loop,
         "--hub", "h", *("listen:" + addr[n] for n in "abc")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["ready"]
        junk = random.Random(11).randbytes(8000)
        assert struct.unpack(">I", junk[:4])[0] > 65535

        async def traffic() -> None:
            a, b, c = [await peer_cls.connect(addr[n]) for n in "abc"]
            await asyncio.sleep(0.1)
            await a.send_raw(junk)                                  # not QEMU framing
            assert await a.closed_by_peer()
            a = await peer_cls.connect(addr["a"])
            await a.send_raw(struct.pack(">I", 3) + b"abc")          # a runt: skipped
            await a.send_raw(struct.pack(">I", 1000) + b"cut")       # then cut off
            a.close()
            for _ in range(3):                                      # the control socket too
                r, w = await asyncio.open_unix_connection(ctl)
                w.write(b"\x00\xffgarbage\n" + os.urandom(64).replace(b"\n", b"") + b"\n"
                        + b'{"id": 1, "cmd": "explode"}\n')
                replies = [json.loads(await asyncio.wait_for(r.readline(), 10))
                           for _ in range(3)]
                assert [x["ok"] for x in replies] == [False] * 3
                w.close()
            f = eth(3, 2, b"still here" + bytes(36))
            await b.send([f])
            assert await c.recv(1) == [f]
            a = await peer_cls.connect(addr["a"])
            await asyncio.sleep(0.1)
            g = eth(2, 1, b"a is back" + bytes(37))
            await a.send([g])
            assert await b.recv(1) == [g] and await c.recv(1) == [g]
            for p in (a, b, c):
                p.close()
        arun(traffic)
        assert proc.poll() is None
        with SyncVSwitchClient("unix:" + ctl) as client:
            cnt = client.call("counters", device="h")["devices"]["h"]
            assert cnt["p0"]["in"]["drops"]["invalid"] == 3
            assert cnt["p0"]["in"]["frames"] == 1
            client.call("shutdown")
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        err = proc.stderr.read() if proc.stderr is not None else ""
        if proc.stderr is not None:
            proc.stderr.close()
    with open(logfile, encoding="utf-8") as f:
        log = f.read()
    assert "Traceback" not in log and " ERROR " not in log and "Exception" not in log, log
    assert "Traceback" not in err, err
    assert log.count("not QEMU stream framing") == 1, log
    assert log.count("shorter than") == 1 and log.count("middle of a frame") == 1, log
    assert ("uvloop" in log) == (loop == "uvloop"), log
    assert log.count("is not JSON") == 1 and log.count("unknown command") == 1, log
