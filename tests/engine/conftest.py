"""Running real sessions from synchronous tests: one engine thread per test module."""

from __future__ import annotations

from collections.abc import Coroutine, Iterator
from typing import Any

import pytest

from engine.runtime import EngineThread


class Engine:
    """Runs coroutines on a background event loop that lives as long as the module's session."""

    def __init__(self) -> None:
        self.thread = EngineThread("test-engine")
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 300.0) -> Any:
        return self.thread.submit(coro).result(timeout)

    def close(self) -> None:
        self.thread.stop()


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    e = Engine()
    yield e
    e.close()
