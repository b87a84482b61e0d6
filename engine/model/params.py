"""Link emulation parameters for one direction of a link.

A link has two ends; the parameters stored on an end apply to the frames that end *sends*
(so ``a.delay`` delays traffic from a to b). Values are held in internal units (see
`engine.units`) and checked when built, so an impossible value can never sit in a model.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine import units
from engine.errors import LinkParamError, UnitError

MIN_MTU = 68
MAX_MTU = 65535
MAX_QUEUE_FRAMES = 1_000_000
MAX_QUEUE_BYTES = 2**30   # 1 GiB held in the vswitch's memory: 8.6 s of backlog at 1 Gbit/s


class BerMode(enum.Enum):
    """What a bit error does to a frame: drop it (a bad FCS) or deliver it with bits flipped."""

    DROP = "drop"
    FLIP = "flip"


@dataclass(frozen=True)
class DirectionParams:
    """What one direction of a link does to frames. Defaults describe a perfect wire."""

    bandwidth: int | None = None       # bit/s on Ethernet frame bytes; None = unlimited
    overhead: int = 0                  # extra bytes per frame counted by the rate (24 = wire)
    delay: int = 0                     # ns, propagation
    jitter: int = 0                    # ns, +/- around delay
    reorder: bool = False              # let jitter reorder frames (a real wire does not)
    loss: float = 0.0                  # percent of frames dropped
    ber: float = 0.0                   # per-bit error probability
    ber_mode: BerMode = BerMode.DROP
    duplicate: float = 0.0             # percent of frames sent twice
    corrupt: float = 0.0               # percent of frames with one flipped bit
    mtu: int = 1500                    # largest payload (frame minus 14-byte header) carried
    queue: int = 1000                  # frames waiting for the wire before tail drop
    queue_bytes: int | None = None     # optional byte limit on the same queue
    up: bool = True

    def __post_init__(self) -> None:
        checks = (
            (self.bandwidth is None or 1 <= self.bandwidth <= units.MAX_BANDWIDTH, "bandwidth",
             "must be between 1 bit/s and 1 Tbit/s"),
            (0 <= self.overhead <= 1000, "overhead", "must be between 0 and 1000 bytes"),
            (0 <= self.delay <= units.MAX_DURATION_NS, "delay", "must be between 0 and 1 hour"),
            (0 <= self.jitter <= units.MAX_DURATION_NS, "jitter",
             "must be between 0 and 1 hour"),
            (0 <= self.loss <= 100, "loss", "must be between 0% and 100%"),
            (0 <= self.ber <= 1, "ber", "must be between 0 and 1"),
            (0 <= self.duplicate <= 100, "duplicate", "must be between 0% and 100%"),
            (0 <= self.corrupt <= 100, "corrupt", "must be between 0% and 100%"),
            (MIN_MTU <= self.mtu <= MAX_MTU, "mtu", f"must be between {MIN_MTU} and {MAX_MTU}"),
            (1 <= self.queue <= MAX_QUEUE_FRAMES, "queue",
             f"must be between 1 and {MAX_QUEUE_FRAMES} frames"),
            (self.queue_bytes is None or self.mtu + 14 <= self.queue_bytes <= MAX_QUEUE_BYTES,
             "queue_bytes", "must be between one full frame (mtu + 14 bytes) and 1 GiB"),
        )
        for ok, name, why in checks:
            if not ok:
                raise LinkParamError(f"{name} {why} (got {getattr(self, name)!r})", name)

    def replace(self, **changes: Any) -> DirectionParams:
        """A copy with some fields changed; values may be unit strings ('10Mbit')."""
        return dataclasses.replace(self, **{k: _coerce(k, v) for k, v in changes.items()})

    def changes_from(self, other: DirectionParams) -> dict[str, Any]:
        """The fields where self differs from `other`: what a live update must send."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.compare and getattr(self, f.name) != getattr(other, f.name)}

    def to_text(self) -> dict[str, Any]:
        """The fields that differ from a perfect wire, in canonical unit strings."""
        return {k: FORMATTERS[k](v) for k, v in self.changes_from(PERFECT).items()}

    @classmethod
    def from_text(cls, data: Mapping[str, Any], base: DirectionParams | None = None,
                  where: str = "") -> DirectionParams:
        """Parse unit strings (a mapping from the file, a CLI, a slider) on top of `base`."""
        values: dict[str, Any] = {}
        for key, raw in data.items():
            if key not in PARSERS:
                known = ", ".join(PARSERS)
                raise LinkParamError(f"unknown link parameter {key!r} (known: {known})",
                                     _join(where, key))
            try:
                values[key] = PARSERS[key](raw)
            except UnitError as e:
                raise LinkParamError(str(e), _join(where, key)) from None
        try:
            return dataclasses.replace(base or PERFECT, **values)
        except LinkParamError as e:
            raise LinkParamError(e.message, _join(where, e.where)) from None


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where and key else where or key


