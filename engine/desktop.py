"""Can this machine open the designer's window? (`nemu doctor`'s GUI check)

The engine never imports Qt, so the check runs in child processes through the Host seam:
one asks PySide6 where its plugins are, `ldd` lists the shared libraries Qt's platform plugin
cannot find (each named with the Debian package that provides it), and, when there is a display,
a last one opens a small window on it. Qt's own message on a missing library names
`libxcb-cursor0` whatever is really missing (it is the only one it checks by name), so the
libraries come from `ldd`, not from Qt.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from engine.errors import NemuError
from engine.hosts.base import Host

# The libraries Qt's xcb platform plugin (and the Qt libraries it loads) link against, with
# the Debian package of each. .ci/system-packages.txt lists every package named here (a test
# checks it), so `.ci/setup` gives a machine all of them.
XCB_LIBRARIES: dict[str, str] = {
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libdbus-1.so.3": "libdbus-1-3",
}

# Run by the child Python: where Qt's plugins are; with "open", a window shown on the display.
_PROBE = """
import sys
from PySide6.QtCore import QLibraryInfo
print("plugins=" + QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath), flush=True)
if sys.argv[1:] == ["open"]:
    from PySide6.QtWidgets import QApplication, QWidget
    app = QApplication(["nemu-doctor"])
    w = QWidget()
    w.resize(64, 48)
    w.show()
    app.processEvents()
    print(f"opened={app.platformName()} {w.isVisible()}", flush=True)
"""


@dataclass(frozen=True)
class MissingLibrary:
    soname: str
    package: str          # "" when nemu does not know which Debian package has it


@dataclass(frozen=True)
class GuiCheck:
    """What the check found. `opened` is None when there was no display to try."""

    platform: str                       # the Qt platform plugin tried ("xcb", "wayland"...)
    display: str                        # the DISPLAY (or WAYLAND_DISPLAY) used, "" for none
    missing: tuple[MissingLibrary, ...] = ()
    opened: bool | None = None
    detail: str = ""                    # why not, in Qt's or the loader's words
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Nothing is missing (a window may still need a display to open on)."""
        return not self.missing and not self.problems and self.opened is not False

    def render(self) -> str:
        head = f"desktop GUI ({self.platform}"
        head += f" on {self.display})" if self.display else ", no display)"
        lines = []
        if self.missing:
            names = ", ".join(m.soname for m in self.missing)
            lines.append(f"{head}: CANNOT OPEN A WINDOW: Qt's {self.platform} plugin lacks "
                         f"{names}")
            pkgs = sorted({m.package for m in self.missing if m.package})
            if pkgs:
                lines.append(f"  install them with: sudo apt-get install {' '.join(pkgs)}")
            unknown = [m.soname for m in self.missing if not m.package]
            if unknown:
                lines.append(f"  no known package for {', '.join(unknown)} "
                             "(`apt-file search NAME` finds it)")
        elif self.problems:
            lines.append(f"{head}: CANNOT OPEN A WINDOW: " + "; ".join(self.problems))
        elif self.opened:
            lines.append(f"{head}: a window opens (nemu-gui works)")
        elif self.opened is None:
            lines.append(f"{head}: libraries present; no display to open a window on "
                         "(set DISPLAY, or run under Xvfb); the CLI works without one")
        else:
            lines.append(f"{head}: CANNOT OPEN A WINDOW: {self.detail or 'unknown reason'}")
        return "\n".join(lines) + "\n"


def _platform(env: Mapping[str, str]) -> tuple[str, str]:
    """The platform Qt will use here and the display it will open on ("" for none)."""
    wanted = env.get("QT_QPA_PLATFORM", "")
    if wanted and wanted not in ("xcb", "wayland"):
        return wanted, wanted
    if wanted == "wayland" or (not wanted and env.get("WAYLAND_DISPLAY")
                               and not env.get("DISPLAY")):
        return "wayland", env.get("WAYLAND_DISPLAY", "")
    return "xcb", env.get("DISPLAY", "")


def missing_libraries(ldd_output: str) -> tuple[MissingLibrary, ...]:
    """The `=> not found` lines of `ldd`, each with its Debian package when known."""
    found: list[MissingLibrary] = []
    for line in ldd_output.splitlines():
        if "not found" in line:
            soname = line.split("=>")[0].strip()
            if soname and soname not in {m.soname for m in found}:
                found.append(MissingLibrary(soname, XCB_LIBRARIES.get(soname, "")))
    return tuple(found)


async def check_gui(host: Host, python: str = sys.executable,
                    env: Mapping[str, str] | None = None, timeout: float = 30.0) -> GuiCheck:
    """Whether nemu-gui can open a window here, and if not, what is missing."""
    env = dict(os.environ if env is None else env)
    platform, display = _platform(env)
    probe = [python, "-c", _PROBE]
    try:
        r = await host.run(probe, env=env, timeout=timeout, check=False)
    except (TimeoutError, NemuError) as e:
        return GuiCheck(platform, display, problems=(f"{python} -c PROBE: {e or 'timed out'}",))
    plugins = next((line[len("plugins="):] for line in r.text.splitlines()
                    if line.startswith("plugins=")), "")
    if not r.ok or not plugins:
        why = r.stderr.decode(errors="replace").strip().splitlines()
        return GuiCheck(platform, display, problems=(
            f"PySide6 does not load in {python}: {why[-1] if why else r.returncode}",))
    missing: tuple[MissingLibrary, ...] = ()
    if platform == "xcb":
        plugin = os.path.join(plugins, "platforms", "libqxcb.so")
        if host.which("ldd") is not None:
            try:
                lr = await host.run(["ldd", plugin], timeout=timeout, check=False)
            except (TimeoutError, NemuError) as e:
                return GuiCheck(platform, display, problems=(f"ldd {plugin}: {e}",))
            missing = missing_libraries(lr.text)
            if not lr.ok and not missing:
                return GuiCheck(platform, display, problems=(
                    f"ldd {plugin}: {lr.stderr.decode(errors='replace').strip()}",))
    if missing or not display:
        return GuiCheck(platform, display, missing)
    child_env = {**env, "QT_QPA_PLATFORM": platform}
    try:
        r = await host.run([*probe, "open"], env=child_env, timeout=timeout, check=False)
    except TimeoutError:
        return GuiCheck(platform, display, missing, False,
                        f"no window after {timeout:.0f} s (is the display {display} alive?)")
    opened = f"opened={platform} True" in r.text
    detail = ""
    if not opened:
        err = [line for line in r.stderr.decode(errors="replace").splitlines() if line.strip()]
        detail = (err[0] if err else "") or f"exit status {r.returncode}"
    return GuiCheck(platform, display, missing, opened, detail)
