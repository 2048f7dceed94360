"""Volume change: log|det ∂f/∂x| over the plane, where the flow stretches space and where it squeezes it, for the
whole flow or for one layer (the one chosen in the layer scrubber, or here)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QWidget
from superqt.utils import signals_blocked

from flowlab.training.views import DensityGrid, Snapshot
from flowlab.ui.views.base import View, ViewContext, plot
from flowlab.ui.views.readout import num, pixel_at, point_text

DIVERGING = "CET-D1"  # blue – white – red, white at the middle of the levels (pyqtgraph ships it)
MIN_SPAN = 1e-3  # nats: a field flatter than this is drawn white (a volume-preserving layer), not amplified noise
WHOLE_FLOW = "whole flow"
ROBUST_QUANTILE = 0.99  # of |log det|: the colour scale's end (see symmetric_levels)


def symmetric_levels(values: np.ndarray, quantile: float = ROBUST_QUANTILE) -> tuple[float, float]:
    """``(−m, m)`` with m the ``quantile`` of |value| over the finite values (at least ``MIN_SPAN``): zero sits at
    the middle of a diverging colour map, so white means "keeps volume" whatever the range. Not the plain max:
    far outside the data an untrained flow's log-det reaches ±15 in the grid's corners and would wash out the
    structure where the data are; the few points beyond ±m are drawn in the end colours."""
    finite = np.abs(values[np.isfinite(values)])
    m = float(np.quantile(finite, quantile)) if finite.size else 0.0
    m = max(m, MIN_SPAN)
    return -m, m


def describe_field(values: np.ndarray) -> str:
    """A word on a field that is the same everywhere (a volume-preserving or a linear layer), else ''."""
    finite = values[np.isfinite(values)]
    if not finite.size:
        return ""
    lo, hi = float(finite.min()), float(finite.max())
    if max(abs(lo), abs(hi)) < 1e-6:
        return "keeps volume: 0 everywhere"
    if hi - lo <= 1e-5 * max(1.0, abs(hi)):
        return f"the same everywhere: {0.5 * (lo + hi):.3g}"
    return ""


class VolumeView(View):
    """log|det ∂f/∂x| on the density grid, for the whole flow (f: data → latent) or for layer k alone (its own
    log|det J_k| at the point's state before it; the layers' fields add up to the whole flow's). Red: f stretches
    a small area around x (there the model puts more density than the base does at f(x)); blue: it squeezes."""

    title = "Volume change"
    data_kinds = frozenset({"2d"})

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = plot(self.graphics, "")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.add_probe_mark(self.plot, "x")  # where the probe point sits on the map of volume change
        self.colorbar = pg.ColorBarItem(values=symmetric_levels(np.zeros(1)), colorMap=pg.colormap.get(DIVERGING),
                                        interactive=False, label="log|det J|")
        self.colorbar.setImageItem(self.image, insert_in=self.plot)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("show:"))
        self.chooser = QComboBox()
        self.chooser.setObjectName("volumeLayer")
        self.chooser.setToolTip("The whole flow, or one layer (follows the layer chosen in Layer by layer)")
        self.chooser.addItem(WHOLE_FLOW)
        controls.addWidget(self.chooser, 1)
        self.box.addLayout(controls)
        self.chooser.currentIndexChanged.connect(lambda _: self._redraw())
        self.grid: DensityGrid | None = None  # the newest grid drawn from
        self._describe()

    # -- the protocol -------------------------------------------------------------------------------------------
    def configure(self, ctx: ViewContext) -> None:
        """The new stack's layers in the chooser; the chosen position is kept where the new stack has it."""
        keep = self.chooser.currentIndex()
        with signals_blocked(self.chooser):
            self.chooser.clear()
            self.chooser.addItems([WHOLE_FLOW, *(f"layer {i + 1}: {kind}" for i, kind in enumerate(ctx.layer_names))])
            self.chooser.setCurrentIndex(keep if 0 <= keep < self.chooser.count() else 0)
        self._redraw()

    def clear(self) -> None:
        self.grid = None
        self.image.clear()
        self._describe()

    def update_snapshot(self, snap: Snapshot) -> None:
        if snap.density is None:
            return
        self.grid = snap.density
        self._redraw()

    def follow_layer(self, position: int | None) -> None:
        """Show the layer at ``position`` in the flow (0-based), or the whole flow for None."""
        index = 0 if position is None else position + 1
        if 0 <= index < self.chooser.count():
            self.chooser.setCurrentIndex(index)

    # -- what is shown ------------------------------------------------------------------------------------------
    def chosen_layer(self) -> int | None:
        """The flow position of the layer shown, or None for the whole flow."""
        return None if self.chooser.currentIndex() <= 0 else self.chooser.currentIndex() - 1

    def field(self) -> np.ndarray | None:
        """The log-det field of the choice in the newest grid (None while it has not come yet)."""
        g, k = self.grid, self.chosen_layer()
        if g is None:
            return None
        if k is None:
            return g.log_det
        if g.layer_log_dets is None or k >= len(g.layer_log_dets):
            return None
        return g.layer_log_dets[k]

    def readout_at(self, plot: pg.PlotItem, x: float, y: float) -> str | None:
        """The point and the log-det of the choice (the whole flow or one layer) at the grid pixel under it."""
        values = self.field()
        at = None if values is None or self.grid is None else pixel_at(self.grid.bounds, values.shape, x, y)
        if at is None:
            return None
        what = "log|det ∂f/∂x|" if self.chosen_layer() is None else f"log|det J{self.chosen_layer() + 1}|"
        return f"{point_text('x', x, y)}\n{what} = {num(float(values[at]))}"

    def current_image(self) -> np.ndarray | None:
        return None if self.image.image is None else np.asarray(self.image.image)

    def levels(self) -> tuple[float, float]:
        return tuple(self.colorbar.levels())

    def _redraw(self) -> None:
        values = self.field()
        if values is None or self.grid is None:  # no picture of another choice under this title
            self.image.clear()
            self._describe()
            return
        low, high = symmetric_levels(values)
        img = np.clip(np.nan_to_num(values, nan=0.0, posinf=high, neginf=low), low, high).astype(np.float32)
        xmin, xmax, ymin, ymax = self.grid.bounds
        self.image.setImage(img, levels=(low, high), rect=(xmin, ymin, xmax - xmin, ymax - ymin))
        self.colorbar.setLevels((low, high))
        self._describe(describe_field(values))

    def _describe(self, note: str = "") -> None:
        k = self.chosen_layer()
        what = WHOLE_FLOW if k is None else self.chooser.currentText()
        self.plot.setTitle(f"log|det ∂f/∂x| — {what}<br><span style='font-size:8pt'>"
                           f"{note or 'red: stretches · white: keeps volume · blue: squeezes'}</span>")
        self.schedule_corner_check()

    def description(self) -> str:
        return self.plot.titleLabel.text
