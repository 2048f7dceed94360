"""Drawing your own target: click or drag to spray points, or paint a density with a brush (right button or
"erase" removes). The result is plain data that goes into the preset."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QDialog, QDialogButtonBox, QHBoxLayout, QLabel, QPushButton,
                               QRadioButton, QSpinBox, QVBoxLayout, QWidget)

BOUNDS = (-4.0, 4.0, -4.0, 4.0)
GRID = 64  # painted cells per side
SPRAY = 6  # points added per drag event
SPRAY_RADIUS = 0.15


class _DrawBox(pg.ViewBox):
    """A view box whose left button draws and right button erases, instead of panning."""

    def __init__(self, canvas: "DrawCanvas") -> None:
        super().__init__(enableMenu=False)
        self.canvas = canvas
        self.setMouseEnabled(False, False)

    def mouseClickEvent(self, ev) -> None:  # noqa: N802, ANN001 - pyqtgraph's name
        if ev.button() in (Qt.LeftButton, Qt.RightButton):
            p = self.mapSceneToView(ev.scenePos())
            self.canvas.stroke(p.x(), p.y(), erase=ev.button() == Qt.RightButton, spray=False)
            ev.accept()

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802, ANN001
        if ev.button() in (Qt.LeftButton, Qt.RightButton):
            p = self.mapSceneToView(ev.scenePos())
            self.canvas.stroke(p.x(), p.y(), erase=ev.button() == Qt.RightButton, spray=True)
            ev.accept()


class DrawCanvas(pg.GraphicsLayoutWidget):
    """Points or a painted grid over ``BOUNDS``; ``changed`` after every stroke."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None, seed: int = 0) -> None:
        super().__init__(parent)
        self.setBackground("w")
        self.box = _DrawBox(self)
        self.plot = self.addPlot(viewBox=self.box)
        self.plot.setAspectLocked(True)
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setRange(xRange=BOUNDS[:2], yRange=BOUNDS[2:], padding=0)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(pg.colormap.get("viridis"))
        self.plot.addItem(self.image)
        self.scatter = pg.ScatterPlotItem(size=5, pen=None, brush=pg.mkBrush(230, 97, 1, 200))
        self.plot.addItem(self.scatter)
        self.mode = "points"
        self.brush = 2  # radius in cells
        self.erase = False
        self.points: list[tuple[float, float]] = []
        self.grid = np.zeros((GRID, GRID), dtype=np.float32)  # row 0 at the TOP, as painted targets expect
        self._rng = np.random.default_rng(seed)
        self._redraw()

    def stroke(self, x: float, y: float, erase: bool = False, spray: bool = False) -> None:
        """One mouse event at data coordinates (x, y)."""
        erase = erase or self.erase
        if self.mode == "points":
            if erase:
                self._erase_points(x, y)
            elif spray:
                jitter = self._rng.normal(0.0, SPRAY_RADIUS, size=(SPRAY, 2))
                self.points += [(x + dx, y + dy) for dx, dy in jitter]
            else:
                self.points.append((x, y))
        else:
            self._paint(x, y, -1.0 if erase else 1.0)
        self._redraw()
        self.changed.emit()

    def clear(self) -> None:
        self.points = []
        self.grid[:] = 0.0
        self._redraw()
        self.changed.emit()

    def _erase_points(self, x: float, y: float) -> None:
        radius = (self.brush + 1) * (BOUNDS[1] - BOUNDS[0]) / GRID
        self.points = [p for p in self.points if (p[0] - x) ** 2 + (p[1] - y) ** 2 > radius ** 2]

    def _paint(self, x: float, y: float, amount: float) -> None:
        xmin, xmax, ymin, ymax = BOUNDS
        col = (x - xmin) / (xmax - xmin) * GRID
        row = (ymax - y) / (ymax - ymin) * GRID  # row 0 at the top
        rr, cc = np.mgrid[0:GRID, 0:GRID]
        d2 = (rr + 0.5 - row) ** 2 + (cc + 0.5 - col) ** 2
        soft = np.exp(-d2 / (2.0 * max(self.brush, 0.5) ** 2)).astype(np.float32)
        self.grid = np.clip(self.grid + amount * soft, 0.0, None)

    def _redraw(self) -> None:
        pts = np.asarray(self.points, dtype=float).reshape(-1, 2)
        self.scatter.setData(pts[:, 0], pts[:, 1])
        xmin, xmax, ymin, ymax = BOUNDS
        top = float(self.grid.max()) or 1.0
        self.image.setImage(self.grid[::-1], levels=(0.0, top), rect=(xmin, ymin, xmax - xmin, ymax - ymin))
        self.image.setVisible(self.mode == "paint")
        self.scatter.setVisible(self.mode == "points")

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        self._redraw()

    def target_config(self) -> dict[str, Any]:
        """The drawing as a target (plain data, stored in the preset)."""
        if self.mode == "points":
            return {"kind": "points", "params": {}, "data": {"points": [[round(x, 4), round(y, 4)]
                                                                        for x, y in self.points]}}
        return {"kind": "painted_density", "params": {},
                "data": {"grid": np.round(self.grid, 4).tolist(), "bounds": list(BOUNDS)}}


class DrawDialog(QDialog):
    """Draw points or paint a density; OK makes it the target."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Draw a target")
        self.resize(560, 640)
        self.canvas = DrawCanvas(self)
        self.points_mode = QRadioButton("points (click; drag to spray)")
        self.paint_mode = QRadioButton("paint a density")
        self.points_mode.setChecked(True)
        self.points_mode.toggled.connect(lambda on: self.canvas.set_mode("points" if on else "paint"))
        self.brush = QSpinBox()
        self.brush.setRange(1, 12)
        self.brush.setValue(self.canvas.brush)
        self.brush.setToolTip("brush radius, in cells of the 64×64 canvas")
        self.brush.valueChanged.connect(lambda v: setattr(self.canvas, "brush", v))
        self.erase = QCheckBox("erase (or use the right button)")
        self.erase.toggled.connect(lambda v: setattr(self.canvas, "erase", v))
        clear = QPushButton("Clear")
        clear.clicked.connect(self.canvas.clear)
        self.count = QLabel("")
        self.canvas.changed.connect(self._update_count)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        row1 = QHBoxLayout()
        row1.addWidget(self.points_mode)
        row1.addWidget(self.paint_mode)
        row2 = QHBoxLayout()
        row2.addWidget(QLabel("brush"))
        row2.addWidget(self.brush)
        row2.addWidget(self.erase)
        row2.addWidget(clear)
        box = QVBoxLayout(self)
        box.addLayout(row1)
        box.addWidget(self.canvas, 1)
        box.addLayout(row2)
        box.addWidget(self.count)
        box.addWidget(buttons)
        self._update_count()

    def _update_count(self) -> None:
        self.count.setText(f"{len(self.canvas.points)} points" if self.canvas.mode == "points"
                           else f"painted mass {self.canvas.grid.sum():.1f}")
