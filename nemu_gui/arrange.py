"""Align and distribute: where selected nodes go, as pure arithmetic on model positions.

Every node icon has the same size and is centred on its position, so lining up icon edges is
lining up positions; the functions work on `{name: (x, y)}` and never touch items or the
model, which keeps them exact to test. The controller turns their result into one move.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

Pos = tuple[float, float]


class Arrangement(enum.Enum):
    """What to do with the selection, and how few nodes make it meaningful."""

    ALIGN_LEFT = "align left"
    ALIGN_CENTRE = "align centres"          # one column: the same x
    ALIGN_RIGHT = "align right"
    ALIGN_TOP = "align top"
    ALIGN_MIDDLE = "align middles"          # one row: the same y
    ALIGN_BOTTOM = "align bottom"
    DISTRIBUTE_H = "distribute horizontally"
    DISTRIBUTE_V = "distribute vertically"

    @property
    def min_nodes(self) -> int:
        """Aligning needs two nodes; spacing evenly needs a node between two others."""
        return 3 if self in (Arrangement.DISTRIBUTE_H, Arrangement.DISTRIBUTE_V) else 2


def arrange(positions: Mapping[str, Pos], how: Arrangement) -> dict[str, Pos]:
    """New positions of the nodes that move (unmoved nodes are left out)."""
    if len(positions) < how.min_nodes:
        return {}
    xs = [p[0] for p in positions.values()]
    ys = [p[1] for p in positions.values()]
    match how:
        case Arrangement.ALIGN_LEFT:
            new = {n: (min(xs), y) for n, (_, y) in positions.items()}
        case Arrangement.ALIGN_RIGHT:
            new = {n: (max(xs), y) for n, (_, y) in positions.items()}
        case Arrangement.ALIGN_CENTRE:
            new = {n: ((min(xs) + max(xs)) / 2, y) for n, (_, y) in positions.items()}
        case Arrangement.ALIGN_TOP:
            new = {n: (x, min(ys)) for n, (x, _) in positions.items()}
        case Arrangement.ALIGN_BOTTOM:
            new = {n: (x, max(ys)) for n, (x, _) in positions.items()}
        case Arrangement.ALIGN_MIDDLE:
            new = {n: (x, (min(ys) + max(ys)) / 2) for n, (x, _) in positions.items()}
        case Arrangement.DISTRIBUTE_H:
            new = _distribute(positions, 0)
        case Arrangement.DISTRIBUTE_V:
            new = _distribute(positions, 1)
    return {n: p for n, p in new.items() if p != positions[n]}


def _distribute(positions: Mapping[str, Pos], axis: int) -> dict[str, Pos]:
    """The outermost two stay; the others take equal steps between them, in their order
    along the axis (ties keep the name order, so the result does not depend on dict order)."""
    order = sorted(positions, key=lambda n: (positions[n][axis], n))
    first, last = positions[order[0]][axis], positions[order[-1]][axis]
    step = (last - first) / (len(order) - 1)
    new: dict[str, Pos] = {}
    for i, name in enumerate(order):
        x, y = positions[name]
        v = last if i == len(order) - 1 else first + i * step
        new[name] = (v, y) if axis == 0 else (x, v)
    return new
