"""The live views. Every pyqtgraph item is made once and updated in place from the latest snapshot."""

from __future__ import annotations

import math
import re
from typing import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QResizeEvent, QShowEvent
from PySide6.QtWidgets import (QCheckBox, QFileDialog, QHBoxLayout, QLabel, QMenu, QMessageBox, QRadioButton,
                               QSlider, QSpinBox, QStyle, QToolButton, QVBoxLayout, QWidget)

from flowlab.training.views import Snapshot
from flowlab.ui.export import FORMATS, ExportError, export_view, with_suffix

MAX_POINTS = 3000
DATA_BRUSH = pg.mkBrush(120, 120, 120, 110)
MODEL_BRUSH = pg.mkBrush(230, 97, 1, 140)
LATENT_BRUSH = pg.mkBrush(76, 120, 168, 140)
LOG_SPAN = 10.0  # the log-density heatmap shows [max − LOG_SPAN, max]
STYLE = {"point_size": 3, "line_width": 1}


def set_presentation(on: bool) -> None:
    """Bigger points and lines for a lecture hall."""
    STYLE["point_size"] = 6 if on else 3
    STYLE["line_width"] = 3 if on else 1


def _scatter() -> pg.ScatterPlotItem:
    return pg.ScatterPlotItem(size=3, pxMode=True, pen=None, brush=MODEL_BRUSH)


def _plot(widget: pg.GraphicsLayoutWidget, title: str, row: int = 0, col: int = 0) -> pg.PlotItem:
    p = widget.addPlot(row=row, col=col, title=title)
    p.setAspectLocked(True)
    p.showGrid(x=True, y=True, alpha=0.15)
    return p


def _cap(points: np.ndarray | None) -> np.ndarray | None:
    return None if points is None else points[:MAX_POINTS]


def _set_points(item: pg.ScatterPlotItem, points: np.ndarray | None) -> None:
    points = _cap(points)
    if points is None or points.ndim != 2 or points.shape[1] < 2:
        item.setData([], [])
    else:
        item.setData(points[:, 0], points[:, 1])


HIST_BINS = 40


def histogram(values: np.ndarray, bins: int = HIST_BINS) -> tuple[np.ndarray, np.ndarray]:
    """``(edges, density)`` of 1-D values over their 0.5–99.5 % range (a stray point does not squash the rest)."""
    values = values[np.isfinite(values)]
    if not len(values):
        return np.zeros(0), np.zeros(0)
    lo, hi = np.percentile(values, [0.5, 99.5])
    pad = max(hi - lo, 1e-6) * 0.05
    density, edges = np.histogram(values, bins=bins, range=(lo - pad, hi + pad), density=True)
    return edges, density


DATA_KINDS = frozenset({"1d", "2d", "nd", "image"})


def data_kind(shape: tuple[int, ...]) -> str:
    """The kind of data a view is drawn for: ``"1d"`` or ``"2d"`` points, ``"nd"`` points (more coordinates),
    or ``"image"`` (one data point's shape is (C, H, W))."""
    if len(shape) == 3:
        return "image"
    if len(shape) == 1 and shape[0] in (1, 2):
        return f"{shape[0]}d"
    return "nd"


