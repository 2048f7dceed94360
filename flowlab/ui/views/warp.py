"""How the flow bends a regular grid, in both directions."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from flowlab.training.views import Snapshot
from flowlab.ui.views.base import View, plot
from flowlab.ui.views.readout import point_text


def _lines_xy(lines: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Many polylines as one curve with breaks (``connect`` array): one item, one setData per frame."""
    xs = np.concatenate([line[:, 0] for line in lines])
    ys = np.concatenate([line[:, 1] for line in lines])
    connect = np.ones(len(xs), dtype=bool)
    ends = np.cumsum([len(line) for line in lines]) - 1
    connect[ends] = False
    return xs, ys, connect


class WarpView(View):
    """How the flow bends a regular grid: data → latent (left) and latent → data (right)."""

    title = "Warped grid"
    data_kinds = frozenset({"2d"})

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.fwd_plot = plot(self.graphics, "data grid → latent", 0, 0)
        self.inv_plot = plot(self.graphics, "latent grid → data", 0, 1)
        self.fwd = pg.PlotDataItem(pen=pg.mkPen(76, 120, 168, width=1))
        self.inv = pg.PlotDataItem(pen=pg.mkPen(230, 97, 1, width=1))
        self.fwd_plot.addItem(self.fwd)
        self.inv_plot.addItem(self.inv)
        self.add_probe_mark(self.fwd_plot, "z", path=True)  # the probe's path through the layers, x → z
        self.add_probe_mark(self.inv_plot, "x", path=True)

    def readout_at(self, plot: pg.PlotItem, x: float, y: float) -> str | None:
        """The point, in the space its plot draws: latent on the left, data on the right."""
        return point_text("z" if plot is self.fwd_plot else "x", x, y)

    def clear(self) -> None:
        for item in (self.fwd, self.inv):
            item.setData([], [])

    def update_snapshot(self, snap: Snapshot) -> None:
        for item, warp in ((self.fwd, snap.warp_forward), (self.inv, snap.warp_inverse)):
            if warp is not None:
                xs, ys, connect = _lines_xy(warp.lines)
                item.setData(xs, ys, connect=connect)
