"""Each layer's share of log p(x): one bar per layer in stack order, then log p_Z(z), then their sum."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from flowlab.training.views import LayerShares, Snapshot
from flowlab.ui.views.base import View
from flowlab.ui.views.readout import num

LAYER_COLOUR = (230, 97, 1)
BASE_COLOUR = (76, 120, 168)
TOTAL_COLOUR = (90, 90, 90)
GAP = 0.4  # between the parts and their sum


def signed(v: float) -> str:
    """A number with a true minus sign, as the title and the bars print it."""
    return f"{v:+.3f}".replace("-", "−").lstrip("+")


class SharesView(View):
    """mean log p(x) = mean log p_Z(z) + Σ_k mean log|det J_k|, as bars: one row per layer in stack order (top to
    bottom, as the layer list; named by kind), the base's row, then the sum. Rows run sideways so that every kind's
    name reads level; a negative share runs left of zero. Each bar carries its value. A volume-preserving layer
    (NICE's additive coupling) is a bar of length 0; ActNorm and LU add the same at every point."""

    title = "Each layer's share"
    data_kinds = frozenset({"1d", "2d", "nd"})

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = self.graphics.addPlot(title="")
        self.plot.invertY(True)  # the first layer on top, as in the stack
        self.plot.showGrid(x=True, alpha=0.15)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.bars = pg.BarGraphItem(x0=[], y=[], width=[], height=0.7)
        self.plot.addItem(self.bars)
        self.plot.addItem(pg.InfiniteLine(pos=0.0, angle=90, pen=pg.mkPen(60, 60, 60, width=1)))
        self.sum_line = pg.InfiniteLine(angle=0, pen=pg.mkPen(*TOTAL_COLOUR, width=1, style=Qt.DashLine))
        self.plot.addItem(self.sum_line)
        self.values: list[pg.TextItem] = []  # one label per bar, made when the number of bars changes
        self.shares: LayerShares | None = None
        self._describe()

    # -- the protocol -------------------------------------------------------------------------------------------
    def clear(self) -> None:
        self.shares = None
        self.bars.setOpts(x0=[], y=[], width=[], brushes=[])
        self._set_labels([])
        self.plot.getAxis("left").setTicks([[]])
        self._describe()

    def update_snapshot(self, snap: Snapshot) -> None:
        if snap.layer_shares is None:
            return
        self.shares = snap.layer_shares
        self._redraw()

    # -- drawing ------------------------------------------------------------------------------------------------
    def rows(self) -> list[tuple[str, float]]:
        """What the bars show, top to bottom: ``(label, value)`` for each layer, the base, and the sum."""
        s = self.shares
        if s is None:
            return []
        layers = [(f"{i + 1} · {kind}", float(v)) for i, (kind, v) in enumerate(zip(s.kinds, s.log_dets,
                                                                                  strict=True))]
        return [*layers, ("log p_Z(z)", s.base_log_prob), ("log p(x) = sum", s.log_prob)]

    def readout_at(self, plot: pg.PlotItem, x: float, y: float) -> str | None:
        """The row under the cursor: what it is and its value in full (the bar's label is rounded)."""
        rows = self.rows()
        if not rows:
            return None
        ys = _row_positions(len(rows))
        i = int(np.argmin(np.abs(ys - y)))
        if abs(ys[i] - y) > 0.5:
            return None
        label, value = rows[i]
        return f"{label}\n{num(value, 6)} nats"

    def _redraw(self) -> None:
        rows = self.rows()
        n = len(rows)
        ys = _row_positions(n)
        values = np.array([v for _, v in rows], dtype=float)
        shown = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
        colours = [LAYER_COLOUR] * (n - 2) + [BASE_COLOUR, TOTAL_COLOUR]
        self.bars.setOpts(x0=np.zeros(n), width=shown, y=ys, height=0.7,
                          brushes=[pg.mkBrush(*c, 170) for c in colours], pens=[pg.mkPen(*c) for c in colours])
        self.plot.getAxis("left").setTicks([[(float(y), label) for y, (label, _) in zip(ys, rows, strict=True)]])
        self._set_labels([(float(y), v) for y, v in zip(ys, values, strict=True)])
        self.sum_line.setPos(ys[-1] - 0.5 - GAP / 2)
        lo, hi = min(0.0, float(shown.min())), max(0.0, float(shown.max()))
        pad = 0.3 * max(hi - lo, 1e-3)  # room for the values beside the bars' ends
        self.plot.setXRange(lo - (pad if lo < 0 else 0.05 * pad), hi + pad, padding=0)
        self.plot.setYRange(-0.6, ys[-1] + 0.6, padding=0)
        self._describe()

    def _set_labels(self, at: list[tuple[float, float]]) -> None:
        """A value beside each bar's end (outside it): right of a positive bar, left of a negative one."""
        while len(self.values) > len(at):
            self.plot.removeItem(self.values.pop())
        while len(self.values) < len(at):
            label = pg.TextItem(color=(40, 40, 40))
            self.values.append(label)
            self.plot.addItem(label)
        for label, (y, v) in zip(self.values, at, strict=True):
            label.setText(signed(v) if np.isfinite(v) else "—")
            x = v if np.isfinite(v) else 0.0
            label.setAnchor((1.0, 0.5) if x < 0 else (0.0, 0.5))
            label.setPos(x, y)

    def _describe(self) -> None:
        """The sum in the title; over which points the means are taken under the axis."""
        s = self.shares
        if s is None:
            text, over = "each layer's mean log|det J|, beside log p_Z(z)<br><span style='font-size:8pt'> </span>", ""
        else:
            over = (f"means over {s.count} model samples (an energy: no data)" if s.source != "data"
                    else f"means over {s.count} data points")
            dets = float(np.sum(s.log_dets))
            text = (f"log p(x) = log p_Z(z) + Σ log|det J|<br><span style='font-size:8pt'>{signed(s.log_prob)} = "
                    f"{signed(s.base_log_prob)} {'−' if dets < 0 else '+'} {abs(dets):.3f}</span>")
        self.plot.setLabel("bottom", f"nats · {over}" if over else "nats")
        if text != self.plot.titleLabel.text:
            self.plot.setTitle(text)
            self.schedule_corner_check()

    def over(self) -> str:
        """Which points the means are taken over, as the axis says it."""
        return self.plot.getAxis("bottom").labelText

    def description(self) -> str:
        return self.plot.titleLabel.text


def _row_positions(n: int) -> np.ndarray:
    """Where the ``n`` bars sit, top down: one apart, the sum a little further."""
    ys = np.arange(n, dtype=float)
    ys[-1] += GAP
    return ys
