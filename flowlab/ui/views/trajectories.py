"""Paths of a few hundred points through a continuous layer: data carried to the latent (t from 0 to 1), and base
samples carried back to the data (t from 1 to 0), at every state the layer's solver visits."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from flowlab.training.continuous_views import LayerPath, Trajectories
from flowlab.training.probe import ProbeResult
from flowlab.training.views import ProbeAt, Snapshot
from flowlab.ui.views.base import DATA_BRUSH, LATENT_BRUSH, MODEL_BRUSH, View, plot, scatter
from flowlab.ui.views.inside_continuous import InsideContinuousLayer, polylines
from flowlab.ui.views.probe_marks import PROBE_BRUSH, PROBE_PEN, matches

LINE_ALPHA = 70


class TrajectoriesView(InsideContinuousLayer):
    """Left: the data's paths to the latent; right: base samples' paths back to the data (grey dots where they
    start, coloured where they end). A probe point is drawn on its own path through the layer."""

    title = "Trajectories"

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plots: list[pg.PlotItem] = []
        self.lines: list[pg.PlotDataItem] = []
        self.starts: list[pg.ScatterPlotItem] = []
        self.ends: list[pg.ScatterPlotItem] = []
        self.probe_lines: list[pg.PlotDataItem] = []
        for col, brush in enumerate((LATENT_BRUSH, MODEL_BRUSH)):
            p = plot(self.graphics, "", 0, col)
            colour = brush.color()
            line = pg.PlotDataItem(pen=pg.mkPen(colour.red(), colour.green(), colour.blue(), LINE_ALPHA, width=1),
                                   connect="finite")
            start, end = scatter(), scatter()
            start.setBrush(DATA_BRUSH)
            end.setBrush(brush)
            probe = pg.PlotDataItem(pen=PROBE_PEN, symbol="o", symbolSize=6, symbolBrush=PROBE_BRUSH,
                                    symbolPen=PROBE_PEN, connect="finite")
            probe.setZValue(100)
            for item in (line, start, end):
                p.addItem(item)
            p.addItem(probe, ignoreBounds=True)
            self.plots.append(p)
            self.lines.append(line)
            self.starts.append(start)
            self.ends.append(end)
            self.probe_lines.append(probe)
        self.paths: Trajectories | None = None
        self._probe: ProbeResult | None = None
        self._titles(None)

    def clear(self) -> None:
        self.paths = None
        for items in (self.lines, self.probe_lines):
            for item in items:
                item.setData([], [])
        for item in (*self.starts, *self.ends):
            item.setData([], [])
        self._titles(None)

    def update_snapshot(self, snap: Snapshot) -> None:
        if snap.trajectories is None:
            return
        self.paths = snap.trajectories
        for k, path in enumerate((snap.trajectories.forward, snap.trajectories.inverse)):
            self._draw(k, path)
        self._titles(snap.trajectories)
        self._draw_probe()

    def _draw(self, k: int, path: LayerPath | None) -> None:
        if path is None:  # no data to carry (an energy)
            self.lines[k].setData([], [])
            self.starts[k].setData([], [])
            self.ends[k].setData([], [])
            return
        xs, ys = polylines(path.states)
        self.lines[k].setData(xs, ys, connect="finite")
        self.starts[k].setData(path.states[0, :, 0], path.states[0, :, 1])
        self.ends[k].setData(path.states[-1, :, 0], path.states[-1, :, 1])

    def _titles(self, paths: Trajectories | None) -> None:
        if paths is not None and not paths.whole:
            where = f"inside layer {paths.position + 1} ({paths.kind})"
            texts = (f"{where}: t = 0 → 1", f"{where}: t = 1 → 0")
        else:
            texts = ("data → latent: x → z, t = 0 → 1", "sampling: z → x, t = 1 → 0")
        if paths is not None and paths.forward is None:
            texts = ("no data to carry (an energy)", texts[1])
        for p, text in zip(self.plots, texts, strict=True):
            if p.titleLabel.text != text:
                p.setTitle(text)

    # -- the probe point ----------------------------------------------------------------------------------------
    def show_probe(self, at: ProbeAt | None, result: object) -> None:
        View.show_probe(self, at, result)
        self._probe = result if matches(at, result) and isinstance(result, ProbeResult) else None
        if at is None:
            self._probe = None
        self._draw_probe()

    def _draw_probe(self) -> None:
        """The probe's own path through the layer drawn here, in the plot of the direction it was followed."""
        for line in self.probe_lines:
            line.setData([], [])
        result, paths = self._probe, self.paths
        if result is None or paths is None:
            return
        step = next((s for s in result.steps if s.position == paths.position and s.inside is not None), None)
        if step is not None:
            states = np.asarray(step.inside[1])
            self.probe_lines[1 if result.inverse else 0].setData(states[:, 0], states[:, 1])
