"""Target samples beside model samples: scatters on 2-D data, histograms over shared bins on 1-D data."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from flowlab.training.views import DensityGrid, Snapshot
from flowlab.ui.views.base import (
    DATA_BRUSH,
    HIST_BINS,
    MODEL_BRUSH,
    View,
    ViewContext,
    histogram,
    plot,
    scatter,
    set_points,
)
from flowlab.ui.views.readout import bin_at, num, pixel_at, point_text


class SamplesView(View):
    """Target samples beside model samples, on linked axes. On 1-D data both become histograms over the same
    bins (the target's extents), with the target's outline repeated dashed over the model's: the sampling
    direction (z → x through the inverse) judged by eye, next to the change-of-variables view's exact densities."""

    title = "Samples: target | model"
    data_kinds = frozenset({"1d", "2d", "nd"})
    exports_samples = True

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.data_plot = plot(self.graphics, "target", 0, 0)
        self.model_plot = plot(self.graphics, "model", 0, 1)
        self.model_plot.setXLink(self.data_plot)
        self.model_plot.setYLink(self.data_plot)
        self.target_image = pg.ImageItem(axisOrder="row-major")  # energies: the true density, not samples
        self.target_image.setColorMap(pg.colormap.get("viridis"))
        self.data_plot.addItem(self.target_image)
        self.data_item = scatter()
        self.data_item.setBrush(DATA_BRUSH)
        self.model_item = scatter()
        self.data_plot.addItem(self.data_item)
        self.model_plot.addItem(self.model_item)
        for p in (self.data_plot, self.model_plot):
            self.add_probe_mark(p, "x")
        # 1-D: step histograms, made once and hidden until the data is 1-D.
        self.data_hist = pg.PlotDataItem(stepMode="center", fillLevel=0.0, brush=DATA_BRUSH,
                                         pen=pg.mkPen(100, 100, 100, width=1))
        self.model_hist = pg.PlotDataItem(stepMode="center", fillLevel=0.0, brush=MODEL_BRUSH,
                                          pen=pg.mkPen(200, 80, 0, width=1))
        self.target_outline = pg.PlotDataItem(stepMode="center", pen=pg.mkPen(60, 60, 60, width=1,
                                                                               style=Qt.DashLine))
        self.data_plot.addItem(self.data_hist)
        self.model_plot.addItem(self.model_hist)
        self.model_plot.addItem(self.target_outline)
        # One small entry names the dashed outline (the title names the bars); top left, a tail, usually empty.
        self.legend = self.model_plot.addLegend(offset=(2, 2), labelTextSize="8pt", verSpacing=-6)
        self.legend.addItem(self.target_outline, "target")
        self.legend.setVisible(False)
        for item in (self.data_hist, self.model_hist, self.target_outline):
            item.setVisible(False)
        for p in (self.data_plot, self.model_plot):
            p.getAxis("left").enableAutoSIPrefix(False)
        self.one_d = False
        self._bounds: tuple[float, ...] | None = None
        self._edges: np.ndarray | None = None  # the 1-D bins: fixed per target, so frames compare
        self._y_top = 0.0
        self._target_grid: DensityGrid | None = None  # an energy's true density, as drawn

    def configure(self, ctx: ViewContext) -> None:
        self._frame(ctx.bounds)
        for mark in self.probe_marks:  # a point in the plane is a probe of 2-D data only
            mark.enabled = ctx.kind == "2d"

    def _frame(self, bounds: tuple[float, ...] | None) -> None:
        """Frame both (linked) plots on the target's natural extents; their own range is kept from then on."""
        self._bounds = tuple(bounds) if bounds else None
        self._edges = None
        if bounds and len(bounds) == 4:
            self.data_plot.setRange(xRange=bounds[:2], yRange=bounds[2:], padding=0)
            self.data_plot.disableAutoRange()
            self.model_plot.disableAutoRange()  # linked: a stray sample must not zoom both out
        elif bounds and len(bounds) == 2:
            self.data_plot.setXRange(*bounds, padding=0)
            self.data_plot.disableAutoRange()
            self.model_plot.disableAutoRange()

    def _set_one_d(self, one_d: bool) -> None:
        """Histograms (1-D data) or scatters (2-D): the same two plots, their aspect and axes switched once."""
        if one_d == self.one_d:
            return
        self.one_d = one_d
        for item in (self.data_item, self.model_item):
            item.setVisible(not one_d)
            set_points(item, None)
        for item in (self.data_hist, self.model_hist, self.target_outline):
            item.setVisible(one_d)
            item.setData([], [])
        self._y_top = 0.0
        for p in (self.data_plot, self.model_plot):
            p.setAspectLocked(not one_d)
            p.setLabel("left", "density")
            p.showLabel("left", one_d and p is self.data_plot)
        self.legend.setVisible(one_d)
        self._frame(self._bounds)  # the aspect lock moved the range
        self.schedule_corner_check()

    def _bins(self, values: np.ndarray) -> np.ndarray:
        if self._edges is None:
            if self._bounds is not None and len(self._bounds) == 2:
                lo, hi = self._bounds
                self._edges = np.linspace(lo, hi, HIST_BINS + 1)
            else:  # no natural extents: the first samples' range (the target's when it has data)
                self._edges = histogram(values)[0] if len(values) else None
        return self._edges

    def _histogram(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Density over the fixed bins, as a fraction of *all* samples: mass the model puts outside the target's
        extents shows as missing area, not as taller bars."""
        values = values[np.isfinite(values)]
        edges = self._bins(values)
        if edges is None or not len(values):
            return np.zeros(0), np.zeros(0)
        counts, _ = np.histogram(values, bins=edges)
        return edges, counts / (len(values) * np.diff(edges))

    def _frame_y(self, *heights: np.ndarray) -> None:
        """Both plots share the y axis; it grows at once and shrinks only when the bars are far below it."""
        top = max((float(h.max()) for h in heights if len(h)), default=0.0)
        if top > 0 and (top > self._y_top or top < 0.6 * self._y_top):
            self._y_top = top * 1.15
            self.data_plot.setYRange(0.0, self._y_top, padding=0)

    def update_snapshot(self, snap: Snapshot) -> None:
        # A None field means "unchanged since the last snapshot"; energies have no data samples at all.
        samples = snap.model_samples if snap.model_samples is not None else snap.data_samples
        if samples is not None and samples.ndim == 2:
            self._set_one_d(samples.shape[1] == 1)
        if self.one_d:
            self._update_one_d(snap)
            return
        if snap.data_samples is not None:
            set_points(self.data_item, snap.data_samples)
        if snap.model_samples is not None:
            set_points(self.model_item, snap.model_samples)
        g = snap.target_density
        if g is not None:
            dens = np.exp(g.log_density).astype(np.float32)
            xmin, xmax, ymin, ymax = g.bounds
            self.target_image.setImage(dens, levels=(0.0, float(dens.max()) or 1.0),
                                       rect=(xmin, ymin, xmax - xmin, ymax - ymin))
            self._target_grid = g
            self._frame(g.bounds)
            self.data_plot.setTitle("target density exp(−U)/Z")

    def readout_at(self, plot: pg.PlotItem, x: float, y: float) -> str | None:
        """The point (2-D), with the target's density where it is drawn; on 1-D data the bar's height there."""
        if self.one_d:
            hist = self.data_hist if plot is self.data_plot else self.model_hist
            height = bin_at(hist.xData, hist.yData, x)
            return f"x = {num(x)}" + ("" if height is None else f"\nhistogram density = {num(height)}")
        text = point_text("x", x, y)
        g = self._target_grid
        at = None if g is None or plot is not self.data_plot else pixel_at(g.bounds, g.log_density.shape, x, y)
        if at is not None:
            text += f"\ntarget p(x) = {num(float(np.exp(min(g.log_density[at], 700.0))))}"
        return text

    def _update_one_d(self, snap: Snapshot) -> None:
        if snap.data_samples is not None:  # the bins come from the target's extents, else its samples
            edges, density = self._histogram(snap.data_samples[:, 0])
            self.data_hist.setData(edges, density)
            self.target_outline.setData(edges, density)
        if snap.model_samples is not None:
            edges, density = self._histogram(snap.model_samples[:, 0])
            self.model_hist.setData(edges, density)
        self._frame_y(self.data_hist.yData if self.data_hist.yData is not None else np.zeros(0),
                      self.model_hist.yData if self.model_hist.yData is not None else np.zeros(0))

    def histograms(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """What the 1-D histograms show: ``{"target": (edges, density), "model": (edges, density)}``."""
        out = {}
        for key, item in (("target", self.data_hist), ("model", self.model_hist)):
            x, y = item.xData, item.yData
            out[key] = (np.zeros(0) if x is None else np.asarray(x), np.zeros(0) if y is None else np.asarray(y))
        return out

    def clear(self) -> None:
        set_points(self.data_item, None)
        set_points(self.model_item, None)
        for item in (self.data_hist, self.model_hist, self.target_outline):
            item.setData([], [])
        self._edges = None
        self._y_top = 0.0
        self.target_image.clear()
        self._target_grid = None
        self.data_plot.setTitle("target")
