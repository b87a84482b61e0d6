"""Devices: what happens to a frame between its source port and the destination ports.

* `Link`: two ports, each one's frames go to the other (a cable).
* `Hub`: every frame goes to every other port.
* `Switch`: a learning switch (MAC table with ageing, flooding of broadcast, multicast and
  unknown unicast; optional 802.1Q access/trunk ports, see `switch_fabric`).

A device only decides destinations; ports do the shaping and the batching. Output to each
destination keeps the order of the input.
"""

from __future__ import annotations

from typing import Any, ClassVar

from vswitch.errors import RequestError
from vswitch.port import Port
from vswitch.switch_fabric import ACCESS_1, DEFAULT_AGEING, DEFAULT_MAC_LIMIT, MacTable, tag, untag

DEVICE_KINDS = ("link", "hub", "switch")


class Device:
    kind: ClassVar[str] = ""
    max_ports: ClassVar[int | None] = None

    def __init__(self, name: str) -> None:
        self.name = name
        self.ports: dict[str, Port] = {}
        self._plist: list[Port] = []

    def attach(self, port: Port) -> None:
        if port.name in self.ports:
            raise RequestError("port", f"device {self.name} already has a port {port.name}")
        if self.max_ports is not None and len(self.ports) >= self.max_ports:
            raise RequestError("port", f"a {self.kind} has at most {self.max_ports} ports")
        self.ports[port.name] = port
        self._plist = list(self.ports.values())

    def detach(self, port: Port) -> None:
        del self.ports[port.name]
        self._plist = list(self.ports.values())

    def forward(self, src: Port, frames: list[bytes], now: float) -> None:
        raise NotImplementedError

    def egress_passthrough(self, src: Port) -> bool:
        """True when no port `src` can send to shapes its egress (arrival times unused)."""
        return all(p.egress.passthrough for p in self._plist if p is not src)

    def options(self) -> dict[str, Any]:
        return {}

    def tick(self, now: float) -> None:
        """Periodic housekeeping (about once a second)."""


class Link(Device):
    kind = "link"
    max_ports = 2

    def forward(self, src: Port, frames: list[bytes], now: float) -> None:
        for p in self._plist:
            if p is not src:
                p.send(frames, now)


class Hub(Device):
    kind = "hub"

    def forward(self, src: Port, frames: list[bytes], now: float) -> None:
        for p in self._plist:
            if p is not src:
                p.send(frames, now)


class Switch(Device):
    kind = "switch"

    def __init__(self, name: str, ageing: float = DEFAULT_AGEING,
                 mac_limit: int = DEFAULT_MAC_LIMIT) -> None:
        super().__init__(name)
        self.table = MacTable(ageing, mac_limit)
        self.vlan_aware = False

    def options(self) -> dict[str, Any]:
        return {"ageing": self.table.ageing, "mac_limit": self.table.limit}

    def attach(self, port: Port) -> None:
        super().attach(port)
        self._update_mode()

    def detach(self, port: Port) -> None:
        super().detach(port)
        self.table.forget_port(port)
        self._update_mode()

    def _update_mode(self) -> None:
        aware = any(p.vlan is not None for p in self._plist)
        if aware != self.vlan_aware:
            self.table = MacTable(self.table.ageing, self.table.limit)
            self.vlan_aware = aware

    def tick(self, now: float) -> None:
        self.table.expire(now)

    def forward(self, src: Port, frames: list[bytes], now: float) -> None:
        if self.vlan_aware:
            self._forward_vlan(src, frames, now)
            return
        table = self.table
        learn = table.learn
        lookup = table.lookup
        ports = self._plist
        if len(ports) == 2:                       # nothing to decide, just learn
            for f in frames:
                learn(f[6:12], src, now)
            for p in ports:
                if p is not src:
                    p.send(frames, now)
            return
        # Frames of one batch mostly share their addresses (one flow): the decision for a
        # run of frames with the same 12 address bytes is made once (`startswith` does not
        # allocate), which makes the switch nearly as cheap as a link.
        outs: dict[Port, list[bytes]] = {}
        prev = b"\x00" * 13             # matches nothing: frames are >= 14 bytes
        targets: list[list[bytes]] = []
        for f in frames:
            if f.startswith(prev):
                for lst in targets:
                    lst.append(f)
                continue
            prev = f[:12]
            learn(f[6:12], src, now)
            dst = None if f[0] & 1 else lookup(f[0:6], now)
            if dst is None:
                targets = []
                for p in ports:
                    if p is not src:
                        got = outs.get(p)
                        if got is None:
                            got = outs[p] = []
                        targets.append(got)
            elif dst is not src:
                got = outs.get(dst)
                if got is None:
                    got = outs[dst] = []
                targets = [got]
            else:
                targets = []
            for lst in targets:
                lst.append(f)
        for p, lst in outs.items():
            if lst:
                p.send(lst, now)

    def _forward_vlan(self, src: Port, frames: list[bytes], now: float) -> None:
        table = self.table
        cfg = src.vlan or ACCESS_1
        outs: dict[Port, list[bytes]] = {}
        for f in frames:
            tagged = len(f) >= 18 and f[12] == 0x81 and f[13] == 0x00
            if tagged:
                vid = ((f[14] & 0x0F) << 8) | f[15]
                if cfg.mode == "access" or not cfg.carries(vid) or vid == 0:
                    src.cin.drop_invalid += 1
                    continue
                inner = untag(f)
            else:
                vid = cfg.vid
                if vid == 0:                      # trunk without a native VLAN
                    src.cin.drop_invalid += 1
                    continue
                inner = f
            table.learn((vid, f[6:12]), src, now)
            dst = None if f[0] & 1 else table.lookup((vid, f[0:6]), now)
            targets = [p for p in self._plist if p is not src] if dst is None else (
                [dst] if dst is not src else [])
            for p in targets:
                pc = p.vlan or ACCESS_1
                if not pc.carries(vid):
                    continue
                g = inner if pc.mode == "access" or vid == pc.vid else tag(inner, vid)
                lst = outs.get(p)
                if lst is None:
                    outs[p] = [g]
                else:
                    lst.append(g)
        for p, lst in outs.items():
            p.send(lst, now)


def make_device(kind: str, name: str, options: dict[str, Any] | None = None) -> Device:
    """Build a device from a control request's `type` and `options` (validated here)."""
    options = dict(options or {})
    if kind == "link":
        dev: Device = Link(name)
    elif kind == "hub":
        dev = Hub(name)
    elif kind == "switch":
        ageing = options.pop("ageing", DEFAULT_AGEING)
        limit = options.pop("mac_limit", DEFAULT_MAC_LIMIT)
        if isinstance(ageing, bool) or not isinstance(ageing, int | float) or ageing <= 0:
            raise RequestError("options.ageing", "must be a number of seconds > 0")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise RequestError("options.mac_limit", "must be an integer >= 1")
        dev = Switch(name, float(ageing), limit)
    else:
        raise RequestError("type", f"must be one of {', '.join(DEVICE_KINDS)}, got {kind!r}")
    if options:
        raise RequestError(f"options.{sorted(options)[0]}", f"unknown option for a {kind}")
    return dev
