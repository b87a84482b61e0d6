"""The main window: menus, toolbar, palette, canvas, properties and status bar wired together.

Collaborators come in through the constructor (settings, recovery folder, engine bridge), and
the constructor only builds widgets: `start()` begins autosaving and offers recovery.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from PySide6.QtCore import QMimeData, QPointF, QSettings, QSize, Qt
from PySide6.QtGui import QCloseEvent, QGuiApplication
from PySide6.QtWidgets import (
    QDockWidget,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QToolButton,
    QWidget,
)
from shiboken6 import isValid

from engine.errors import NemuError, TopologyError
from engine.model import NodeKind, Topology
from engine.units import plural
from nemu_gui.actions import Actions
from nemu_gui.arrange import Arrangement
from nemu_gui.autosave import Autosaver
from nemu_gui.controller import Controller
from nemu_gui.document import Document
from nemu_gui.engine_bridge import EngineBridge
from nemu_gui.file_menu import FileMenu
from nemu_gui.notifications import Level, Notification, NotificationArea
from nemu_gui.palette import Palette
from nemu_gui.planned import PlannedAddresses
from nemu_gui.properties.panel import PropertiesPanel
from nemu_gui.recent_files import RecentFiles
from nemu_gui.resources import icon
from nemu_gui.run_controls import RunControls
from nemu_gui.scene.canvas_view import CanvasView
from nemu_gui.scene.modes import SceneMode
from nemu_gui.scene.topology_scene import TopologyScene

CLIPBOARD_MIME = "application/x-nemu-topology"

SHORTCUTS = """<table>
<tr><td>Ctrl+N / O / S</td><td>new, open, save</td></tr>
<tr><td>Ctrl+Z / Ctrl+Y</td><td>undo, redo</td></tr>
<tr><td>Ctrl+C / Ctrl+V</td><td>copy, paste nodes</td></tr>
<tr><td>Del</td><td>delete the selection</td></tr>
<tr><td>S / L</td><td>select mode, link mode</td></tr>
<tr><td>F2</td><td>rename the selected node</td></tr>
<tr><td>Alt+Shift+L / C / R</td><td>align left, centres (a column), right</td></tr>
<tr><td>Alt+Shift+T / M / B</td><td>align top, middles (a row), bottom</td></tr>
<tr><td>Alt+Shift+H / V</td><td>distribute horizontally, vertically</td></tr>
<tr><td>+ / - / Ctrl+0</td><td>zoom in, zoom out, fit all</td></tr>
<tr><td>wheel, middle drag, Space+drag</td><td>zoom, pan</td></tr>
</table>"""


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings, recovery_dir: Path,
                 bridge: EngineBridge | None = None, autosave_interval_s: float = 60.0,
                 topology: Topology | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.bridge = bridge or EngineBridge(self)
        self.controller = Controller(topology, self)
        self.document = Document(self.controller, self)
        self.autosaver = Autosaver(self.document, recovery_dir, autosave_interval_s, self)
        self.recent = RecentFiles(settings)
        self.scene = TopologyScene(self)
        self.scene.load(self.controller.topology)
        self.view = CanvasView(self.scene)
        self.notifications = NotificationArea()
        self.acts = Actions(self)
        self.node_palette = Palette()
        self.planned = PlannedAddresses(self.controller, self)
        self.properties = PropertiesPanel(self.controller, self.scene, self.planned)
        self.file_menu = FileMenu(self)
        self.run_controls = RunControls(self)
        self._build()
        self._wire()
        self.resize(QSize(1280, 800))
        self._update_status()

    # ---- layout --------------------------------------------------------------------
    def _build(self) -> None:
        self.setWindowTitle("nemu")
        self.setCentralWidget(self.view)
        self.notifications.overlay(self.view)     # floats: the canvas never moves for it

        self.palette_dock = self._dock("Palette", self.node_palette,
                                       Qt.DockWidgetArea.LeftDockWidgetArea)
        self.palette_dock.setMinimumWidth(170)
        self.properties_dock = self._dock("Properties", self.properties,
                                          Qt.DockWidgetArea.RightDockWidgetArea)
        self.properties_dock.setMinimumWidth(330)
        self.resizeDocks([self.palette_dock, self.properties_dock], [180, 340],
                         Qt.Orientation.Horizontal)

        a = self.acts
        mb = self.menuBar()
        file_menu = mb.addMenu("&File")
        self.file_menu.populate(file_menu)
        edit = mb.addMenu("&Edit")
        for item in (a.undo, a.redo, None, a.copy, a.paste, a.delete, a.select_all, a.rename,
                     None, a.mode_select, a.mode_link):
            edit.addSeparator() if item is None else edit.addAction(item)
        edit.addSeparator()
        self.align_menu = self.add_align_menu(edit)
        view = mb.addMenu("&View")
        for item in (a.zoom_in, a.zoom_out, a.zoom_fit, a.zoom_reset, None, a.snap, a.labels,
                     None, self.palette_dock.toggleViewAction(),
                     self.properties_dock.toggleViewAction()):
            view.addSeparator() if item is None else view.addAction(item)
        run = mb.addMenu("&Run")
        run.setToolTipsVisible(True)
        for act in a.run_actions:
            if act is a.attach_lab:
                run.addSeparator()
            run.addAction(act)
        help_menu = mb.addMenu("&Help")
        help_menu.addAction(a.shortcuts)
        help_menu.addAction(a.about)

        tb = self.addToolBar("Main")
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        tb.setIconSize(QSize(20, 20))
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for item in (a.new, a.open, a.save, None, a.undo, a.redo, None, a.mode_select,
                     a.mode_link, a.delete, None, a.start_all, a.stop_all, None, a.zoom_out,
                     a.zoom_in, a.zoom_fit, a.snap):
            tb.addSeparator() if item is None else tb.addAction(item)
        for act in (a.new, a.open, a.save, a.undo, a.redo, a.delete, a.zoom_in, a.zoom_out,
                    a.zoom_fit, a.snap):
            w = tb.widgetForAction(act)
            if isinstance(w, QToolButton):
                w.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)

        for act in a.canvas_actions:        # their keys are the canvas's, not the window's
            act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.view.addAction(act)

        sb = self.statusBar()
        self.counts_label = QLabel()
        self.file_label = QLabel()
        self.engine_label = QLabel(self.bridge.status_text())
        self.engine_label.setObjectName("engineStatus")
        self.zoom_label = QLabel()
        for w in (self.counts_label, self.file_label, self.zoom_label, self.engine_label):
            sb.addPermanentWidget(w)

    def add_align_menu(self, parent: QMenu) -> QMenu:
        """The Align submenu (Edit menu, and the canvas menu of a multiple selection)."""
        menu = parent.addMenu(icon("align-left"), "&Align")
        self.add_arrange_actions(menu)
        return menu

    def add_arrange_actions(self, menu: QMenu) -> None:
        menu.setToolTipsVisible(True)
        for how, act in self.acts.arrange.items():
            if how is Arrangement.DISTRIBUTE_H:
                menu.addSeparator()
            menu.addAction(act)

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title.lower())
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(area, dock)
        return dock

    def _wire(self) -> None:
        a, c, s = self.acts, self.controller, self.scene
        c.topologyEvent.connect(s.apply)
        c.topologyEvent.connect(lambda _e: self._update_status())
        c.topologyReset.connect(self._on_reset)
        c.problem.connect(lambda msg: self.notify("That edit was refused", msg, Level.WARNING))
        s.linkRequested.connect(self._link_requested)
        s.nodesMoved.connect(c.move_nodes)
        s.modeChanged.connect(self._on_mode)
        self.view.nodeDropRequested.connect(self.add_node)
        self.view.zoomChanged.connect(lambda _z: self._update_status())
        self.node_palette.activatedKind.connect(
            lambda kind: self.add_node(kind, self.view.mapToScene(
                self.view.viewport().rect().center())))
        self.document.changed.connect(self._update_status)
        self.bridge.attach(s)
        self.bridge.engineState.connect(self.engine_label.setText,
                                        Qt.ConnectionType.QueuedConnection)
        self.bridge.failed.connect(lambda t, d: self.notify(t, d, Level.ERROR),
                                   Qt.ConnectionType.QueuedConnection)

        undo = c.undo_stack
        a.undo.triggered.connect(undo.undo)
        a.redo.triggered.connect(undo.redo)
        undo.canUndoChanged.connect(a.undo.setEnabled)
        undo.canRedoChanged.connect(a.redo.setEnabled)
        undo.undoTextChanged.connect(lambda t: a.undo.setText(f"&Undo {t}".strip()))
        undo.redoTextChanged.connect(lambda t: a.redo.setText(f"&Redo {t}".strip()))
        a.undo.setEnabled(False)
        a.redo.setEnabled(False)
        a.delete.triggered.connect(self.delete_selection)
        a.copy.triggered.connect(self.copy_selection)
        a.paste.triggered.connect(self.paste)
        a.select_all.triggered.connect(lambda: s.select(s.nodes, s.links))
        for how, act in a.arrange.items():
            act.triggered.connect(partial(self.arrange_selection, how))
        s.selectionChanged.connect(self._update_arrange_actions)
        self._update_arrange_actions()
        a.rename.triggered.connect(self.rename_selected)
        a.mode_select.triggered.connect(lambda: s.set_mode(SceneMode.SELECT))
        a.mode_link.triggered.connect(lambda: s.set_mode(SceneMode.LINK))
        a.zoom_in.triggered.connect(self.view.zoom_in)
        a.zoom_out.triggered.connect(self.view.zoom_out)
        a.zoom_fit.triggered.connect(self.view.fit_all)
        a.zoom_reset.triggered.connect(self.view.reset_zoom)
        a.snap.toggled.connect(s.set_snap)
        a.labels.toggled.connect(s.set_labels_visible)
        a.shortcuts.triggered.connect(lambda: QMessageBox.information(
            self, "Keyboard shortcuts", SHORTCUTS))
        a.about.triggered.connect(lambda: QMessageBox.about(
            self, "About nemu", "<b>nemu</b> — draw a network, run it as QEMU machines joined "
            "by emulated links.<br>Licensed under the GPL v3 or later."))
        self.file_menu.wire()
        self.run_controls.install()

    # ---- lifecycle -----------------------------------------------------------------
    def start(self) -> None:
        """Begin autosaving, offer the recovery of work a crashed session left, and the
        labs still running without a window."""
        self.autosaver.start()
        self.file_menu.offer_recovery()
        self.run_controls.offer_running_labs()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.file_menu.confirm_discard("quit"):
            event.ignore()
            return
        self.autosaver.stop()
        self.autosaver.discard()
        self.bridge.shutdown()
        event.accept()

    # ---- intents -------------------------------------------------------------------
    def add_node(self, kind: NodeKind, pos: QPointF) -> str | None:
        name = self.controller.add_node(kind, (pos.x(), pos.y()))
        if name is not None:
            self.scene.select([name])
            self.view.setFocus()             # from the palette: the canvas's keys act on it
        return name

    def _link_requested(self, a: str, b: str) -> None:
        name = self.controller.connect_nodes(a, b)
        if name is not None:
            self.scene.select(links=[name])

    def delete_selection(self) -> bool:
        """Delete the selected nodes and links; a running machine is stopped by that, so the
        user is asked first (one key press must never kill a guest)."""
        nodes = self.scene.selected_nodes()
        running = [n for n in nodes if self.bridge.node_states.get(n) in ("running", "booting")
                   and not self.controller.topology.node(n).kind.is_fabric]
        if running and not self.confirm_delete_running(running):
            return False
        self.controller.delete(nodes, self.scene.selected_links())
        return True

    def confirm_delete_running(self, nodes: list[str]) -> bool:
        """Ask before deleting running machines (replaceable in tests)."""
        names = ", ".join(nodes)
        box = QMessageBox(QMessageBox.Icon.Warning, "Delete running machines",
                          f"{names} {'is' if len(nodes) == 1 else 'are'} running. Deleting "
                          f"stops {'it' if len(nodes) == 1 else 'them'} now: what runs inside "
                          "is lost (the disk is kept; Undo starts the machine again).",
                          QMessageBox.StandardButton.Cancel, self)
        delete = box.addButton("Delete and Stop", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return box.clickedButton() is delete

    def copy_selection(self) -> None:
        nodes = self.scene.selected_nodes()
        if not nodes:
            return
        text = self.controller.copy_text(nodes)
        data = QMimeData()
        data.setData(CLIPBOARD_MIME, text.encode())
        data.setText(text)
        QGuiApplication.clipboard().setMimeData(data)

    def paste(self) -> None:
        data = QGuiApplication.clipboard().mimeData()
        if data is None or not data.hasFormat(CLIPBOARD_MIME):
            return
        names = self.controller.paste_text(bytes(data.data(CLIPBOARD_MIME).data()).decode())
        self.scene.select(names)

    def arrange_selection(self, how: Arrangement) -> bool:
        return self.controller.arrange_nodes(self.scene.selected_nodes(), how)

    def _update_arrange_actions(self) -> None:
        if not isValid(self.scene):         # the scene goes first when the window closes
            return
        count = len(self.scene.selected_nodes())
        for how, act in self.acts.arrange.items():
            act.setEnabled(count >= how.min_nodes)

    def rename_selected(self) -> None:
        nodes = self.scene.selected_nodes()
        if len(nodes) != 1:
            return
        new, ok = QInputDialog.getText(self, "Rename node", "New name:", text=nodes[0])
        if ok and new.strip():
            self.controller.rename_node(nodes[0], new.strip())

    # ---- feedback ------------------------------------------------------------------
    def notify(self, title: str, detail: str = "", level: Level = Level.INFO,
               actions: dict[str, Callable[[], object]] | None = None) -> Notification:
        return self.notifications.notify(title, detail, level, actions)

    def show_load_error(self, path: str | Path, err: Exception) -> None:
        detail = str(err) if isinstance(err, TopologyError | NemuError) else f"{path}: {err}"
        self.notify(f"Could not open {Path(path).name}; your current lab is unchanged.", detail,
                    Level.ERROR)

    def _on_reset(self, topology: Topology) -> None:
        self.scene.load(topology)
        self.view.fit_all()
        self._update_status()

    def _on_mode(self, mode: SceneMode) -> None:
        (self.acts.mode_link if mode is SceneMode.LINK else self.acts.mode_select) \
            .setChecked(True)
        self.statusBar().showMessage(
            "Link mode: drag from one node to another" if mode is SceneMode.LINK else "", 4000)

    def _update_status(self) -> None:
        t = self.controller.topology
        self.counts_label.setText(f"{plural(len(t.nodes), 'node')} · "
                                  f"{plural(len(t.links), 'link')}")
        dirty = " •" if self.document.dirty else ""
        self.file_label.setText(f"{self.document.display_name}{dirty}")
        self.zoom_label.setText(f"{self.view.zoom * 100:.0f}%")
        self.setWindowTitle(f"{self.document.display_name}{dirty} — nemu")
