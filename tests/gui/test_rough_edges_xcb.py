"""Rough edges that need a real pointer, on a real X display (Xvfb, xcb, xdotool): a click after
a banner closes lands where it was aimed; a right click selects what its menu is for. The
screenshots each test takes are kept in the test's folder (look at them when changing these)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_a_click_after_a_banner_closes_lands_where_it_was_aimed(xcb_app, tmp_path: Path) -> None:
    app = xcb_app("--example", "two-hosts")
    h2 = app.node_pos("h2")
    app.exec("from nemu_gui.notifications import Level; "
             "w.notify('Could not start the lab', 'a detail line, as engine errors have', "
             "Level.ERROR)")
    app.wait_until("w.notifications.isVisible() and w.notifications.height() > 30")
    assert app.node_pos("h2") == h2                     # the canvas did not move down
    app.screenshot(tmp_path / "banner-open.png")
    # close it with its ✕, then click where h2 is: h2 is selected (not empty canvas)
    close = ("[b for b in w.notifications.items[0].findChildren(QtWidgets.QToolButton) "
             "if b.text() == '✕'][0]")
    app.display.click(*app.screen_pos(close))
    app.wait_until("not w.notifications.isVisible()")
    assert app.node_pos("h2") == h2
    app.display.click(*h2)
    app.wait_until("w.scene.selected_nodes() == ['h2']")


def test_a_right_click_selects_the_node_or_link_its_menu_is_for(xcb_app,
                                                                tmp_path: Path) -> None:
    app = xcb_app("--example", "star")
    app.display.click(*app.node_pos("h1"))
    app.wait_until("w.scene.selected_nodes() == ['h1']")
    app.display.click(*app.node_pos("r1"), button=3)
    app.wait_until("QtWidgets.QApplication.activePopupWidget() is not None")
    assert app.eval("w.scene.selected_nodes()") == ["r1"]
    assert app.eval("w.properties.node_form.title.text()") == "Router r1"
    app.screenshot(tmp_path / "right-click-r1.png")
    app.display.key("Escape")
    app.wait_until("QtWidgets.QApplication.activePopupWidget() is None")
    # a link: a point of its line where nothing else is (not its label, not a node)
    x, y = app.eval("next((p.x(), p.y()) for p in (w.scene.links['r1-sw1'].line.pointAt(f / 20) "
                    "for f in range(1, 20)) if [i for i in w.view.items(w.view.mapFromScene(p)) "
                    "if i.isVisible()] == [w.scene.links['r1-sw1']])")
    app.display.click(*app.scene_pos(x, y), button=3)
    app.wait_until("QtWidgets.QApplication.activePopupWidget() is not None")
    assert app.eval("(w.scene.selected_nodes(), w.scene.selected_links())") == [[], ["r1-sw1"]]
    app.display.key("Escape")
    # inside a selection of several nodes, a right click keeps the selection (align)
    app.exec("w.scene.select(['h1', 'h2', 'h3'])")
    app.display.click(*app.node_pos("h2"), button=3)
    app.wait_until("QtWidgets.QApplication.activePopupWidget() is not None")
    assert app.eval("w.scene.selected_nodes()") == ["h1", "h2", "h3"]
    app.display.key("Escape")


def test_the_star_with_live_rates_and_the_statistics_dock_look_right(xcb_app,
                                                                      tmp_path: Path) -> None:
    """Screenshots at 1280x800 on X (fonts as a desktop has them): the star's rate labels
    clear of each other and of names, the Statistics header whole."""
    app = xcb_app("--example", "star")
    app.exec("w.resize(1280, 800); w.view.fit_all()\n"
             "for n in w.scene.links: w.scene.set_link_rates(n, 7.6e6, 196e3, 0.7)\n"
             "for n in w.scene.nodes.values(): n.set_health(3.0, 222 * 2**20)\n"
             "w.run_controls.stats.set_ends('h1-sw1', 'h1', 'sw1')\n"
             "w.run_controls.plot_link('h1-sw1')\n"
             "w.run_controls.stats.now.setText('7.6 Mb/s ▶ ◀ 196 kb/s · 76% used')")
    clear = ("(lambda rs, ns: not any(a.intersects(b) for i, a in enumerate(rs) "
             "for b in rs[i + 1:]) and not any(r.intersects(n) for r in rs for n in ns))("
             "[lk.label.sceneBoundingRect() for lk in w.scene.links.values()], "
             "[n.sceneBoundingRect() for n in w.scene.nodes.values()])")
    app.wait_until(clear)
    stats = "w.run_controls.stats"
    assert app.eval(f"{stats}.rect().contains({stats}.export.geometry()) and "
                    f"{stats}.export.width() >= {stats}.export.sizeHint().width() and "
                    f"{stats}.now.width() >= {stats}.now.sizeHint().width()")
    app.screenshot(tmp_path / "star-running-rates.png")


def test_nemu_gui_opens_a_window_on_a_bare_x_server(x_display, tmp_path: Path) -> None:
    """The installed `nemu-gui` (what `.ci/setup` makes), Qt choosing its platform itself
    as on a desktop: its window shows on the display; Ctrl+Q (real keys) closes it."""
    exe = Path(sys.executable).with_name("nemu-gui")
    assert exe.exists(), "bash .ci/setup installs nemu-gui into .venv/bin"
    env = {k: v for k, v in x_display.env.items() if k != "QT_QPA_PLATFORM"}
    env.update(NEMU_SESSIONS=str(tmp_path / "sessions"), HOME=str(tmp_path),
               XDG_CONFIG_HOME=str(tmp_path / "config"),
               XDG_DATA_HOME=str(tmp_path / "data"))
    with open(tmp_path / "nemu-gui.log", "wb") as log:
        proc = subprocess.Popen([str(exe), "--example", "two-hosts"], env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        found = x_display.xdotool("search", "--sync", "--onlyvisible", "--name",
                                  "two-hosts.*nemu", timeout=60).split()
        assert found, (tmp_path / "nemu-gui.log").read_text()
        x_display.focus(int(found[0]))
        x_display.key("ctrl+q")
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, 9)
            proc.wait()