def _parse_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("up", "true", "yes", "on"):
        return True
    if isinstance(v, str) and v.lower() in ("down", "false", "no", "off"):
        return False
    raise UnitError(f"expected true/false (or up/down), got {v!r}")


def _parse_int(lo: int) -> Any:
    def parse(v: Any) -> int:
        # ASCII digits only: int() would also take '1_500' and the digits of other scripts.
        if isinstance(v, bool) or not (isinstance(v, int) or (
                isinstance(v, str) and re.fullmatch(r"[-+]?[0-9]{1,18}", v.strip()))):
            raise UnitError(f"expected a whole number, got {v!r}")
        n = int(v)
        if n < lo:
            raise UnitError(f"{v!r} must be >= {lo}")
        return n
    return parse


def _parse_ber_mode(v: Any) -> BerMode:
    try:
        return BerMode(v)
    except ValueError:
        raise UnitError(f"expected 'drop' or 'flip', got {v!r}") from None


PARSERS: dict[str, Any] = {
    "bandwidth": lambda v: units.parse_bandwidth(v, ""),
    "delay": lambda v: units.parse_duration(v, ""),
    "jitter": lambda v: units.parse_duration(v, ""),
    "reorder": lambda v: _parse_bool(v),
    "overhead": _parse_int(0),
    "loss": lambda v: units.parse_percent(v, ""),
    "ber": lambda v: units.parse_probability(v, ""),
    "ber_mode": _parse_ber_mode,
    "duplicate": lambda v: units.parse_percent(v, ""),
    "corrupt": lambda v: units.parse_percent(v, ""),
    "mtu": _parse_int(0),
    "queue": _parse_int(0),
    "queue_bytes": lambda v: None if v is None else units.parse_size(v, ""),
    "up": _parse_bool,
}

FORMATTERS: dict[str, Any] = {
    "bandwidth": units.format_bandwidth,
    "delay": units.format_duration,
    "jitter": units.format_duration,
    "reorder": bool,
    "overhead": int,
    "loss": units.format_percent,
    "ber": units.format_probability,
    "ber_mode": lambda m: m.value,
    "duplicate": units.format_percent,
    "corrupt": units.format_percent,
    "mtu": int,
    "queue": int,
    "queue_bytes": lambda v: v,
    "up": bool,
}


def _coerce(key: str, value: Any) -> Any:
    if key not in PARSERS:
        raise LinkParamError(f"unknown link parameter {key!r}", key)
    if isinstance(value, str) or key in ("up", "ber_mode", "reorder"):
        try:
            return PARSERS[key](value)
        except UnitError as e:
            raise LinkParamError(str(e), key) from None
    return value


PERFECT = DirectionParams()

# The on/off parameters. A file must give them as YAML booleans (where bool('no') would be True);
# a CLI or the GUI may pass text such as 'down' (see _parse_bool).
BOOL_PARAMS = frozenset(f.name for f in dataclasses.fields(DirectionParams)
                        if f.type in ("bool", bool))
