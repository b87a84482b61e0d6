"""The statistics dock: the selected link's rates over time (pyqtgraph), exportable as CSV.

It keeps a bounded history of every link's samples (10 minutes at 2 Hz), so switching links
shows their past at once; only the shown link's curves are redrawn, at the sample rate.
"""

from __future__ import annotations

import csv
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine import units
from engine.stats import LinkStats

HISTORY = 1200                     # samples kept per link (10 min at 2 Hz)
A_COLOUR, B_COLOUR = "#2d7ff9", "#e67e22"


@dataclass(frozen=True)
class Sample:
    t: float
    a_bps: float
    b_bps: float
    a_drops: float
    b_drops: float
    utilisation: float | None


class StatsDock(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.history: dict[str, deque[Sample]] = {}
        self.ends: dict[str, tuple[str, str]] = {}      # link -> (a node, b node)
        self.link: str | None = None
        self._t0: float | None = None
        self.title = QLabel("Select a link to plot its rates.")
        self.title.setObjectName("statsTitle")
        self.now = QLabel()
        self.export = QPushButton("Export CSV…")
        self.export.setEnabled(False)
        self.export.clicked.connect(self._export_clicked)
        top = QHBoxLayout()
        top.setContentsMargins(6, 2, 6, 2)
        top.addWidget(self.title)
        top.addStretch(1)
        top.addWidget(self.now)
        top.addWidget(self.export)
        pg.setConfigOptions(antialias=True)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMinimumHeight(120)
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setLabel("left", "rate", units="b/s")
        self.plot.setLabel("bottom", "time", units="s")
        self.plot.getAxis("left").enableAutoSIPrefix(True)
        self.legend = self.plot.addLegend(offset=(8, 8))
        self.curve_a = self.plot.plot([], [], pen=pg.mkPen(A_COLOUR, width=2), name="a → b")
        self.curve_b = self.plot.plot([], [], pen=pg.mkPen(B_COLOUR, width=2), name="b → a")
        self.drops = pg.ScatterPlotItem(size=7, brush=pg.mkBrush("#e74c3c"), pen=None)
        self.plot.addItem(self.drops)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addLayout(top)
        lay.addWidget(self.plot, 1)

    # ---- data ----------------------------------------------------------------------
    def add(self, st: LinkStats) -> None:
        if self._t0 is None:
            self._t0 = st.t
        h = self.history.setdefault(st.link, deque(maxlen=HISTORY))
        utils = [u for u in (st.a_to_b.utilisation, st.b_to_a.utilisation) if u is not None]
        h.append(Sample(st.t - self._t0, st.a_to_b.bps, st.b_to_a.bps,
                        sum(st.a_to_b.drops_per_s.values()), sum(st.b_to_a.drops_per_s.values()),
                        max(utils) if utils else None))
        if st.link == self.link:
            self._redraw()

    def set_ends(self, link: str, a: str, b: str) -> None:
        self.ends[link] = (a, b)

    def forget(self, link: str) -> None:
        self.history.pop(link, None)

    def clear(self) -> None:
        self.history.clear()
        self._t0 = None
        self._redraw()

    # ---- showing -------------------------------------------------------------------
    def show_link(self, name: str | None) -> None:
        self.link = name
        self._redraw()

    def _redraw(self) -> None:
        name = self.link
        samples = list(self.history.get(name or "", ()))
        self.export.setEnabled(bool(samples))
        if name is None:
            self.title.setText("Select a link to plot its rates.")
        else:
            a, b = self.ends.get(name, ("a", "b"))
            self.title.setText(f"<b>{name}</b>")
            self.curve_a.opts["name"] = f"{a} → {b}"
            self.curve_b.opts["name"] = f"{b} → {a}"
            self.legend.clear()
            self.legend.addItem(self.curve_a, f"{a} → {b}")
            self.legend.addItem(self.curve_b, f"{b} → {a}")
        ts = [s.t for s in samples]
        self.curve_a.setData(ts, [s.a_bps for s in samples])
        self.curve_b.setData(ts, [s.b_bps for s in samples])
        dropped = [s for s in samples if s.a_drops or s.b_drops]
        self.drops.setData([s.t for s in dropped], [max(s.a_bps, s.b_bps) for s in dropped])
        if samples:
            last = samples[-1]
            util = "" if last.utilisation is None else f" · {last.utilisation * 100:.0f}% used"
            self.now.setText(f"{units.format_rate(last.a_bps)} ▶ ◀ "
                             f"{units.format_rate(last.b_bps)}{util}")
        else:
            self.now.setText("no samples yet" if name else "")

    # ---- export --------------------------------------------------------------------
    def export_csv(self, path: Path, link: str | None = None) -> int:
        """Write the link's samples to `path`; returns how many rows."""
        name = link or self.link
        samples = list(self.history.get(name or "", ()))
        with path.open("w", newline="") as f:
            out = csv.writer(f)
            out.writerow(["time_s", "link", "a_to_b_bps", "b_to_a_bps", "a_to_b_drops_per_s",
                          "b_to_a_drops_per_s", "utilisation"])
            for s in samples:
                out.writerow([f"{s.t:.3f}", name, f"{s.a_bps:.0f}", f"{s.b_bps:.0f}",
                              f"{s.a_drops:.1f}", f"{s.b_drops:.1f}",
                              "" if s.utilisation is None else f"{s.utilisation:.4f}"])
        return len(samples)

    def ask_csv_path(self) -> Path | None:
        path, _ = QFileDialog.getSaveFileName(self, "Export statistics",
                                              f"{self.link or 'link'}-stats.csv",
                                              "CSV files (*.csv)")
        return Path(path) if path else None

    def _export_clicked(self) -> None:
        path = self.ask_csv_path()
        if path is not None:
            self.export_csv(path)
