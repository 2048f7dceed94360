"""Image models: samples at a temperature, reconstructions and a latent interpolation, each filling its cell."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QSlider, QSpinBox, QWidget

from flowlab.training.messages import Command, SetViewOptions
from flowlab.training.tiling import tile
from flowlab.training.views import Snapshot
from flowlab.ui.views.base import View
from flowlab.ui.views.readout import num

SAMPLE_COLUMNS = 8
UNBOUNDED = 16777215  # Qt's QWIDGETSIZE_MAX
IMAGE_TITLE_HEIGHT = 20  # the pictures' titles: one compact line each, the height goes to the pictures
_PICTURES = (("samples", "samples", "samples from the model at temperature T"),
             ("recon", "reconstructions", "top row: test images; bottom row: the same images taken to the latent "
                                          "space and back (x → z → x), to show the flow is invertible"),
             ("interp", "latent interpolation", "decoded points on the path between the latents of two test images "
                                                "(chosen below)"))
_DEFAULT_SHAPES = {"samples": (73, 73), "recon": (19, 73), "interp": (10, 73)}  # 8×8 digits, until the first frame


def _picture(images: np.ndarray, columns: int) -> np.ndarray:
    """The tiled images as an ``ImageItem`` draws them (its row 0 at the bottom)."""
    return tile(images, columns)[::-1]


class ImageSamplesView(View):
    """Images: samples at a temperature (Glow's reduced-temperature sampling), reconstructions (test images →
    latent → back, to show invertibility), and a latent interpolation between two chosen images.

    Each picture fills its cell (square pixels, no padding, just under its title), at every size of the dock.
    The cells follow the dock's shape: one column, or the samples on the left and the two strips stacked on the
    right, whichever draws the pictures larger at one scale for all three (the grid's strips may then grow into
    the width the samples leave)."""

    title = "Image samples"
    data_kinds = frozenset({"image"})
    exports_samples = True

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.items: dict[str, pg.ImageItem] = {}
        self.plots: dict[str, pg.PlotItem] = {}
        for row, (key, title, tip) in enumerate(_PICTURES):
            plot = self.graphics.addPlot(row=row, col=0)
            plot.setToolTip(tip)
            plot.setTitle(title, size="9pt")
            plot.titleLabel.item.document().setDocumentMargin(1)
            plot.titleLabel.setText(title, size="9pt")  # measured again with the smaller margin
            plot.titleLabel.setMaximumHeight(IMAGE_TITLE_HEIGHT)
            plot.layout.setRowFixedHeight(0, IMAGE_TITLE_HEIGHT)
            plot.hideAxis("left")
            plot.hideAxis("bottom")
            plot.hideButtons()
            plot.setMouseEnabled(x=False, y=False)  # a picture, always whole: nothing to pan or zoom
            plot.setMenuEnabled(False)  # nor a "View All" with padding (the export button saves the view)
            plot.vb.disableAutoRange()  # framed by ``frame``: square pixels, no padding, top-aligned
            plot.setMinimumSize(24, IMAGE_TITLE_HEIGHT + 8)
            item = pg.ImageItem(axisOrder="row-major")
            plot.addItem(item)
            plot.vb.sigResized.connect(lambda _vb, key=key: self.frame(key))
            self.items[key] = item
            self.plots[key] = plot
        self.drawn: dict[str, tuple[np.ndarray, int]] = {}  # key → (images, columns) as tiled into its picture
        self.arrangement = ""
        self._arranging = False
        self._place("column")  # or "grid": the samples on the left, the two strips stacked on the right
        self.graphics.ci.geometryChanged.connect(self.arrange)
        controls = QHBoxLayout()  # two rows: sampling, then interpolation (a narrow dock fits)
        interpolation = QHBoxLayout()
        self.temperature = QSlider(Qt.Horizontal)
        self.temperature.setObjectName("temperature")
        self.temperature.setRange(0, 150)
        self.temperature.setValue(100)
        self.temperature.setMinimumWidth(60)
        self.temperature.setToolTip("sampling temperature: z ~ N(0, T²), below 1 for cleaner samples (Glow)")
        self.temperature_label = QLabel("T = 1.00")
        self.spherical = QCheckBox("spherical")
        self.spherical.setToolTip("interpolate along a great circle instead of a straight line")
        self.pair = (QSpinBox(), QSpinBox())
        for i, box in enumerate(self.pair):
            box.setRange(0, 999)
            box.setValue(i)
            box.setToolTip("which test image the interpolation starts (first) or ends (second) at")
            box.valueChanged.connect(lambda _: self._emit())
        controls.addWidget(self.temperature, 1)
        controls.addWidget(self.temperature_label)
        interpolation.addWidget(QLabel("interpolate"))
        interpolation.addWidget(self.pair[0])
        interpolation.addWidget(QLabel("→"))
        interpolation.addWidget(self.pair[1])
        interpolation.addWidget(self.spherical)
        interpolation.addStretch(1)
        self.box.addLayout(controls)
        self.box.addLayout(interpolation)
        self.temperature.valueChanged.connect(lambda _: self._emit())
        self.spherical.toggled.connect(lambda _: self._emit())

    # -- layout -------------------------------------------------------------------------------------------------
    def _keep_corner_free(self) -> None:
        margin = self.corner_margin
        super()._keep_corner_free()
        if self.corner_margin != margin:  # the room changed without the layout's geometry changing
            self.arrange()

    def _shapes(self) -> dict[str, tuple[int, int]]:
        """(height, width) in image pixels of each picture as drawn (the defaults before the first frame)."""
        return {key: (tuple(item.image.shape[:2]) if item.image is not None else _DEFAULT_SHAPES[key])
                for key, item in self.items.items()}

    def frame(self, key: str) -> None:
        """Fit the picture to its view box exactly: square pixels, as large as the box allows, centred across and
        at the top (just under its title), no padding."""
        vb = self.plots[key].vb
        h, w = self._shapes()[key]
        vw, vh = vb.width(), vb.height()
        if vw <= 0 or vh <= 0:
            return
        scale = min(vw / w, vh / h)  # screen pixels per image pixel
        x0 = (w - vw / scale) / 2.0
        vb.setRange(xRange=(x0, x0 + vw / scale), yRange=(h - vh / scale, h), padding=0.0, update=True)

    def arrange(self) -> None:
        """Size the three cells for the room there is: choose the column or the grid (whichever draws the
        pictures larger), then give each cell its picture's height at that scale; the last cell takes what is
        left over, so no gap opens between a title and its picture."""
        if self._arranging:
            return
        ci = self.graphics.ci
        layout = ci.layout
        left, top, right, bottom = layout.getContentsMargins()
        width = ci.geometry().width() - left - right
        height = ci.geometry().height() - top - bottom
        if width <= 0 or height <= 0:
            return
        hs, vs = max(0.0, layout.horizontalSpacing()), max(0.0, layout.verticalSpacing())
        t = IMAGE_TITLE_HEIGHT + 2  # the title and the plot's 1-pixel margins
        scales = {a: self._scale(a, width, height, hs, vs, t) for a in ("column", "grid")}
        best = max(scales, key=scales.get)
        if best != self.arrangement and scales[best] < 1.04 * scales[self.arrangement]:
            best = self.arrangement  # no flapping between two nearly equal layouts
        self._arranging = True
        try:
            if best != self.arrangement:
                self._place(best)
            for key, (w, h) in self._cell_sizes(best, width, height, hs, vs, t).items():
                self.plots[key].setPreferredSize(w, h)
                # Only the last cell takes spare height (the samples span it in the grid): no gap under a picture.
                self.plots[key].setMaximumHeight(UNBOUNDED if key == "interp" or (key, best) == ("samples", "grid")
                                                 else h)
            layout.activate()
        finally:
            self._arranging = False
        for key in self.plots:
            self.frame(key)

    def _scale(self, arrangement: str, width: float, height: float, hs: float, vs: float, t: float) -> float:
        """Screen pixels per image pixel that the arrangement allows, one scale for all three pictures."""
        shapes = self._shapes()
        (h0, w0), (h1, w1), (h2, w2) = (shapes[k] for k, _, _ in _PICTURES)
        if arrangement == "column":
            return min((width - 2) / max(w0, w1, w2), (height - 3 * t - 2 * vs) / (h0 + h1 + h2))
        titles = max(self.plots[k].titleLabel.minimumWidth() for k in ("recon", "interp"))  # the strips' column
        return min((width - 4 - hs) / (w0 + max(w1, w2)), (width - hs - titles - 4) / w0, (height - t) / h0,
                   (height - 2 * t - vs) / (h1 + h2))

    def _cell_sizes(self, arrangement: str, width: float, height: float, hs: float, vs: float,
                    t: float) -> dict[str, tuple[float, float]]:
        """Each cell's preferred (width, height): its picture at the common scale plus its title. In the grid the
        strips take the width the samples leave, and grow into it where their height allows."""
        shapes = self._shapes()
        scale = max(0.0, self._scale(arrangement, width, height, hs, vs, t))
        if arrangement == "column":
            return {key: (width, t + scale * h) for key, (h, _) in shapes.items()}
        (h0, w0), (h1, w1), (h2, w2) = (shapes[k] for k, _, _ in _PICTURES)
        left = 2 + scale * w0
        right = max(0.0, width - hs - left)
        strip = max(0.0, min((right - 2) / max(w1, w2), (height - 2 * t - vs) / (h1 + h2)))
        return {"samples": (left, t + scale * h0), "recon": (right, t + strip * h1),
                "interp": (right, t + strip * h2)}

    def _place(self, arrangement: str) -> None:
        """Move the three plots (made once) into the column or the grid."""
        ci = self.graphics.ci
        layout = ci.layout
        # Both use the same three rows and two columns (Qt keeps spacing for a row or column once used, even
        # empty); the last row and the second column take the spare room.
        places = ({"samples": (0, 0, 1, 2), "recon": (1, 0, 1, 2), "interp": (2, 0, 1, 2)}
                  if arrangement == "column" else
                  {"samples": (0, 0, 3, 1), "recon": (0, 1, 1, 1), "interp": (1, 1, 2, 1)})
        for plot in self.plots.values():
            layout.removeItem(plot)
        ci.rows, ci.items = {}, {}  # pyqtgraph's record of the cells (getItem, export)
        for key, plot in self.plots.items():
            row, col, row_span, col_span = places[key]
            layout.addItem(plot, row, col, row_span, col_span)
            ci.items[plot] = [(row + i, col + j) for i in range(row_span) for j in range(col_span)]
            for r, c in ci.items[plot]:
                ci.rows.setdefault(r, {})[c] = plot
        for i, stretch in enumerate((0, 0, 1)):
            layout.setRowStretchFactor(i, stretch)
        for i, stretch in enumerate((1, 1) if arrangement == "column" else (0, 1)):
            layout.setColumnStretchFactor(i, stretch)
        self.arrangement = arrangement

    def options(self) -> dict:
        return {"temperature": self.temperature.value() / 100.0, "spherical": self.spherical.isChecked(),
                "pair": (self.pair[0].value(), self.pair[1].value())}

    def _emit(self) -> None:
        self.temperature_label.setText(f"T = {self.temperature.value() / 100.0:.2f}")
        self.command.emit(SetViewOptions(self.options()))

    def session_commands(self) -> tuple[Command, ...]:
        return (SetViewOptions(self.options()),)

    def update_snapshot(self, snap: Snapshot) -> None:
        before = self._shapes()
        if snap.image_samples is not None:
            self._show("samples", snap.image_samples, SAMPLE_COLUMNS)
        if snap.image_reconstructions is not None:
            originals, back = snap.image_reconstructions
            self._show("recon", np.concatenate([originals, back]), len(originals))
        if snap.image_interpolation is not None:
            path = snap.image_interpolation
            self._show("interp", path, len(path))
        if self._shapes() != before:  # new proportions (other images, another interpolation length)
            self.arrange()

    def _show(self, key: str, images: np.ndarray, columns: int) -> None:
        self.items[key].setImage(_picture(images, columns), levels=(0.0, 1.0))
        self.drawn[key] = (images, columns)

    def readout_at(self, plot: pg.PlotItem, x: float, y: float) -> str | None:
        """Which image and pixel the cursor is on, and that pixel's value in the image (not the grey drawn)."""
        key = next((k for k, p in self.plots.items() if p is plot), None)
        if key not in self.drawn or self.items[key].image is None:
            return None
        images, columns = self.drawn[key]
        h, w = images.shape[-2:]
        top = self.items[key].image.shape[0] - 1 - int(np.floor(y)) - 1  # rows from the top, past the border
        left = int(np.floor(x)) - 1
        if top < 0 or left < 0 or top % (h + 1) == h or left % (w + 1) == w:
            return None  # the gaps between the images
        index = (top // (h + 1)) * columns + left // (w + 1)
        if left // (w + 1) >= columns or index >= len(images):
            return None
        row, col = top % (h + 1), left % (w + 1)
        return f"image {index + 1}, pixel ({row}, {col})\nvalue {num(float(images[index, 0, row, col]))}"

    def clear(self) -> None:
        before = self._shapes()
        self.drawn = {}
        for item in self.items.values():
            item.clear()
        if self._shapes() != before:
            self.arrange()