class View(QWidget):
    """Base: one pyqtgraph layout; ``update_snapshot`` redraws from a snapshot. A small button in the top right
    corner saves the view as PNG or SVG (``add_export_action`` adds more, such as the samples as data).

    ``data_kinds`` says which data the view can draw (see :func:`data_kind`); the window hides the view's dock
    for any other data, so that no dock stays empty for good."""

    title = ""
    data_kinds: frozenset[str] = DATA_KINDS

    @classmethod
    def applies_to(cls, shape: tuple[int, ...]) -> bool:
        return data_kind(shape) in cls.data_kinds

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("w")
        self.graphics.setMinimumSize(120, 90)  # docks may shrink far on a small screen
        self.box = QVBoxLayout(self)
        self.box.setContentsMargins(0, 0, 0, 0)
        self.box.addWidget(self.graphics)
        self.export_menu = QMenu(self)
        self.export_actions: dict[str, QAction] = {}
        for fmt in FORMATS:
            self.add_export_action(f"Save view as {fmt.upper()}…", lambda fmt=fmt: self.export_dialog(fmt), fmt)
        self.export_button = QToolButton(self)  # floats over the plot's top right corner, outside the layout
        self.export_button.setObjectName("exportButton")
        self.export_button.setIcon(self.style().standardIcon(QStyle.SP_DialogSaveButton))
        self.export_button.setToolTip("Export this view (PNG, SVG)")
        self.export_button.setAutoRaise(True)
        self.export_button.setPopupMode(QToolButton.InstantPopup)
        self.export_button.setMenu(self.export_menu)
        self.export_button.raise_()
        # The button floats over the graphics' top right corner. Where a title row is there, the corner is
        # empty; where plot content reaches up into it (a plot without a title, a long title in a narrow dock),
        # the layout's top margin grows by just enough (``corner_margin``) once the layout has settled.
        self.corner_margin = 0
        self._top_margin = self.graphics.ci.layout.getContentsMargins()[1]
        self._watched: set[int] = set()
        self._corner_timer = QTimer(self)
        self._corner_timer.setSingleShot(True)
        self._corner_timer.setInterval(0)
        self._corner_timer.timeout.connect(self._keep_corner_free)

    def add_export_action(self, text: str, slot: Callable[[], object], key: str | None = None) -> QAction:
        action = self.export_menu.addAction(text)
        action.triggered.connect(lambda _=False: slot())
        self.export_actions[key or text] = action
        return action

    def export_dialog(self, fmt: str) -> bool:
        """Ask for a file (``QFileDialog.getSaveFileName``) and save the view; a failure shows a message."""
        name = re.sub(r"[^a-z0-9]+", "_", self.title.lower()).strip("_") or "view"
        path, _ = QFileDialog.getSaveFileName(self, f"Save {self.title or 'view'} as {fmt.upper()}",
                                              f"{name}.{fmt}", FORMATS[fmt])
        if not path:
            return False
        try:
            export_view(self.graphics, with_suffix(path, fmt), fmt)
        except ExportError as e:
            QMessageBox.warning(self, "Cannot export the view", str(e))
            return False
        return True

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        hint = self.export_button.sizeHint()
        self.export_button.setGeometry(max(0, self.width() - hint.width() - 2), 2, hint.width(), hint.height())
        self.export_button.raise_()  # above anything a subclass added later
        self.schedule_corner_check()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        for item in self.graphics.ci.items:  # plots resized by their own layout (a title, a colour bar) recheck
            if isinstance(item, pg.PlotItem) and id(item) not in self._watched:
                self._watched.add(id(item))
                item.vb.sigResized.connect(lambda _vb: self.schedule_corner_check())
        self.schedule_corner_check()

    def schedule_corner_check(self) -> None:
        """Recheck, once the layout has settled, that no plot content lies under the export button."""
        self._corner_timer.start()

    def content_rects(self) -> list[QRectF]:
        """Where the plots draw (view boxes, visible axes, colour bars, title text), in this widget's pixels."""
        offset = self.graphics.viewport().mapTo(self, QPoint(0, 0))
        rects: list[QRectF] = []

        def add(item, inset: float = 0.0) -> None:  # noqa: ANN001 - any QGraphicsItem
            if item is None or not item.isVisible():
                return
            r = QRectF(self.graphics.mapFromScene(item.sceneBoundingRect()).boundingRect())
            r.adjust(inset, inset, -inset, -inset)
            if r.width() > 0 and r.height() > 0:
                rects.append(r.translated(offset.x(), offset.y()))

        def add_text(label: pg.LabelItem) -> None:  # the glyphs, without the text document's margin
            if label.text:
                add(label.item, label.item.document().documentMargin())

        for item in self.graphics.ci.items:
            if isinstance(item, pg.PlotItem):
                for i in range(item.layout.count()):
                    child = item.layout.itemAt(i)
                    if child is item.titleLabel:  # a title row is free space, except where its text is
                        add_text(child)
                    elif isinstance(child, pg.GraphicsWidget):
                        add(child)
            elif isinstance(item, pg.LabelItem):
                add_text(item)
            else:
                add(item)
        return rects

    def _keep_corner_free(self) -> None:
        if not self.isVisible():
            return
        button = QRectF(self.export_button.geometry())
        need = 0.0
        for r in self.content_rects():
            if r.left() < button.right() and r.right() > button.left():  # under the button's columns
                need = max(need, button.bottom() + 2 - (r.top() - self.corner_margin))  # top without the extra
        need = int(math.ceil(need))
        fit = QRectF(self.graphics.range)  # pyqtgraph sizes its layout only when the widget resizes: a layout
        if self.graphics.ci.geometry() != fit:  # that was wider than the widget (its minimum) stays too wide
            self.graphics.ci.setGeometry(fit)
        if need != self.corner_margin:
            self.corner_margin = need
            left, _, right, bottom = self.graphics.ci.layout.getContentsMargins()
            self.graphics.ci.layout.setContentsMargins(left, self._top_margin + need, right, bottom)

    def update_snapshot(self, snap: Snapshot) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def clear(self) -> None:
        """Forget what is drawn (a new stack or target)."""

    def set_bounds(self, bounds: tuple[float, ...] | None) -> None:
        """The target's natural extents (2-D), to frame the plots."""

    def apply_style(self) -> None:
        """Apply ``STYLE`` (presentation mode) to points and lines."""
        for item in self.graphics.scene().items():
            if isinstance(item, pg.ScatterPlotItem):
                item.setSize(STYLE["point_size"])
            elif isinstance(item, pg.PlotCurveItem):
                pen = pg.mkPen(item.opts["pen"])
                pen.setWidthF(STYLE["line_width"] * (2 if pen.widthF() >= 2 else 1))
                item.setPen(pen)


