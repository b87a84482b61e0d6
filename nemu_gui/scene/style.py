"""Colours, sizes and fonts shared by the canvas items (one place to tune the look)."""

from __future__ import annotations

import itertools

from PySide6.QtGui import QColor, QFont

from engine.model import NodeKind

NODE_ICON = 48          # px, icon size on the canvas at zoom 1
GRID = 20.0             # snap grid step in scene units

CANVAS_BG = QColor("#f7f9fc")
GRID_DOT = QColor("#d5dce6")
SELECTION = QColor("#2d7ff9")
LINK = QColor("#7f8c9d")
LINK_DOWN = QColor("#c0392b")
LABEL_TEXT = QColor("#2c3e50")
LABEL_BG = QColor(255, 255, 255, 225)
LABEL_BORDER = QColor("#d0d7e2")
HINT_TEXT = QColor("#8a97a8")

# live utilisation colours: idle grey -> green -> amber -> red at saturation
UTIL_STOPS = ((0.0, QColor("#9aa5b4")), (0.05, QColor("#27ae60")), (0.6, QColor("#f39c12")),
              (0.95, QColor("#e74c3c")))

KIND_STEM = {NodeKind.HOST: "h", NodeKind.ROUTER: "r", NodeKind.HUB: "hub",
             NodeKind.SWITCH: "sw", NodeKind.SLIRP: "nat"}

STATE_COLOURS = {"stopped": QColor("#95a5a6"), "booting": QColor("#f39c12"),
                 "stopping": QColor("#f39c12"), "running": QColor("#2ecc71"),
                 "crashed": QColor("#e74c3c")}
BUSY_STATES = frozenset({"booting", "stopping"})     # drawn as a spinning ring
DROP_FLASH = QColor("#e74c3c")
DROP_FLASH_MS = 400


def label_font(point_size: float = 8.5, bold: bool = False) -> QFont:
    f = QFont()
    f.setPointSizeF(point_size)
    f.setBold(bold)
    return f


def utilisation_colour(u: float | None) -> QColor:
    if u is None:
        return LINK
    u = max(0.0, min(1.0, u))
    for (x0, c0), (x1, c1) in itertools.pairwise(UTIL_STOPS):
        if u <= x1:
            t = (u - x0) / (x1 - x0) if x1 > x0 else 1.0
            return QColor.fromRgbF(c0.redF() + (c1.redF() - c0.redF()) * t,
                                   c0.greenF() + (c1.greenF() - c0.greenF()) * t,
                                   c0.blueF() + (c1.blueF() - c0.blueF()) * t)
    return UTIL_STOPS[-1][1]
