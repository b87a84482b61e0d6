"""Strict parsing and canonical formatting of the quantities a topology carries.

Every quantity has one canonical text form, so a file saved by nemu loads back to the same
values and saves again to the same text. Parsing is strict: a unit is required wherever a bare
number would be ambiguous ("20" as a delay is an error, "20ms" is not).

Internal units: bandwidth in bit/s (int), durations in nanoseconds (int), shares (loss,
duplication) as fractions 0..1 written as percentages ('0.1%' is 0.001), bit-error rate as a
per-bit probability, sizes in bytes. They are the units of the link fields in
`vswitch.params`, which declares the limits used here.
"""

from __future__ import annotations

import math
import re

from engine.errors import UnitError
from vswitch.params import MAX_BANDWIDTH, MAX_DURATION_NS

_NUMBER = r"[-+]?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9]+(?:[eE][-+]?[0-9]+)?)"
_QUANTITY = re.compile(rf"^\s*(?P<num>{_NUMBER})\s*(?P<unit>[A-Za-zµμ/%]*)\s*$")

_SI = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}

# Byte sizes: every suffix read, with its factor. 'K' is read as 'k' (as in bandwidths) and 'ki'
# as 'Ki', since nobody means kelvin; any other case (mB, MIB) or a bit ('b') is refused, because
# guessing there could silently change a value by a factor of 8 or 10^6.
_SIZE_PREFIXES = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
                  "Ki": 2**10, "ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
_SIZE = {p + b: f for p, f in _SIZE_PREFIXES.items() for b in ("", "B")}
_SIZE_CANONICAL = ("B", "kB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB")

# "µs" is the micro sign, "μs" the Greek mu; keyboards give either.
_TIME_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000,
            "s": 1_000_000_000, "min": 60_000_000_000}

MAX_SIZE = 2**50                # 1 PiB: no queue or disk nemu handles comes near


def _split(text: object, what: str) -> tuple[float, str]:
    if isinstance(text, bool):
        raise _err(what, f"expected a quantity, got {text!r}")
    if isinstance(text, int | float):
        try:
            value = float(text)
        except OverflowError:  # a YAML integer of hundreds of digits
            raise _err(what, f"a number of {len(str(abs(int(text))))} digits is far too "
                             "large") from None
        if not math.isfinite(value):
            raise _err(what, f"{text!r} is not a finite number")
        return value, ""
    if not isinstance(text, str):
        raise _err(what, f"expected a quantity, got {type(text).__name__} {text!r}")
    m = _QUANTITY.match(text)
    if not m:
        raise _err(what, f"cannot read {text!r} as a quantity")
    value = float(m.group("num"))
    if not math.isfinite(value):
        raise _err(what, f"{text!r} is not a finite number")
    return value, m.group("unit")


def _err(what: str, message: str) -> UnitError:
    return UnitError(f"{what}: {message}" if what else message)


def _whole(x: float) -> int | None:
    """`x` as an int if it is one up to float rounding ('1.1kB' is 1100.0000000000002 B)."""
    if not math.isfinite(x):
        return None
    n = round(x)
    return n if abs(x - n) <= 1e-9 * max(1.0, abs(x)) else None


def parse_bandwidth(text: object, what: str = "bandwidth") -> int | None:
    """'10Mbit', '1.25Mbit/s', '100kbps', '2MB/s' (bytes) -> bit/s; 'unlimited'/None -> None."""
    if text is None or (isinstance(text, str) and text.strip().lower() in ("unlimited", "none")):
        return None
    value, unit = _split(text, what)
    if unit == "" and value != 0:
        raise _err(what, f"{text!r} needs a unit, e.g. '10Mbit'")
    m = re.fullmatch(r"(?P<p>[kKMGT]?)(?P<u>bit/s|bit|bps|b/s|B/s|Bps|B)?", unit)
    if not m or (unit and not m.group("u")):
        raise _err(what, f"unknown unit {unit!r} in {text!r} "
                        "(use bit, kbit, Mbit, Gbit, optionally /s; or B/s for bytes)")
    bits = value * _SI[m.group("p")] * (8 if (m.group("u") or "").startswith("B") else 1)
    if bits < 0:
        raise _err(what, f"{text!r} must be >= 0")
    if bits > MAX_BANDWIDTH:
        raise _err(what, f"{text!r} is above the 1 Tbit/s limit")
    if bits < 1:
        raise _err(what, f"{text!r} would carry nothing; use 'unlimited', "
                        "or set the link down")
    whole = _whole(bits)
    if whole is None:
        raise _err(what, f"{text!r} is not a whole number of bit/s")
    return whole


