"""The File menu's work: new, open, save, recent files, examples, export, recovery.

Dialogs are kept in small methods (`ask_open_path`, `ask_save_path`, `confirm_discard`) so
tests can replace them; everything else is plain calls on the Document. A file that does not
load is reported in a non-modal notification and the current lab stays as it was.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox

from engine import examples, topofile
from engine.errors import NemuError
from engine.model import Topology
from nemu_gui.autosave import Recoverable, find_recoverable
from nemu_gui.export import export_png, export_svg
from nemu_gui.notifications import Level

if TYPE_CHECKING:
    from nemu_gui.main_window import MainWindow

LAB_FILTER = "nemu labs (*.yaml *.yml);;All files (*)"


def lab_name(path: Path) -> str:
    """The name a lab saved as `path` takes: its file's, as a session name can be made of
    (letters, digits, '_', '-', '.'); "" when nothing is left."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", path.stem).strip("-.")[:64]


class FileMenu:
    def __init__(self, window: MainWindow) -> None:
        self.w = window
        self.recent_menu = QMenu("Open &Recent")
        self.examples_menu = QMenu("New from E&xample")

    def populate(self, menu: QMenu) -> None:
        a = self.w.acts
        menu.addAction(a.new)
        menu.addMenu(self.examples_menu)
        menu.addAction(a.open)
        menu.addMenu(self.recent_menu)
        menu.addSeparator()
        menu.addAction(a.save)
        menu.addAction(a.save_as)
        menu.addSeparator()
        menu.addAction(a.export_png)
        menu.addAction(a.export_svg)
        menu.addSeparator()
        menu.addAction(a.quit)
        for name, (_builder, description) in examples.EXAMPLES.items():
            act = self.examples_menu.addAction(f"{name} — {description}")
            act.triggered.connect(lambda _c=False, n=name: self.new_from_example(n))
        self.recent_menu.aboutToShow.connect(self._fill_recent)

    def wire(self) -> None:
        a = self.w.acts
        a.new.triggered.connect(self.new)
        a.open.triggered.connect(self.open_dialog)
        a.save.triggered.connect(self.save)
        a.save_as.triggered.connect(self.save_as)
        a.export_png.triggered.connect(lambda: self.export_dialog("png"))
        a.export_svg.triggered.connect(lambda: self.export_dialog("svg"))
        a.quit.triggered.connect(self.w.close)

    # ---- dialogs (replaceable in tests) ---------------------------------------------
    def confirm_discard(self, doing: str) -> bool:
        if not self.w.document.dirty:
            return True
        answer = QMessageBox.question(
            self.w, "Unsaved changes",
            f"{self.w.document.display_name} has unsaved changes. Save them before you "
            f"{doing}?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel)
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def ask_open_path(self) -> str:
        path, _ = QFileDialog.getOpenFileName(self.w, "Open lab", self._dir(), LAB_FILTER)
        return path

    def ask_save_path(self, title: str, filt: str, suffix: str) -> str:
        path, _ = QFileDialog.getSaveFileName(self.w, title, self._dir(), filt)
        if path and not Path(path).suffix:
            path += suffix
        return path

    def _dir(self) -> str:
        """Where the dialogs open: the lab's own folder, else the labs folder (made if
        missing: `nemu demo` writes there too)."""
        p = self.w.document.path
        if p is not None:
            return str(p.parent)
        labs = examples.labs_dir()
        try:
            labs.mkdir(parents=True, exist_ok=True)
        except OSError:
            return str(Path.home())
        return str(labs)

    # ---- commands ------------------------------------------------------------------
    def new(self) -> None:
        if self.confirm_discard("start a new lab"):
            self.w.document.replace(Topology(), None)

    def new_from_example(self, name: str) -> None:
        if self.confirm_discard("open an example"):
            self.w.document.replace(examples.build(name), None)

    def open_dialog(self) -> None:
        path = self.ask_open_path()
        if path:
            self.open(path)

    def open(self, path: str | Path) -> bool:
        """Open `path`, asking about unsaved work first; a bad file leaves all as it was."""
        if not self.confirm_discard("open another lab"):
            return False
        try:
            self.w.document.open(path)
        except (NemuError, OSError) as e:
            self.w.show_load_error(path, e)
            return False
        self.w.recent.add(path)
        return True

    def save(self) -> bool:
        if self.w.document.path is None:
            return self.save_as()
        return self._save_to(self.w.document.path)

    def save_as(self) -> bool:
        path = self.ask_save_path("Save lab as", LAB_FILTER, ".yaml")
        if not path:
            return False
        self.name_after(Path(path))
        return self._save_to(Path(path))

    def name_after(self, path: Path) -> None:
        """A lab the user has not named (still `untitled`, an example's name, or named after
        its previous file) takes the new file's name. Part of saving: no undo step."""
        t = self.w.controller.topology
        old = self.w.document.path
        unnamed = {Topology().name, *examples.EXAMPLES, *([lab_name(old)] if old else [])}
        name = lab_name(path)
        if t.name in unnamed and name and name != t.name:
            t.update_meta(name=name)

    def _save_to(self, path: Path) -> bool:
        try:
            self.w.document.save(path)
        except (NemuError, OSError) as e:
            self.w.notify(f"Could not save {path.name}", str(e), Level.ERROR)
            return False
        self.w.recent.add(path)
        self.w.statusBar().showMessage(f"Saved {path}", 4000)
        return True

    def export_dialog(self, fmt: str) -> None:
        filt = "PNG image (*.png)" if fmt == "png" else "SVG image (*.svg)"
        path = self.ask_save_path(f"Export canvas as {fmt.upper()}", filt, f".{fmt}")
        if path:
            self.export(path, fmt)

    def export(self, path: str | Path, fmt: str) -> bool:
        selected = (self.w.scene.selected_nodes(), self.w.scene.selected_links())
        self.w.scene.clearSelection()
        try:
            (export_png if fmt == "png" else export_svg)(self.w.scene, path)
        except OSError as e:
            self.w.notify("Export failed", str(e), Level.ERROR)
            return False
        finally:
            self.w.scene.select(*selected)
        self.w.statusBar().showMessage(f"Exported {path}", 4000)
        return True

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        paths = self.w.recent.paths()
        for p in paths:
            act = self.recent_menu.addAction(p)
            act.triggered.connect(lambda _c=False, p=p: self.open(p))
        if not paths:
            self.recent_menu.addAction("(none)").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list").triggered.connect(self.w.recent.clear)

    # ---- crash recovery ------------------------------------------------------------
    def offer_recovery(self) -> None:
        """Offer (without blocking) the newest autosave a crashed session left behind."""
        found = find_recoverable(self.w.autosaver.directory)
        if not found:
            return
        r = found[0]
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.saved_at))
        origin = r.original or "an unsaved lab"
        self.w.notifications.notify(
            "Unsaved work from a previous session was found.",
            f"{origin}, autosaved {when}", Level.WARNING,
            {"Recover": lambda: self.recover(r), "Discard": r.discard})

    def recover(self, r: Recoverable) -> bool:
        try:
            topo = topofile.load(r.lab)
        except (NemuError, OSError) as e:
            self.w.show_load_error(r.lab, e)
            return False
        # relative disk paths start where the lab was, not in the recovery folder
        topo.base_dir = Path(r.original).resolve().parent if r.original else None
        self.w.document.replace(topo, Path(r.original) if r.original else None, dirty=True)
        r.discard()
        self.w.autosaver.autosave()
        return True
