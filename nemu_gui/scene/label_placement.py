"""Where a link's label goes: on its line, clear of node names and of other labels.

Pure geometry (no items): `place` tries positions along the line, from the preferred one
outwards, then the same positions beside the line, and takes the first whose rectangle
`overlap` says is free; when none is, the least covered one. The scene supplies `overlap`
from its item index (node icons, names and health lines, the labels already placed), so a
star's fan of links, whose labels would sit on top of each other halfway, spreads them along
their lines instead, and a label never covers a node's name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from PySide6.QtCore import QLineF, QPointF, QRectF, QSizeF

# fractions along the line, tried in this order after the preferred one
ALONG = (0.5, 0.4, 0.6, 0.3, 0.7, 0.35, 0.65, 0.25, 0.75, 0.2, 0.8, 0.15, 0.85)
SIDE_GAP = 3.0          # between a label moved beside its line and the line


def candidates(line: QLineF, size: QSizeF, preferred: float) -> Iterator[QPointF]:
    """Label centres to try, best first: on the line, then beside it (both sides)."""
    fractions = [preferred, *(f for f in ALONG if abs(f - preferred) > 1e-9)]
    for f in fractions:
        yield line.pointAt(f)
    if line.length() <= 0:
        return
    n = line.normalVector().unitVector()
    normal = QPointF(n.dx(), n.dy())
    # far enough that the label's rectangle clears the line whatever its slope
    reach = (abs(normal.x()) * size.width() + abs(normal.y()) * size.height()) / 2 + SIDE_GAP
    for f in fractions:
        for sign in (1.0, -1.0):
            yield line.pointAt(f) + normal * (sign * reach)


def place(line: QLineF, size: QSizeF, preferred: float,
          overlap: Callable[[QRectF], float]) -> QPointF:
    """The centre for a label of `size` on `line` (see the module's docstring)."""
    best: tuple[float, QPointF] | None = None
    for centre in candidates(line, size, preferred):
        rect = QRectF(centre.x() - size.width() / 2, centre.y() - size.height() / 2,
                      size.width(), size.height())
        covered = overlap(rect)
        if covered <= 0:
            return centre
        if best is None or covered < best[0]:
            best = (covered, centre)
    return best[1] if best is not None else line.pointAt(preferred)


def overlap_area(a: QRectF, b: QRectF) -> float:
    r = a.intersected(b)
    return 0.0 if r.isEmpty() else r.width() * r.height()
