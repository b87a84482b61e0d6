"""Shared fakes for vswitch tests: a scripted random source and a manual clock."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
import uvloop


class FakeRng:
    """Returns the scripted values in order; fails loudly when the script runs out."""

    def __init__(self, values: Iterable[float] = ()) -> None:
        self.values = list(values)
        self.calls = 0

    def random(self) -> float:
        self.calls += 1
        if not self.values:
            raise AssertionError("FakeRng: unexpected draw")
        return self.values.pop(0)


@pytest.fixture
def fake_rng() -> type[FakeRng]:
    return FakeRng


class FakeScheduler:
    """Records what ports ask of the event loop; tests run pumps and flushes by hand."""

    def __init__(self) -> None:
        self.wakes: dict[object, float] = {}
        self.ready: list[object] = []

    def wake(self, port, at: float) -> None:  # type: ignore[no-untyped-def]
        cur = self.wakes.get(port)
        if cur is None or at < cur:
            self.wakes[port] = at

    def output_ready(self, port) -> None:  # type: ignore[no-untyped-def]
        self.ready.append(port)

    def run_until(self, now: float) -> None:
        """Pump every port due by `now`, then flush everything ready."""
        while True:
            due = [p for p, t in self.wakes.items() if t <= now]
            if not due:
                break
            for p in due:
                del self.wakes[p]
                nd = p.pump(now)  # type: ignore[attr-defined]
                if nd is not None:
                    self.wake(p, nd)
        ready, self.ready = self.ready, []
        for p in ready:
            p.flush(now)  # type: ignore[attr-defined]


@pytest.fixture
def sched() -> FakeScheduler:
    return FakeScheduler()



# -- real sockets ------------------------------------------------------------------------------

import asyncio  # noqa: E402
import contextlib  # noqa: E402
import struct  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Awaitable, Callable, Iterator  # noqa: E402
from typing import Any, ClassVar  # noqa: E402

from vswitch.framing import StreamDecoder  # noqa: E402


class StreamPeerSim:
    """Plays QEMU's side of ``-netdev stream``: length-prefixed frames over a socket.
    Every one made is closed by `arun` when the test body ends, whatever the body did."""

    made: ClassVar[list[StreamPeerSim]] = []

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = StreamDecoder()
        self.frames: list[bytes] = []
        StreamPeerSim.made.append(self)

    @classmethod
    async def connect(cls, address: str, retries: int = 50) -> StreamPeerSim:
        kind, rest = address.split(":", 1)
        for _ in range(retries):
            try:
                if kind == "unix":
                    r, w = await asyncio.open_unix_connection(rest)
                else:
                    host, port = rest.rsplit(":", 1)
                    r, w = await asyncio.open_connection(host, int(port))
                return cls(r, w)
            except OSError:
                await asyncio.sleep(0.02)
        raise AssertionError(f"cannot connect to {address}")

    async def send(self, frames: list[bytes]) -> None:
        self.writer.write(b"".join(struct.pack(">I", len(f)) + f for f in frames))
        await self.writer.drain()

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def recv(self, n: int, timeout: float = 5.0) -> list[bytes]:
        """Wait for `n` frames in total (since the last call) and return them."""
        async def fill() -> None:
            while len(self.frames) < n:
                data = await self.reader.read(1 << 16)
                if not data:
                    raise ConnectionError("closed")
                self.decoder.feed(data, self.frames)
        await asyncio.wait_for(fill(), timeout)
        res, self.frames = self.frames[:n], self.frames[n:]
        return res

    async def expect_nothing(self, wait: float = 0.1) -> None:
        try:
            data = await asyncio.wait_for(self.reader.read(1 << 16), wait)
        except TimeoutError:
            return
        self.decoder.feed(data, self.frames)
        assert not self.frames, f"unexpected frames: {self.frames!r}"

    async def closed_by_peer(self, timeout: float = 5.0) -> bool:
        try:
            while True:
                data = await asyncio.wait_for(self.reader.read(1 << 16), timeout)
                if not data:
                    return True
        except (TimeoutError, ConnectionError):
            return False

    def close(self) -> None:
        self.writer.close()

    @classmethod
    async def close_all(cls) -> None:
        """Close every peer made so far and wait until their sockets are closed."""
        peers, cls.made = cls.made, []
        for p in peers:
            p.writer.close()
        for p in peers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(p.writer.wait_closed(), 5)


@pytest.fixture
def peer_cls() -> type[StreamPeerSim]:
    return StreamPeerSim


@pytest.fixture
def tmp_sock_dir() -> Iterator[str]:
    """A short directory for unix sockets (pytest's tmp_path can exceed 107 bytes)."""
    with tempfile.TemporaryDirectory(prefix="vs-") as d:
        yield d


@pytest.fixture(params=["asyncio", "uvloop"])
def arun(request: pytest.FixtureRequest) -> Callable[[Callable[[], Awaitable[Any]]], Any]:
    """Run an async test body with a hard timeout, once on each event loop the vswitch runs
    on (`nemu-vswitch --event-loop`): asyncio's own and uvloop."""
    factory = uvloop.new_event_loop if request.param == "uvloop" else None

    def run(fn: Callable[[], Awaitable[Any]], timeout: float = 30.0) -> Any:
        async def main() -> Any:
            try:
                async with asyncio.timeout(timeout):
                    return await fn()
            finally:
                await StreamPeerSim.close_all()
        with asyncio.Runner(loop_factory=factory) as runner:
            return runner.run(main())
    return run


def eth_frame(dst: int, src: int, payload: bytes = b"x" * 46) -> bytes:
    d = b"\xff" * 6 if dst == 255 else bytes([2, 0, 0, 0, 0, dst])
    return d + bytes([2, 0, 0, 0, 0, src]) + b"\x08\x00" + payload


@pytest.fixture
def eth() -> Callable[..., bytes]:
    return eth_frame


# -- exceptions that only the event loop's log would show --------------------------------------

import logging  # noqa: E402


class ErrorLogCatcher(logging.Handler):
    """ERROR records of the vswitch and of asyncio. An exception raised in a protocol callback
    or a task does not reach the test: the event loop only logs it ("Exception in callback",
    "Fatal error: protocol.data_received() call failed", "Task exception was never retrieved")."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def no_error_logs() -> Iterator[ErrorLogCatcher]:
    """Fail a test during which the vswitch or asyncio logged an error (an exception swallowed
    by the event loop: the test would pass otherwise). A test that causes one on purpose asks
    for this fixture and empties its `records`."""
    catcher = ErrorLogCatcher()
    loggers = [logging.getLogger(name) for name in ("vswitch", "asyncio")]
    for lg in loggers:
        lg.addHandler(catcher)
    try:
        yield catcher
    finally:
        for lg in loggers:
            lg.removeHandler(catcher)
    if catcher.records:
        pytest.fail("errors logged during the test (swallowed exceptions?):\n" + "\n".join(
            f"{r.name} {r.levelname}: {r.getMessage()}" + (
                "\n" + logging.Formatter().formatException(r.exc_info) if r.exc_info else "")
            for r in catcher.records), pytrace=False)
