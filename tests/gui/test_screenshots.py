"""The README's pictures come from a script: it renders the real window into PNGs."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QImage

from nemu_gui import screenshots


def test_designer_pictures_render_offscreen(qapp, tmp_path: Path, capsys) -> None:
    assert screenshots.main(["--no-lab", str(tmp_path / "pics")]) == 0
    written = sorted(p.name for p in (tmp_path / "pics").glob("*.png"))
    assert "designer-star.png" in written and not any(n.startswith("running") for n in written)
    img = QImage(str(tmp_path / "pics" / "designer-star.png"))
    assert (img.width(), img.height()) == (1280, 800)
    assert str(tmp_path / "pics" / "designer-star.png") in capsys.readouterr().out
