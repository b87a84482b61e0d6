"""One port direction's link emulation: queue, serialisation, then the wire.

A frame offered at time `now` goes through, in this order (like a real NIC and cable):

1. **up/down**: a down direction drops it (cause ``down``);
2. **MTU**: a payload larger than `mtu` is dropped (``mtu``);
3. **queue + serialisation** (only with a bandwidth): the transmitter is free at `tx_free`; the
   frame starts at ``max(now, tx_free)`` and takes ``(len + overhead) * 8 / bandwidth`` seconds.
   Frames still waiting or being serialised form the backlog; when it already holds `queue`
   frames or would exceed `queue_bytes`, the new frame is tail-dropped (``queue``). This is a
   token bucket one frame deep whose tokens are committed only for accepted frames, so an
   overloaded link passes exactly its rate (a dropped frame costs no wire time);
4. **the wire**: loss (``loss``), bit errors (drop as ``ber`` or flip bits), single-bit corruption,
   duplication (the copy follows the original at once and costs no extra wire time), then
   propagation ``delay`` +/- uniform `jitter` into the time-ordered delay line. A frame lost on
   the wire has still used its serialisation time, as on a real cable.

Random draws happen only for enabled features, in the order loss, ber, corrupt, duplicate,
jitter, so a seed (param `seed`, or an injected source) makes a run reproducible.

Time is a float in seconds from an injected clock (the caller passes `now`); the shaper never
reads a clock or sleeps, which is what makes it testable exactly.

`set_params` is atomic and keeps every queued frame: the backlog is re-timed at the new rate
(remaining bits / new rate, exactly), frames on the wire get the new delay (their jitter sample is
kept and rescaled) but are never delivered before the change time. Going down is the exception:
a pulled cable loses what is queued and on the wire (counted as ``down``).
"""

from __future__ import annotations

import math
import random
from collections import deque
from typing import Protocol

from vswitch.counters import DirCounters
from vswitch.delay_line import DelayLine
from vswitch.params import LinkParams


class RandomSource(Protocol):
    def random(self) -> float: ...


def _payload_len(frame: bytes) -> int:
    n = len(frame)
    if n >= 18 and frame[12] == 0x81 and frame[13] == 0x00:
        return n - 18
    return n - 14


