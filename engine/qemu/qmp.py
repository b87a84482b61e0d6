"""Controlling a running QEMU through QMP, with the `qemu.qmp` library.

Library errors become `HostError`s naming the machine. Used for: status, pause/resume (saving
a running session), reset, orderly quit, NIC link up/down, and NIC hot-plug and unplug.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qemu.qmp import ExecuteError, QMPClient
from qemu.qmp.error import QMPError

from engine.errors import HostError

logging.getLogger("qemu.qmp").setLevel(logging.CRITICAL)


class Qmp:
    """One QMP connection to one QEMU. Lifecycle: connect() -> execute()... -> close()."""

    def __init__(self, name: str, socket: Path) -> None:
        self.name = name
        self.socket = socket
        self._client = QMPClient(name)

    async def connect(self, timeout: float = 20.0) -> None:
        """Connect, retrying while QEMU is still creating its socket."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                await self._client.connect(str(self.socket))
                return
            except (QMPError, OSError) as e:
                if loop.time() > deadline:
                    raise HostError(f"{self.name}: QMP socket {self.socket} did not answer "
                                    f"within {timeout:.0f} s ({e})") from None
                self._client = QMPClient(self.name)
                await asyncio.sleep(0.05)

    async def execute(self, command: str, **arguments: Any) -> Any:
        try:
            return await self._client.execute(command, arguments or None)
        except ExecuteError as e:
            raise HostError(f"{self.name}: QMP {command} failed: {e}") from None
        except (QMPError, OSError, EOFError) as e:
            raise HostError(f"{self.name}: QMP {command}: connection lost ({e})") from None

    async def status(self) -> str:
        return str((await self.execute("query-status"))["status"])

    async def pause(self) -> None:
        await self.execute("stop")

    async def resume(self) -> None:
        await self.execute("cont")

    async def set_nic_link(self, nic_id: str, up: bool) -> None:
        await self.execute("set_link", name=nic_id, up=up)

    async def hotplug_nic(self, netdev_id: str, socket: Path, device: str, mac: str,
                          nic_id: str, buses: Sequence[str] = ()) -> None:
        """Add a NIC on a stream socket, in the first of `buses` with a free slot (a q35
        machine hot-plugs into its PCIe root ports; no `buses`: QEMU's default bus)."""
        await self.execute("netdev_add", type="stream", id=netdev_id, server=True,
                           addr={"type": "unix", "path": str(socket)})
        try:
            for bus in buses:
                try:
                    await self.execute("device_add", driver=device, netdev=netdev_id, mac=mac,
                                       id=nic_id, bus=bus, addr="0")
                    return
                except HostError as e:
                    if "not available" not in str(e):
                        raise
            if buses:
                raise HostError(f"{self.name}: all {len(buses)} hot-plug slots are in use; "
                                "restart the node to plug more NICs")
            await self.execute("device_add", driver=device, netdev=netdev_id, mac=mac,
                               id=nic_id)
        except HostError:
            with contextlib.suppress(HostError):
                await self.execute("netdev_del", id=netdev_id)
            raise

    async def devices(self) -> set[str]:
        """The ids of the devices given on the command line or hot-plugged (`-device id=`)."""
        return {d["name"] for d in await self.execute("qom-list", path="/machine/peripheral")}

    async def unplug_nic(self, netdev_id: str, nic_id: str, timeout: float = 10.0) -> None:
        """Unplug a hot-plugged NIC and its backend. The guest releases the device (ACPI
        eject) before QEMU deletes it, so wait for that: a netdev still in use cannot go."""
        await self.execute("device_del", id=nic_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while nic_id in await self.devices():
            if loop.time() > deadline:
                raise HostError(f"{self.name}: the guest did not release NIC {nic_id} within "
                                f"{timeout:.0f} s (it needs ACPI PCI hot-plug)")
            await asyncio.sleep(0.05)
        await self.execute("netdev_del", id=netdev_id)

    async def quit(self) -> None:
        with contextlib.suppress(HostError):
            await self.execute("quit")

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._client.disconnect()
