"""What every live view shares: the :class:`View` protocol (snapshots, events, context, commands), its export
button, and the small helpers the views draw with (points, plots, histograms, the presentation style).

Every pyqtgraph item is made once and updated in place from the latest snapshot.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QFont, QResizeEvent, QShowEvent
from PySide6.QtWidgets import QFileDialog, QGraphicsItem, QMenu, QMessageBox, QStyle, QToolButton, QVBoxLayout, QWidget
from superqt.utils import qdebounced

from flowlab.training.messages import Command, Event
from flowlab.training.views import ProbeAt, Snapshot
from flowlab.ui.export import FORMATS, ExportError, export_view, with_suffix
from flowlab.ui.views.probe_marks import ProbeMark, Space
from flowlab.ui.views.readout import Pointer

MAX_POINTS = 3000
DATA_BRUSH = pg.mkBrush(120, 120, 120, 110)
MODEL_BRUSH = pg.mkBrush(230, 97, 1, 140)
LATENT_BRUSH = pg.mkBrush(76, 120, 168, 140)
LOG_SPAN = 10.0  # the log-density heatmap shows [max − LOG_SPAN, max]
HIST_BINS = 40
BASE_POINT_SIZE = 3
PRESENTATION_FONT_SCALE = 1.5  # text in presentation mode on a screen of 900 px or more in height
SMALLEST_PRESENTATION_SCALE = 1.25  # … and on the smallest (1024×600): bigger still, and the views keep room
# line_width: the factor on each line's own width; font_scale: on each text's own size
STYLE = {"point_size": BASE_POINT_SIZE, "line_width": 1, "font_scale": 1.0}


def presentation_scale(screen_height: int) -> float:
    """How much presentation mode grows text on a screen this many pixels high: like a slide, in proportion to
    the screen (1.5× from 900 px up), but at least 1.25× — at 1.5× a 600-px screen left each view a title, a
    legend and a few clipped ticks."""
    return max(SMALLEST_PRESENTATION_SCALE, min(PRESENTATION_FONT_SCALE, PRESENTATION_FONT_SCALE * screen_height / 900))


def set_presentation(on: bool, scale: float = PRESENTATION_FONT_SCALE) -> None:
    """Bigger points, lines and text (by ``scale``) for a lecture hall (each view applies it in
    :meth:`View.apply_style`)."""
    STYLE["point_size"] = 6 if on else BASE_POINT_SIZE
    STYLE["line_width"] = 3 if on else 1
    STYLE["font_scale"] = scale if on else 1.0


def _scaled(font: QFont, scale: float) -> QFont:
    out = QFont(font)
    out.setPointSizeF(font.pointSizeF() * scale)
    return out


def _points(size: str | None, default: float) -> float:
    """'11pt' → 11.0; no size → ``default``."""
    return float(size[:-2]) if size and size.endswith("pt") else default


def scatter() -> pg.ScatterPlotItem:
    """A point cloud: screen-sized points, no outline, one shared brush."""
    return pg.ScatterPlotItem(size=STYLE["point_size"], pxMode=True, pen=None, brush=MODEL_BRUSH)


def plot(widget: pg.GraphicsLayoutWidget, title: str, row: int = 0, col: int = 0) -> pg.PlotItem:
    """A square-aspect plot with a light grid (points and densities in data coordinates)."""
    p = widget.addPlot(row=row, col=col, title=title)
    p.setAspectLocked(True)
    p.showGrid(x=True, y=True, alpha=0.15)
    return p


def cache_axes(widget: QWidget) -> None:
    """Paint each plot axis of ``widget`` from a pixmap of itself, re-rendered only when its range or size
    changes: an axis draws its grid lines over the whole plot, so every new frame of the points inside repainted
    its ticks, text and grid (a third of the window's painting). New axes (a view that adds plots) are taken the
    next time this is called; calling it again costs a walk over the scene's items."""
    for view in widget.findChildren(pg.GraphicsView):
        for item in view.scene().items():
            if isinstance(item, pg.AxisItem) and item.cacheMode() != QGraphicsItem.DeviceCoordinateCache:
                item.setCacheMode(QGraphicsItem.DeviceCoordinateCache)


def wrap_labels(widget: pg.GraphicsLayoutWidget) -> None:
    """Wrap each title and text label (not legend entries) that is wider than its share of the widget onto more
    lines. A label's minimum width is its text's: in a narrow dock (a small screen, presentation-size text) one
    long title made the layout wider than the widget, which clipped the plots on the right. A label's share is
    the widget's width times the columns its cell spans over the layout's columns (for a plot's title, less
    what sits beside it: the axis, a colour bar). Labels are changed only when their wrap width must change (a
    change moves the layout)."""
    ci = widget.ci
    columns = max(1, ci.layout.columnCount())
    left, _, right, _ = ci.layout.getContentsMargins()
    width = widget.viewport().width() - left - right - ci.layout.horizontalSpacing() * (columns - 1) - 4
    for item in widget.scene().items():
        if not isinstance(item, pg.LabelItem) or isinstance(item.parentItem(), pg.LegendItem):
            continue
        cell = item
        while cell.parentItem() is not None and cell.parentItem() is not ci:
            cell = cell.parentItem()
        span = len({col for _, col in ci.items.get(cell, [])}) or columns
        # a plot's title shares the plot's width with what sits beside it (the left axis, a colour bar)
        beside = (cell.effectiveSizeHint(Qt.MinimumSize).width() - item.effectiveSizeHint(Qt.MinimumSize).width()
                  if cell is not item else 0.0)
        budget = max(40.0, width * span / columns - max(8.0, beside))
        text = item.item
        unwrapped = text.document().clone()  # measured aside: the item itself changes only when it must
        unwrapped.setTextWidth(-1)
        want = -1.0 if unwrapped.idealWidth() <= budget else budget
        if abs(want - text.textWidth()) > 0.5:
            text.setTextWidth(want)
            item.updateMin()


def cap_points(points: np.ndarray | None) -> np.ndarray | None:
    return None if points is None else points[:MAX_POINTS]


def set_points(item: pg.ScatterPlotItem, points: np.ndarray | None) -> None:
    """Show the first two coordinates of at most ``MAX_POINTS`` points (nothing for None or 1-D data)."""
    points = cap_points(points)
    if points is None or points.ndim != 2 or points.shape[1] < 2:
        item.setData([], [])
    else:
        item.setData(points[:, 0], points[:, 1])


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


@dataclass(frozen=True)
class ViewContext:
    """What a new session tells every view before its first snapshot: the data's shape (one point's), the
    target's natural extents (2-D: ``(xmin, xmax, ymin, ymax)``, 1-D: ``(lo, hi)``), the enabled layers' names in
    order, and whether the target is an energy (fitted by reverse KL, no data samples)."""

    shape: tuple[int, ...]
    bounds: tuple[float, ...] | None = None
    layer_names: tuple[str, ...] = ()
    energy: bool = False

    @property
    def kind(self) -> str:
        return data_kind(self.shape)

    @property
    def images(self) -> bool:
        """Image data: scores in bits/dim, pictures instead of points."""
        return self.kind == "image"


class View(QWidget):
    """Base of the live views: one pyqtgraph layout and a generic protocol, so the window treats every view
    alike —

    - :meth:`configure` (a :class:`ViewContext`) when a session starts, then :meth:`clear`;
    - :meth:`update_snapshot` with the newest snapshot while the view is shown;
    - :meth:`handle_event` with each of the session's events (:mod:`flowlab.training.messages`); default: ignore;
    - ``command`` (a signal) carries the session commands the view's controls ask for, and
      :meth:`session_commands` those that bring a new session in line with the controls as they are.

    A small button in the top right corner saves the view as PNG or SVG (``add_export_action`` adds more; a view
    with ``exports_samples`` offers the window's samples export there). ``data_kinds`` says which data the view
    can draw (see :func:`data_kind`); the window hides the view's dock for any other data.

    The readout: while the cursor is over one of the view's plots, a small text in the plot's corner says what is
    under it (:meth:`readout_at`, each view's one method: what the last drawn data are at that point)."""

    title = ""
    readout_corner: tuple[float, float] = (0.0, 0.0)  # where in the plot the readout sits: (0, 0) top left
    data_kinds: frozenset[str] = DATA_KINDS
    exports_samples = False
    command = Signal(object)  # a flowlab.training.messages command, for the session
    probe_requested = Signal(object)  # a flowlab.training.views.ProbeAt (None: no probe) the user placed here

    #: Why the view stays hidden for a stack it cannot look into, completing "<title> …" (see ``applies_to``).
    stack_needs = ""

    @classmethod
    def applies_to(cls, shape: tuple[int, ...], layer_kinds: Sequence[str] | None = None) -> bool:
        """Whether the view can draw data of ``shape``, and (when ``layer_kinds`` says which kinds the enabled
        layers are) for that stack; a view that needs a kind of layer overrides this."""
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
        self._base_style: dict[int, tuple[float, float]] = {}  # id(item) → (line width, symbol size) as made
        self._base_text: dict[int, QFont | float] = {}  # id(item) → its font (or size in points) as made
        self.probe_marks: list[ProbeMark] = []
        # The readout: one text, moved into the plot under the cursor (in the scene from the start, so the
        # presentation style scales it like every other text).
        self.readout = pg.TextItem(color=(30, 30, 30), fill=pg.mkBrush(255, 255, 255, 215))
        self.readout.setZValue(1e6)
        self.readout.setVisible(False)
        self.graphics.scene().addItem(self.readout)
        self._cursor: QPointF | None = None  # where the cursor is over the plots, in scene coordinates
        self.graphics.scene().sigMouseMoved.connect(self._cursor_moved)
        # pyqtgraph drops moves closer than 1/mouseRateLimit to the last one, the last of a quick motion too: the
        # readout settles on where the cursor came to rest a moment after any move the viewport sees.
        self._settle = qdebounced(self._cursor_settled, timeout=30, parent=self)
        self._resting_at = QPointF()
        self.graphics.viewport().installEventFilter(Pointer(self._pointer_moved, self._cursor_left, self))

    # -- the protocol -------------------------------------------------------------------------------------------
    def configure(self, ctx: ViewContext) -> None:
        """A new session: the data's shape, the target's extents, the layers (default: nothing to set)."""

    def update_snapshot(self, snap: Snapshot) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def clear(self) -> None:
        """Forget what is drawn (a new stack or target)."""

    def handle_event(self, event: Event) -> None:
        """One of the session's events (``Ready``, ``Progress``, ``Scored``, ``Failure``…); default: ignore."""

    def session_commands(self) -> tuple[Command, ...]:
        """The commands that set a new session up as this view's controls stand (default: none)."""
        return ()

    # -- the readout -------------------------------------------------------------------------------------------
    def readout_at(self, plot: pg.PlotItem, x: float, y: float) -> str | None:
        """What to say about the point ``(x, y)`` (data coordinates) of ``plot``, from the data last drawn there:
        a look-up, never a computation over the data. None: nothing (the default)."""
        return None

    def readout_text(self) -> str:
        """The readout shown ('' when none is)."""
        return self.readout.textItem.toPlainText() if self.readout.isVisible() else ""

    def _cursor_moved(self, scene_pos: QPointF) -> None:
        self._cursor = QPointF(scene_pos)
        self.refresh_readout()

    def _pointer_moved(self, viewport_pos: QPointF) -> None:
        self._resting_at = self.graphics.mapToScene(viewport_pos.toPoint())
        self._settle()

    def _cursor_settled(self) -> None:
        if self._cursor is not None and self._cursor != self._resting_at:
            self._cursor_moved(self._resting_at)

    def _cursor_left(self) -> None:
        self._settle.cancel()
        self._cursor = None
        self.readout.setVisible(False)

    def refresh_readout(self) -> None:
        """Say again what is under the cursor (new data were drawn under a cursor at rest)."""
        pos = self._cursor
        if pos is None:
            return
        for item in self.graphics.ci.items:
            if isinstance(item, pg.PlotItem) and item.isVisible() and item.vb.sceneBoundingRect().contains(pos):
                at = item.vb.mapSceneToView(pos)
                text = self.readout_at(item, at.x(), at.y())
                if text:
                    self._place_readout(item.vb, text)
                    return
                break
        self.readout.setVisible(False)

    def _place_readout(self, vb: pg.ViewBox, text: str) -> None:
        fx, fy = self.readout_corner
        if self.readout.parentItem() is not vb:
            self.readout.setParentItem(vb)  # the view box's own pixels, not its data: it stays in the corner
        self.readout.setAnchor((fx, fy))
        self.readout.setPos(fx * vb.width() + 2 - 4 * fx, fy * vb.height() + 2 - 4 * fy)
        self.readout.setText(text)
        self.readout.setVisible(True)

    # -- the probe point ----------------------------------------------------------------------------------------
    def add_probe_mark(self, plot: pg.PlotItem, space: Space, path: bool = False) -> ProbeMark:
        """A probe marker in ``plot`` (data space ``"x"`` or latent ``"z"``): a click in the plot places the probe
        there, dragging the marker moves it."""
        mark = ProbeMark(plot, space, self.probe_requested.emit, path)
        if not self.probe_marks:
            self.graphics.scene().sigMouseClicked.connect(self._clicked)
        self.probe_marks.append(mark)
        return mark

    def _clicked(self, event) -> None:
        # Not ``event.isAccepted()``: a scatter accepts a click on one of its points, and a click on a sample or a
        # latent point must place the probe there too.
        if event.button() != Qt.LeftButton or event.double():
            return
        for mark in self.probe_marks:
            if mark.enabled and mark.contains(event.scenePos()):
                event.accept()
                self.probe_requested.emit(mark.at_scene(event.scenePos()))
                return

    def show_probe(self, at: ProbeAt | None, result: object) -> None:
        """The probe point (None: none) and the session's latest answer for it (a ProbeResult, a ProbeRefused or
        None); each marker takes what it can draw."""
        for mark in self.probe_marks:
            mark.show(at, result)

    # -- export -------------------------------------------------------------------------------------------------
    def add_export_action(self, text: str, slot: Callable[[], object], key: str | None = None) -> QAction:
        action = self.export_menu.addAction(text)
        action.triggered.connect(lambda _=False: slot())
        self.export_actions[key or text] = action
        return action

    @property
    def content(self) -> QWidget:
        """The widget whose picture the view is (the plots; a text view's text)."""
        return self.graphics

    def export_to(self, path: Path, fmt: str) -> Path:
        """Write the view as PNG or SVG (:class:`~flowlab.ui.export.ExportError` says why it could not)."""
        return export_view(self.graphics, path, fmt)

    def export_dialog(self, fmt: str) -> bool:
        """Ask for a file (``QFileDialog.getSaveFileName``) and save the view; a failure shows a message."""
        name = re.sub(r"[^a-z0-9]+", "_", self.title.lower()).strip("_") or "view"
        path, _ = QFileDialog.getSaveFileName(self, f"Save {self.title or 'view'} as {fmt.upper()}",
                                              f"{name}.{fmt}", FORMATS[fmt])
        if not path:
            return False
        try:
            self.export_to(with_suffix(path, fmt), fmt)
        except ExportError as e:
            QMessageBox.warning(self, "Cannot export the view", str(e))
            return False
        return True

    # -- the export button's corner -----------------------------------------------------------------------------
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

        def add(item, inset: float = 0.0) -> None:
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
        wrap_labels(self.graphics)
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

    # -- presentation style -------------------------------------------------------------------------------------
    def apply_style(self) -> None:
        """Apply ``STYLE`` (presentation mode): point clouds take its point size; every line is drawn at its own
        width (as made) times its factor, symbols grow alike, and every text (axis ticks and labels, titles,
        legends, line labels) at its own size times ``font_scale``. Widths and sizes as made are remembered, so
        mode on then off gives back each its own. Lines inside a ``PlotDataItem`` are set on the item, whose own
        pen is applied again with every ``setData``."""
        factor = STYLE["line_width"]
        grow = STYLE["point_size"] / BASE_POINT_SIZE
        owned = set()  # curves and symbols of PlotDataItems: styled through their item
        for item in self.graphics.scene().items():
            if isinstance(item, pg.PlotDataItem):
                owned.update((id(item.curve), id(item.scatter)))
                width, size = self._base_style.setdefault(
                    id(item), (pg.mkPen(item.opts["pen"]).widthF(), float(item.opts["symbolSize"])))
                pen = pg.mkPen(item.opts["pen"])
                pen.setWidthF(width * factor)
                item.setPen(pen)
                if item.opts["symbol"] is not None:
                    item.setSymbolSize(size * grow)
        for item in self.graphics.scene().items():
            if id(item) in owned:
                continue
            if isinstance(item, pg.ScatterPlotItem):
                item.setSize(STYLE["point_size"])
            elif isinstance(item, pg.PlotCurveItem):
                width, _ = self._base_style.setdefault(id(item), (pg.mkPen(item.opts["pen"]).widthF(), 0.0))
                pen = pg.mkPen(item.opts["pen"])
                pen.setWidthF(width * factor)
                item.setPen(pen)
        self._scale_text(STYLE["font_scale"])
        self.schedule_corner_check()  # bigger text moves the plots

    def _scale_text(self, scale: float) -> None:
        default = QFont(self.graphics.font())
        for item in self.graphics.scene().items():
            base = self._base_text
            if isinstance(item, pg.AxisItem):
                font = base.setdefault(id(item), QFont(item.style["tickFont"] or default))
                item.setStyle(tickFont=_scaled(font, scale))
                item.setTickDensity(1 / scale)  # bigger numbers, fewer of them: no tick text over another
                item.label.setFont(_scaled(font, scale))
                item.showLabel(item.label.isVisible())  # the axis makes room for the label's new size
            elif isinstance(item, pg.LegendItem):
                size = base.setdefault(id(item), _points(item.opts["labelTextSize"], default.pointSizeF()))
                item.setLabelTextSize(f"{size * scale:g}pt")  # its entries, and those added later
            elif isinstance(item, pg.LabelItem) and not isinstance(item.parentItem(), pg.LegendItem):
                size = base.setdefault(id(item), _points(item.opts.get("size"), default.pointSizeF()))
                item.setText(item.text, size=f"{size * scale:g}pt")
            elif isinstance(item, pg.TextItem):
                font = base.setdefault(id(item), QFont(item.textItem.font()))
                item.setFont(_scaled(font, scale))