class Shaper:
    __slots__ = ("_backlog", "_bq_bytes", "_delay", "_injected_rng", "_jitter", "_line", "_p",
                 "_rate", "_rng", "_tx_free", "counters", "mtu_frame", "passthrough")

    def __init__(self, params: LinkParams | None = None, counters: DirCounters | None = None,
                 rng: RandomSource | None = None) -> None:
        self.counters = counters if counters is not None else DirCounters()
        self._injected_rng = rng is not None
        self._p = LinkParams()
        self._rng: RandomSource = rng if rng is not None else random.Random()
        self._line = DelayLine()
        self._backlog: deque[tuple[float, int]] = deque()
        self._bq_bytes = 0
        self._tx_free = float("-inf")
        self._rate = 0.0
        self._delay = 0.0
        self._jitter = 0.0
        self.passthrough = True
        self.mtu_frame: int | None = None
        self._apply(params or LinkParams())

    # -- parameters ---------------------------------------------------------------------------

    @property
    def params(self) -> LinkParams:
        return self._p

    def _apply(self, p: LinkParams) -> None:
        if p.seed is not None and p.seed != self._p.seed and not self._injected_rng:
            self._rng = random.Random(p.seed)
        self._p = p
        self._rate = float(p.bandwidth or 0)
        self._delay = p.delay / 1e9
        self._jitter = p.jitter / 1e9
        # frames up to this length always fit the MTU (tagged or not): a cheap first test
        self.mtu_frame = p.mtu + 14 if p.mtu is not None else None
        if self._line.ordered == p.reorder:
            self._line = DelayLine(ordered=not p.reorder)
        self.passthrough = p.neutral and not len(self._line)

    def set_params(self, p: LinkParams, now: float) -> None:
        """Apply new parameters atomically at `now`, keeping and re-timing queued frames."""
        entries = self._line.drain()
        old_rate = self._rate
        self._line = DelayLine(ordered=not p.reorder)
        self._apply(p)
        if not p.up:
            if entries:
                self.counters.drop("down", len(entries), now)
            self._backlog.clear()
            self._bq_bytes = 0
            self._tx_free = now
            self.passthrough = False
            return
        new_rate = self._rate
        scale = old_rate / new_rate if old_rate and new_rate else 0.0

        def refinish(f: float) -> float:
            return now + (f - now) * scale if f > now else f

        if new_rate:
            self._backlog = deque((refinish(f), n) for f, n in self._backlog if f > now)
            self._bq_bytes = sum(n for _, n in self._backlog)
            self._tx_free = refinish(self._tx_free)
        else:
            self._backlog.clear()
            self._bq_bytes = 0
            self._tx_free = min(self._tx_free, now)
        for _due, finish, u, frame in entries:
            f2 = refinish(finish)
            due = f2 + self._delay + u * self._jitter
            self._line.push(max(due, f2, now), frame, f2, u)
        self.passthrough = p.neutral and not len(self._line)

    # -- data path ----------------------------------------------------------------------------

    def offer(self, frame: bytes, now: float) -> None:
        """Take one frame entering this direction at `now` (queue it or count its drop)."""
        p = self._p
        c = self.counters
        c.last_change = now
        if not p.up:
            c.drop_down += 1
            return
        n = len(frame)
        if p.mtu is not None and _payload_len(frame) > p.mtu:
            c.drop_mtu += 1
            return
        finish = now
        rate = self._rate
        if rate:
            bq = self._backlog
            while bq and bq[0][0] <= now:
                self._bq_bytes -= bq.popleft()[1]
            if len(bq) >= p.queue or (p.queue_bytes is not None
                                      and self._bq_bytes + n > p.queue_bytes):
                c.drop_queue += 1
                return
            start = self._tx_free if self._tx_free > now else now
            finish = start + (n + p.overhead) * 8 / rate
            self._tx_free = finish
            bq.append((finish, n))
            self._bq_bytes += n
        rng = self._rng
        if p.loss and rng.random() < p.loss:
            c.drop_loss += 1
            return
        if p.ber:
            if p.ber_mode == "drop":
                if rng.random() < -math.expm1(n * 8 * math.log1p(-p.ber)) or p.ber >= 1.0:
                    c.drop_ber += 1
                    return
            else:
                flipped = self._flip_bits(frame, p.ber)
                if flipped is not frame:
                    frame = flipped
                    c.corrupted += 1
        if p.corrupt and rng.random() < p.corrupt:
            buf = bytearray(frame)
            pos = int(rng.random() * n * 8)
            buf[pos >> 3] ^= 0x80 >> (pos & 7)
            frame = bytes(buf)
            c.corrupted += 1
        dup = bool(p.duplicate) and rng.random() < p.duplicate
        due = finish + self._delay
        u = 0.0
        if self._jitter:
            u = rng.random() * 2.0 - 1.0
            due += u * self._jitter
            if due < finish:
                due = finish
        self._line.push(due, frame, finish, u)
        if dup:
            self._line.push(due, frame, finish, u)
            c.duplicated += 1
        self.passthrough = False

    def filter_mtu(self, frames: list[bytes], now: float) -> list[bytes]:
        """The frames whose payload fits the MTU; the others are counted as ``mtu`` drops.
        For the fast path, called only when some frame is longer than `mtu_frame`."""
        mtu = self._p.mtu
        if mtu is None:
            return frames
        kept = [f for f in frames if _payload_len(f) <= mtu]
        if len(kept) != len(frames):
            self.counters.drop_mtu += len(frames) - len(kept)
            self.counters.last_change = now
        return kept

    def _flip_bits(self, frame: bytes, ber: float) -> bytes:
        """Flip each bit independently with probability `ber` (geometric skips: one draw per
        error plus one, so a tiny BER costs one random number per frame)."""
        bits = len(frame) * 8
        if ber >= 1.0:
            return bytes(b ^ 0xFF for b in frame)
        lq = math.log1p(-ber)
        rng = self._rng
        pos = int(math.log(1.0 - rng.random()) / lq)
        if pos >= bits:
            return frame
        buf = bytearray(frame)
        while pos < bits:
            buf[pos >> 3] ^= 0x80 >> (pos & 7)
            pos += 1 + int(math.log(1.0 - rng.random()) / lq)
        return bytes(buf)

    def next_due(self) -> float | None:
        return self._line.next_due()

    def pop_due(self, until: float, out: list[bytes]) -> int:
        """Append frames due at or before `until` to `out`; returns how many."""
        n = self._line.pop_due(until, out)
        if not len(self._line) and self._p.neutral:
            self.passthrough = True
        return n

    def pop_due_timed(self, until: float) -> list[tuple[float, bytes]]:
        res = self._line.pop_due_timed(until)
        if not len(self._line) and self._p.neutral:
            self.passthrough = True
        return res

    def in_flight(self) -> int:
        """Frames accepted and not yet delivered (backlog and on the wire)."""
        return len(self._line)

    def backlog(self, now: float) -> tuple[int, int]:
        """(frames, bytes) waiting for or being serialised at `now`: the queue gauge."""
        bq = self._backlog
        while bq and bq[0][0] <= now:
            self._bq_bytes -= bq.popleft()[1]
        return len(bq), self._bq_bytes
