"""The probe point as drawn in a plot: a marker the user can drag, in data space (x) or latent space (z), and
optionally the point's path through the layers (x, then after each layer, to z).

The marker's own space is known the moment it is placed; the other space's position (and the path) come with the
session's answer, a :class:`~flowlab.training.probe.ProbeResult` for the same starting point.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF

from flowlab.training.probe import ProbeRefused, ProbeResult
from flowlab.training.views import ProbeAt

Space = Literal["x", "z"]
PROBE_PEN = pg.mkPen(20, 20, 20, width=2)
PROBE_BRUSH = pg.mkBrush(255, 215, 0, 230)
PATH_PEN = pg.mkPen(20, 20, 20, 160, width=1)


def matches(at: ProbeAt | None, result: object) -> bool:
    """Whether ``result`` answers ``at`` (an older answer for a point since moved is not drawn)."""
    return (at is not None and isinstance(result, ProbeResult | ProbeRefused)
            and tuple(result.start) == tuple(at.point) and result.inverse == at.inverse)


class ProbeMark:
    """A draggable marker in ``plot`` at the probe's position in ``space``; ``moved`` is called with a new
    :class:`ProbeAt` while the user drags it. ``path`` also draws the states after each layer."""

    def __init__(self, plot: pg.PlotItem, space: Space, moved: Callable[[ProbeAt], None], path: bool = False) -> None:
        self.plot, self.space, self._moved = plot, space, moved
        self.target = pg.TargetItem(size=13, symbol="o", pen=PROBE_PEN, brush=PROBE_BRUSH, movable=True)
        self.target.setZValue(100)
        self.target.setVisible(False)
        plot.addItem(self.target, ignoreBounds=True)
        self.target.sigPositionChanged.connect(self._dragged)
        self.path: pg.PlotDataItem | None = None
        if path:
            self.path = pg.PlotDataItem(pen=PATH_PEN, symbol="o", symbolSize=5, symbolPen=None,
                                        symbolBrush=pg.mkBrush(20, 20, 20, 160))
            self.path.setZValue(99)
            plot.addItem(self.path, ignoreBounds=True)
        self._setting = False  # the program moves the marker: not a drag
        self.enabled = True  # False while the plot draws something else (1-D histograms)

    def contains(self, scene_pos: QPointF) -> bool:
        return self.plot.vb.sceneBoundingRect().contains(scene_pos)

    def at_scene(self, scene_pos: QPointF) -> ProbeAt:
        p = self.plot.vb.mapSceneToView(scene_pos)
        return ProbeAt((float(p.x()), float(p.y())), inverse=self.space == "z")

    def _dragged(self) -> None:
        if self._setting:
            return
        p = self.target.pos()
        self._moved(ProbeAt((float(p.x()), float(p.y())), inverse=self.space == "z"))

    def position(self) -> tuple[float, float] | None:
        """Where the marker is drawn (None when hidden)."""
        if not self.target.isVisible():
            return None
        p = self.target.pos()
        return float(p.x()), float(p.y())

    def show(self, at: ProbeAt | None, result: object) -> None:
        """Place the marker for ``at``: its own space at once, the other space from a matching result."""
        point: np.ndarray | None = None
        answered = matches(at, result) and isinstance(result, ProbeResult)
        if at is not None and at.inverse == (self.space == "z"):
            point = np.asarray(at.point, dtype=float)
        elif answered:
            point = result.z if self.space == "z" else result.x
        if at is None or not self.enabled:
            self.target.setVisible(False)
        elif point is not None and point.shape == (2,):
            self._setting = True
            try:
                self.target.setPos(float(point[0]), float(point[1]))
            finally:
                self._setting = False
            self.target.setVisible(True)
        # else: the other space's position is not known yet: the marker stays where the last answer put it
        if self.path is not None:
            if answered and all(p.shape == (2,) for p in result.path):
                pts = np.stack(result.path)
                self.path.setData(pts[:, 0], pts[:, 1])
            elif at is None:
                self.path.setData([], [])
