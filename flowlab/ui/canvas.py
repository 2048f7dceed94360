"""One paint canvas for every drawn target: points sprayed over the plane, a density (or energy) painted on a grid,
a small grey image. The grid is a :class:`pyqtgraph.ImageItem` painted through its draw kernel
(``setDrawKernel``, as pyqtgraph's ``examples/Draw.py``); a stamp combines with the grid in one of two ways:

* ``"add"`` (masses): paint adds the kernel, erase subtracts it, clipped at 0 — going over a place adds more;
* ``"cap"`` (ink in [0, 1]): paint keeps max(old, k), erase min(old, 1 − k) — going over a stroke twice does not
  darken it twice.

The grid is row-major with row 0 at the TOP (as painted targets and images expect); the left button paints (or
places points), the right button or ``erase`` takes away, and ``changed`` follows every stroke.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtWidgets import QSizePolicy, QWidget

Ink = Literal["add", "cap"]
Mode = Literal["paint", "points"]

BOUNDS = (-4.0, 4.0, -4.0, 4.0)  # the plane the Draw… dialog paints over
GRID = 64  # painted cells per side there
SPRAY = 6  # points added per drag event
SPRAY_RADIUS = 0.15
STEP = 0.5  # cells between stamps along a stroke, so fast strokes stay continuous
FAINT = 1e-2  # kernel values below this are cut, so a stamp leaves no haze across the whole grid


def soft_kernel(radius: float, ink: Ink) -> np.ndarray:
    """A square stamp centred on its middle cell, for a brush of ``radius`` cells.

    ``"add"``: a Gaussian exp(−d²/2r²) (mass falls off smoothly). ``"cap"``: min(1, 1.6·exp(−d²/2σ²)) with
    σ = r/1.5, 1 within about ⅔ of the radius and soft beyond it, as a pen on paper."""
    sigma = max(radius, 0.5) if ink == "add" else max(radius, 0.3) / 1.5
    peak = 1.0 if ink == "add" else 1.6
    half = max(1, math.ceil(sigma * math.sqrt(2.0 * math.log(peak / FAINT))))
    d = np.arange(-half, half + 1, dtype=np.float32)
    k = np.minimum(1.0, peak * np.exp(-(d[:, None] ** 2 + d[None, :] ** 2) / (2.0 * sigma * sigma)))
    k[k < FAINT] = 0.0
    return k.astype(np.float32)


class BrushItem(pg.ImageItem):
    """An image painted through its draw kernel by both mouse buttons (the right one erases), with the stamps
    interpolated along each drag so that a quick stroke stays one line. ``painted`` after every stroke event."""

    painted = Signal()

    def __init__(self, ink: Ink, radius: float) -> None:
        super().__init__(np.zeros((1, 1), dtype=np.float32), axisOrder="row-major")
        self.ink: Ink = ink
        self.erase = False
        self._erasing = False
        self._last: tuple[int, int] | None = None  # the last cell stamped in this stroke
        self.radius = radius

    @property
    def radius(self) -> float:
        return self._radius

    @radius.setter
    def radius(self, value: float) -> None:
        self._radius = float(value)
        k = soft_kernel(self._radius, self.ink)
        self.setDrawKernel(k, center=(k.shape[0] // 2, k.shape[1] // 2), mode=self._combine)

    # -- painting -------------------------------------------------------------------------------------------------
    def stamp(self, row: float, col: float, erase: bool = False) -> None:
        """One stamp centred on the cell holding (row, col) (cell (r, c) spans [r, r + 1) × [c, c + 1))."""
        self._erasing = erase
        self.drawAt(QPointF(math.floor(col) + 0.5, math.floor(row) + 0.5))
        self._last = (math.floor(row), math.floor(col))

    def stroke_to(self, row: float, col: float, erase: bool = False) -> None:
        """Stamps on the cells from the last one of this stroke to (row, col): each new cell once, or the same
        cell again when the brush has not left it (so a resting "add" brush keeps adding, as an airbrush)."""
        if self._last is None:
            self.stamp(row, col, erase)
        else:
            r0, c0 = self._last[0] + 0.5, self._last[1] + 0.5
            steps = max(1, math.ceil(math.hypot(row - r0, col - c0) / STEP))
            cells = [(math.floor(r0 + t * (row - r0)), math.floor(c0 + t * (col - c0)))
                     for t in np.linspace(0.0, 1.0, steps + 1)[1:]]
            new = [c for i, c in enumerate(cells) if c != (cells[i - 1] if i else self._last)]
            for r, c in new or cells[-1:]:
                self.stamp(r, c, erase)
        self.painted.emit()

    def end_stroke(self) -> None:
        self._last = None

    def _combine(self, kernel: np.ndarray, image: np.ndarray, mask: np.ndarray | None, src: tuple[slice, ...],
                 dst: tuple[slice, ...], ev: object) -> None:
        """pyqtgraph's draw-mode hook: combine the (clipped) kernel with the image, then redraw."""
        k, old = kernel[src], image[dst]
        if self.ink == "add":
            image[dst] = np.maximum(old - k, 0.0) if self._erasing else old + k
        else:
            image[dst] = np.minimum(old, 1.0 - k) if self._erasing else np.maximum(old, k)
        self.updateImage()

    # -- mouse (pyqtgraph's scene events, in this item's pixel coordinates) ----------------------------------------
    def hoverEvent(self, ev) -> None:  # noqa: N802 - pyqtgraph's name
        if not ev.isExit():
            for button in (Qt.LeftButton, Qt.RightButton):
                ev.acceptDrags(button)
                ev.acceptClicks(button)

    def mouseClickEvent(self, ev) -> None:  # noqa: N802
        if ev.button() not in (Qt.LeftButton, Qt.RightButton):
            ev.ignore()
            return
        ev.accept()
        self.end_stroke()
        self.stroke_to(ev.pos().y(), ev.pos().x(), self._erase_for(ev))
        self.end_stroke()

    def mouseDragEvent(self, ev) -> None:  # noqa: N802
        if ev.button() not in (Qt.LeftButton, Qt.RightButton):
            ev.ignore()
            return
        ev.accept()
        erase = self._erase_for(ev)
        if ev.isStart():  # the drag begins a few pixels after the press: start where the button went down
            self.end_stroke()
            self.stroke_to(ev.buttonDownPos().y(), ev.buttonDownPos().x(), erase)
        cell = (math.floor(ev.pos().y()), math.floor(ev.pos().x()))
        if not (ev.isFinish() and cell == self._last):
            self.stroke_to(ev.pos().y(), ev.pos().x(), erase)
        if ev.isFinish():
            self.end_stroke()

    def _erase_for(self, ev) -> bool:
        return self.erase or ev.button() == Qt.RightButton


