"""Anomaly detection in one click: draw an image, Score it, and see its bits/dim under the current model against
the histogram of the test images' bits/dim. The numbers are computed on the training thread
(a :class:`~flowlab.training.messages.Score` command); this panel only asks and draws the answer (the session's
:class:`~flowlab.training.messages.Scored` event, or a :class:`~flowlab.training.messages.Failure` of kind
``"score"``)."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, Qt, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from flowlab.training.messages import Event, Failure, Score, Scored
from flowlab.training.scoring import ImageScore
from flowlab.training.views import Snapshot
from flowlab.ui.canvas import ImageCanvas
from flowlab.ui.views.base import View, ViewContext
from flowlab.ui.views.readout import bin_index, num

CANVAS_MIN, CANVAS_MAX = 64, 240  # the drawing canvas's side: it shrinks in a short dock rather than overlap
BAR_BRUSH = pg.mkBrush(150, 150, 150)
LINE_PEN = pg.mkPen(230, 97, 1, width=2)
TYPICAL_PEN = pg.mkPen(76, 120, 168, width=2)


class AnomalyView(View):
    """A canvas the size of the data's images, Score / Score a random test image, and the answer."""

    title = "Score a drawing"
    data_kinds = frozenset({"image"})  # scoring a drawing needs a model of images

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result: ImageScore | None = None
        self._histogram: tuple[np.ndarray, np.ndarray] = (np.zeros(0), np.zeros(0))  # (counts, edges) drawn
        self._rng = np.random.default_rng()
        self.canvas = ImageCanvas(8)
        self.canvas.setMinimumSize(CANVAS_MIN, CANVAS_MIN)
        self.canvas.setMaximumSize(CANVAS_MAX, CANVAS_MAX)
        self.canvas.installEventFilter(self)  # its width follows its height: a square, never wider than drawn
        self.score_button = QPushButton("Score")
        self.score_button.setToolTip("bits/dim of the drawing under the current model, against the test set's")
        self.score_button.clicked.connect(self.score_drawing)
        self.random_button = QPushButton("Score a test image")
        self.random_button.setToolTip("score a test image the model has never trained on (it lands on the canvas, "
                                      "to edit and score again)")
        self.random_button.clicked.connect(self.score_random_test_image)
        clear = QPushButton("Clear")
        clear.clicked.connect(self.canvas.clear)
        self.erase = QCheckBox("erase")
        self.erase.setToolTip("paint with the eraser (or use the right button)")
        self.erase.toggled.connect(lambda on: setattr(self.canvas, "erase", on))
        self.label = QLabel("")
        self.label.setObjectName("scoreText")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.info = QLabel("")  # which model and test set the histogram is from; stale scores
        self.info.setWordWrap(True)
        self.info.setStyleSheet("color: #666;")

        self.plot = self.graphics.addPlot()
        self.plot.setLabel("bottom", "bits/dim")
        self.plot.getAxis("bottom").setTickDensity(0.6)  # legible in a narrow dock
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.bars = pg.BarGraphItem(x0=[0.0], x1=[1.0], height=[0.0], brush=BAR_BRUSH, pen=pg.mkPen(110, 110, 110))
        self.plot.addItem(self.bars)
        self.line = pg.InfiniteLine(angle=90, movable=False, pen=LINE_PEN)
        self.line.setVisible(False)
        self.plot.addItem(self.line)

        # The base class put the plot in a vertical box: the canvas and its buttons go to its left, the verdict
        # below both, so the histogram gets the width.
        self.box.removeWidget(self.graphics)
        left = QVBoxLayout()
        left.addWidget(self.canvas, 1, Qt.AlignHCenter)  # gets the height the buttons leave, down to CANVAS_MIN
        tools = QGridLayout()
        tools.addWidget(self.score_button, 0, 0)
        tools.addWidget(clear, 0, 1)
        tools.addWidget(self.random_button, 1, 0, 1, 2)
        tools.addWidget(self.erase, 2, 0, 1, 2)
        left.addLayout(tools)
        left.addStretch(0)
        row = QHBoxLayout()
        row.addLayout(left, 0)
        row.addWidget(self.graphics, 1)
        inner = QVBoxLayout()
        inner.setContentsMargins(6, 6, 6, 6)
        inner.addLayout(row, 1)
        inner.addWidget(self.label)
        inner.addWidget(self.info)
        self.box.addLayout(inner)
        self._set_image_shape(None)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if watched is self.canvas and event.type() == QEvent.Resize:
            side = max(CANVAS_MIN, min(CANVAS_MAX, self.canvas.height()))
            if self.canvas.maximumWidth() != side:
                self.canvas.setMaximumWidth(side)  # the column keeps the buttons' width; the plot gets the rest
        return super().eventFilter(watched, event)

    # -- what the window tells it -------------------------------------------------------------------------------
    def configure(self, ctx: ViewContext) -> None:
        self._set_image_shape(ctx.shape if ctx.images else None)

    def handle_event(self, event: Event) -> None:
        if isinstance(event, Scored):
            self.show_score(event.result)
        elif isinstance(event, Failure) and event.kind == "score":
            self.show_error(event.message)

    def _set_image_shape(self, shape: tuple[int, ...] | None) -> None:
        """The data's image shape (C, H, W), or None when the target is not made of images."""
        reason = None
        if shape is None or len(shape) != 3:
            reason = "Choose an image target (digits, drawn images, an image folder…) to score drawings."
        elif shape[0] != 1 or shape[1] != shape[2]:
            reason = f"Scoring drawings needs square grey images; these are {'×'.join(map(str, shape))}."
        for w in (self.score_button, self.random_button, self.canvas):
            w.setEnabled(reason is None)
        if reason is None and self.canvas.size_px != shape[1]:
            self.canvas.set_size(shape[1])
        self.clear()
        self._say(reason or "Draw an image like the data's (ink is dark), then press Score.")

    def clear(self) -> None:
        """Forget the last answer (a new model)."""
        self.result = None
        self._histogram = (np.zeros(0), np.zeros(0))
        self.bars.setOpts(x0=[0.0], x1=[1.0], height=[0.0])
        self.line.setVisible(False)
        self.info.setText("")

    def update_snapshot(self, snap: Snapshot) -> None:
        """Say when the shown score is from an older model than the one now training."""
        if self.result is not None and snap.step != self.result.step:
            self.info.setText(f"{self._info(self.result)} — the model is now at step {snap.step}: score again "
                              "to see how it has changed")

    # -- asking -------------------------------------------------------------------------------------------------
    def score_drawing(self) -> None:
        if self.canvas.is_empty():
            self._say("The canvas is empty: draw something first (or score a random test image).", error=True)
            return
        self._say("scoring…")
        self.command.emit(Score(image=self.canvas.image()))

    def score_random_test_image(self) -> None:
        self._say("scoring…")
        self.command.emit(Score(test_index=int(self._rng.integers(0, 2**31 - 1))))

    # -- answers ------------------------------------------------------------------------------------------------
    @Slot(object)
    def show_score(self, result: ImageScore) -> None:
        """Draw the test histogram, the line at this image's bits/dim, and the verdict."""
        self.result = result
        counts, edges = result.histogram()
        self._histogram = (counts, edges)
        if len(counts):
            self.bars.setOpts(x0=edges[:-1], x1=edges[1:], height=counts)
        finite = math.isfinite(result.bpd)
        self.line.setVisible(finite)
        if finite:
            self.line.setValue(result.bpd)
            self.line.setPen(LINE_PEN if result.unusual else TYPICAL_PEN)
        lo, hi = (edges[0], edges[-1]) if len(counts) else (result.bpd - 1.0, result.bpd + 1.0)
        if finite:
            lo, hi = min(lo, result.bpd), max(hi, result.bpd)
        pad = 0.05 * (hi - lo or 1.0)
        self.plot.setXRange(lo - pad, hi + pad, padding=0)
        self.plot.setYRange(0, max(1.0, float(counts.max()) if len(counts) else 1.0) * 1.08, padding=0)
        self.info.setText(self._info(result))
        if result.source.startswith("test image"):
            self.canvas.set_image(result.image)  # show what was scored; it can be edited and scored again
        self._say(f"<b>{result.source}</b>: {result.text()}")

    def readout_at(self, plot: pg.PlotItem, x: float, y: float) -> str | None:
        """The bits/dim under the cursor and how many test images the bar there holds."""
        counts, edges = self._histogram
        i = bin_index(edges, x) if len(counts) else None
        if i is None:
            return None
        noun = self.result.noun if self.result is not None else "test images"
        return f"{num(x)} bits/dim\n{int(counts[i])} of the {noun} in {num(float(edges[i]))}–{num(float(edges[i + 1]))}"

    @staticmethod
    def _info(result: ImageScore) -> str:
        return (f"grey: the {len(result.test_bpd)} test images, scored by the model at step {result.step}; "
                "line: the scored image")

    @Slot(str)
    def show_error(self, message: str) -> None:
        self._say(message, error=True)

    def _say(self, text: str, error: bool = False) -> None:
        self.label.setText(text)
        self.label.setStyleSheet("color: #b00020;" if error else "")
