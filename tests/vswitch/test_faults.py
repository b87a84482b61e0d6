"""Faults against the real ``python -m vswitch`` process, and the conftest check that an
exception swallowed by the event loop fails a test."""

from __future__ import annotations

import asyncio
import socket

import pytest


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_error_log_check_sees_exceptions_in_callbacks(loop, no_error_logs) -> None:  # type: ignore[no-untyped-def]
    """What the autouse `no_error_logs` fixture relies on: an exception raised in a protocol
    callback reaches no test code, only the loop's error log, which the fixture collects."""
    if loop == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        factory = uvloop.new_event_loop
    else:
        factory = None

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
