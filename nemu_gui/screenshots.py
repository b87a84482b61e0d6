"""Render the designer's screenshots for the docs: ``python -m nemu_gui.screenshots [OUTDIR]``.

Runs offscreen (no display needed) at the default 1280x800 window size and writes PNGs to
OUTDIR (default ``docs/images``). Every picture is the real window on a real example lab; the
running pictures boot the two-host example as real QEMU machines (``--no-lab`` skips them).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

SHOTS = ("designer-star.png", "designer-link-properties.png", "designer-empty.png",
         "designer-bad-file.png", "designer-interfaces.png", "designer-star-labels.png")
RUNNING_SHOTS = ("running-rates-stats.png", "running-console.png")


def _settle(app: object, ms: int = 150) -> None:
    from PySide6.QtCore import QEventLoop, QTimer
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def render(outdir: Path, running: bool = True) -> list[Path]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from engine import examples
    from nemu_gui.app import configure
    from nemu_gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    configure(app)
    outdir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat)

        def shot(name: str, prepare: Callable[[MainWindow], None]) -> None:
            w = MainWindow(settings, Path(tmp) / "recovery")
            w.file_menu.confirm_discard = lambda doing: True  # type: ignore[method-assign]
            w.show()
            _settle(app)
            prepare(w)
            _settle(app, 300)
            path = outdir / name
            w.grab().save(str(path))
            written.append(path)
            w.controller.undo_stack.setClean()
            w.close()

        def star(w: MainWindow) -> None:
            w.document.replace(examples.build("star", 4), None)
            w.view.fit_all()
            w.scene.select(["r1"])

        def link(w: MainWindow) -> None:
            w.document.replace(examples.build("star"), None)
            w.controller.set_link_params("r1-sw1", "a", delay="20ms", loss="0.5%")
            w.controller.set_link_params("r1-sw1", "b", bandwidth="20Mbit")
            w.view.fit_all()
            w.scene.select(links=["r1-sw1"])
            form = w.properties.link_form
            form.fields["loss"].text.setText("150%")
            form.fields["loss"].text.editingFinished.emit()

        def empty(w: MainWindow) -> None:
            w.view.fit_all()

        def bad_file(w: MainWindow) -> None:
            w.document.replace(examples.build("chain"), None)
            w.view.fit_all()
            bad = Path(tmp) / "lab.yaml"
            bad.write_text("version: 1\nname: lab\nnodes:\n  - name: h1\n    kind: host\n"
                           "    memory: 8M\nlinks:\n  - a: h1.eth0\n    b: h9.eth0\n")
            w.file_menu.open(bad)

        def interfaces(w: MainWindow) -> None:
            w.document.replace(examples.build("star"), None)
            w.view.fit_all()
            w.scene.select(["r1"])
            ifaces = w.properties.node_form.interfaces
            ifaces.select("eth1")
            _settle(app, 200)                 # the planner's hints come from a worker
            ifaces.address.setText("10.0.1.11/24")          # h1's: refused, with the reason
            ifaces.address.setModified(True)
            ifaces.address.editingFinished.emit()

        def star_labels(w: MainWindow) -> None:
            """The star's labels as they are while it runs (rates as the vswitch reports
            them), placed clear of names and of each other."""
            w.document.replace(examples.build("star"), None)
            w.view.fit_all()
            for i, name in enumerate(w.scene.links):
                w.scene.set_link_rates(name, 7.6e6 / (i + 1), 196e3, 0.7 / (i + 1))
            for node in w.scene.nodes.values():
                if node.node.kind.is_machine:
                    node.set_state("running")
                    node.set_health(3.0, 221 * 2**20)

        for name, prepare in zip(SHOTS, (star, link, empty, bad_file, interfaces, star_labels),
                                 strict=True):
            shot(name, prepare)
        if running:
            written += render_running(app, outdir, settings, Path(tmp))
    return written


def _wait_for(app: object, cond: Callable[[], bool], timeout_s: float) -> bool:
    import time
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if cond():
            return True
        _settle(app, 100)
    return False


def render_running(app: object, outdir: Path, settings: object, tmp: Path) -> list[Path]:
    """Boot the two-host example for real, push traffic, and photograph the live window."""
    from engine import examples
    from nemu_gui.engine_bridge import RunState
    from nemu_gui.main_window import MainWindow

    os.environ.setdefault("NEMU_SESSIONS", str(tmp / "sessions"))
    w = MainWindow(settings, tmp / "recovery-run", topology=examples.two_hosts())  # type: ignore[arg-type]
    w.file_menu.confirm_discard = lambda doing: True  # type: ignore[method-assign]
    written: list[Path] = []
    try:
        w.show()
        w.view.fit_all()
        w.acts.start_all.trigger()
        if not _wait_for(app, lambda: w.bridge.state is RunState.RUNNING, 120):
            raise RuntimeError("the lab did not start")
        w.bridge.actions.run_command("h2", "iperf3 -s -D")
        _settle(app, 1000)
        w.bridge.actions.run_command("h1", "iperf3 -c 10.0.0.2 -t 30 -b 7M", timeout=60)
        w.bridge.actions.run_command("h2", "ping -i 0.2 -c 100 -s 1000 10.0.0.1", timeout=60)
        _settle(app, 6000)
        w.run_controls.plot_link("h1-h2")
        w.view.fit_all()
        _settle(app, 5000)
        path = outdir / RUNNING_SHOTS[0]
        w.grab().save(str(path))
        written.append(path)
        tab = w.run_controls.open_console("h1")
        _settle(app, 1500)
        if tab is not None:
            tab.send(b"ip -br addr; ping -c 3 10.0.0.2\r")   # type: ignore[attr-defined]
        _settle(app, 4000)
        path = outdir / RUNNING_SHOTS[1]
        w.grab().save(str(path))
        written.append(path)
    finally:
        w.bridge.stop_all()
        _wait_for(app, lambda: w.bridge.state is RunState.IDLE, 30)
        w.bridge.shutdown()
        w.controller.undo_stack.setClean()
        w.close()
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m nemu_gui.screenshots",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir", nargs="?", type=Path,
                    default=Path(__file__).resolve().parent.parent / "docs" / "images")
    ap.add_argument("--no-lab", action="store_true",
                    help="skip the pictures of a running lab (they boot two QEMU machines)")
    args = ap.parse_args(argv)
    for path in render(args.outdir, not args.no_lab):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
