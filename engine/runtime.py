"""An asyncio event loop on its own thread, for callers that must never block (the Qt GUI).

The engine is an asyncio library; scripts and the CLI run it with `asyncio.run`. The GUI
instead submits coroutines here and gets `concurrent.futures.Future`s back, whose callbacks it
turns into queued Qt signals. Lifecycle: created (idle) -> start() -> running -> stop() -> stopped.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class EngineThread:
    def __init__(self, name: str = "nemu-engine") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._tasks: set[asyncio.Task[Any]] = set()   # touched on the loop thread only

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("EngineThread is not started")
        return self._loop

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._ready.clear()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()
        self._ready.wait()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run `coro` on the engine loop; never blocks the caller."""
        return asyncio.run_coroutine_threadsafe(self._held(coro), self.loop)

    async def _held(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await `coro` in a task this thread holds until it ends. The loop keeps only weak
        references to tasks: one whose awaited future sits in a reference cycle (a QMP
        connection being negotiated) was collected mid-call and its coroutine closed
        ("cannot reuse already awaited coroutine")."""
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            return await coro
        finally:
            self._tasks.discard(task)

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel what is pending and end the thread (waits at most `timeout` seconds)."""
        if not self.running or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        assert self._thread is not None
        self._thread.join(timeout)
        self._thread = None
        self._loop = None