class _PointsBox(pg.ViewBox):
    """A view box that neither pans nor zooms; in points mode its buttons place, spray and erase points."""

    def __init__(self) -> None:
        super().__init__(enableMenu=False)
        self.canvas: PaintCanvas | None = None  # set once the canvas is built around it
        self.setMouseEnabled(False, False)

    def mouseClickEvent(self, ev) -> None:  # noqa: N802 - pyqtgraph's name
        self._points(ev, spray=False)

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802
        self._points(ev, spray=True)

    def wheelEvent(self, ev, axis=None) -> None:  # noqa: N802
        ev.ignore()

    def _points(self, ev, spray: bool) -> None:
        if self.canvas is None or self.canvas.mode != "points" or ev.button() not in (Qt.LeftButton, Qt.RightButton):
            ev.ignore()
            return
        p = self.mapSceneToView(ev.scenePos())
        self.canvas.stroke(p.x(), p.y(), erase=ev.button() == Qt.RightButton, spray=spray)
        ev.accept()


class PaintCanvas(pg.GraphicsView):
    """A grid of ``shape`` cells painted over ``bounds`` = (xmin, xmax, ymin, ymax), and in ``"points"`` mode a
    point set in the same plane instead. ``grid`` is the live painted array (row 0 at the top)."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None, shape: tuple[int, int] = (GRID, GRID),
                 bounds: tuple[float, float, float, float] = BOUNDS, ink: Ink = "add", brush: float = 2.0,
                 axes: bool = True, seed: int = 0) -> None:
        super().__init__(parent, background="w")  # a bare view: PlotWidget's forwarded clear() would hide ours
        self.view = _PointsBox()
        self.view.canvas = self
        self.view.setAspectLocked(True)
        if axes:
            plot = pg.PlotItem(viewBox=self.view)
            plot.hideButtons()
            plot.showGrid(x=True, y=True, alpha=0.2)
            self.setCentralItem(plot)
        else:  # the bare view box, as pyqtgraph's Draw example: the drawing fills the widget
            self.setCentralItem(self.view)
        self.paint = BrushItem(ink, brush)
        self.paint.setColorMap(pg.colormap.get("viridis"))  # masses; an image canvas shows ink on paper instead
        self.paint.painted.connect(self._painted)
        self.view.addItem(self.paint)
        self.scatter = pg.ScatterPlotItem(size=5, pen=None, brush=pg.mkBrush(230, 97, 1, 200))
        self.view.addItem(self.scatter)
        self.viewport().setCursor(Qt.CrossCursor)
        self.points: list[tuple[float, float]] = []
        self._rng = np.random.default_rng(seed)
        self._mode: Mode = "paint"
        self.set_grid(np.zeros(shape, dtype=np.float32), bounds)

    # -- state ----------------------------------------------------------------------------------------------------
    @property
    def mode(self) -> Mode:
        return self._mode

    def set_mode(self, mode: Mode) -> None:
        self._mode = mode
        self.paint.setVisible(mode == "paint")  # a hidden item takes no mouse events: the view box gets them
        self.scatter.setVisible(mode == "points")

    @property
    def brush(self) -> float:
        """The brush radius, in cells."""
        return self.paint.radius

    @brush.setter
    def brush(self, radius: float) -> None:
        self.paint.radius = radius

    @property
    def erase(self) -> bool:
        """Erase with the left button too (the right button always erases)."""
        return self.paint.erase

    @erase.setter
    def erase(self, on: bool) -> None:
        self.paint.erase = bool(on)

    @property
    def grid(self) -> np.ndarray:
        return self.paint.image

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return self._bounds

    def set_grid(self, grid: np.ndarray, bounds: tuple[float, float, float, float] | None = None) -> None:
        """Show a copy of ``grid`` (row 0 at the top), optionally over new ``bounds``."""
        self._bounds = tuple(float(b) for b in (bounds or self._bounds))  # type: ignore[assignment]
        xmin, xmax, ymin, ymax = self._bounds
        self.paint.setImage(np.array(grid, dtype=np.float32), autoLevels=False)
        self.paint.setRect(QRectF(xmin, ymax, xmax - xmin, ymin - ymax))  # negative height: row 0 at the top
        self.view.setRange(xRange=(xmin, xmax), yRange=(ymin, ymax), padding=0)
        self._show_levels()
        self.changed.emit()

    def clear(self) -> None:
        self.grid[:] = 0.0
        self.paint.updateImage()
        self._show_levels()
        self.set_points([])

    def is_empty(self) -> bool:
        return not self.points if self.mode == "points" else not bool(self.grid.any())

    # -- strokes in data coordinates (the mouse goes through the items; these serve both and tests) ------------
    def stroke(self, x: float, y: float, erase: bool = False, spray: bool = False) -> None:
        """One mouse event at (x, y): place (or spray) points or erase them, or paint one stamp."""
        erase = erase or self.erase
        if self.mode == "paint":
            self.paint.end_stroke()
            self.paint.stroke_to(*self.cell_at(x, y), erase)
            self.paint.end_stroke()
            return
        if erase:
            radius = (self.brush + 1) * (self._bounds[1] - self._bounds[0]) / self.grid.shape[1]
            self.points = [p for p in self.points if (p[0] - x) ** 2 + (p[1] - y) ** 2 > radius ** 2]
        elif spray:
            self.points += [(x + dx, y + dy) for dx, dy in self._rng.normal(0.0, SPRAY_RADIUS, size=(SPRAY, 2))]
        else:
            self.points.append((x, y))
        self.set_points(self.points)

    def set_points(self, points: list[tuple[float, float]]) -> None:
        """Show ``points`` [(x, y), …] (the canvas keeps the list)."""
        self.points = points
        pts = np.asarray(points, dtype=float).reshape(-1, 2)
        self.scatter.setData(pts[:, 0], pts[:, 1])
        self.changed.emit()

    def cell_at(self, x: float, y: float) -> tuple[float, float]:
        """Data (x, y) → (row, col) in cell units, row 0 at the top."""
        xmin, xmax, ymin, ymax = self._bounds
        rows, cols = self.grid.shape
        return (ymax - y) / (ymax - ymin) * rows, (x - xmin) / (xmax - xmin) * cols

    def point_at(self, row: float, col: float) -> tuple[float, float]:
        """(row, col) in cell units → data (x, y)."""
        xmin, xmax, ymin, ymax = self._bounds
        rows, cols = self.grid.shape
        return xmin + col / cols * (xmax - xmin), ymax - row / rows * (ymax - ymin)

    def widget_pos(self, x: float, y: float) -> QPoint:
        """Data (x, y) → the point of ``viewport()`` (which takes the mouse events) showing it."""
        return self.mapFromScene(self.view.mapViewToScene(QPointF(x, y)))

    # -- internals ------------------------------------------------------------------------------------------------
    def _painted(self) -> None:
        self._show_levels()
        self.changed.emit()

    def _show_levels(self) -> None:
        top = float(self.grid.max()) if self.paint.ink == "add" else 1.0
        self.paint.setLevels((0.0, top or 1.0))


class ImageCanvas(PaintCanvas):
    """A ``size``×``size`` grey image in [0, 1] (ink = 1, shown dark on white), painted with a soft round brush
    of ``brush`` pixels; faint pixel lines where pixels are big enough to see them."""

    def __init__(self, size: int = 8, parent: QWidget | None = None) -> None:
        super().__init__(parent, shape=(size, size), bounds=(0.0, size, 0.0, size), ink="cap",
                         brush=default_brush(size), axes=False)
        self.setBackground(self.palette().window().color())
        self.paint.setColorMap(pg.ColorMap([0.0, 1.0], [(255, 255, 255), (0, 0, 0)]))
        self._lines = pg.PlotCurveItem(connect="pairs")
        self._frame = pg.PlotCurveItem(pen=pg.mkPen(120, 120, 120))
        self.view.addItem(self._lines)
        self.view.addItem(self._frame)
        self.view.sigResized.connect(self._show_lines)
        self._draw_lines()
        self.setMinimumSize(160, 160)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)

    @property
    def size_px(self) -> int:
        return self.grid.shape[0]

    def set_size(self, size: int) -> None:
        """A new, empty ``size``×``size`` canvas with the brush that suits it."""
        if not 2 <= int(size) <= 64:
            raise ValueError(f"canvas size must be 2–64 pixels, not {size}")
        self.brush = default_brush(int(size))
        self.set_grid(np.zeros((int(size), int(size)), dtype=np.float32), (0.0, size, 0.0, size))

    def image(self) -> np.ndarray:
        """A copy of the drawing, (size, size) float32 in [0, 1]."""
        return self.grid.copy()

    def set_image(self, image: np.ndarray) -> None:
        """Show ``image`` ((H, W) in [0, 1]); the canvas takes its size."""
        a = np.asarray(image, dtype=np.float32)
        if a.ndim != 2 or a.shape[0] != a.shape[1]:
            raise ValueError(f"the canvas takes a square 2-D image, not shape {a.shape}")
        n = a.shape[0]
        self.set_grid(np.clip(a, 0.0, 1.0), (0.0, n, 0.0, n))

    def pixel_rect(self) -> QRectF:
        """Where the image is drawn, in ``viewport()`` coordinates."""
        n = self.size_px
        corners = [self.to_widget(0, 0), self.to_widget(n, n)]
        return QRectF(corners[0].toPointF(), corners[1].toPointF()).normalized()

    def to_widget(self, row: float, col: float) -> QPoint:
        """(row, col) in pixel units → the point of ``viewport()`` over it (for tests and overlays)."""
        return self.widget_pos(*self.point_at(row, col))

    def set_grid(self, grid: np.ndarray, bounds: tuple[float, float, float, float] | None = None) -> None:
        super().set_grid(grid, bounds)
        if hasattr(self, "_lines"):  # not while the base class is being built
            self._draw_lines()

    def _draw_lines(self) -> None:
        n = self.size_px
        ticks = np.repeat(np.arange(1, n, dtype=float), 2)
        ends = np.tile([0.0, float(n)], n - 1)
        self._lines.setData(np.concatenate([ticks, ends]), np.concatenate([ends, ticks]))
        self._frame.setData([0, n, n, 0, 0], [0, 0, n, n, 0])
        self._show_lines()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(280, 280)

    def _show_lines(self) -> None:
        n = self.size_px
        self._lines.setPen(pg.mkPen(0, 0, 0, 28 if n > 16 else 40))
        side = min(self.view.width(), self.view.height())  # the view box's size, in screen pixels
        self._lines.setVisible(side / n >= 6)


def default_brush(size: int) -> float:
    """A brush radius (pixels) that draws strokes about as thick as the data's: ~1 px on 8×8, ~1.5 on 28×28."""
    return 0.9 if size <= 8 else 1.4
