"""Export the canvas as a picture: PNG (raster, 2x for sharp text) or SVG (vector)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QGraphicsScene

MARGIN = 40.0


def _source(scene: QGraphicsScene) -> QRectF:
    rect = scene.itemsBoundingRect()
    if rect.isEmpty():
        rect = QRectF(-200, -150, 400, 300)
    return rect.adjusted(-MARGIN, -MARGIN, MARGIN, MARGIN)


def export_png(scene: QGraphicsScene, path: str | Path, scale: float = 2.0) -> Path:
    src = _source(scene)
    img = QImage(QSize(int(src.width() * scale), int(src.height() * scale)),
                 QImage.Format.Format_ARGB32_Premultiplied)
    img.fill(QColor("white"))
    painter = QPainter(img)
    painter.setRenderHints(QPainter.RenderHint.Antialiasing
                           | QPainter.RenderHint.TextAntialiasing
                           | QPainter.RenderHint.SmoothPixmapTransform)
    scene.render(painter, QRectF(img.rect()), src, Qt.AspectRatioMode.KeepAspectRatio)
    painter.end()
    if not img.save(str(path), "PNG"):  # type: ignore[call-overload]  # stub says bytes
        raise OSError(f"could not write {path}")
    return Path(path)


def export_svg(scene: QGraphicsScene, path: str | Path) -> Path:
    src = _source(scene)
    gen = QSvgGenerator()
    gen.setFileName(str(path))
    gen.setSize(QSize(int(src.width()), int(src.height())))
    gen.setViewBox(QRectF(0, 0, src.width(), src.height()))
    gen.setTitle("nemu topology")
    painter = QPainter(gen)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    scene.render(painter, QRectF(0, 0, src.width(), src.height()), src)
    painter.end()
    if not Path(path).exists():
        raise OSError(f"could not write {path}")
    return Path(path)
