"""A small heatmap of the selected layer's structure (its mask, fold, MADE connectivity or matrix), with the
caption the layer gives, for the layer panel. It draws what arrives in snapshots (``Snapshot.layer_detail``):
the UI thread never builds a layer to ask it."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from flowlab.flows.structure import Picture
from flowlab.training.layer_detail import LayerDetail
from flowlab.training.tiling import arrange

SIGNED = pg.colormap.get("CET-D1")  # diverging, centred at zero: a matrix's entries
PATTERN = pg.colormap.get("viridis")  # from 0 up: a 0/1 mask, channel numbers


def tile(values: np.ndarray) -> tuple[np.ndarray, int]:
    """A 2-D array as it is; ``(C, H, W)`` channels side by side on a near-square grid (row-major), and how
    many channels a row of the grid holds."""
    if values.ndim == 2:
        return values, 1
    across = math.ceil(math.sqrt(values.shape[0]))
    return arrange(values, across), across


class StructureView(QWidget):
    """The picture of one layer's structure, or a line of text where there is none."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        self.graphics.setMinimumSize(120, 100)
        self.plot = self.graphics.addPlot()
        self.plot.setAspectLocked(True)
        self.plot.invertY(True)  # row 0 at the top, as a matrix is written
        self.plot.setMouseEnabled(False, False)
        self.plot.hideButtons()
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.borders = pg.PlotCurveItem(pen=pg.mkPen(255, 255, 255, width=2), connect="pairs")
        self.plot.addItem(self.borders)
        self.colorbar = pg.ColorBarItem(values=(0, 1), colorMap=PATTERN, interactive=False, width=10)
        self.colorbar.setImageItem(self.image, insert_in=self.plot)
        self.caption = QLabel("")
        self.caption.setObjectName("structureCaption")
        self.caption.setWordWrap(True)
        box = QVBoxLayout(self)
        box.setContentsMargins(4, 0, 4, 4)
        box.addWidget(self.graphics, 1)
        box.addWidget(self.caption)
        self.picture: Picture | None = None
        self.setMaximumHeight(190)  # the parameters above keep most of a short dock
        self.show_text("")

    def show_text(self, text: str) -> None:
        """No picture: only ``text`` (empty: nothing at all)."""
        self.picture = None
        self.image.clear()
        self.graphics.hide()
        self.caption.setText(text)
        self.caption.setVisible(bool(text))

    def show_detail(self, detail: LayerDetail) -> None:
        """The layer's first picture, or a line saying it has none."""
        if not detail.pictures:
            self.show_text(f"{detail.kind} has no mask, fold or matrix to picture.")
            return
        self.show_picture(detail.pictures[0])

    def show_picture(self, picture: Picture) -> None:
        img, across = tile(picture.values)
        img = np.nan_to_num(img.astype(np.float32))
        if picture.signed:
            top = max(float(np.abs(img).max()), 1e-6)
            levels, cmap = (-top, top), SIGNED
        else:
            levels, cmap = (min(0.0, float(img.min())), max(1.0, float(img.max()))), PATTERN
        rows, cols = img.shape
        self.image.setImage(img, levels=levels, rect=(0, 0, cols, rows))
        self.colorbar.setColorMap(cmap)
        self.colorbar.setLevels(levels)
        self.colorbar.setVisible(picture.signed or levels[1] > 1.0)  # a 0/1 mask needs no scale
        self._tick_cells(img.shape, picture.values.ndim == 2)
        self._draw_borders(picture.values, across)
        self.plot.setTitle(picture.name)
        self.plot.setLabel("left", picture.rows)
        self.plot.setLabel("bottom", picture.cols or ("channels, side by side" if picture.values.ndim == 3 else ""))
        self.plot.setRange(xRange=(0, cols), yRange=(0, rows), padding=0.02)
        self.caption.setText(picture.caption)
        self.caption.show()
        self.graphics.show()
        self.picture = picture

    def _tick_cells(self, shape: tuple[int, int], numbered: bool) -> None:
        """A small matrix or mask: a tick at each cell's centre, numbered from 1 (as the captions count)."""
        for axis, n in (("left", shape[0]), ("bottom", shape[1])):
            if not numbered or n == 1:  # tiled channels, or a mask's single row: no numbers
                ticks = [[]]
            else:  # cell numbers, up to 16 of them; beyond, pyqtgraph's own spacing
                ticks = [[(i + 0.5, str(i + 1)) for i in range(n)]] if n <= 16 else None
            self.plot.getAxis(axis).setTicks(ticks)

    def _draw_borders(self, values: np.ndarray, across: int) -> None:
        """White lines between the channels of an image-shaped pattern."""
        if values.ndim != 3 or values.shape[0] == 1:
            self.borders.setData([], [])
            return
        c, h, w = values.shape
        down = math.ceil(c / across)
        xs: list[float] = []
        ys: list[float] = []
        for q in range(1, across):
            xs += [q * w, q * w]
            ys += [0, down * h]
        for r in range(1, down):
            xs += [0, across * w]
            ys += [r * h, r * h]
        self.borders.setData(xs, ys)

    def current_image(self) -> np.ndarray | None:
        """The array drawn (tiled), or None when only text shows."""
        return None if self.picture is None or self.image.image is None else np.asarray(self.image.image)
