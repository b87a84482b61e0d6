"""The one mode the canvas is in (diagramscene's single enum, no boolean flags)."""

from __future__ import annotations

import enum


class SceneMode(enum.Enum):
    SELECT = "select"   # click, rubber-band select, move
    LINK = "link"       # drag from node to node to draw a link
