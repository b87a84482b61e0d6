"""Frames on the wire, released in time order: the propagation half of a link.

A delay line is what makes 100 ms of delay on a 100 Mbit/s link still carry 100 Mbit/s: frames
are timestamped with their due time and held here, never slept on.

Two modes:

* ordered (the default): a deque; a frame never overtakes the one before it, so a due time
  earlier than the previous one is raised to it (jitter without reordering, like netem's
  ``rate``-style behaviour on one wire);
* unordered (``reorder``): a heap keyed by (due, arrival sequence), so jitter may reorder frames
  but frames due at the same time keep their arrival order.

An entry is ``(due, finish, u, frame)``: `finish` is when serialisation ended and `u` the unit
jitter sample in [-1, 1], kept so the shaper can re-time frames when parameters change.
"""

from __future__ import annotations

import heapq
from collections import deque

Entry = tuple[float, float, float, bytes]


class DelayLine:
    __slots__ = ("_heap", "_last", "_q", "_seq", "ordered")

    def __init__(self, ordered: bool = True) -> None:
        self.ordered = ordered
        self._q: deque[Entry] = deque()
        self._heap: list[tuple[float, int, float, float, bytes]] = []
        self._last = float("-inf")
        self._seq = 0

    def __len__(self) -> int:
        return len(self._q) if self.ordered else len(self._heap)

    def push(self, due: float, frame: bytes, finish: float = 0.0, u: float = 0.0) -> float:
        """Add a frame; returns the due time actually used (raised when ordered)."""
        if self.ordered:
            if due < self._last:
                due = self._last
            self._last = due
            self._q.append((due, finish, u, frame))
        else:
            self._seq += 1
            heapq.heappush(self._heap, (due, self._seq, finish, u, frame))
        return due

    def next_due(self) -> float | None:
        if self.ordered:
            return self._q[0][0] if self._q else None
        return self._heap[0][0] if self._heap else None

    def pop_due(self, until: float, out: list[bytes]) -> int:
        """Move every frame due at or before `until` to `out`, in order; returns how many."""
        n = 0
        if self.ordered:
            q = self._q
            while q and q[0][0] <= until:
                out.append(q.popleft()[3])
                n += 1
        else:
            h = self._heap
            while h and h[0][0] <= until:
                out.append(heapq.heappop(h)[4])
                n += 1
        return n

    def pop_due_timed(self, until: float) -> list[tuple[float, bytes]]:
        """Like pop_due, keeping each frame's due time (for a second shaping stage)."""
        res: list[tuple[float, bytes]] = []
        if self.ordered:
            q = self._q
            while q and q[0][0] <= until:
                e = q.popleft()
                res.append((e[0], e[3]))
        else:
            h = self._heap
            while h and h[0][0] <= until:
                he = heapq.heappop(h)
                res.append((he[0], he[4]))
        return res

    def drain(self) -> list[Entry]:
        """Remove and return every entry in delivery order."""
        if self.ordered:
            res = list(self._q)
            self._q.clear()
        else:
            res = [(e[0], e[2], e[3], e[4]) for e in sorted(self._heap)]
            self._heap.clear()
        self._last = float("-inf")
        return res

    def queued_bytes(self) -> int:
        if self.ordered:
            return sum(len(e[3]) for e in self._q)
        return sum(len(e[4]) for e in self._heap)
