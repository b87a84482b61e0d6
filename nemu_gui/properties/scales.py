"""Slider scales: positions 0..STEPS mapped onto values, logarithmic where ranges are wide.

Bandwidth runs 1 kbit/s – 10 Gbit/s with a last stop for "unlimited"; delay runs 0 – 10 s with
position 0 meaning exactly 0. Values are rounded to three significant digits so the text field
beside a slider reads "12.3ms", not "12.3456789ms".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

STEPS = 1000


def round_sig(x: float, digits: int = 3) -> float:
    if x <= 0:
        return 0.0
    return round(x, digits - 1 - math.floor(math.log10(x)))


@dataclass(frozen=True)
class LogScale:
    lo: float                   # value at the first non-zero position
    hi: float                   # value at the last (non-unlimited) position
    zero_first: bool = False    # position 0 means 0
    unlimited_last: bool = False  # one extra stop past `hi` means None (unlimited)
    integer: bool = True

    @property
    def maximum(self) -> int:
        return STEPS + (1 if self.unlimited_last else 0)

    def to_pos(self, value: float | None) -> int:
        if value is None:
            return self.maximum if self.unlimited_last else STEPS
        if value <= 0 and self.zero_first:
            return 0
        first = 1 if self.zero_first else 0
        v = min(max(value, self.lo), self.hi)
        frac = math.log(v / self.lo) / math.log(self.hi / self.lo)
        return first + round(frac * (STEPS - first))

    def from_pos(self, pos: int) -> float | int | None:
        if self.unlimited_last and pos >= self.maximum:
            return None
        if self.zero_first and pos <= 0:
            return 0
        first = 1 if self.zero_first else 0
        frac = (min(pos, STEPS) - first) / (STEPS - first)
        v = round_sig(self.lo * (self.hi / self.lo) ** frac)
        return max(1, round(v)) if self.integer else v


BANDWIDTH = LogScale(1e3, 1e10, unlimited_last=True)          # bit/s
DELAY = LogScale(1e4, 1e10, zero_first=True)                    # ns: 10 µs .. 10 s
SHARE = LogScale(1e-5, 1.0, zero_first=True, integer=False)     # a fraction: 0.001% .. 100%

# The slider of a link field, by its unit (vswitch/params.py); units without one get none.
BY_UNIT = {"bps": BANDWIDTH, "ns": DELAY, "fraction": SHARE}
