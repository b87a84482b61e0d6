"""Forwarding decisions of a learning switch: MAC table with ageing, and 802.1Q VLANs.

Pure logic: callers pass `now`; ports are opaque hashable objects.

VLANs: a switch is *VLAN-unaware* until one of its ports gets a VLAN configuration; it then
forwards frames unchanged and learns MACs alone (tags pass through, as on a dumb switch). Once
VLAN-aware, a port without configuration is an access port of VLAN 1; an access port takes
untagged frames (tagged ones are dropped as ``invalid``) and sends untagged; a trunk port takes
and sends frames tagged with an allowed VLAN, and untagged ones on its native VLAN (if any).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Any

from vswitch.errors import RequestError

DEFAULT_AGEING = 300.0
DEFAULT_MAC_LIMIT = 8192
REFRESH = 1.0   # an entry's time is refreshed at most once a second (cheap learning)


@dataclass(frozen=True, slots=True)
class VlanConfig:
    mode: str                                 # "access" or "trunk"
    vid: int = 1                              # access VLAN, or trunk native VLAN (0 = none)
    allowed: frozenset[int] | None = None     # trunk: allowed VLANs (None = all)

    def carries(self, vid: int) -> bool:
        if self.mode == "access":
            return vid == self.vid
        return vid == self.vid or self.allowed is None or vid in self.allowed

    @classmethod
    def from_json(cls, v: Any, field: str = "vlan") -> VlanConfig | None:
        if v is None:
            return None
        if not isinstance(v, dict):
            raise RequestError(field, "must be an object {mode, vid, allowed}")
        mode = v.get("mode")
        if mode not in ("access", "trunk"):
            raise RequestError(field + ".mode", "must be access or trunk")
        unknown = set(v) - {"mode", "vid", "allowed"}
        if unknown:
            raise RequestError(f"{field}.{sorted(unknown)[0]}", "unknown field")
        vid = v.get("vid", 1 if mode == "access" else 0)
        lo = 1 if mode == "access" else 0
        if isinstance(vid, bool) or not isinstance(vid, int) or not lo <= vid <= 4094:
            raise RequestError(field + ".vid", f"must be an integer {lo}..4094")
        allowed = v.get("allowed")
        if allowed is not None:
            if mode == "access":
                raise RequestError(field + ".allowed", "only for trunk ports")
            if not isinstance(allowed, list) or not all(
                    isinstance(a, int) and not isinstance(a, bool) and 1 <= a <= 4094
                    for a in allowed):
                raise RequestError(field + ".allowed", "must be a list of VLAN ids 1..4094")
            return cls(mode, vid, frozenset(allowed))
        return cls(mode, vid, None)

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "vid": self.vid,
                "allowed": sorted(self.allowed) if self.allowed is not None else None}


ACCESS_1 = VlanConfig("access", 1)


class MacTable:
    """MAC (or (vid, MAC)) -> port, forgetting entries not refreshed within `ageing` seconds.

    At most `limit` entries: when full, new addresses are not learnt (their frames are flooded),
    which bounds memory against a MAC flood.
    """

    def __init__(self, ageing: float = DEFAULT_AGEING, limit: int = DEFAULT_MAC_LIMIT) -> None:
        self.ageing = ageing
        self.limit = limit
        self._d: dict[Hashable, tuple[Any, float]] = {}

    def __len__(self) -> int:
        return len(self._d)

    def learn(self, key: Hashable, port: Any, now: float) -> None:
        d = self._d
        e = d.get(key)
        if e is None:
            if len(d) >= self.limit:
                self.expire(now)
                if len(d) >= self.limit:
                    return
            d[key] = (port, now)
        elif e[0] is not port or now - e[1] > REFRESH:
            d[key] = (port, now)

    def lookup(self, key: Hashable, now: float) -> Any | None:
        e = self._d.get(key)
        if e is None or now - e[1] > self.ageing:
            return None
        return e[0]

    def expire(self, now: float) -> int:
        old = [k for k, (_, t) in self._d.items() if now - t > self.ageing]
        for k in old:
            del self._d[k]
        return len(old)

    def forget_port(self, port: Any) -> None:
        for k in [k for k, (p, _) in self._d.items() if p is port]:
            del self._d[k]

    def entries(self, now: float) -> Iterator[tuple[Hashable, Any, float]]:
        """(key, port, age in seconds) of every live entry."""
        for k, (p, t) in self._d.items():
            if now - t <= self.ageing:
                yield k, p, now - t


def vlan_of(frame: bytes) -> int | None:
    """The VLAN id of an 802.1Q-tagged frame, or None when untagged."""
    if len(frame) >= 18 and frame[12] == 0x81 and frame[13] == 0x00:
        return ((frame[14] & 0x0F) << 8) | frame[15]
    return None


def untag(frame: bytes) -> bytes:
    return frame[:12] + frame[16:]


def tag(frame: bytes, vid: int) -> bytes:
    return frame[:12] + b"\x81\x00" + vid.to_bytes(2, "big") + frame[12:]
