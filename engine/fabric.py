"""The session's vswitch: one `nemu-vswitch` process carrying every link, hub and switch.

The engine starts it through the Host seam, talks to it with `vswitch.client`, and translates
the wiring plan into devices and ports. Lifecycle: created -> start() (process up, control
connected) -> apply()/set_direction()/... -> stop().
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path
from typing import Any

from engine.errors import HostError, NemuError
from engine.hosts.base import Host, ProcessHandle, ProcessState
from engine.plan.wiring import DevicePlan, PortPlan, Tap, Wiring
from vswitch.capture import NO_READER
from vswitch.client import VSwitchClient
from vswitch.errors import RequestError

NO_FIFO_READER = NO_READER     # how the vswitch refuses a FIFO that nobody reads yet


class FabricError(NemuError):
    """The vswitch refused a request or is gone; says which device/port and why."""


class VSwitchFabric:
    def __init__(self, host: Host, control: Path, log_path: Path, label: str = "vswitch") -> None:
        self.host = host
        self.control = control
        self.log_path = log_path
        self.label = label
        self.proc: ProcessHandle | None = None
        self.client: VSwitchClient | None = None

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "vswitch", "--control", str(self.control),
                "--log-file", str(self.log_path)]

    async def start(self, timeout: float = 15.0) -> ProcessHandle:
        with contextlib.suppress(FileNotFoundError):
            self.control.unlink()
        self.proc = await self.host.start(self.argv(), label=self.label,
                                          log_path=self.log_path.with_suffix(".out"))
        await self.connect(timeout)
        return self.proc

    async def connect(self, timeout: float = 15.0) -> None:
        """Connect (or re-connect, after the controller restarted) to the control socket."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self.proc is not None and self.host.state(self.proc) is not ProcessState.RUNNING:
                tail = _tail(self.log_path) or _tail(self.log_path.with_suffix(".out"))
                raise HostError(f"{self.label} exited while starting: {tail}")
            try:
                self.client = await VSwitchClient.connect(f"unix:{self.control}", timeout=2)
                return
            except (OSError, TimeoutError):
                if loop.time() > deadline:
                    raise HostError(f"{self.label}: no control socket at {self.control} after "
                                    f"{timeout:.0f} s") from None
                await asyncio.sleep(0.05)

    def _c(self) -> VSwitchClient:
        if self.client is None or self.client.closed:
            raise FabricError(f"{self.label} is not connected")
        return self.client

    async def _call(self, what: str, coro: Any) -> Any:
        try:
            return await coro
        except RequestError as e:
            raise FabricError(f"{self.label}: {what}: {e}") from None
        except ConnectionError:
            raise FabricError(f"{self.label}: {what}: the vswitch is gone") from None

    async def add_device(self, dev: DevicePlan) -> None:
        await self._call(f"add {dev.kind} {dev.name}", self._c().add_device(dev.name, dev.kind))
        for port in dev.ports:
            await self.add_port(dev.name, port)

    async def add_port(self, device: str, port: PortPlan) -> None:
        await self._call(f"add port {device}/{port.name}",
                         self._c().add_port(device, port.name, port.transport, port.params or None,
                                            port.vlan))

    async def remove_port(self, device: str, port: str) -> None:
        await self._call(f"remove port {device}/{port}", self._c().remove_port(device, port))

    async def remove_device(self, device: str) -> None:
        await self._call(f"remove device {device}", self._c().remove_device(device))

    async def apply(self, wiring: Wiring) -> None:
        """Create every device and port of a wiring plan."""
        for dev in wiring.devices.values():
            await self.add_device(dev)

    async def set_direction(self, tap: Tap, params: dict[str, Any]) -> dict[str, Any]:
        """Change one direction; returns the parameters the vswitch now applies there."""
        result = await self._call(f"set {tap.device}/{tap.port} {tap.direction}",
                                  self._c().set_params(tap.device, tap.port, tap.direction,
                                                       params))
        return dict(result[tap.direction])

    async def counters(self) -> dict[str, Any]:
        return dict(await self._call("counters", self._c().counters()))

    async def capture(self, tap: Tap, file: Path, start: bool = True) -> dict[str, Any]:
        if start:
            return dict(await self._call(f"capture {tap.device}/{tap.port}",
                                         self._c().capture_start(tap.device, tap.port,
                                                                 str(file))))
        return dict(await self._call(f"capture {tap.device}/{tap.port}",
                                     self._c().capture_stop(tap.device, tap.port)))

    async def stop(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.client.shutdown(), 3)
            with contextlib.suppress(Exception):
                await self.client.close()
            self.client = None
        if self.proc is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wait_exit(), 3)
            await self.host.stop(self.proc)

    async def _wait_exit(self) -> None:
        assert self.proc is not None
        while self.host.state(self.proc) is ProcessState.RUNNING:
            await asyncio.sleep(0.05)


def _tail(path: Path, lines: int = 3) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""
