"""The statistics dock: the selected links' rates over time (pyqtgraph), exportable as CSV.

It keeps a bounded history of every link's samples (10 minutes at 2 Hz), so selecting other
links shows their past at once. Each plotted link has its own two curves (one per direction),
drop markers and a numpy copy of its window (`RateSeries`); a sample redraws only its own
link's curves from views of that copy. The work per update is one append per link of the lab
and one cheap redraw per plotted link (at most MAX_PLOTTED).
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from engine import units
from engine.stats import LinkStats
from nemu_gui.stats_series import RateSeries

HISTORY = 1200                     # samples kept per link (10 min at 2 Hz)
MAX_PLOTTED = 10                   # links plotted at once: 20 curves is what a legend can name
A_COLOUR, B_COLOUR = "#2d7ff9", "#e67e22"
# one colour per curve (link 1 a→b, link 1 b→a, link 2 a→b, ...): a single link keeps blue and
# orange; strong colours first, their lighter kin after, all readable on white
PALETTE = (A_COLOUR, B_COLOUR, "#27ae60", "#c0392b", "#8e44ad", "#8d6e63", "#e84393",
           "#2c3e50", "#b7950b", "#16a085", "#5dade2", "#f5b041", "#82e0aa", "#f1948a",
           "#bb8fce", "#a1887f", "#fd79a8", "#7f8c8d", "#d4ac0d", "#48c9b0")
DROP_COLOUR = "#e74c3c"
SINGLE_LINK_HEADER = ["time_s", "link", "a_to_b_bps", "b_to_a_bps", "a_to_b_drops_per_s",
                      "b_to_a_drops_per_s", "utilisation"]


@dataclass(frozen=True)
class Sample:
    t: float
    a_bps: float
    b_bps: float
    a_drops: float
    b_drops: float
    utilisation: float | None


@dataclass
class Plotted:
    """What one plotted link puts on the plot, and the samples it draws from."""

    a: pg.PlotDataItem
    b: pg.PlotDataItem
    drops: pg.ScatterPlotItem
    series: RateSeries


class StatsDock(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.history: dict[str, deque[Sample]] = {}
        self.ends: dict[str, tuple[str, str]] = {}      # link -> (a node, b node)
        self.links: list[str] = []                      # plotted, in legend order
        self.wanted = 0                                 # links asked for (more are not shown)
        self.curves: dict[str, Plotted] = {}
        self._shown: list[tuple[str, tuple[str, str] | None]] = []   # links and their ends
        self._t0: float | None = None
        self.title = QLabel("Select links to plot their rates.")
        self.title.setObjectName("statsTitle")
        self.now = QLabel()
        self.export = QPushButton("Export CSV…")
        self.export.setEnabled(False)
        self.export.clicked.connect(self._export_clicked)
        # the title gives way (elided by its width, whole in its tooltip) so the rates and
        # the button always show in full
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.title.setMinimumWidth(60)
        self.now.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Preferred)
        self.export.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        top = QHBoxLayout()
        top.setContentsMargins(6, 4, 6, 4)
        top.setSpacing(10)
        top.addWidget(self.title, 1)
        top.addWidget(self.now)
        top.addWidget(self.export)
        pg.setConfigOptions(antialias=True)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMinimumHeight(120)
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setLabel("left", "rate", units="b/s")
        self.plot.setLabel("bottom", "time", units="s")
        self.plot.getAxis("left").enableAutoSIPrefix(True)
        self.legend = self.plot.addLegend(offset=(8, 8), labelTextColor="#34495e",
                                          brush=pg.mkBrush(255, 255, 255, 210))
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addLayout(top)
        lay.addWidget(self.plot, 1)

    @property
    def link(self) -> str | None:
        """The first plotted link (the only one when a single link is shown)."""
        return self.links[0] if self.links else None

    # ---- data ----------------------------------------------------------------------
    def add(self, st: LinkStats) -> None:
        """One link's sample (2 Hz per link): kept for every link, drawn only if plotted."""
        if self._t0 is None:
            self._t0 = st.t
        h = self.history.get(st.link)
        if h is None:
            h = self.history[st.link] = deque(maxlen=HISTORY)
        utils = [u for u in (st.a_to_b.utilisation, st.b_to_a.utilisation) if u is not None]
        s = Sample(st.t - self._t0, st.a_to_b.bps, st.b_to_a.bps,
                   sum(st.a_to_b.drops_per_s.values()), sum(st.b_to_a.drops_per_s.values()),
                   max(utils) if utils else None)
        h.append(s)
        plotted = self.curves.get(st.link)
        if plotted is not None:
            plotted.series.append(s.t, s.a_bps, s.b_bps, bool(s.a_drops or s.b_drops))
            self._draw_link(st.link)
            self.export.setEnabled(True)
            if len(self.links) == 1:
                self._update_now()

    def set_ends(self, link: str, a: str, b: str) -> None:
        self.ends[link] = (a, b)

    def forget(self, link: str) -> None:
        self.history.pop(link, None)

    def clear(self) -> None:
        self.history.clear()
        self._t0 = None
        for name, plotted in self.curves.items():
            plotted.series = RateSeries(HISTORY)
            self._draw_link(name)
        self._update_status()

    # ---- showing -------------------------------------------------------------------
    def show_link(self, name: str | None) -> None:
        self.show_links([] if name is None else [name])

    def show_links(self, names: Iterable[str]) -> None:
        """Plot these links (the first MAX_PLOTTED), each direction its own colour."""
        names = list(dict.fromkeys(names))
        self.wanted = len(names)
        names = names[:MAX_PLOTTED]
        shown = [(n, self.ends.get(n)) for n in names]
        if shown == self._shown:                  # a selection change that plots the same
            self._update_status()
            return
        self._shown = shown
        for item in self.curves.values():
            for part in (item.a, item.b, item.drops):
                self.plot.removeItem(part)
        self.legend.clear()
        self.curves.clear()
        self.links = names
        single = len(names) == 1
        self.legend.setColumnCount(1 if len(names) < 3 else 2)     # a link per row
        for i, name in enumerate(names):
            a, b = self.ends.get(name, ("a", "b"))
            prefix = "" if single else f"{name}: "
            fwd = pg.mkPen(PALETTE[(2 * i) % len(PALETTE)], width=2)
            back = pg.mkPen(PALETTE[(2 * i + 1) % len(PALETTE)], width=2)
            item = Plotted(self.plot.plot([], [], pen=fwd, name=f"{prefix}{a} → {b}"),
                           self.plot.plot([], [], pen=back, name=f"{prefix}{b} → {a}"),
                           pg.ScatterPlotItem(size=7, brush=pg.mkBrush(DROP_COLOUR), pen=None),
                           self._series_of(name))
            self.plot.addItem(item.drops)
            self.curves[name] = item
            self._draw_link(name)
        self._update_status()

    def _series_of(self, name: str) -> RateSeries:
        series = RateSeries(HISTORY)
        for s in self.history.get(name, ()):
            series.append(s.t, s.a_bps, s.b_bps, bool(s.a_drops or s.b_drops))
        return series

    def _draw_link(self, name: str) -> None:
        item = self.curves[name]
        t, a, b = item.series.columns()
        item.a.setData(t, a, skipFiniteCheck=True)
        item.b.setData(t, b, skipFiniteCheck=True)
        item.drops.setData(*item.series.drops())

    def _update_status(self) -> None:
        names = self.links
        self.export.setEnabled(any(self.history.get(n) for n in names))
        if not names:
            self.title.setText("Select links to plot their rates.")
        elif len(names) == 1 or len(", ".join(names)) <= 60:
            self.title.setText(", ".join(f"<b>{escape(n)}</b>" for n in names))
        else:
            self.title.setText(f"<b>{len(names)} links</b>")
        if self.wanted > len(names):
            self.title.setText(f"{self.title.text()} · the first {len(names)} of "
                               f"{self.wanted} selected")
        self.title.setToolTip(", ".join(names))
        self._update_now()

    def _update_now(self) -> None:
        """The latest rates, for a single plotted link (several have only their curves)."""
        if len(self.links) != 1:
            self.now.setText("")
            return
        samples = self.history.get(self.links[0])
        if samples:
            last = samples[-1]
            util = "" if last.utilisation is None else f" · {last.utilisation * 100:.0f}% used"
            self.now.setText(f"{units.format_rate(last.a_bps)} ▶ ◀ "
                             f"{units.format_rate(last.b_bps)}{util}")
        else:
            self.now.setText("no samples yet")

    # ---- export --------------------------------------------------------------------
    def export_csv(self, path: Path, link: str | None = None) -> int:
        """Write `link`'s samples, else the plotted links', to `path`; returns how many rows.

        One link: a row per sample with its drops and utilisation (SINGLE_LINK_HEADER).
        Several: a row per sample time and a column per link and direction, headed
        `LINK SRC->DST bps`, empty where a link has no sample at that time."""
        names = [link] if link else self.links
        if len(names) <= 1:
            return self._export_one(path, names[0] if names else None)
        columns: list[str] = ["time_s"]
        by_time: dict[float, list[str]] = {}
        for i, name in enumerate(names):
            a, b = self.ends.get(name, ("a", "b"))
            columns += [f"{name} {a}->{b} bps", f"{name} {b}->{a} bps"]
            for s in self.history.get(name, ()):
                row = by_time.setdefault(s.t, [""] * (2 * len(names)))
                row[2 * i:2 * i + 2] = [f"{s.a_bps:.0f}", f"{s.b_bps:.0f}"]
        with path.open("w", newline="") as f:
            out = csv.writer(f)
            out.writerow(columns)
            for t in sorted(by_time):
                out.writerow([f"{t:.3f}", *by_time[t]])
        return len(by_time)

    def _export_one(self, path: Path, name: str | None) -> int:
        samples = list(self.history.get(name or "", ()))
        with path.open("w", newline="") as f:
            out = csv.writer(f)
            out.writerow(SINGLE_LINK_HEADER)
            for s in samples:
                out.writerow([f"{s.t:.3f}", name, f"{s.a_bps:.0f}", f"{s.b_bps:.0f}",
                              f"{s.a_drops:.1f}", f"{s.b_drops:.1f}",
                              "" if s.utilisation is None else f"{s.utilisation:.4f}"])
        return len(samples)

    def ask_csv_path(self) -> Path | None:
        stem = self.link if len(self.links) == 1 else "links"
        path, _ = QFileDialog.getSaveFileName(self, "Export statistics",
                                              f"{stem or 'link'}-stats.csv",
                                              "CSV files (*.csv)")
        return Path(path) if path else None

    def _export_clicked(self) -> None:
        path = self.ask_csv_path()
        if path is not None:
            self.export_csv(path)