def format_bandwidth(bps: int | None) -> str:
    if bps is None:
        return "unlimited"
    for prefix, factor in (("T", 10**12), ("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if bps >= factor and (bps * 1000) % factor == 0:
            return f"{_trim(bps / factor)}{prefix}bit"
    return f"{bps}bit"


def format_rate(bps: float) -> str:
    """A live rate for display, with units that adapt: '9.8 Mb/s', '120 kb/s', '0 b/s'."""
    for prefix, factor in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if bps >= factor:
            v = bps / factor
            return f"{v:.3g} {prefix}b/s" if v < 100 else f"{v:.0f} {prefix}b/s"
    return f"{bps:.0f} b/s"


def parse_duration(text: object, what: str = "duration") -> int:
    """'20ms', '1.5s', '250us', '0' -> nanoseconds (int); a bare non-zero number is an error."""
    value, unit = _split(text, what)
    if unit == "" and value != 0:
        raise _err(what, f"{text!r} needs a unit, e.g. '20ms'")
    if unit and unit not in _TIME_NS:
        raise _err(what, f"unknown unit {unit!r} in {text!r} (use ns, us, ms, s, min)")
    ns = value * _TIME_NS.get(unit, 1)
    if ns < 0:
        raise _err(what, f"{text!r} must be >= 0")
    if ns > MAX_DURATION_NS:
        raise _err(what, f"{text!r} is above the one-hour limit")
    return round(ns)


def format_duration(ns: int) -> str:
    if ns == 0:
        return "0ms"
    for unit, factor in (("s", 10**9), ("ms", 10**6), ("us", 10**3)):
        if ns >= factor and (ns * 1000) % factor == 0:
            return f"{_trim(ns / factor)}{unit}"
    return f"{ns}ns"


def parse_share(text: object, what: str = "percentage") -> float:
    """'0.1%' -> 0.001: a share of frames, written as a percentage. A bare number is an error
    unless it is 0."""
    value, unit = _split(text, what)
    if unit == "" and value != 0:
        raise _err(what, f"{text!r} needs a '%' sign, e.g. '0.1%'")
    if unit not in ("", "%"):
        raise _err(what, f"unknown unit {unit!r} in {text!r} (write it as a percentage)")
    if not 0 <= value <= 100:
        raise _err(what, f"{text!r} must be between 0% and 100%")
    return value / 100


def format_share(fraction: float) -> str:
    """0.001 -> '0.1%' (rounded past float noise, so a file's text reads back the same)."""
    return f"{_trim(round(fraction * 100, 12))}%"


def parse_probability(text: object, what: str = "probability") -> float:
    """A per-bit (or per-frame) probability: '1e-6', 1e-06, '0'. Must be within [0, 1]."""
    value, unit = _split(text, what)
    if unit:
        raise _err(what, f"{text!r} is a probability and takes no unit, e.g. '1e-6'")
    if not 0 <= value <= 1:
        raise _err(what, f"{text!r} must be between 0 and 1")
    return value


def format_probability(p: float) -> str:
    return "0" if p == 0 else repr(p)


def parse_size(text: object, what: str = "size") -> int:
    """'1500', '64KiB', '64kiB', '1MB', '2k' -> bytes (int); a bare number is bytes."""
    value, unit = _split(text, what)
    if unit not in _SIZE:
        hint = next((c for c in _SIZE_CANONICAL if c.lower() == unit.lower()), None)
        bits = "; 'b' is bits" if unit.endswith("b") else ""
        guess = f"; did you mean {hint!r}?" if hint else ""
        raise _err(what, f"unknown unit {unit!r} in {text!r} (a size is in bytes: "
                         f"{', '.join(_SIZE_CANONICAL)}{bits}{guess})")
    nbytes = value * _SIZE[unit]
    if nbytes < 0:
        raise _err(what, f"{text!r} must be >= 0")
    if nbytes > MAX_SIZE:
        raise _err(what, f"{text!r} is above the 1 PiB limit")
    whole = _whole(nbytes)
    if whole is None:
        raise _err(what, f"{text!r} is not a whole number of bytes")
    return whole


def parse_memory(text: object, what: str = "memory") -> int:
    """Guest memory: '128M', '128MiB', '1G', '1GiB' -> MiB (int); a bare number means MiB."""
    value, unit = _split(text, what)
    factors = {"": 1, "M": 1, "MB": 1, "Mi": 1, "MiB": 1, "G": 1024, "GB": 1024, "Gi": 1024,
               "GiB": 1024}
    if unit not in factors:
        raise _err(what, f"unknown unit {unit!r} in {text!r} (use M or G, e.g. '128M')")
    mib = value * factors[unit]
    if mib > 1024 * 1024:
        raise _err(what, f"{text!r} is above 1 TiB")
    whole = _whole(mib)
    if whole is None or whole < 16:
        raise _err(what, f"{text!r} must be a whole number of MiB, at least 16M")
    return whole


def plural(n: int, noun: str) -> str:
    """A count with its noun: '1 node', '2 nodes'."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def format_memory(mib: int) -> str:
    return f"{mib // 1024}G" if mib % 1024 == 0 else f"{mib}M"


def format_bytes(n: float) -> str:
    """A byte count for people: '512 B', '220 MiB', '23.4 GiB'."""
    for unit, factor in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= factor:
            v = n / factor
            return f"{v:.1f} {unit}" if v < 100 and v != int(v) else f"{v:.0f} {unit}"
    return f"{n:.0f} B"


def _trim(x: float) -> str:
    """Shortest text for a float that reads back equal: 10.0 -> '10', 1.25 -> '1.25'."""
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return repr(x)
