"""Link emulation parameters for one direction of a link, in the model.

A link has two ends; the parameters stored on an end apply to the frames that end *sends*
(so ``a.delay`` delays traffic from a to b). `DirectionParams` is the vswitch's `LinkParams`
(`vswitch/params.py`: the one declaration of every field, its unit and limits), checked when
built so an impossible value can never sit in a model, plus what the model needs on top: text
in and out by unit (`TEXT`), and the one limit that ties two fields together. Values are in the
units the vswitch applies, so a request is the parameters as they are.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from engine import units
from engine.errors import LinkParamError, UnitError
from vswitch.params import (
    MAX_QUEUE_BYTES,
    SPECS,
    USER_PARAMS,
    BerMode,
    LinkParams,
    ParamSpec,
)

__all__ = ["BOOL_PARAMS", "PERFECT", "SPECS", "TEXT", "USER_PARAMS", "BerMode",
           "DirectionParams", "format_value", "parse_value"]


def _parse_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("up", "true", "yes", "on"):
        return True
    if isinstance(v, str) and v.lower() in ("down", "false", "no", "off"):
        return False
    raise UnitError(f"expected true/false (or up/down), got {v!r}")


def _parse_count(v: Any) -> int:
    # ASCII digits only: int() would also take '1_500' and the digits of other scripts.
    if isinstance(v, bool) or not (isinstance(v, int) or (
            isinstance(v, str) and re.fullmatch(r"[-+]?[0-9]{1,18}", v.strip()))):
        raise UnitError(f"expected a whole number, got {v!r}")
    n = int(v)
    if n < 0:
        raise UnitError(f"{v!r} must be >= 0")
    return n


def _parse_ber_mode(v: Any) -> BerMode:
    try:
        return BerMode(v)
    except ValueError:
        raise UnitError(f"expected 'drop' or 'flip', got {v!r}") from None


# How text (a file, a CLI, a form) reads and shows a value, by unit: one pair per unit.
TEXT: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "bps": (lambda v: units.parse_bandwidth(v, ""), units.format_bandwidth),
    "ns": (lambda v: units.parse_duration(v, ""), units.format_duration),
    "fraction": (lambda v: units.parse_share(v, ""), units.format_share),
    "prob": (lambda v: units.parse_probability(v, ""), units.format_probability),
    "bytes": (_parse_count, int),                            # a plain count: mtu 1500
    "size": (lambda v: units.parse_size(v, ""), int),        # with suffixes: 64KiB
    "frames": (_parse_count, int),
    "bool": (_parse_bool, bool),
    "ber_mode": (_parse_ber_mode, lambda m: BerMode(m).value),
}


def parse_value(name: str, raw: Any) -> Any:
    """A field's value from text (or a YAML scalar); None where the field allows it."""
    spec = SPECS[name]
    if raw is None and spec.none_means:
        return None
    return TEXT[spec.unit][0](raw)


def format_value(name: str, value: Any) -> Any:
    """A field's value as the file writes it (and forms show it)."""
    spec = SPECS[name]
    if value is None:
        return spec.none_means if spec.unit == "bps" else None
    return TEXT[spec.unit][1](value)


def _limit(spec: ParamSpec, x: float) -> str:
    return str(TEXT[spec.unit][1](x))


@dataclass(frozen=True, slots=True)
class DirectionParams(LinkParams):
    """What one direction of a link does to frames. Defaults describe a perfect wire."""

    def __post_init__(self) -> None:
        qb = self.queue_bytes       # the one limit that ties two fields: a frame must fit
        if qb is not None and not (self.mtu or 0) + 14 <= qb <= MAX_QUEUE_BYTES:
            raise LinkParamError(f"queue_bytes must be between one full frame (mtu + 14 "
                                 f"bytes) and {units.format_bytes(MAX_QUEUE_BYTES)} "
                                 f"(got {qb!r})", "queue_bytes")
        for name in USER_PARAMS:
            spec, v = SPECS[name], getattr(self, name)
            if v is None or spec.lo is None or spec.hi is None:
                continue
            if not spec.lo <= v <= spec.hi:
                raise LinkParamError(f"{name} must be between {_limit(spec, spec.lo)} and "
                                     f"{_limit(spec, spec.hi)} (got {v!r})", name)

    def replace(self, **changes: Any) -> DirectionParams:
        """A copy with some fields changed; values may be unit strings ('10Mbit')."""
        return dataclasses.replace(self, **{k: _coerce(k, v) for k, v in changes.items()})

    def changes_from(self, other: LinkParams) -> dict[str, Any]:
        """The fields where self differs from `other`: what a live update must send."""
        return {n: getattr(self, n) for n in USER_PARAMS if getattr(self, n) != getattr(other, n)}

    def to_text(self) -> dict[str, Any]:
        """The fields that differ from a perfect wire, in canonical unit strings."""
        return {k: format_value(k, v) for k, v in self.changes_from(PERFECT).items()}

    @classmethod
    def from_text(cls, data: Mapping[str, Any], base: DirectionParams | None = None,
                  where: str = "") -> DirectionParams:
        """Parse unit strings (a mapping from the file, a CLI, a slider) on top of `base`."""
        values: dict[str, Any] = {}
        for key, raw in data.items():
            if key not in USER_PARAMS:
                raise LinkParamError(f"unknown link parameter {key!r} (known: "
                                     f"{', '.join(USER_PARAMS)})", _join(where, key))
            try:
                values[key] = parse_value(key, raw)
            except UnitError as e:
                raise LinkParamError(str(e), _join(where, key)) from None
        try:
            return dataclasses.replace(base or PERFECT, **values)
        except LinkParamError as e:
            raise LinkParamError(e.message, _join(where, e.where)) from None


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where and key else where or key


def _coerce(key: str, value: Any) -> Any:
    if key not in USER_PARAMS:
        raise LinkParamError(f"unknown link parameter {key!r}", key)
    if isinstance(value, str) or SPECS[key].unit in ("bool", "ber_mode"):
        try:
            return parse_value(key, value)
        except UnitError as e:
            raise LinkParamError(str(e), key) from None
    return value


PERFECT = DirectionParams()

# The on/off parameters. A file must give them as YAML booleans (where bool('no') would be True);
# a CLI or the GUI may pass text such as 'down' (see _parse_bool).
BOOL_PARAMS = frozenset(n for n in USER_PARAMS if SPECS[n].unit == "bool")
