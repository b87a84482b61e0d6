"""Link-emulation parameters of one port direction, with strict validation.

Units are SI base units as plain JSON numbers, except durations, which are integer
nanoseconds (the engine's internal unit, so no float rounding crosses the control socket):

=============  =========  ==========================================================
name           type       meaning (default)
=============  =========  ==========================================================
bandwidth      int|None   bit/s counted on Ethernet frame bytes + `overhead`; None or
                          0 = unlimited (None)
overhead       int        extra bytes per frame for the rate only, e.g. 24 for preamble,
                          FCS and inter-frame gap (0)
delay          int        propagation delay, ns (0)
jitter         int        +/- uniform around `delay`, ns; no reordering unless `reorder` (0)
reorder        bool       let jitter reorder frames (False)
loss           float      fraction 0..1 of frames lost on the wire (0)
ber            float      per-bit error probability 0..1 (0)
ber_mode       str        "drop" (bad FCS: frame dropped) or "flip" (bits flipped) ("drop");
                          "corrupt" is accepted as another name of "flip" (stored as "flip")
corrupt        float      fraction 0..1 of frames delivered with one random bit flipped (0)
duplicate      float      fraction 0..1 of frames delivered twice (0)
mtu            int|None   largest payload (frame minus 14-byte header, 18 when 802.1Q
                          tagged); larger frames dropped; None = no limit (None)
queue          int        frames waiting for the wire before tail drop, >= 1 (1000)
queue_bytes    int|None   optional byte limit on the same queue (None)
up             bool       False drops everything, like a pulled cable (True)
seed           int|None   seed of this direction's random source; None = from the OS (None)
=============  =========  ==========================================================
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vswitch.errors import ParamError

MAX_BANDWIDTH = 10**12
MAX_DURATION_NS = 3600 * 10**9
MAX_QUEUE = 1_000_000
BER_MODES = ("drop", "flip")
# other names accepted for a BER mode: the issue that asked for bit flipping called it "corrupt"
BER_MODE_ALIASES = {"corrupt": "flip"}


@dataclass(frozen=True, slots=True)
class LinkParams:
    """What one direction does to frames. The defaults describe a perfect wire."""

    bandwidth: int | None = None
    overhead: int = 0
    delay: int = 0
    jitter: int = 0
    reorder: bool = False
    loss: float = 0.0
    ber: float = 0.0
    ber_mode: str = "drop"
    corrupt: float = 0.0
    duplicate: float = 0.0
    mtu: int | None = None
    queue: int = 1000
    queue_bytes: int | None = None
    up: bool = True
    seed: int | None = None

    @property
    def neutral(self) -> bool:
        """True when frames pass at once, untouched except for the MTU check (the shaper can be
        bypassed; ports apply the MTU on the fast path, since the engine always sets one)."""
        return (not self.bandwidth and not self.delay and not self.jitter and not self.loss
                and not self.ber and not self.corrupt and not self.duplicate and self.up)

    def updated(self, changes: Mapping[str, Any], prefix: str = "") -> LinkParams:
        """A copy with `changes` applied; raises ParamError naming the first bad field."""
        if not isinstance(changes, Mapping):
            raise ParamError(prefix.rstrip("."), "must be an object of parameters")
        values: dict[str, Any] = {}
        for name, value in changes.items():
            check = _CHECKS.get(name)
            if check is None:
                raise ParamError(prefix + str(name), "unknown parameter; known: "
                                 + ", ".join(_CHECKS))
            try:
                values[name] = check(value)
            except (TypeError, ValueError) as exc:
                raise ParamError(prefix + name, str(exc)) from None
        return dataclasses.replace(self, **values)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _int(lo: int, hi: int, optional: bool = False, zero_is_none: bool = False) -> Any:
    def check(v: Any) -> int | None:
        if v is None and optional:
            return None
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"must be an integer{' or null' if optional else ''}, got {v!r}")
        if zero_is_none and v == 0:
            return None
        if not lo <= v <= hi:
            raise ValueError(f"must be between {lo} and {hi}, got {v}")
        return v
    return check


def _fraction(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise TypeError(f"must be a number between 0 and 1, got {v!r}")
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"must be between 0 and 1, got {v}")
    return float(v)


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise TypeError(f"must be true or false, got {v!r}")
    return v


def _ber_mode(v: Any) -> str:
    """One canonical name per mode, so a listing echoes what the shaper does."""
    if isinstance(v, str):
        v = BER_MODE_ALIASES.get(v, v)
    if v not in BER_MODES:
        raise ValueError(f"must be one of {', '.join(BER_MODES)} (or corrupt, the same as "
                         f"flip), got {v!r}")
    return str(v)


def _seed(v: Any) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"must be an integer or null, got {v!r}")
    return v


_CHECKS: dict[str, Any] = {
    "bandwidth": _int(1, MAX_BANDWIDTH, optional=True, zero_is_none=True),
    "overhead": _int(0, 1000),
    "delay": _int(0, MAX_DURATION_NS),
    "jitter": _int(0, MAX_DURATION_NS),
    "reorder": _bool,
    "loss": _fraction,
    "ber": _fraction,
    "ber_mode": _ber_mode,
    "corrupt": _fraction,
    "duplicate": _fraction,
    "mtu": _int(1, 65535, optional=True),
    "queue": _int(1, MAX_QUEUE),
    "queue_bytes": _int(1, 1 << 40, optional=True),
    "up": _bool,
    "seed": _seed,
}
PARAM_NAMES = tuple(_CHECKS)
