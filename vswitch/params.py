"""Link-emulation parameters of one direction: the one declaration of every link field.

Each field of `LinkParams` carries, in its metadata (`param(...)`), what every layer derives
from: its unit, its limits, its label and an example. The vswitch validates control requests
with it; the engine's model (`engine.model.params.DirectionParams`, a subclass) parses and
formats file, CLI and GUI text by unit, builds the vswitch request, the properties form and the
"applied" summary from it. Adding a field is adding it here and using it in the shaper.

Units are the same everywhere a value travels (model, wire, shaper): SI base units as plain
JSON numbers, except durations, which are integer nanoseconds (no float rounding crosses the
control socket), and shares, which are fractions 0..1 (text shows them as percent).

=============  =========  ==========================================================
name           unit       meaning (default)
=============  =========  ==========================================================
bandwidth      bps        bit/s counted on Ethernet frame bytes + `overhead`; None or
                          0 = unlimited (None)
overhead       bytes      extra bytes per frame for the rate only, e.g. 24 for preamble,
                          FCS and inter-frame gap (0)
delay          ns         propagation delay (0)
jitter         ns         +/- uniform around `delay`; no reordering unless `reorder` (0)
reorder        bool       let jitter reorder frames (False)
loss           fraction   share of frames lost on the wire (0)
ber            prob       per-bit error probability (0)
ber_mode       ber_mode   "drop" (bad FCS: frame dropped) or "flip" (bits flipped) ("drop");
                          "corrupt" is accepted as another name of "flip" (stored as "flip")
duplicate      fraction   share of frames delivered twice (0)
corrupt        fraction   share of frames delivered with one random bit flipped (0)
mtu            bytes      largest payload (frame minus 14-byte header, 18 when 802.1Q
                          tagged); larger frames dropped; None = no limit (1500)
queue          frames     frames waiting for the wire before tail drop, >= 1 (1000)
queue_bytes    size       optional byte limit on the same queue (None)
up             bool       False drops everything, like a pulled cable (True)
seed           int        seed of this direction's random source; None = from the OS (None);
                          set by the engine per direction, not a user parameter
=============  =========  ==========================================================
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vswitch.errors import ParamError

MAX_BANDWIDTH = 10**12            # 1 Tbit/s: beyond is surely a typo
MAX_DURATION_NS = 3600 * 10**9    # one hour of delay or jitter
MAX_QUEUE = 1_000_000
MAX_QUEUE_BYTES = 2**30           # 1 GiB held in memory: 8.6 s of backlog at 1 Gbit/s
MIN_MTU = 68
MAX_MTU = 65535


class BerMode(enum.StrEnum):
    """What a bit error does to a frame: drop it (a bad FCS) or deliver it with bits flipped."""

    DROP = "drop"
    FLIP = "flip"


# other names accepted for a BER mode: the issue that asked for bit flipping called it "corrupt"
BER_MODE_ALIASES = {"corrupt": BerMode.FLIP}


@dataclass(frozen=True)
class ParamSpec:
    """What one link field is: its unit (how text reads and shows it, and its wire type),
    limits in that unit, whether None is allowed (and what it means), its label in a form,
    an example value in the file's words, and whether users set it at all."""

    unit: str            # bps bytes size ns fraction prob frames bool ber_mode int
    lo: float | None = None
    hi: float | None = None
    none_means: str = ""  # "" = None not allowed; else what None stands for ("unlimited")
    label: str = ""
    example: str = ""
    user: bool = True     # False: set by the engine (seed), not in files or forms


def param(default: Any, spec: ParamSpec) -> Any:
    return dataclasses.field(default=default, metadata={"spec": spec})


