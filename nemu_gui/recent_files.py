"""The recent-files list, kept in QSettings (passed in, so tests use their own file)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

KEY = "recentFiles"


class RecentFiles:
    def __init__(self, settings: QSettings, limit: int = 8) -> None:
        self.settings = settings
        self.limit = limit

    def paths(self) -> list[str]:
        value = self.settings.value(KEY, [])
        if isinstance(value, str):       # QSettings gives a lone string for a 1-item list
            return [value]
        return [str(v) for v in value] if isinstance(value, list) else []

    def add(self, path: str | Path) -> None:
        p = str(Path(path).resolve())
        items = [p, *(x for x in self.paths() if x != p)][: self.limit]
        self.settings.setValue(KEY, items)

    def remove(self, path: str) -> None:
        self.settings.setValue(KEY, [x for x in self.paths() if x != path])

    def clear(self) -> None:
        self.settings.setValue(KEY, [])
