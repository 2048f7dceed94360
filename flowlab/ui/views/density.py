"""The learned density as a heatmap (linear or log), with a colour bar and optional contours."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QWidget

from flowlab.training.views import Snapshot
from flowlab.ui.views.base import LOG_SPAN, View, plot
from flowlab.ui.views.readout import num, pixel_at, point_text


class DensityView(View):
    """The learned density as a heatmap (linear or log), with a colour bar and optional contours."""

    title = "Density"
    data_kinds = frozenset({"2d"})

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = plot(self.graphics, "model density")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.add_probe_mark(self.plot, "x")
        self.colorbar = pg.ColorBarItem(values=(0, 1), colorMap=pg.colormap.get("viridis"), interactive=False)
        self.colorbar.setImageItem(self.image, insert_in=self.plot)
        self.contours = [pg.IsocurveItem(level=0.0, pen=pg.mkPen(255, 255, 255, 150, width=1)) for _ in range(4)]
        for c in self.contours:
            c.setParentItem(self.image)
            c.setVisible(False)
        controls = QHBoxLayout()
        self.log_box = QCheckBox("log scale")
        self.contour_box = QCheckBox("contours")
        controls.addWidget(self.log_box)
        controls.addWidget(self.contour_box)
        controls.addStretch(1)
        self.box.addLayout(controls)
        self.log_box.toggled.connect(lambda _: self._redraw())
        self.contour_box.toggled.connect(lambda _: self._redraw())
        self._last: Snapshot | None = None

    def update_snapshot(self, snap: Snapshot) -> None:
        if snap.density is None:
            return
        self._last = snap
        self._redraw()

    def clear(self) -> None:
        """No model, no density: an empty plot, not the last model's heatmap."""
        self._last = None
        self.image.clear()
        for c in self.contours:
            c.setVisible(False)

    def current_image(self) -> np.ndarray | None:
        return None if self.image.image is None else np.asarray(self.image.image)

    def readout_at(self, plot: pg.PlotItem, x: float, y: float) -> str | None:
        """The point, p(x) and log p(x) of the grid pixel under it (the values drawn, before any clipping)."""
        g = self._last.density if self._last is not None else None
        at = None if g is None else pixel_at(g.bounds, g.log_density.shape, x, y)
        if at is None:
            return None
        logp = float(g.log_density[at])
        return f"{point_text('x', x, y)}\np(x) = {num(math.exp(min(logp, 700.0)))}\nlog p(x) = {num(logp)}"

    def _redraw(self) -> None:
        snap = self._last
        if snap is None or snap.density is None:
            return
        g = snap.density
        logp = np.nan_to_num(g.log_density.astype(np.float32), nan=-np.inf)
        top = float(np.max(logp[np.isfinite(logp)])) if np.isfinite(logp).any() else 0.0
        if self.log_box.isChecked():
            img = np.clip(logp, top - LOG_SPAN, top).astype(np.float32)
            levels = (top - LOG_SPAN, top)
        else:
            img = np.exp(np.clip(logp, top - 30.0, top)).astype(np.float32)
            levels = (0.0, float(math.exp(top)))
        xmin, xmax, ymin, ymax = g.bounds
        self.image.setImage(img, levels=levels, rect=(xmin, ymin, xmax - xmin, ymax - ymin))
        self.colorbar.setLevels(levels)
        show = self.contour_box.isChecked()
        for i, c in enumerate(self.contours):
            c.setVisible(show)
            if show:
                c.setData(img)
                c.setLevel(levels[0] + (levels[1] - levels[0]) * (i + 1) / (len(self.contours) + 1))
