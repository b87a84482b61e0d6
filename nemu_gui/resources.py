"""Where the icons and the style sheet live, and cached access to them.

`resources/` sits at the top of the repository. A source checkout finds it next to the
`nemu_gui` package; an installed copy finds it under ``<prefix>/share/nemu/resources`` (see the
packaging note in docs/gui.md); ``NEMU_RESOURCES`` overrides both.
"""

from __future__ import annotations

import os
import sys
from functools import cache
from pathlib import Path

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QIcon, QImage, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer

from engine.model import NodeKind


def resources_dir() -> Path:
    candidates = []
    if os.environ.get("NEMU_RESOURCES"):
        candidates.append(Path(os.environ["NEMU_RESOURCES"]))
    candidates.append(Path(__file__).resolve().parent.parent / "resources")
    candidates.append(Path(sys.prefix) / "share" / "nemu" / "resources")
    for c in candidates:
        if (c / "icons").is_dir():
            return c
    raise FileNotFoundError("nemu's resources/ folder was not found; looked in: "
                            + ", ".join(str(c) for c in candidates))


def icon_path(name: str) -> Path:
    return resources_dir() / "icons" / f"{name}.svg"


@cache
def icon(name: str) -> QIcon:
    """A toolbar/menu icon drawn from resources/icons/NAME.svg."""
    return QIcon(str(icon_path(name)))


@cache
def _renderer(name: str) -> QSvgRenderer:
    return QSvgRenderer(str(icon_path(name)))


@cache
def node_image(kind: NodeKind, size: int) -> QImage:
    """The icon of a node kind rendered once at `size` px (canvas items paint this image)."""
    img = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    img.fill(Qt.GlobalColor.transparent)
    painter = QPainter(img)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    _renderer(kind.value).render(painter, QRectF(0, 0, size, size))
    painter.end()
    return img


def node_icon(kind: NodeKind) -> QIcon:
    ic = QIcon()
    for s in (24, 32, 48, 64):
        ic.addPixmap(QPixmap.fromImage(node_image(kind, s)))
    return ic


def node_icon_size() -> QSize:
    return QSize(40, 40)


def style_sheet() -> str:
    path = resources_dir() / "nemu.qss"
    return path.read_text(encoding="utf-8") if path.exists() else ""
