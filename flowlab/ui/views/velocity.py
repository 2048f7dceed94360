"""A continuous layer at a chosen time t: its velocity field v(x, t) as arrows over the density p_t of the points
inside it at that time (p_0: the layer's inputs, the model's density when it comes first; p_1: its outputs, the
base's when it comes last). The slider sets t; the session computes the field and the density there."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QWidget
from superqt import QLabeledDoubleSlider

from flowlab.training.continuous_views import FieldAtTime
from flowlab.training.messages import Command, SetViewOptions
from flowlab.training.views import Snapshot
from flowlab.ui.views.base import plot
from flowlab.ui.views.inside_continuous import InsideContinuousLayer, arrows

SEND_MS = 80  # the slider tells the session its time at most this often while it is dragged
ARROW_REACH = 0.9  # the fastest arrows (95th percentile) are this share of the grid's spacing
FIRST_TIME = 0.5


class VelocityView(InsideContinuousLayer):
    """Arrows of v(x, t) over the heatmap of p_t; the slider below picks t in [0, 1]."""

    title = "Velocity field"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = plot(self.graphics, "")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(pg.colormap.get("viridis"))
        self.plot.addItem(self.image)
        self.arrows = pg.PlotDataItem(pen=pg.mkPen(255, 255, 255, 220, width=1), connect="finite")
        self.plot.addItem(self.arrows)
        row = QHBoxLayout()
        row.addWidget(QLabel("t"))
        self.slider = QLabeledDoubleSlider(Qt.Horizontal)
        self.slider.setObjectName("timeSlider")
        self.slider.setRange(0.0, 1.0)
        self.slider.setDecimals(2)
        self.slider.setSingleStep(0.01)
        self.slider.setValue(FIRST_TIME)
        self.slider.setToolTip("The time inside the layer: 0 is its data side, 1 its latent side")
        row.addWidget(self.slider, 1)
        self.density_box = QCheckBox("density p_t")
        self.density_box.setChecked(True)
        self.density_box.setToolTip("Show the density of the points inside the layer at time t under the arrows")
        row.addWidget(self.density_box)
        self.box.addLayout(row)
        self._send_timer = QTimer(self)
        self._send_timer.setSingleShot(True)
        self._send_timer.setInterval(SEND_MS)
        self._send_timer.timeout.connect(lambda: self.command.emit(self._time_command()))
        self.slider.valueChanged.connect(lambda _: self._send_timer.isActive() or self._send_timer.start())
        self.density_box.toggled.connect(lambda _: self._redraw())
        self.field: FieldAtTime | None = None
        self._describe()

    def time(self) -> float:
        return round(float(self.slider.value()), 4)

    def _time_command(self) -> Command:
        return SetViewOptions({"time": self.time()})

    def session_commands(self) -> tuple[Command, ...]:
        return (self._time_command(),)

    def clear(self) -> None:
        self.field = None
        self.image.clear()
        self.arrows.setData([], [])
        self._describe()

    def update_snapshot(self, snap: Snapshot) -> None:
        if snap.field_at_time is None:
            return
        first = self.field is None
        self.field = snap.field_at_time
        self._redraw()
        if first:
            self.plot.autoRange()

    def arrow_scale(self) -> float:
        """Plot units per unit of speed: the fastest arrows (95th percentile) reach most of the grid's spacing."""
        f = self.field
        if f is None:
            return 1.0
        m = int(round(math.sqrt(len(f.points))))
        spacing = min(f.bounds[1] - f.bounds[0], f.bounds[3] - f.bounds[2]) / max(1, m - 1)
        speed = np.linalg.norm(f.velocity, axis=1)
        fast = float(np.percentile(speed[np.isfinite(speed)], 95)) if np.isfinite(speed).any() else 0.0
        return ARROW_REACH * spacing / fast if fast > 1e-12 else 1.0

    def _redraw(self) -> None:
        f = self.field
        if f is None:
            return
        xs, ys = arrows(f.points, f.velocity, self.arrow_scale())
        self.arrows.setData(xs, ys, connect="finite")
        show = self.density_box.isChecked() and f.log_density is not None
        self.image.setVisible(show)
        if show:
            logp = np.nan_to_num(f.log_density.astype(np.float32), nan=-np.inf)
            top = float(np.max(logp[np.isfinite(logp)])) if np.isfinite(logp).any() else 0.0
            img = np.exp(np.clip(logp, top - 30.0, top)).astype(np.float32)
            xmin, xmax, ymin, ymax = f.bounds
            self.image.setImage(img, levels=(0.0, float(math.exp(top))),
                                rect=(xmin, ymin, xmax - xmin, ymax - ymin))
        self.arrows.setPen(pg.mkPen(255, 255, 255, 220, width=1) if show else pg.mkPen(40, 40, 40, 220, width=1))
        self._describe()

    def _describe(self) -> None:
        f = self.field
        if f is None:
            text = "v(x, t) and p_t inside the continuous layer"
        else:
            where = f"layer {f.position + 1} ({f.kind})"
            text = f"{where} at t = {f.time:.2f}: v(x, t)" + (" over p_t" if self.image.isVisible() else "")
        if self.plot.titleLabel.text != text:
            self.plot.setTitle(text)

    def drawn_time(self) -> float | None:
        """The time of the field drawn (it follows the slider once the session has computed it)."""
        return None if self.field is None else self.field.time
