"""The designer on a real X display, for tests that drive it with X input events (xdotool).

Not a test module: `XcbApp` (tests/gui/conftest.py) runs it as a child process on an Xvfb
display with QT_QPA_PLATFORM=xcb, so keys and clicks travel X server -> xcb -> Qt as they do
on a desktop. Arguments are nemu-gui's. Once the window is shown it prints one JSON line,
{"window": X window id}, then answers probes read from stdin, one JSON object per line:
{"eval": "python expression"} or {"exec": "python statements"}, run with `w` (the window),
`app` and the Qt modules in scope; the answer is {"value": ...} or {"error": "traceback"}.
Probes only look (or set up what a user could not type, such as a console socket); every
key and click a test means comes through the X server. {"quit": true} closes the window as a
user would (a lab started here is stopped) and exits.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtCore import QSettings, QSocketNotifier, QTimer
from PySide6.QtWidgets import QApplication

from nemu_gui.app import build_window, configure, parse_args


def main() -> int:
    tmp = Path(os.environ["NEMU_TEST_DIR"])
    app = QApplication(sys.argv[:1])
    configure(app)
    settings = QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat)
    w = build_window(parse_args(sys.argv[1:]), settings, tmp / "recovery")
    w.file_menu.confirm_discard = lambda doing: True  # type: ignore[method-assign]
    w.show()
    w.view.fit_all()
    w.start()
    w.activateWindow()
    scope: dict[str, Any] = {"w": w, "app": app, "QtCore": QtCore, "QtGui": QtGui,
                             "QtWidgets": QtWidgets, "Path": Path}
    buf = bytearray()

    def answer(msg: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(msg, default=repr) + "\n")
        sys.stdout.flush()

    def on_stdin() -> None:
        chunk = os.read(0, 65536)
        if not chunk:
            notifier.setEnabled(False)
            w.close()
            app.quit()
            return
        buf.extend(chunk)
        while b"\n" in buf:
            line, _, rest = bytes(buf).partition(b"\n")
            buf[:] = rest
            req = json.loads(line)
            if req.get("quit"):
                w.close()
                answer({"value": True})
                app.quit()
                return
            try:
                if "eval" in req:
                    answer({"value": eval(req["eval"], scope)})
                else:
                    exec(req["exec"], scope)
                    answer({"value": None})
            except Exception:
                answer({"error": traceback.format_exc()})

    notifier = QSocketNotifier(0, QSocketNotifier.Type.Read)
    notifier.activated.connect(on_stdin)

    def ready() -> None:
        answer({"window": int(w.winId())})

    QTimer.singleShot(200, ready)
    rc = app.exec()
    w.bridge.shutdown()
    return rc


if __name__ == "__main__":
    sys.exit(main())
