"""The layer scrubber: the distribution after each layer of the stack, in either direction."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QRadioButton, QSlider, QWidget
from superqt.utils import signals_blocked

from flowlab.training.continuous_views import LayerPath
from flowlab.training.probe import ProbeResult
from flowlab.training.tiling import arrange
from flowlab.training.views import Snapshot
from flowlab.ui.views.base import (
    LATENT_BRUSH,
    MODEL_BRUSH,
    STYLE,
    View,
    ViewContext,
    histogram,
    plot,
    scatter,
    set_points,
)
from flowlab.ui.views.probe_marks import PATH_PEN, PROBE_BRUSH, PROBE_PEN, matches
from flowlab.ui.views.readout import bin_at, num, point_text
from flowlab.words import count


def robust_box(pts: np.ndarray, keep: float = 99.0) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """The x and y extents of the middle ``keep`` % of finite 2-D points (None when there are none)."""
    pts = pts[np.isfinite(pts).all(axis=1)]
    if not len(pts):
        return None
    tail = (100.0 - keep) / 2
    lo, hi = np.percentile(pts, [tail, 100.0 - tail], axis=0)
    return (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1]))


@dataclass(frozen=True)
class Stop:
    """A state the slider can point at: ``points`` after ``k`` layers in the order visited, or, with ``time``,
    inside the next one (flow index ``layer``, a continuous layer) at that time of its solver."""

    k: int
    points: np.ndarray
    time: float | None = None
    layer: int | None = None
    position: int | None = None  # the continuous layer's place in the user's stack


def stops(states: tuple[np.ndarray, ...], paths: tuple[LayerPath, ...], sampling: bool) -> list[Stop]:
    """Every layer's boundary state and, between two of them, the states inside a continuous layer (from
    ``paths``, keyed by flow index), in the order visited (``sampling``: the last layer first)."""
    n = len(states) - 1
    inside = {p.index: p for p in paths}
    out = []
    for k, pts in enumerate(states):
        out.append(Stop(k, pts))
        layer = n - 1 - k if sampling else k
        path = inside.get(layer) if k < n else None
        if path is not None and path.states.shape[1:] == pts.shape:
            out.extend(Stop(k, s, float(t), layer, path.position)
                       for t, s in zip(path.times[1:-1], path.states[1:-1], strict=True))
    return out


def probe_point(result: ProbeResult, stop: Stop, n: int, sampling: bool) -> np.ndarray | None:
    """Where the probe point is at ``stop`` (its state after the same layers, or inside the same layer at the
    nearest of its solver's times), whichever way it was followed."""
    path = result.path
    if stop.time is None:
        return path[n - stop.k] if sampling else path[stop.k]
    step = next((s for s in result.steps if s.position == stop.position and s.inside is not None), None)
    if step is None:
        return None
    times, states = step.inside
    return states[int(np.argmin(np.abs(times - stop.time)))]


def probe_fine_path(result: ProbeResult) -> np.ndarray:
    """The probe point's path from x to z with the states inside continuous layers, as (m, d)."""
    ordered = result.steps[::-1] if result.inverse else result.steps
    if not ordered:
        return np.stack(result.path)
    pts = [ordered[0].after if result.inverse else ordered[0].before]
    for s in ordered:
        if s.inside is not None:
            inside = s.inside[1][::-1] if result.inverse else s.inside[1]
            pts.extend(inside[1:])
        else:
            pts.append(s.before if result.inverse else s.after)
    return np.stack(pts)


class LayerScrubber(View):
    """The distribution after each layer: slide through the stack, in either direction. Points on 2-D data,
    a histogram on 1-D data (with the standard normal for reference where the state is a latent), and on images
    one image's tensor after each layer, its channels side by side (a squeeze makes four of one, a multi-scale
    layer sends some away). Inside a continuous layer the slider also stops at each of its solver's times."""

    title = "Layer by layer"
    data_kinds = frozenset({"1d", "2d", "nd", "image"})
    # When the user moves the slider or turns the direction: the position in the flow (0-based, data → latent)
    # of the last layer applied to the state shown, or None at the first state (no layer applied yet).
    layer_chosen = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = plot(self.graphics, "")
        self.points = scatter()
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
        self._images = False
        self.image = pg.ImageItem(axisOrder="row-major")  # image data: the tensor's channels, tiled
        self.image.setColorMap(pg.colormap.get("CET-L1"))  # grey: black to white
        self.image.setVisible(False)
        self.plot.addItem(self.image)
        self.plot.vb.sigResized.connect(lambda _vb: self._fit_image())
        self.framing = True  # frame the points each frame, until the user zooms or pans
        self.plot.vb.sigRangeChangedManually.connect(lambda *_: setattr(self, "framing", False))
        self.shape: tuple[int, ...] = ()
        # The probe point's path through the layers (faint), and where it is after the layer shown (marked).
        self.probe_path = pg.PlotDataItem(pen=PATH_PEN)
        self.probe_here = pg.TargetItem(size=13, symbol="o", pen=PROBE_PEN, brush=PROBE_BRUSH, movable=False)
        for item in (self.probe_path, self.probe_here):
            item.setZValue(100)
            item.setVisible(False)
            self.plot.addItem(item, ignoreBounds=True)
        self._probe_path: tuple[np.ndarray, ...] | None = None
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
        # after the redraw, so that the range follows the states; automatic moves are made with signals blocked
        self.slider.valueChanged.connect(lambda _: self.layer_chosen.emit(self.chosen_layer()))
        self.sampling.toggled.connect(lambda _: self.layer_chosen.emit(self.chosen_layer()))
        self._forward: tuple[np.ndarray, ...] | None = None
        self._inverse: tuple[np.ndarray, ...] | None = None
        self._inside_forward: tuple[LayerPath, ...] = ()
        self._inside_inverse: tuple[LayerPath, ...] = ()
        self._probe_result: ProbeResult | None = None
        self.layer_names: list[str] = []
        self._tile_values = np.zeros((0, 0), dtype=bool)

    def configure(self, ctx: ViewContext) -> None:
        self.layer_names = list(ctx.layer_names)
        self.framing = True
        self.shape = tuple(ctx.shape)
        self._set_images(ctx.images)

    def _set_images(self, images: bool) -> None:
        """Image data: the tiled tensor instead of points (rows top down, no histogram)."""
        if images == self._images:
            return
        self._images = images
        self.image.setVisible(images)
        self.points.setVisible(not images)
        if images:
            set_points(self.points, None)
        else:
            self.image.clear()
        self.plot.invertY(images)
        self.plot.showAxes(not images)
        self.plot.enableAutoRange()

    def _frame_points(self, pts: np.ndarray) -> None:
        """Frame the middle 99 % of the points (a few far outliers, such as NICE's early −25, would squash the
        rest into a dot); a user's own zoom or pan stops this until the next model."""
        box = robust_box(pts[:, :2])
        if box is not None:
            (x0, x1), (y0, y1) = box
            self.plot.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0.05)  # not a manual change: framing
            # goes on (blocking the view box's signals here once left the axes reading 0…1)

    def _fit_image(self) -> None:
        """The whole tiled picture in view (again after the plot is resized: a locked aspect would crop it)."""
        if self._images and self.image.image is not None:
            h, w = self.image.image.shape
            self.plot.setRange(xRange=(0, w), yRange=(0, h), padding=0.02)

    def tiled(self, state: np.ndarray) -> np.ndarray:
        """One image's tensor (the first of the batch) as a 2-D picture: channels side by side; a flat latent
        (multi-scale flows hand the base a vector) laid out in the data's shape."""
        t = state[0]
        if t.ndim == 1 and len(self.shape) == 3 and t.size == int(np.prod(self.shape)):
            t = t.reshape(self.shape)
        if t.ndim == 1:
            return t[None, :]
        return arrange(t if t.ndim == 3 else t[None], gap=1, fill=np.nan)  # NaN gaps: drawn white

    def update_snapshot(self, snap: Snapshot) -> None:
        if snap.layers_forward is not None:
            self._forward = snap.layers_forward
            self._inside_forward = snap.inside_forward or ()
        if snap.layers_inverse is not None:
            self._inverse = snap.layers_inverse
            self._inside_inverse = snap.inside_inverse or ()
        self._redraw()

    def clear(self) -> None:
        self._forward = self._inverse = None
        self._inside_forward = self._inside_inverse = ()
        self.hist.setData([], [])
        self.image.clear()
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
            set_points(self.points, None)
        else:
            self.hist.setData([], [])
        self.plot.setAspectLocked(not one_d)
        self.plot.setLabel("left", "density")
        self.plot.showLabel("left", one_d)
        self.plot.enableAutoRange()

    def show_probe(self, at, result: object) -> None:
        """The probe's path (x after 0, 1, …, n layers), drawn beside the points; marked at the state shown."""
        if matches(at, result) and isinstance(result, ProbeResult) and all(p.shape == (2,) for p in result.path):
            self._probe_path = result.path
            self._probe_result = result
        elif at is None:
            self._probe_path = self._probe_result = None
        self._redraw_probe()

    def _redraw_probe(self) -> None:
        path, states, result = self._probe_path, self._states(), self._probe_result
        show = (path is not None and result is not None and bool(states) and len(states) == len(path)
                and not self._one_d)
        here = None
        if show:
            all_stops = self.stops()
            stop = all_stops[min(self.slider.value(), len(all_stops) - 1)]
            here = probe_point(result, stop, len(path) - 1, self.sampling.isChecked())
        show = show and here is not None
        self.probe_path.setVisible(show)
        self.probe_here.setVisible(show)
        if not show:
            return
        pts = probe_fine_path(result)
        self.probe_path.setData(pts[:, 0], pts[:, 1])
        self.probe_here.setPos(float(here[0]), float(here[1]))

    def _states(self) -> tuple[np.ndarray, ...] | None:
        return self._inverse if self.sampling.isChecked() else self._forward

    def stops(self) -> list[Stop]:
        """The states the slider steps through in the direction shown (empty before the first snapshot)."""
        states = self._states()
        if not states:
            return []
        sampling = self.sampling.isChecked()
        return stops(states, self._inside_inverse if sampling else self._inside_forward, sampling)

    def _redraw(self) -> None:
        states = self._states()
        if not states:
            set_points(self.points, None)
            self._describe("" if self.sampling.isChecked() else "no data to push through")
            self._redraw_probe()
            return
        all_stops = self.stops()
        with signals_blocked(self.slider):
            at_end = self.slider.value() == self.slider.maximum()
            self.slider.setRange(0, len(all_stops) - 1)
            if at_end:  # follow the end of the stack (the finished distribution) unless the user scrubbed back
                self.slider.setValue(len(all_stops) - 1)
        stop = all_stops[min(self.slider.value(), len(all_stops) - 1)]
        k, pts = stop.k, stop.points
        n = len(states) - 1
        one_d = pts.ndim == 2 and pts.shape[1] == 1 and not self._images
        self._set_one_d(one_d)
        if self._images:
            picture = self.tiled(pts)
            finite = picture[np.isfinite(picture)]
            lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
            self._tile_values = ~np.isnan(picture)  # where the tensor's entries are (not the gaps)
            picture = np.where(np.isnan(picture), hi, picture)  # the gaps between channels: white
            self.image.setImage(picture, levels=(lo, hi if hi > lo else lo + 1.0))
            self._fit_image()
        elif one_d:
            edges, density = histogram(pts[:, 0])
            self.hist.setData(edges, density)
            brush = MODEL_BRUSH if self.sampling.isChecked() else LATENT_BRUSH
            self.hist.setBrush(brush)
            self.hist.setPen(pg.mkPen(brush.color().darker(120), width=STYLE["line_width"]))
            # base samples, or data pushed all the way
            latent = stop.time is None and (k == 0) == self.sampling.isChecked()
            self.normal.setVisible(latent)
        else:
            set_points(self.points, pts if pts.ndim == 2 else None)
            self.points.setBrush(MODEL_BRUSH if self.sampling.isChecked() else LATENT_BRUSH)
            if self.framing and pts.ndim == 2 and pts.shape[1] >= 2:
                self._frame_points(pts)
        every = "the one layer" if n == 1 else f"all {n} layers"
        if self.sampling.isChecked():  # states: z, then after undoing layer n, n−1, …, 1
            text = ("base samples z" if k == 0 else f"samples x (through {every})" if k == n
                    else f"z through layers {n}…{n - k + 1} ({k} of {n})")
        else:
            text = ("data x" if k == 0 else f"latent z (after {every})" if k == n
                    else f"data after layers 1…{k} ({k} of {n})")
        name = self._layer_name(k, n)
        details = []  # a second, smaller line: which layer made this state, and on images its shape
        if stop.time is not None:
            name = self.layer_names[stop.layer] if len(self.layer_names) == n else None
            way = "undoing it, t from 1 to 0" if self.sampling.isChecked() else "t from 0 to 1"
            text = (f"inside layer {stop.layer + 1}{f' ({name})' if name else ''} at t = {stop.time:.3g}"
                    f"<br><span style='font-size:9pt'>{way}: the states its solver visits</span>")
        elif name and 0 < k < n:
            details.append(f"layer {n - k + 1 if self.sampling.isChecked() else k}: {name}")
        if self._images and pts.ndim == 4:
            c, h, w = pts.shape[1:]
            details.append(f"{count(c, 'channel')} of {h}×{w}")
        if details:
            text += f"<br><span style='font-size:9pt'>{' · '.join(details)}</span>"
        self._describe(text, name)
        self._redraw_probe()

    def readout_at(self, plot: pg.PlotItem, x: float, y: float) -> str | None:
        """Images: the value of the tensor's entry under the cursor; 1-D: the value and the bar's height there;
        points: the coordinates, named for the state shown (x data, z latent, h in between)."""
        states = self._states()
        if not states:
            return None
        if self._images:
            picture = self.image.image
            row, col = int(np.floor(y)), int(np.floor(x))
            if picture is None or not (0 <= row < picture.shape[0] and 0 <= col < picture.shape[1]):
                return None
            value = float(picture[row, col])
            return f"value {num(value)}" if self._tile_values[row, col] else None
        k = min(self.slider.value(), len(states) - 1)
        n = len(states) - 1
        first, last = ("z", "x") if self.sampling.isChecked() else ("x", "z")
        name = first if k == 0 else last if k == n else "h"
        if self._one_d:
            height = bin_at(self.hist.xData, self.hist.yData, x)
            return f"{name} = {num(x)}" + ("" if height is None else f"\nhistogram density = {num(height)}")
        return point_text(name, x, y)

    def chosen_layer(self) -> int | None:
        """The position (0-based, in the flow's order) of the last layer applied to the state the slider points
        at: layer k after k layers forward, layer n − k after undoing k of n layers; None at the first state."""
        states = self._states()
        n = len(states) - 1 if states else len(self.layer_names)
        all_stops = self.stops()
        stop = all_stops[min(self.slider.value(), len(all_stops) - 1)] if all_stops else None
        if stop is not None and stop.time is not None:
            return stop.layer  # inside it: the layer being passed through
        k = stop.k if stop is not None else min(self.slider.value(), n)
        if k <= 0:
            return None
        return n - k if self.sampling.isChecked() else k - 1

    def _layer_name(self, k: int, n: int) -> str | None:
        """The kind of the layer the state at ``k`` was last pushed through (None for the first state, or where
        the session's layers do not map one to one onto the states)."""
        if k == 0 or len(self.layer_names) != n:
            return None
        return self.layer_names[n - k] if self.sampling.isChecked() else self.layer_names[k - 1]

    def _describe(self, text: str, layer: str | None = None) -> None:
        if text != self.plot.titleLabel.text:
            self.plot.setTitle(text)
            self.plot.titleLabel.setMinimumWidth(0)  # a long title must not widen the plot past its dock
            self.schedule_corner_check()  # a longer title may reach under the export button
        plain = re.sub(r"<br>", "\n", re.sub(r"<(?!br>)[^>]+>", "", text))
        self.slider.setToolTip(plain + (f"\nlast layer applied: {layer}" if layer else ""))

    def description(self) -> str:
        """What the slider points at, as the plot's title says it."""
        return self.plot.titleLabel.text
