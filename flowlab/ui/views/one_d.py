"""The change-of-variables slide for 1-D flows: base density, the map and the model density."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from flowlab.training.views import Snapshot
from flowlab.ui.views.base import View


class OneDView(View):
    """The change-of-variables slide: base density, the map f, and the resulting density on one figure."""

    title = "Change of variables (1-D)"
    data_kinds = frozenset({"1d"})

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.dens = self.graphics.addPlot(row=0, col=0, title="densities")
        self.dens.addLegend()
        self.model = self.dens.plot(name="model p(x)", pen=pg.mkPen(230, 97, 1, width=2))
        self.true = self.dens.plot(name="target", pen=pg.mkPen(80, 80, 80, width=1, style=Qt.DashLine))
        self.base = self.dens.plot(name="p_Z(f(x))", pen=pg.mkPen(76, 120, 168, width=1))
        self.map_plot = self.graphics.addPlot(row=1, col=0, title="the map z = f(x)")
        self.map = self.map_plot.plot(pen=pg.mkPen(84, 162, 75, width=2))
        self.map_plot.setXLink(self.dens)

    def clear(self) -> None:
        for item in (self.model, self.base, self.true, self.map):
            item.setData([], [])

    def update_snapshot(self, snap: Snapshot) -> None:
        c = snap.curve_1d
        if c is None:
            return
        self.model.setData(c.x, c.model_density)
        self.base.setData(c.x, c.base_density_at_z)
        self.true.setData(c.x, c.true_density if c.true_density is not None else np.zeros(0))
        self.map.setData(c.x, c.z)
