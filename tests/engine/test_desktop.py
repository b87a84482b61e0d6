"""`nemu doctor`'s GUI check (engine/desktop.py): real child processes, a real X display."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from engine.desktop import XCB_LIBRARIES, GuiCheck, check_gui, missing_libraries
from engine.hosts import LocalHost

REPO = Path(__file__).resolve().parents[2]


def test_every_library_of_the_xcb_plugin_is_a_package_setup_installs() -> None:
    wanted = {line.strip() for line in (REPO / ".ci/system-packages.txt").read_text()
              .splitlines() if line.strip() and not line.startswith("#")}
    assert set(XCB_LIBRARIES.values()) <= wanted
    assert {"xvfb", "xdotool"} <= wanted


def test_the_plugin_links_nothing_the_table_does_not_know() -> None:
    """Every X/GL library libqxcb.so links against has its package in the table, so a missing
    one is named with the package that brings it."""
    from PySide6.QtCore import QLibraryInfo
    plugin = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms" \
        / "libqxcb.so"
    out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, check=True).stdout
    linked = {line.split("=>")[0].strip() for line in out.splitlines() if "=>" in line}
    x_like = {n for n in linked if n.startswith(("libxcb", "libX11-xcb", "libxkbcommon",
                                                 "libEGL", "libGL.", "libfontconfig",
                                                 "libdbus"))}
    assert x_like <= set(XCB_LIBRARIES), x_like - set(XCB_LIBRARIES)


def test_missing_libraries_are_named_with_their_packages() -> None:
    ldd = ("\tlinux-vdso.so.1 (0x00007ffd)\n"
           "\tlibxcb-icccm.so.4 => not found\n"
           "\tlibxcb-keysyms.so.1 => not found\n"
           "\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f)\n"
           "\tlibfoo-unknown.so.7 => not found\n")
    missing = missing_libraries(ldd)
    assert [(m.soname, m.package) for m in missing] == [
        ("libxcb-icccm.so.4", "libxcb-icccm4"), ("libxcb-keysyms.so.1", "libxcb-keysyms1"),
        ("libfoo-unknown.so.7", "")]
    text = GuiCheck("xcb", ":5", missing).render()
    assert "CANNOT OPEN A WINDOW" in text and "libxcb-icccm.so.4" in text
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1" in text
    assert "libfoo-unknown.so.7" in text.splitlines()[-1]


def test_a_window_opens_on_a_real_x_display(x_display) -> None:
    check = asyncio.run(check_gui(LocalHost(), env=x_display.env))
    assert check.ok and check.opened, check.render()
    assert check.render().startswith(f"desktop GUI (xcb on {x_display.name}): a window opens")


def test_a_dead_display_is_reported_not_hung(x_display) -> None:
    env = {**x_display.env, "DISPLAY": ":4242"}      # nothing listens there
    check = asyncio.run(check_gui(LocalHost(), env=env, timeout=20))
    assert check.opened is False and not check.ok
    assert "CANNOT OPEN A WINDOW" in check.render()
    assert "4242" in check.render() or "display" in check.detail


def test_no_display_says_so_and_is_not_a_failure() -> None:
    env = {k: v for k, v in __import__("os").environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    check = asyncio.run(check_gui(LocalHost(), env=env))
    assert check.ok and check.opened is None
    assert "no display" in check.render()


def test_nemu_doctor_reports_the_gui_check(x_display) -> None:
    r = subprocess.run([sys.executable, "-m", "engine.cli.main", "doctor"], cwd=REPO,
                       env=x_display.env, capture_output=True, text=True, timeout=120)
    assert f"desktop GUI (xcb on {x_display.name}): a window opens" in r.stdout, r.stdout
