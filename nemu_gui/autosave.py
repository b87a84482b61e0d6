"""Autosave to a recovery file while there are unsaved changes, and recovery after a crash.

Every `interval` seconds a dirty lab is written to ``<dir>/autosave-<pid>.yaml`` with a small
``.json`` beside it naming the original file. A clean exit (or a save) removes them; files left
by a process that is no longer running are offered for recovery at the next start.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QTimer

from engine import topofile
from nemu_gui.document import Document


@dataclass(frozen=True)
class Recoverable:
    lab: Path
    original: str | None
    saved_at: float

    def discard(self) -> None:
        for p in (self.lab, self.lab.with_suffix(".json")):
            p.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find_recoverable(directory: Path) -> list[Recoverable]:
    """Autosaves left by nemu-gui processes that are gone, newest first."""
    found: list[Recoverable] = []
    if not directory.is_dir():
        return found
    for lab in directory.glob("autosave-*.yaml"):
        try:
            pid = int(lab.stem.split("-", 1)[1])
        except ValueError:
            continue
        if pid != os.getpid() and _alive(pid):
            continue
        try:
            meta = json.loads(lab.with_suffix(".json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = {}
        found.append(Recoverable(lab, meta.get("path"), float(meta.get("time",
                                                                    lab.stat().st_mtime))))
    return sorted(found, key=lambda r: r.saved_at, reverse=True)


class Autosaver(QObject):
    def __init__(self, document: Document, directory: Path, interval_s: float = 60.0,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.directory = directory
        self.timer = QTimer(self)
        self.timer.setInterval(int(interval_s * 1000))
        self.timer.timeout.connect(self.autosave)
        document.changed.connect(self._on_changed)

    @property
    def lab_path(self) -> Path:
        return self.directory / f"autosave-{os.getpid()}.yaml"

    def start(self) -> None:
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def autosave(self) -> bool:
        """Write the recovery file if there are unsaved changes; True if written."""
        if not self.document.dirty:
            return False
        self.directory.mkdir(parents=True, exist_ok=True)
        text = topofile.dumps(self.document.controller.topology)
        tmp = self.lab_path.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, self.lab_path)
        meta = {"path": str(self.document.path) if self.document.path else None,
                "time": time.time()}
        self.lab_path.with_suffix(".json").write_text(json.dumps(meta), encoding="utf-8")
        return True

    def discard(self) -> None:
        Recoverable(self.lab_path, None, 0).discard()

    def _on_changed(self) -> None:
        if not self.document.dirty:
            self.discard()
