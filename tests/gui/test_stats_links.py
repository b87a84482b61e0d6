"""The statistics dock plots every selected link: stats arrive as the session's StatsUpdate
events through the real bridge (no QEMU); the canvas selection decides what is plotted."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from PySide6.QtCore import QPointF

from engine import examples
from engine.model import Endpoint, Interface, Link, Node, NodeKind, Topology
from engine.session.events import StatsUpdate
from engine.stats import DirectionRate, LinkStats
from nemu_gui import stats_dock
from nemu_gui.main_window import MainWindow
from nemu_gui.stats_dock import MAX_PLOTTED, SINGLE_LINK_HEADER, StatsDock
from nemu_gui.stats_series import RateSeries

from .conftest import drag

STAR_LINKS = ["r1-nat", "r1-sw1", "h1-sw1", "h2-sw1", "h3-sw1"]


def rate(link: str, end: str, tick: int) -> float:
    """A distinct, checkable rate for every link, direction and tick."""
    return 1000.0 * (STAR_LINKS.index(link) + 1) * (2 if end == "b" else 1) + tick \
        if link in STAR_LINKS else 7.0 + tick


def feed(qtbot, w: MainWindow, links: list[str], ticks: range, dropping: str = "") -> None:
    """Deliver StatsUpdates the way the session does: from its subscriber callback, posted to
    the Qt thread by the bridge."""
    stats = w.run_controls.stats
    for tick in ticks:
        update = StatsUpdate(tuple(
            LinkStats(name, 100.0 + tick / 2,
                      DirectionRate(bps=rate(name, "a", tick),
                                    drops_per_s={"queue": 3.0} if name == dropping else {}),
                      DirectionRate(bps=rate(name, "b", tick), utilisation=0.25))
            for name in links))
        w.bridge._on_session_event(update)
    last = ticks[-1] if ticks else None
    qtbot.waitUntil(lambda: last is None or all(
        stats.history.get(n) and stats.history[n][-1].t == last / 2 for n in links),
        timeout=5000)


@pytest.fixture
def star(window: MainWindow) -> MainWindow:
    window.document.replace(examples.build("star"), None)
    return window


def legend_names(stats: StatsDock) -> list[str]:
    return [label.text for _sample, label in stats.legend.items]


def test_every_selected_link_is_plotted_in_its_own_colours(qtbot, star: MainWindow) -> None:
    w = star
    stats = w.run_controls.stats
    feed(qtbot, w, STAR_LINKS, range(4))
    w.scene.select(links=["h1-sw1", "h3-sw1", "r1-nat"])
    assert stats.links == ["h1-sw1", "h3-sw1", "r1-nat"]
    assert legend_names(stats) == ["h1-sw1: h1 → sw1", "h1-sw1: sw1 → h1",
                                   "h3-sw1: h3 → sw1", "h3-sw1: sw1 → h3",
                                   "r1-nat: r1 → nat", "r1-nat: nat → r1"]
    pens = [c.opts["pen"].color().name() for p in stats.curves.values() for c in (p.a, p.b)]
    assert len(set(pens)) == 6
    assert "<b>h1-sw1</b>" in stats.title.text() and "<b>r1-nat</b>" in stats.title.text()
    # the curves carry what the events said, past samples included
    for name in stats.links:
        t, a = stats.curves[name].a.getData()
        _, b = stats.curves[name].b.getData()
        assert list(t) == [0.0, 0.5, 1.0, 1.5]
        assert list(a) == [rate(name, "a", i) for i in range(4)]
        assert list(b) == [rate(name, "b", i) for i in range(4)]
    feed(qtbot, w, STAR_LINKS, range(4, 6), dropping="h3-sw1")
    assert len(stats.curves["h1-sw1"].a.getData()[0]) == 6
    assert stats.curves["h3-sw1"].drops.data["x"].tolist() == [2.0, 2.5]
    assert len(stats.curves["h1-sw1"].drops.data) == 0
    assert stats.now.text() == "" and stats.export.isEnabled()


def test_the_plot_follows_the_canvas_selection(qtbot, star: MainWindow) -> None:
    w = star
    stats = w.run_controls.stats
    feed(qtbot, w, STAR_LINKS, range(2))
    drag(w.view, QPointF(-200, 40), QPointF(200, 100))       # rubber band across h1..h3's links
    assert w.scene.selected_links() == ["h1-sw1", "h2-sw1", "h3-sw1"]
    assert stats.links == ["h1-sw1", "h2-sw1", "h3-sw1"]
    w.scene.select(["h1", "h2"])                              # nodes only: the plot stays
    assert stats.links == ["h1-sw1", "h2-sw1", "h3-sw1"]
    w.scene.select(links=["r1-sw1"])                          # one link: as it always was
    assert stats.links == ["r1-sw1"] and stats.link == "r1-sw1"
    assert legend_names(stats) == ["r1 → sw1", "sw1 → r1"]
    pens = [stats.curves["r1-sw1"].a.opts["pen"].color().name(),
            stats.curves["r1-sw1"].b.opts["pen"].color().name()]
    assert pens == [stats_dock.A_COLOUR, stats_dock.B_COLOUR]
    assert stats.now.text() == "2 kb/s ▶ ◀ 4 kb/s · 25% used"
    assert len(stats.plot.getPlotItem().listDataItems()) == 3    # 2 curves, drops: old gone


def test_link_menu_plot_shows_one_link(qtbot, star: MainWindow) -> None:
    w = star
    w.scene.select(links=STAR_LINKS)
    act = next(a for a in w.run_controls.menus.link_menu("h2-sw1").actions()
               if a.text() == "Plot")
    act.trigger()
    stats = w.run_controls.stats
    assert stats.links == ["h2-sw1"] and w.run_controls.docks["Statistics"].isVisible()
    assert stats.now.text() == "no samples yet" and not stats.export.isEnabled()


def test_csv_has_a_column_per_link_and_direction(qtbot, star: MainWindow,
                                                 tmp_path: Path) -> None:
    w = star
    stats = w.run_controls.stats
    feed(qtbot, w, STAR_LINKS, range(3))
    w.scene.select(links=["h2-sw1", "r1-sw1"])
    rows = stats.export_csv(tmp_path / "two.csv")
    table = list(csv.reader((tmp_path / "two.csv").open()))
    assert rows == 3 and len(table) == 4
    assert table[0] == ["time_s", "h2-sw1 h2->sw1 bps", "h2-sw1 sw1->h2 bps",
                        "r1-sw1 r1->sw1 bps", "r1-sw1 sw1->r1 bps"]
    assert table[1] == ["0.000", "4000", "8000", "2000", "4000"]
    assert table[3] == ["1.000", "4002", "8002", "2002", "4002"]
    # a link plotted before it had samples gets empty cells at the earlier times
    feed(qtbot, w, ["h2-sw1"], range(3, 4))
    stats.export_csv(tmp_path / "gap.csv")
    table = list(csv.reader((tmp_path / "gap.csv").open()))
    assert table[-1] == ["1.500", "4003", "8003", "", ""]
    # one link: the format it always had (drops and utilisation included)
    w.scene.select(links=["h2-sw1"])
    assert stats.export_csv(tmp_path / "one.csv") == 4
    table = list(csv.reader((tmp_path / "one.csv").open()))
    assert table[0] == SINGLE_LINK_HEADER
    assert table[1] == ["0.000", "h2-sw1", "4000", "8000", "0.0", "0.0", "0.2500"]


def big_lab(hosts: int) -> Topology:
    """A switch with many hosts, built directly (Topology.connect looks for free ports)."""
    t = Topology(name="big")
    t.add_node(Node("sw", NodeKind.SWITCH, [Interface(f"p{i}") for i in range(hosts)]))
    for i in range(hosts):
        t.add_node(Node(f"h{i:03}", NodeKind.HOST, [Interface("eth0")], pos=(40.0 * i, 200.0)))
        t.add_link(Link(f"h{i:03}-sw", Endpoint(f"h{i:03}", "eth0"), Endpoint("sw", f"p{i}")))
    return t


def test_many_links_cost_only_the_plotted_ones(qtbot, window: MainWindow,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stats_dock, "HISTORY", 8)
    w = window
    w.document.replace(big_lab(300), None)
    stats = w.run_controls.stats
    names = [lk.name for lk in w.controller.topology.links]
    w.scene.select(links=names[:MAX_PLOTTED + 2])
    assert len(stats.links) == MAX_PLOTTED and len(stats.curves) == MAX_PLOTTED
    assert f"the first {MAX_PLOTTED} of {MAX_PLOTTED + 2} selected" in stats.title.text()
    assert len(stats.legend.items) == 2 * MAX_PLOTTED
    drawn: list[str] = []
    real = stats._draw_link

    def counting(name: str) -> None:
        drawn.append(name)
        real(name)

    monkeypatch.setattr(stats, "_draw_link", counting)
    feed(qtbot, w, names, range(3))
    assert sorted(drawn) == sorted(stats.links * 3)            # 300 links, 10 drawn
    feed(qtbot, w, names, range(3, 20))
    assert all(len(h) == 8 for h in stats.history.values())    # bounded history
    assert len(stats.curves[names[0]].a.getData()[0]) == 8


def test_rate_series_keeps_the_last_window_across_compactions() -> None:
    s = RateSeries(4)
    for i in range(11):                      # compacts at the 8th and the 12th column
        s.append(float(i), 10.0 * i, 20.0 * i, dropping=i in (2, 6, 9))
        t, a, b = s.columns()
        assert list(t) == [float(j) for j in range(max(0, i - 3), i + 1)]
        assert list(a) == [10.0 * j for j in range(max(0, i - 3), i + 1)]
        assert list(b) == [20.0 * j for j in range(max(0, i - 3), i + 1)]
    assert len(s) == 4
    assert s.drops() == ([9.0], [180.0])     # 2 and 6 left the window