class SamplesView(View):
    """Target samples beside model samples, on linked axes. On 1-D data both become histograms over the same
    bins (the target's extents), with the target's outline repeated dashed over the model's: the sampling
    direction (z → x through the inverse) judged by eye, next to the change-of-variables view's exact densities."""

    title = "Samples: target | model"
    data_kinds = frozenset({"1d", "2d", "nd"})

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.data_plot = _plot(self.graphics, "target", 0, 0)
        self.model_plot = _plot(self.graphics, "model", 0, 1)
        self.model_plot.setXLink(self.data_plot)
        self.model_plot.setYLink(self.data_plot)
        self.target_image = pg.ImageItem(axisOrder="row-major")  # energies: the true density, not samples
        self.target_image.setColorMap(pg.colormap.get("viridis"))
        self.data_plot.addItem(self.target_image)
        self.data_item = _scatter()
        self.data_item.setBrush(DATA_BRUSH)
        self.model_item = _scatter()
        self.data_plot.addItem(self.data_item)
        self.model_plot.addItem(self.model_item)
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
        for plot in (self.data_plot, self.model_plot):
            plot.getAxis("left").enableAutoSIPrefix(False)
        self.one_d = False
        self._bounds: tuple[float, ...] | None = None
        self._edges: np.ndarray | None = None  # the 1-D bins: fixed per target, so frames compare
        self._y_top = 0.0

    def set_bounds(self, bounds):
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
            _set_points(item, None)
        for item in (self.data_hist, self.model_hist, self.target_outline):
            item.setVisible(one_d)
            item.setData([], [])
        self._y_top = 0.0
        for plot in (self.data_plot, self.model_plot):
            plot.setAspectLocked(not one_d)
            plot.setLabel("left", "density")
            plot.showLabel("left", one_d and plot is self.data_plot)
        self.legend.setVisible(one_d)
        self.set_bounds(self._bounds)  # the aspect lock moved the range
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
            _set_points(self.data_item, snap.data_samples)
        if snap.model_samples is not None:
            _set_points(self.model_item, snap.model_samples)
        g = snap.target_density
        if g is not None:
            dens = np.exp(g.log_density).astype(np.float32)
            xmin, xmax, ymin, ymax = g.bounds
            self.target_image.setImage(dens, levels=(0.0, float(dens.max()) or 1.0),
                                       rect=(xmin, ymin, xmax - xmin, ymax - ymin))
            self.set_bounds(g.bounds)
            self.data_plot.setTitle("target density exp(−U)/Z")

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
        _set_points(self.data_item, None)
        _set_points(self.model_item, None)
        for item in (self.data_hist, self.model_hist, self.target_outline):
            item.setData([], [])
        self._edges = None
        self._y_top = 0.0
        self.target_image.clear()
        self.data_plot.setTitle("target")


