"""A comparison run's thumbnail: what it has learned, drawn small — the density on 2-D data, the model's density
curve on 1-D data, sample images on images, else samples' first two coordinates. Items made once, updated in
place; a snapshot without the field drawn leaves the picture as it was."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from flowlab.training.tiling import tile
from flowlab.training.views import Snapshot

SIZE = 200  # pixels, the thumbnail's side
MAX_POINTS = 1500


class Thumbnail(QWidget):
    """A run's name (in its colour) over a small picture of its model, and the step that picture shows."""

    def __init__(self, name: str, colour: tuple[int, int, int], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.colour = colour
        self.title = QLabel()
        self.set_name(name)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setFixedSize(SIZE, SIZE)
        self.graphics.setBackground("w")
        self.graphics.ci.setContentsMargins(2, 2, 2, 2)
        self.plot = self.graphics.addPlot()
        for axis in ("left", "bottom"):
            self.plot.hideAxis(axis)
        self.plot.setMouseEnabled(False, False)
        self.plot.hideButtons()
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(pg.colormap.get("viridis"))
        self.plot.addItem(self.image)
        self.line = pg.PlotDataItem(pen=pg.mkPen(colour, width=2))
        self.plot.addItem(self.line)
        self.points = pg.ScatterPlotItem(size=2, pen=None, brush=pg.mkBrush(*colour, 120), pxMode=True)
        self.plot.addItem(self.points)
        self.caption = QLabel("no model yet")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(2)
        for w in (self.title, self.graphics, self.caption):
            layout.addWidget(w)
        self.shown_step: int | None = None

    def set_name(self, name: str) -> None:
        r, g, b = self.colour
        self.title.setText(f"<b style='color: rgb({r},{g},{b})'>{name}</b>")

    def show_snapshot(self, snap: Snapshot) -> None:
        """Draw what ``snap`` carries for the thumbnail (see the module docstring)."""
        drawn = False
        if snap.density is not None:
            grid = snap.density
            dens = np.exp(np.nan_to_num(grid.log_density, nan=-np.inf, posinf=0.0)).astype(np.float32)
            x0, x1, y0, y1 = grid.bounds
            self.image.setImage(dens, levels=(0.0, float(dens.max()) or 1.0), rect=(x0, y0, x1 - x0, y1 - y0))
            self._only(self.image)
            drawn = True
        elif snap.image_samples is not None:
            pic = tile(snap.image_samples[:16], 4)[::-1]  # row 0 on top: the plot's y grows upwards
            self.image.setImage(pic, levels=(0.0, 1.0), rect=(0, 0, pic.shape[1], pic.shape[0]))
            self.image.setColorMap(pg.colormap.get("CET-L1"))  # grey: ink dark on white
            self._only(self.image)
            drawn = True
        elif snap.curve_1d is not None:
            c = snap.curve_1d
            self.line.setData(c.x, np.nan_to_num(c.model_density))
            self._only(self.line)
            drawn = True
        elif snap.model_samples is not None:
            pts = snap.model_samples.reshape(len(snap.model_samples), -1)[:MAX_POINTS]
            self.points.setData(pts[:, 0], pts[:, 1] if pts.shape[1] > 1 else np.zeros(len(pts)))
            self._only(self.points)
            drawn = True
        if drawn:
            self.plot.autoRange(padding=0.0)
            self.shown_step = snap.step

    def _only(self, item: pg.GraphicsObject) -> None:
        for other in (self.image, self.line, self.points):
            other.setVisible(other is item)

    def set_caption(self, text: str) -> None:
        self.caption.setText(text)
