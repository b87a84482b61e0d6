"""The recent samples of one plotted link as numpy arrays, for redraws that copy nothing.

A redraw per sample per plotted link must stay cheap with ten links and ten minutes of
history: rebuilding Python lists of 1200 samples and converting them again costs more than
the plotting. Samples go into a buffer twice the window long; appending writes one column and,
once per `size` appends, moves the window back to the front, so the curves get views.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]


class RateSeries:
    def __init__(self, size: int) -> None:
        self.size = size
        self._buf = np.zeros((3, 2 * size))           # rows: time, a→b b/s, b→a b/s
        self._start = self._end = 0
        self._drops: deque[tuple[float, float]] = deque()   # (time, rate) of dropping samples

    def __len__(self) -> int:
        return self._end - self._start

    def append(self, t: float, a_bps: float, b_bps: float, dropping: bool = False) -> None:
        if self._end == self._buf.shape[1]:
            n = len(self)
            self._buf[:, :n] = self._buf[:, self._start:self._end]
            self._start, self._end = 0, n
        self._buf[:, self._end] = (t, a_bps, b_bps)
        self._end += 1
        if len(self) > self.size:
            self._start += 1
        if dropping:
            self._drops.append((t, max(a_bps, b_bps)))
        first = self._buf[0, self._start]
        while self._drops and self._drops[0][0] < first:
            self._drops.popleft()

    def columns(self) -> tuple[Floats, Floats, Floats]:
        """Time, a→b and b→a rates of the window (views: valid until the next append)."""
        window = self._buf[:, self._start:self._end]
        return window[0], window[1], window[2]

    def drops(self) -> tuple[list[float], list[float]]:
        """Where the drop markers go: the times and the higher rate of dropping samples."""
        return [t for t, _ in self._drops], [r for _, r in self._drops]