class DensityView(View):
    """The learned density as a heatmap (linear or log), with a colour bar and optional contours."""

    title = "Density"
    data_kinds = frozenset({"2d"})

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = _plot(self.graphics, "model density")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
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

    def current_image(self) -> np.ndarray | None:
        return None if self.image.image is None else np.asarray(self.image.image)

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


def _circle(r: float, n: int = 120) -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(0, 2 * np.pi, n)
    return r * np.cos(t), r * np.sin(t)


class LatentView(View):
    """Data pushed through the flow (x → z) over the base density's 1σ/2σ/3σ contours."""

    title = "Latent space"
    data_kinds = frozenset({"2d"})

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = _plot(self.graphics, "data in latent space (z = f(x))")
        for r in (1, 2, 3):
            self.plot.plot(*_circle(r), pen=pg.mkPen(150, 150, 150, width=1, style=Qt.DashLine))
        self.points = _scatter()
        self.points.setBrush(LATENT_BRUSH)
        self.plot.addItem(self.points)
        self.plot.setRange(xRange=(-4, 4), yRange=(-4, 4), padding=0)
        self.plot.disableAutoRange()

    def update_snapshot(self, snap: Snapshot) -> None:
        if snap.latent_of_data is not None:
            _set_points(self.points, snap.latent_of_data)

    def clear(self) -> None:
        _set_points(self.points, None)


