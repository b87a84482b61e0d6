"""`nemu-gui [FILE | --example NAME]`: start the designer."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths, QTimer
from PySide6.QtWidgets import QApplication

from engine import examples
from nemu_gui.main_window import MainWindow
from nemu_gui.pyside_compat import protect_none
from nemu_gui.resources import style_sheet

ORG, APP = "nemu", "nemu-gui"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="nemu-gui", description="The nemu network designer.")
    p.add_argument("file", nargs="?", type=Path, help="a lab file to open")
    p.add_argument("--example", "-e", choices=sorted(examples.EXAMPLES),
                   help="start from a ready example lab")
    p.add_argument("--autosave", type=float, default=60.0, metavar="SECONDS",
                   help="autosave interval while there are unsaved changes (default 60)")
    p.add_argument("--start", action="store_true",
                   help="start the lab as soon as the window opens (as Run > Start all)")
    p.add_argument("--attach", nargs="?", const="", metavar="SESSION",
                   help="take over a running lab (started with `nemu up`, or by a window "
                        "that closed without stopping it); without a name, the only one "
                        "running, or a choice of them. Quitting leaves it running.")
    return p.parse_args(list(argv))


def default_recovery_dir() -> Path:
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or Path.home() / ".local" / "share" / APP) / "recovery"


def configure(app: QApplication) -> None:
    """Application-wide setup: names, style, and the PySide6 None-leak guard."""
    protect_none()
    app.setOrganizationName(ORG)
    app.setApplicationName(APP)
    app.setApplicationDisplayName("nemu")
    app.setStyle("Fusion")
    app.setStyleSheet(style_sheet())


def build_window(args: argparse.Namespace, settings: QSettings | None = None,
                 recovery_dir: Path | None = None) -> MainWindow:
    """The window for these arguments (the QApplication must exist)."""
    window = MainWindow(settings or QSettings(ORG, APP), recovery_dir or default_recovery_dir(),
                        autosave_interval_s=args.autosave)
    if args.example:
        window.document.replace(examples.build(args.example), None)
    elif args.file:
        window.file_menu.open(args.file)
    attach = getattr(args, "attach", None)
    if attach is not None:
        run = window.run_controls
        QTimer.singleShot(0, lambda: run.attach(attach) if attach
                           else run.attach_dialog(ask_if_one=False))
    elif getattr(args, "start", False):
        # once the event loop runs and the window is up, so progress shows from the first node
        QTimer.singleShot(0, window.acts.start_all.trigger)
    return window


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    configure(app)
    window = build_window(args)
    window.show()
    window.view.fit_all()
    window.start()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
