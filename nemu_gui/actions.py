"""Every window action in one place: text, icon, shortcut, tooltip(shared by menus, toolbar)."""

from __future__ import annotations

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QWidget

from nemu_gui.arrange import Arrangement
from nemu_gui.resources import icon

Std = QKeySequence.StandardKey

# draw.io's keys for aligning (Alt+Shift+L/C/R/T/M/B), H and V for spacing evenly
_ARRANGE: dict[Arrangement, tuple[str, str, str, str]] = {    # text, icon, key, tooltip
    Arrangement.ALIGN_LEFT: ("Align &Left", "align-left", "Alt+Shift+L",
                             "Line the selected nodes up on the leftmost"),
    Arrangement.ALIGN_CENTRE: ("Align &Centres", "align-centre", "Alt+Shift+C",
                               "Put the selected nodes in one column, centred"),
    Arrangement.ALIGN_RIGHT: ("Align &Right", "align-right", "Alt+Shift+R",
                              "Line the selected nodes up on the rightmost"),
    Arrangement.ALIGN_TOP: ("Align &Top", "align-top", "Alt+Shift+T",
                            "Line the selected nodes up on the topmost"),
    Arrangement.ALIGN_MIDDLE: ("Align &Middles", "align-middle", "Alt+Shift+M",
                               "Put the selected nodes in one row, centred"),
    Arrangement.ALIGN_BOTTOM: ("Align &Bottom", "align-bottom", "Alt+Shift+B",
                               "Line the selected nodes up on the lowest"),
    Arrangement.DISTRIBUTE_H: ("Distribute &Horizontally", "distribute-h", "Alt+Shift+H",
                               "Space the selected nodes evenly between the outermost two"),
    Arrangement.DISTRIBUTE_V: ("Distribute &Vertically", "distribute-v", "Alt+Shift+V",
                               "Space the selected nodes evenly between the top and bottom"),
}


class Actions:
    def __init__(self, parent: QWidget) -> None:
        def act(text: str, icon_name: str | None = None,
                shortcut: QKeySequence.StandardKey | str | list[str] | None = None,
                tip: str = "", checkable: bool = False) -> QAction:
            a = QAction(text, parent)
            if icon_name:
                a.setIcon(icon(icon_name))
            if isinstance(shortcut, list):
                a.setShortcuts([QKeySequence(s) for s in shortcut])
            elif shortcut is not None:
                a.setShortcut(QKeySequence(shortcut))
            if tip or shortcut is not None:
                keys = a.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
                a.setToolTip(f"{tip or text.replace('&', '')}" + (f" ({keys})" if keys else ""))
            a.setCheckable(checkable)
            return a

        # File
        self.new = act("&New", "new", Std.New, "New empty lab")
        self.open = act("&Open…", "open", Std.Open, "Open a lab file")
        self.save = act("&Save", "save", Std.Save, "Save the lab")
        self.save_as = act("Save &As…", None, Std.SaveAs)
        self.export_png = act("Export Canvas as &PNG…")
        self.export_svg = act("Export Canvas as S&VG…")
        self.quit = act("&Quit", None, Std.Quit)
        # Edit
        self.undo = act("&Undo", "undo", Std.Undo)
        self.redo = act("&Redo", "redo", [QKeySequence(Std.Redo).toString(), "Ctrl+Y"])
        self.copy = act("&Copy", None, Std.Copy, "Copy the selected nodes")
        self.paste = act("&Paste", None, Std.Paste, "Paste nodes")
        self.delete = act("&Delete", "delete", ["Del", "Backspace"], "Delete the selection")
        self.select_all = act("Select &All", None, Std.SelectAll)
        self.rename = act("Re&name…", None, "F2", "Rename the selected node")
        self.mode_select = act("&Select / Move", "select", "S", "Select and move", True)
        self.mode_link = act("&Link", "link", "L", "Draw links: drag from node to node", True)
        self.arrange = {how: act(text, icon_name, key, tip)
                        for how, (text, icon_name, key, tip) in _ARRANGE.items()}
        self.modes = QActionGroup(parent)
        self.modes.addAction(self.mode_select)
        self.modes.addAction(self.mode_link)
        self.mode_select.setChecked(True)
        # View
        self.zoom_in = act("Zoom &In", "zoom-in", ["+", "=", "Ctrl++"])
        self.zoom_out = act("Zoom &Out", "zoom-out", ["-", "Ctrl+-"])
        self.zoom_fit = act("&Fit All", "zoom-fit", "Ctrl+0", "Fit the whole lab in view")
        self.zoom_reset = act("Actual Si&ze", None, "Ctrl+1")
        self.snap = act("S&nap to Grid", "grid", "Ctrl+G", checkable=True)
        self.snap.setChecked(True)
        self.labels = act("Link &Labels", None, "Ctrl+Shift+L", checkable=True)
        self.labels.setChecked(True)
        # Run: enabled and explained by the run-control layer as the lab's state changes
        self.start_all = act("&Start All", "start", "Ctrl+R")
        self.stop_all = act("S&top All", "stop", "Ctrl+Shift+R")
        self.start_selected = act("Start Selected")
        self.stop_selected = act("Stop Selected")
        self.attach_lab = act("&Attach to Running Lab…", None, None,
                              "Take over a lab started elsewhere (nemu up, or a window that "
                              "closed without stopping it)")
        for a in self.run_actions:
            a.setEnabled(False)
        # Help
        self.shortcuts = act("&Keyboard Shortcuts", None, Std.HelpContents)
        self.about = act("&About nemu")

    @property
    def canvas_actions(self) -> list[QAction]:
        """Actions whose keys act on the canvas: they work only while the canvas has the focus
        (a console, a list or a form keeps Backspace, S, L, +, -, Ctrl+C for itself)."""
        return [self.delete, self.copy, self.paste, self.select_all, self.rename,
                self.mode_select, self.mode_link, self.zoom_in, self.zoom_out,
                *self.arrange.values()]

    @property
    def run_actions(self) -> list[QAction]:
        return [self.start_all, self.stop_all, self.start_selected, self.stop_selected,
                self.attach_lab]