@dataclass(frozen=True, slots=True)
class LinkParams:
    """What one direction does to frames. The defaults describe a perfect wire."""

    bandwidth: int | None = param(None, ParamSpec(
        "bps", 1, MAX_BANDWIDTH, none_means="unlimited", label="Bandwidth",
        example="10Mbit"))
    overhead: int = param(0, ParamSpec("bytes", 0, 1000, label="Overhead", example="24"))
    delay: int = param(0, ParamSpec("ns", 0, MAX_DURATION_NS, label="Delay", example="20ms"))
    jitter: int = param(0, ParamSpec("ns", 0, MAX_DURATION_NS, label="Jitter", example="2ms"))
    reorder: bool = param(False, ParamSpec("bool", label="Reorder"))
    loss: float = param(0.0, ParamSpec("fraction", 0, 1, label="Loss", example="0.1%"))
    ber: float = param(0.0, ParamSpec("prob", 0, 1, label="Bit errors", example="1e-6"))
    ber_mode: BerMode = param(BerMode.DROP, ParamSpec("ber_mode", label="BER effect"))
    duplicate: float = param(0.0, ParamSpec("fraction", 0, 1, label="Duplicate", example="0%"))
    corrupt: float = param(0.0, ParamSpec("fraction", 0, 1, label="Corrupt", example="0%"))
    mtu: int | None = param(1500, ParamSpec("bytes", MIN_MTU, MAX_MTU, none_means="no limit",
                                            label="MTU", example="1500"))
    queue: int = param(1000, ParamSpec("frames", 1, MAX_QUEUE, label="Queue", example="1000"))
    queue_bytes: int | None = param(None, ParamSpec(
        "size", 1, MAX_QUEUE_BYTES, none_means="no byte limit", label="Queue bytes",
        example="64KiB"))
    up: bool = param(True, ParamSpec("bool", label="Link is up"))
    seed: int | None = param(None, ParamSpec("int", none_means="from the OS", user=False))

    @property
    def neutral(self) -> bool:
        """True when frames pass at once, untouched except for the MTU check (the shaper can be
        bypassed; ports apply the MTU on the fast path)."""
        return (not self.bandwidth and not self.delay and not self.jitter and not self.loss
                and not self.ber and not self.corrupt and not self.duplicate and self.up)

    def updated(self, changes: Mapping[str, Any], prefix: str = "") -> LinkParams:
        """A copy with wire values applied; raises ParamError naming the first bad field."""
        if not isinstance(changes, Mapping):
            raise ParamError(prefix.rstrip("."), "must be an object of parameters")
        values: dict[str, Any] = {}
        for name, value in changes.items():
            spec = SPECS.get(name)
            if spec is None:
                raise ParamError(prefix + str(name), "unknown parameter; known: "
                                 + ", ".join(SPECS))
            try:
                values[name] = check(spec, value)
            except (TypeError, ValueError) as exc:
                raise ParamError(prefix + name, str(exc)) from None
        return dataclasses.replace(self, **values)

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in SPECS}


SPECS: dict[str, ParamSpec] = {f.name: f.metadata["spec"] for f in dataclasses.fields(LinkParams)}
PARAM_NAMES = tuple(SPECS)
USER_PARAMS = tuple(n for n, s in SPECS.items() if s.user)   # what files, CLIs and forms set


def check(spec: ParamSpec, v: Any) -> Any:
    """A wire value for a field: its type and limits, as the unit says."""
    if v is None or (spec.unit == "bps" and v == 0 and not isinstance(v, bool)):
        if spec.none_means:
            return None
        raise TypeError(f"must be {_what(spec)}, got {v!r}")
    if spec.unit == "bool":
        if not isinstance(v, bool):
            raise TypeError(f"must be true or false, got {v!r}")
        return v
    if spec.unit == "ber_mode":
        if isinstance(v, str):
            v = BER_MODE_ALIASES.get(v, v)
        try:
            return BerMode(v)
        except ValueError:
            raise ValueError(f"must be one of {', '.join(m.value for m in BerMode)} (or "
                             f"corrupt, the same as flip), got {v!r}") from None
    if isinstance(v, bool) or not isinstance(v, int | float) or (
            spec.unit not in ("fraction", "prob") and not isinstance(v, int)):
        raise TypeError(f"must be {_what(spec)}, got {v!r}")
    if (spec.lo is not None and v < spec.lo) or (spec.hi is not None and v > spec.hi):
        raise ValueError(f"must be between {spec.lo:g} and {spec.hi:g}, got {v}")
    return float(v) if spec.unit in ("fraction", "prob") else v


def _what(spec: ParamSpec) -> str:
    kind = "a number between 0 and 1" if spec.unit in ("fraction", "prob") else "an integer"
    return kind + (" or null" if spec.none_means else "")
