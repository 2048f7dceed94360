"""Data pushed through the flow (x → z) over the base density's 1σ/2σ/3σ contours."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from flowlab.training.views import Snapshot
from flowlab.ui.views.base import LATENT_BRUSH, View, plot, scatter, set_points
from flowlab.ui.views.readout import num, point_text


def _circle(r: float, n: int = 120) -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(0, 2 * np.pi, n)
    return r * np.cos(t), r * np.sin(t)


class LatentView(View):
    """Data pushed through the flow (x → z) over the base density's 1σ/2σ/3σ contours."""

    title = "Latent space"
    data_kinds = frozenset({"2d"})

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = plot(self.graphics, "data in latent space (z = f(x))")
        for r in (1, 2, 3):
            self.plot.plot(*_circle(r), pen=pg.mkPen(150, 150, 150, width=1, style=Qt.DashLine))
        self.points = scatter()
        self.points.setBrush(LATENT_BRUSH)
        self.plot.addItem(self.points)
        self.add_probe_mark(self.plot, "z")
        self.plot.setRange(xRange=(-4, 4), yRange=(-4, 4), padding=0)
        self.plot.disableAutoRange()

    def readout_at(self, plot: pg.PlotItem, x: float, y: float) -> str | None:
        """The latent point and its distance from the origin (in σ, as the rings are)."""
        return f"{point_text('z', x, y)}\n‖z‖ = {num(float(np.hypot(x, y)))}"

    def update_snapshot(self, snap: Snapshot) -> None:
        if snap.latent_of_data is not None:
            set_points(self.points, snap.latent_of_data)

    def clear(self) -> None:
        set_points(self.points, None)