def _lines_xy(lines: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Many polylines as one curve with breaks (``connect`` array): one item, one setData per frame."""
    xs = np.concatenate([l[:, 0] for l in lines])
    ys = np.concatenate([l[:, 1] for l in lines])
    connect = np.ones(len(xs), dtype=bool)
    ends = np.cumsum([len(l) for l in lines]) - 1
    connect[ends] = False
    return xs, ys, connect


class WarpView(View):
    """How the flow bends a regular grid: data → latent (left) and latent → data (right)."""

    title = "Warped grid"
    data_kinds = frozenset({"2d"})

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.fwd_plot = _plot(self.graphics, "data grid → latent", 0, 0)
        self.inv_plot = _plot(self.graphics, "latent grid → data", 0, 1)
        self.fwd = pg.PlotDataItem(pen=pg.mkPen(76, 120, 168, width=1))
        self.inv = pg.PlotDataItem(pen=pg.mkPen(230, 97, 1, width=1))
        self.fwd_plot.addItem(self.fwd)
        self.inv_plot.addItem(self.inv)

    def update_snapshot(self, snap: Snapshot) -> None:
        for item, warp in ((self.fwd, snap.warp_forward), (self.inv, snap.warp_inverse)):
            if warp is not None:
                xs, ys, connect = _lines_xy(warp.lines)
                item.setData(xs, ys, connect=connect)


class LayerScrubber(View):
    """The distribution after each layer: slide through the stack, in either direction. Points on 2-D data,
    a histogram on 1-D data (with the standard normal for reference where the state is a latent)."""

    title = "Layer by layer"
    data_kinds = frozenset({"1d", "2d", "nd"})
    changed = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = _plot(self.graphics, "")
        self.points = _scatter()
        self.plot.addItem(self.points)
        self.hist = pg.PlotDataItem(stepMode="center", fillLevel=0.0, brush=pg.mkBrush(230, 97, 1, 90),
                                    pen=pg.mkPen(230, 97, 1, width=1))
        self.normal = pg.PlotDataItem(pen=pg.mkPen(80, 80, 80, width=1, style=Qt.DashLine))
        t = np.linspace(-4.0, 4.0, 161)
        self.normal.setData(t, np.exp(-0.5 * t**2) / math.sqrt(2 * math.pi))
        for item in (self.hist, self.normal):
            item.setVisible(False)
            self.plot.addItem(item)
        self._one_d = False
        self.plot.getAxis("left").enableAutoSIPrefix(False)  # densities read as they are, not "×0.001"
        row = QHBoxLayout()
        self.sampling = QRadioButton("sampling: z → x")
        self.density = QRadioButton("density: x → z")
        self.sampling.setChecked(True)
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setObjectName("layerSlider")
        self.slider.setRange(0, 0)  # at the end until the first snapshot: it then follows the last layer
        self.slider.setMinimumWidth(80)
        row.addWidget(self.sampling)
        row.addWidget(self.density)
        row.addWidget(self.slider, 1)  # where it points is the plot's title (a label would crowd a small dock)
        self.box.addLayout(row)
        self.slider.valueChanged.connect(lambda _: self._redraw())
        self.sampling.toggled.connect(lambda _: self._redraw())
        self._forward: tuple[np.ndarray, ...] | None = None
        self._inverse: tuple[np.ndarray, ...] | None = None
        self.layer_names: list[str] = []

    def set_layer_names(self, names: list[str]) -> None:
        self.layer_names = names

    def update_snapshot(self, snap: Snapshot) -> None:
        if snap.layers_forward is not None:
            self._forward = snap.layers_forward
        if snap.layers_inverse is not None:
            self._inverse = snap.layers_inverse
        self._redraw()

    def clear(self) -> None:
        self._forward = self._inverse = None
        self.hist.setData([], [])
        self._redraw()

    def _set_one_d(self, one_d: bool) -> None:
        """Histogram (1-D data) or scatter (2-D); the same plot, its aspect and axes switched once."""
        if one_d == self._one_d:
            return
        self._one_d = one_d
        self.points.setVisible(not one_d)
        self.hist.setVisible(one_d)
        self.normal.setVisible(one_d)
        if one_d:
            _set_points(self.points, None)
        else:
            self.hist.setData([], [])
        self.plot.setAspectLocked(not one_d)
        self.plot.setLabel("left", "density")
        self.plot.showLabel("left", one_d)
        self.plot.enableAutoRange()

    def _states(self) -> tuple[np.ndarray, ...] | None:
        return self._inverse if self.sampling.isChecked() else self._forward

    def _redraw(self) -> None:
        states = self._states()
        if not states:
            _set_points(self.points, None)
            self._describe("" if self.sampling.isChecked() else "no data to push through")
            return
        self.slider.blockSignals(True)
        at_end = self.slider.value() == self.slider.maximum()
        self.slider.setRange(0, len(states) - 1)
        if at_end:  # follow the end of the stack (the finished distribution) unless the user scrubbed back
            self.slider.setValue(len(states) - 1)
        self.slider.blockSignals(False)
        k = min(self.slider.value(), len(states) - 1)
        pts = states[k]
        n = len(states) - 1
        one_d = pts.ndim == 2 and pts.shape[1] == 1
        self._set_one_d(one_d)
        if one_d:
            edges, density = histogram(pts[:, 0])
            self.hist.setData(edges, density)
            brush = MODEL_BRUSH if self.sampling.isChecked() else LATENT_BRUSH
            self.hist.setBrush(brush)
            self.hist.setPen(pg.mkPen(brush.color().darker(120), width=STYLE["line_width"]))
            latent = (k == 0) == self.sampling.isChecked()  # base samples, or data pushed all the way
            self.normal.setVisible(latent)
        else:
            _set_points(self.points, pts if pts.ndim == 2 else None)
            self.points.setBrush(MODEL_BRUSH if self.sampling.isChecked() else LATENT_BRUSH)
        if self.sampling.isChecked():  # states: z, then after undoing layer n, n−1, …, 1
            text = ("base samples z" if k == 0 else f"samples x (through all {n} layers)" if k == n
                    else f"z through layers {n}…{n - k + 1} ({k} of {n})")
        else:
            text = ("data x" if k == 0 else f"latent z (after all {n} layers)" if k == n
                    else f"data after layers 1…{k} ({k} of {n})")
        self._describe(text)

    def _describe(self, text: str) -> None:
        if text != self.plot.titleLabel.text:
            self.plot.setTitle(text)
            self.schedule_corner_check()  # a longer title may reach under the export button
        self.slider.setToolTip(text)

    def description(self) -> str:
        """What the slider points at, as the plot's title says it."""
        return self.plot.titleLabel.text


class CurvesView(View):
    """Train, validation and test negative log-likelihood (or bits/dim), the target's entropy as the floor, and a
    mark at the step whose weights early stopping keeps."""

    title = "Log-likelihood"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = self.graphics.addPlot(title="negative log-likelihood (nats)")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.addLegend(offset=(-10, 10))
        self.plot.setLabel("bottom", "step")
        self.train = self.plot.plot(name="train", pen=pg.mkPen(230, 97, 1, width=1))
        self.test = self.plot.plot(name="test", pen=pg.mkPen(76, 120, 168, width=2), symbol="o", symbolSize=4,
                                   symbolBrush=(76, 120, 168))
        self.valid = self.plot.plot(name="validation", pen=pg.mkPen(84, 162, 75, width=1, style=Qt.DashLine))
        self.floor = pg.InfiniteLine(angle=0, pen=pg.mkPen(80, 80, 80, style=Qt.DashLine),
                                     label="entropy of the target", labelOpts={"position": 0.7, "color": (80, 80, 80)})
        self.floor.setVisible(False)
        self.plot.addItem(self.floor)
        # Where the weights early stopping keeps were seen (best validation score, else best test score).
        self.best = pg.InfiniteLine(angle=90, pen=pg.mkPen(84, 162, 75, width=1, style=Qt.DotLine),
                                    label="kept", labelOpts={"position": 0.95, "color": (84, 162, 75)})
        self.best.setVisible(False)
        self.plot.addItem(self.best)
        for item in (self.train, self.test, self.valid):
            item.setDownsampling(auto=True, method="peak")
            item.setClipToView(True)
        self.columns: dict[str, list[float]] = {}
        self.bits = False
        self.energy = False  # fitted by reverse KL: the loss and the true KL(q‖p), not NLLs
        self._best_step: float | None = None

    def reset(self, entropy: float | None = None, bits: bool = False, energy: bool = False) -> None:
        self.columns = {}
        self.bits = bits
        self.energy = energy
        self._best_step = None
        self.plot.setTitle("bits per dimension" if bits else
                           ("reverse KL loss and true KL(q‖p) (nats)" if energy else
                            "negative log-likelihood (nats)"))
        self.schedule_corner_check()  # a longer title may reach under the export button
        self.floor.setVisible(entropy is not None and not bits)
        if entropy is not None:
            self.floor.setValue(entropy)
        for item in (self.train, self.test, self.valid):
            item.setData([], [])
        self.best.setVisible(False)

    def set_objective(self, objective: str) -> None:
        """Follow the objective the trainer settled on ('mle' or 'reverse_kl'), keeping the rows seen so far."""
        energy = objective == "reverse_kl"
        if energy != self.energy:
            columns = self.columns
            self.reset(self.floor.value() if self.floor.isVisible() else None, self.bits, energy)
            self.add_rows(columns)

    def best_step(self) -> float | None:
        """The step whose held-out score early stopping keeps (None before the first evaluation)."""
        return self._best_step

    def add_rows(self, rows: dict[str, list[float]]) -> None:
        for k, v in rows.items():
            self.columns.setdefault(k, []).extend(v)
        steps = np.asarray(self.columns.get("step", []), dtype=float)
        if not len(steps):
            return
        train_key = "train_nll" if not math.isnan(_last(self.columns.get("train_nll", []))) else "train_loss"
        test_key = "test_bpd" if self.bits else ("true_kl" if self.energy else "test_nll")
        if self.bits:
            train_key = "train_bpd"
        train = np.asarray(self.columns.get(train_key, []), dtype=float)
        ok = np.isfinite(train)
        self.train.setData(steps[ok], train[ok])
        test = np.asarray(self.columns.get(test_key, []), dtype=float)
        ok = np.isfinite(test)
        self.test.setData(steps[ok], test[ok])
        valid = np.asarray(self.columns.get("valid_bpd" if self.bits else "valid_nll", []), dtype=float)
        if len(valid) != len(steps) or self.energy:  # reverse KL keeps by the true KL: no validation NLL
            valid = np.full_like(steps, np.nan)
        ok = np.isfinite(valid)
        self.valid.setData(steps[ok], valid[ok])
        chooser, where = (valid, ok) if ok.any() else (test, np.isfinite(test))
        self._best_step = float(steps[where][np.argmin(chooser[where])]) if where.any() else None
        self.best.setVisible(self._best_step is not None)
        if self._best_step is not None:
            self.best.setValue(self._best_step)

    def update_snapshot(self, snap: Snapshot) -> None:
        pass


def _last(values: list[float]) -> float:
    for v in reversed(values):
        if not math.isnan(v):
            return v
    return math.nan


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

    def update_snapshot(self, snap: Snapshot) -> None:
        c = snap.curve_1d
        if c is None:
            return
        self.model.setData(c.x, c.model_density)
        self.base.setData(c.x, c.base_density_at_z)
        self.true.setData(c.x, c.true_density if c.true_density is not None else np.zeros(0))
        self.map.setData(c.x, c.z)


def tile(images: np.ndarray, columns: int | None = None) -> np.ndarray:
    """``(n, 1, h, w)`` images in [0, 1] (ink = 1) as one picture, ink dark on white, grey gaps, row 0 on top."""
    n, _, h, w = images.shape
    cols = columns or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    canvas = np.full((rows * (h + 1) + 1, cols * (w + 1) + 1), 0.25, dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, cols)
        canvas[1 + r * (h + 1): 1 + r * (h + 1) + h, 1 + c * (w + 1): 1 + c * (w + 1) + w] = images[i, 0]
    return (1.0 - canvas)[::-1]  # ImageItem draws row 0 at the bottom


UNBOUNDED = 16777215  # Qt's QWIDGETSIZE_MAX
IMAGE_TITLE_HEIGHT = 20  # the pictures' titles: one compact line each, the height goes to the pictures
_PICTURES = (("samples", "samples", "samples from the model at temperature T"),
             ("recon", "reconstructions", "top row: test images; bottom row: the same images taken to the latent "
                                          "space and back (x → z → x), to show the flow is invertible"),
             ("interp", "latent interpolation", "decoded points on the path between the latents of two test images "
                                                "(chosen below)"))
_DEFAULT_SHAPES = {"samples": (73, 73), "recon": (19, 73), "interp": (10, 73)}  # 8×8 digits, until the first frame


class ImageSamplesView(View):
    """Images: samples at a temperature (Glow's reduced-temperature sampling), reconstructions (test images →
    latent → back, to show invertibility), and a latent interpolation between two chosen images.

    Each picture fills its cell (square pixels, no padding, just under its title), at every size of the dock.
    The cells follow the dock's shape: one column, or the samples on the left and the two strips stacked on the
    right, whichever draws the pictures larger at one scale for all three (the grid's strips may then grow into
    the width the samples leave)."""

    title = "Image samples"
    data_kinds = frozenset({"image"})
    options_changed = Signal(dict)  # temperature / pair / spherical, for the worker

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
        self.options_changed.emit(self.options())

    def update_snapshot(self, snap: Snapshot) -> None:
        before = self._shapes()
        if snap.image_samples is not None:
            self.items["samples"].setImage(tile(snap.image_samples, 8), levels=(0.0, 1.0))
        if snap.image_reconstructions is not None:
            originals, back = snap.image_reconstructions
            self.items["recon"].setImage(tile(np.concatenate([originals, back]), len(originals)),
                                         levels=(0.0, 1.0))
        if snap.image_interpolation is not None:
            path = snap.image_interpolation
            self.items["interp"].setImage(tile(path, len(path)), levels=(0.0, 1.0))
        if self._shapes() != before:  # new proportions (other images, another interpolation length)
            self.arrange()

    def clear(self) -> None:
        before = self._shapes()
        for item in self.items.values():
            item.clear()
        if self._shapes() != before:
            self.arrange()
