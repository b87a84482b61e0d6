"""A build waiting for another build's lock must not freeze the event loop (GUI, sessions)."""

import asyncio
import fcntl

from engine.images.builder import _lock


def test_waiting_for_the_build_lock_keeps_the_loop_running(tmp_path):
    async def scenario() -> list[str]:
        order: list[str] = []
        tmp_path.mkdir(exist_ok=True)
        with open(tmp_path / ".host.lock", "w") as held:
            fcntl.flock(held, fcntl.LOCK_EX)          # another process's build

            async def waiter() -> None:
                async with _lock(tmp_path, "host"):
                    order.append("got lock")

            task = asyncio.ensure_future(waiter())
            for _ in range(3):
                await asyncio.sleep(0.1)
                order.append("loop ran")
            fcntl.flock(held, fcntl.LOCK_UN)
        await asyncio.wait_for(task, 5)
        return order

    assert asyncio.run(scenario()) == ["loop ran", "loop ran", "loop ran", "got lock"]
