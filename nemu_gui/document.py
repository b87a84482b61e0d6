"""The lab being edited as a file: its path, whether it has unsaved changes, load and save.

Dirty state is the undo stack's clean state, so undoing back to the saved point makes the
document clean again. Loading never replaces the current work unless the new file is valid.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from engine import topofile
from engine.model import Topology
from nemu_gui.controller import Controller


@contextlib.contextmanager
def _bulk() -> Iterator[None]:
    """Building thousands of objects at once (a big lab's model and canvas items): the cyclic
    garbage collector would run over and over on the growing heap for nothing (a quarter of
    the open time of a 1000-node lab). Off meanwhile, back on after."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


class Document(QObject):
    changed = Signal()          # path or dirty state changed

    def __init__(self, controller: Controller, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.path: Path | None = None
        self._forced_dirty = False
        controller.undo_stack.cleanChanged.connect(lambda _c: self.changed.emit())

    @property
    def dirty(self) -> bool:
        return self._forced_dirty or not self.controller.undo_stack.isClean()

    @property
    def display_name(self) -> str:
        return self.path.name if self.path else f"{self.controller.topology.name} (unsaved)"

    def replace(self, topology: Topology, path: Path | None, dirty: bool = False) -> None:
        """Show another lab (new, example, opened, recovered)."""
        with _bulk():
            self.controller.set_topology(topology)
        self.path = path
        self._forced_dirty = dirty
        self.controller.undo_stack.setClean()
        self.changed.emit()

    def open(self, path: str | Path) -> None:
        """Load `path`; raises TopologyError/OSError and keeps the current lab if it fails."""
        with _bulk():
            topo = topofile.load(path)
        self.replace(topo, Path(path))

    def save(self, path: str | Path | None = None) -> Path:
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ValueError("no file name yet: use save as")
        topofile.save(self.controller.topology, target)
        self.controller.topology.base_dir = target.resolve().parent   # relative disk paths
        self.path = target
        self._forced_dirty = False
        self.controller.undo_stack.setClean()
        self.changed.emit()
        return target
