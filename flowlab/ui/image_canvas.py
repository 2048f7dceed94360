"""A small pixel canvas for drawing grey images (8×8 digits, 28×28 MNIST-style): a soft round brush paints ink
(intensity 1), the right button or erase mode takes it away. Ink is shown dark on white, as the image views do.
:class:`DrawImagesDialog` turns a handful of drawings into a ``drawn_images`` target."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QKeySequence, QMouseEvent, QPainter, QPaintEvent, QPen, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox,
                               QHBoxLayout, QLabel, QListView, QListWidget, QListWidgetItem, QPushButton,
                               QSizePolicy, QVBoxLayout, QWidget)

SIZES = (8, 28)
STEP = 0.25  # pixels between brush stamps along a stroke, so fast strokes stay continuous


def default_brush(size: int) -> float:
    """A brush radius (pixels) that draws strokes about as thick as the data's: ~1 px on 8×8, ~1.5 on 28×28."""
    return 0.9 if size <= 8 else 1.4


def ink_qimage(image: np.ndarray) -> QImage:
    """(H, W) intensities in [0, 1] (ink = 1) → a grey QImage, ink dark on white (a deep copy)."""
    grey = np.ascontiguousarray(np.rint((1.0 - np.clip(image, 0.0, 1.0)) * 255.0).astype(np.uint8))
    h, w = grey.shape
    return QImage(grey.data, w, h, w, QImage.Format_Grayscale8).copy()


def thumbnail(image: np.ndarray, side: int = 56) -> QPixmap:
    """A crisp (nearest-neighbour) square picture of ``image`` for lists and strips."""
    return QPixmap.fromImage(ink_qimage(image).scaled(side, side, Qt.IgnoreAspectRatio, Qt.FastTransformation))


class ImageCanvas(QWidget):
    """A ``size``×``size`` grid of intensities in [0, 1] (row 0 at the top); ``changed`` after every stroke.

    ``brush`` is the radius in pixels of a soft round stamp, 1 within about ⅔ of the radius, falling off
    smoothly beyond it; painting keeps the larger of the old value and the stamp, erasing the smaller of the old
    value and 1 − stamp, so going over a stroke twice does not darken it twice."""

    changed = Signal()

    def __init__(self, size: int = 8, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(160, 160)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.setMouseTracking(False)
        self.setCursor(Qt.CrossCursor)
        self.erase = False
        self._button: Qt.MouseButton | None = None
        self._last: tuple[float, float] | None = None
        self.grid = np.zeros((size, size), dtype=np.float32)
        self.brush = default_brush(size)

    # -- data ---------------------------------------------------------------------------------------------------
    @property
    def size_px(self) -> int:
        return self.grid.shape[0]

    def set_size(self, size: int) -> None:
        """A new, empty ``size``×``size`` canvas with the brush that suits it."""
        if not 2 <= int(size) <= 64:
            raise ValueError(f"canvas size must be 2–64 pixels, not {size}")
        self.grid = np.zeros((int(size), int(size)), dtype=np.float32)
        self.brush = default_brush(int(size))
        self.update()
        self.changed.emit()

    def image(self) -> np.ndarray:
        """A copy of the drawing, (size, size) float32 in [0, 1]."""
        return self.grid.copy()

    def set_image(self, image: np.ndarray) -> None:
        """Show ``image`` ((H, W) in [0, 1]); the canvas takes its size."""
        a = np.asarray(image, dtype=np.float32)
        if a.ndim != 2 or a.shape[0] != a.shape[1]:
            raise ValueError(f"the canvas takes a square 2-D image, not shape {a.shape}")
        self.grid = np.clip(a, 0.0, 1.0).copy()
        self.update()
        self.changed.emit()

    def clear(self) -> None:
        self.grid = np.zeros_like(self.grid)
        self.update()
        self.changed.emit()

    def is_empty(self) -> bool:
        return not bool(self.grid.any())

    def stamp(self, row: float, col: float, erase: bool = False) -> None:
        """One brush stamp centred at (row, col) in pixel units (pixel (r, c) has its centre at r + ½, c + ½)."""
        n = self.size_px
        centres = np.arange(n, dtype=np.float32) + 0.5
        d2 = (centres[:, None] - row) ** 2 + (centres[None, :] - col) ** 2
        sigma = max(self.brush, 0.3) / 1.5
        soft = np.clip(1.6 * np.exp(-d2 / (2.0 * sigma * sigma)), 0.0, 1.0).astype(np.float32)
        soft[soft < 0.01] = 0.0  # no faint haze across the whole canvas
        self.grid = np.minimum(self.grid, 1.0 - soft) if erase else np.maximum(self.grid, soft)

    def stroke_to(self, row: float, col: float, erase: bool = False) -> None:
        """Stamps along the line from the previous point of this stroke to (row, col)."""
        start = self._last or (row, col)
        steps = max(1, math.ceil(math.hypot(row - start[0], col - start[1]) / STEP))
        for t in np.linspace(0.0, 1.0, steps + 1)[1 if self._last else 0:]:
            self.stamp(start[0] + t * (row - start[0]), start[1] + t * (col - start[1]), erase)
        self._last = (row, col)
        self.update()
        self.changed.emit()

    # -- geometry -----------------------------------------------------------------------------------------------
    def pixel_rect(self) -> QRectF:
        """Where the image is drawn: the largest centred square that fits."""
        side = min(self.width(), self.height()) - 2
        return QRectF((self.width() - side) / 2.0, (self.height() - side) / 2.0, side, side)

    def to_pixels(self, pos: QPointF) -> tuple[float, float]:
        """Widget coordinates → (row, col) in pixel units."""
        r = self.pixel_rect()
        cell = r.width() / self.size_px
        return (pos.y() - r.top()) / cell, (pos.x() - r.left()) / cell

    def to_widget(self, row: float, col: float) -> QPointF:
        """(row, col) in pixel units → widget coordinates (for tests and overlays)."""
        r = self.pixel_rect()
        cell = r.width() / self.size_px
        return QPointF(r.left() + col * cell, r.top() + row * cell)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(280, 280)

    # -- Qt events ----------------------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() not in (Qt.LeftButton, Qt.RightButton):
            return super().mousePressEvent(event)
        self._button = event.button()
        self._last = None
        self.stroke_to(*self.to_pixels(event.position()), erase=self._erasing())
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._button is None:
            return super().mouseMoveEvent(event)
        self.stroke_to(*self.to_pixels(event.position()), erase=self._erasing())
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == self._button:
            self._button = None
            self._last = None
            event.accept()
        else:
            super().mouseReleaseEvent(event)

    def _erasing(self) -> bool:
        return self.erase or self._button == Qt.RightButton

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        p = QPainter(self)
        r = self.pixel_rect()
        p.fillRect(self.rect(), self.palette().window())
        p.drawImage(r, ink_qimage(self.grid))  # nearest-neighbour: no smooth-pixmap hint
        n = self.size_px
        cell = r.width() / n
        if cell >= 6:  # faint pixel grid where pixels are big enough to see it
            p.setPen(QPen(QColor(0, 0, 0, 28 if n > 16 else 40), 1))
            for i in range(1, n):
                p.drawLine(QPointF(r.left() + i * cell, r.top()), QPointF(r.left() + i * cell, r.bottom()))
                p.drawLine(QPointF(r.left(), r.top() + i * cell), QPointF(r.right(), r.top() + i * cell))
        p.setPen(QPen(QColor(120, 120, 120), 1))
        p.drawRect(r)
        p.end()


class DrawImagesDialog(QDialog):
    """Draw images one at a time, Add each to the strip; OK gives a ``drawn_images`` target (at least 2)."""

    MIN_IMAGES = 2

    def __init__(self, parent: QWidget | None = None, images: list[np.ndarray] | None = None,
                 size: int = 8) -> None:
        super().__init__(parent)
        self.setWindowTitle("Draw images")
        self.resize(560, 640)
        self.images: list[np.ndarray] = []
        self._dirty = False  # the canvas holds strokes not yet added
        self.canvas = ImageCanvas(size, self)
        self.canvas.changed.connect(self._canvas_changed)
        self.size_combo = QComboBox()
        for s in SIZES:
            self.size_combo.addItem(f"{s}×{s}", s)
        self.size_combo.setToolTip("image size; all images of a data set have the same size")
        self.size_combo.currentIndexChanged.connect(self._size_chosen)
        self.brush = QDoubleSpinBox()
        self.brush.setRange(0.3, 6.0)
        self.brush.setSingleStep(0.1)
        self.brush.setDecimals(1)
        self.brush.setToolTip("brush radius, in pixels")
        self.brush.valueChanged.connect(lambda v: setattr(self.canvas, "brush", float(v)))
        self.erase = QCheckBox("erase (or right button)")
        self.erase.toggled.connect(lambda on: setattr(self.canvas, "erase", on))
        clear = QPushButton("Clear")
        clear.clicked.connect(self._clear)
        self.add_button = QPushButton("Add")
        self.add_button.setToolTip("keep this drawing as one image of the data set, and start a new one")
        self.add_button.setShortcut(QKeySequence("Ctrl+Return"))
        self.add_button.clicked.connect(self.add_current)
        self.strip = QListWidget()
        self.strip.setViewMode(QListView.IconMode)
        self.strip.setFlow(QListView.LeftToRight)
        self.strip.setWrapping(False)
        self.strip.setIconSize(QSize(48, 48))
        self.strip.setFixedHeight(84)
        self.strip.setSelectionMode(QAbstractItemView.ExtendedSelection)
        self.strip.setMovement(QListView.Static)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("remove the selected images (Del)")
        self.remove_button.setShortcut(QKeySequence(QKeySequence.Delete))
        self.remove_button.clicked.connect(self.remove_selected)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.ok_button = buttons.button(QDialogButtonBox.Ok)
        for b in buttons.buttons():  # Enter adds the drawing; OK is a click away
            b.setAutoDefault(False)
        self.add_button.setDefault(True)

        tools = QHBoxLayout()
        tools.addWidget(QLabel("size"))
        tools.addWidget(self.size_combo)
        tools.addWidget(QLabel("brush"))
        tools.addWidget(self.brush)
        tools.addWidget(self.erase)
        tools.addStretch(1)
        tools.addWidget(clear)
        add_row = QHBoxLayout()
        add_row.addWidget(QLabel("left button paints, right button erases"))
        add_row.addStretch(1)
        add_row.addWidget(self.add_button)
        strip_row = QHBoxLayout()
        strip_row.addWidget(self.strip, 1)
        strip_row.addWidget(self.remove_button)
        box = QVBoxLayout(self)
        box.addLayout(tools)
        box.addWidget(self.canvas, 1)
        box.addLayout(add_row)
        box.addLayout(strip_row)
        box.addWidget(self.message)
        box.addWidget(buttons)
        for image in images or []:
            self._append(np.asarray(image, dtype=np.float32))
        start = self.images[0].shape[0] if self.images else size
        i = self.size_combo.findData(start)
        if i < 0:  # an odd size from a preset: offer it too
            self.size_combo.addItem(f"{start}×{start}", start)
            i = self.size_combo.count() - 1
        self.size_combo.setCurrentIndex(i)
        self._size_chosen()
        self._update()
        self.canvas.setFocusPolicy(Qt.StrongFocus)
        self.canvas.setFocus()

    # -- actions ------------------------------------------------------------------------------------------------
    def add_current(self) -> bool:
        """Add the drawing on the canvas to the strip and clear the canvas; refuses an empty drawing."""
        if self.canvas.is_empty():
            self._say("The canvas is empty: draw something first.", error=True)
            return False
        self._append(self.canvas.image())
        self.canvas.clear()
        self._dirty = False
        self._update()
        return True

    def remove_selected(self) -> None:
        rows = sorted((self.strip.row(item) for item in self.strip.selectedItems()), reverse=True)
        for row in rows:
            self.strip.takeItem(row)
            del self.images[row]
        self._update()

    def target_config(self) -> dict[str, Any]:
        """The strip as a ``drawn_images`` target (plain data, stored in the preset)."""
        return {"kind": "drawn_images", "params": {},
                "data": {"images": [np.round(img.astype(np.float64), 3).tolist() for img in self.images]}}

    def problem(self) -> str | None:
        """Why OK is refused, or None."""
        if self._dirty and not self.canvas.is_empty():
            return "The drawing on the canvas is not added yet: press Add to keep it, or Clear to drop it."
        if len(self.images) < self.MIN_IMAGES:
            return (f"A data set needs at least {self.MIN_IMAGES} images (one to train on, one to test); "
                    f"you have {len(self.images)}. Draw one and press Add.")
        return None

    def accept(self) -> None:
        problem = self.problem()
        if problem:
            self._say(problem, error=True)
            return
        super().accept()

    # -- internals ----------------------------------------------------------------------------------------------
    def _append(self, image: np.ndarray) -> None:
        self.images.append(image)
        item = QListWidgetItem(QIcon(thumbnail(image, 48)), str(len(self.images)))
        self.strip.addItem(item)
        self.strip.scrollToItem(item)

    def _size_chosen(self) -> None:
        size = int(self.size_combo.currentData())
        if size != self.canvas.size_px:
            self.canvas.set_size(size)
            self._dirty = False
        self.brush.setValue(self.canvas.brush)
        self._update()

    def _clear(self) -> None:
        self.canvas.clear()
        self._dirty = False
        self._update()

    def _canvas_changed(self) -> None:
        self._dirty = not self.canvas.is_empty()

    def _update(self) -> None:
        n = len(self.images)
        # All images of a data set share one size: the size is fixed once the strip holds an image.
        self.size_combo.setEnabled(n == 0)
        self.size_combo.setToolTip("remove all images to change the size" if n else
                                   "image size; all images of a data set have the same size")
        self.remove_button.setEnabled(n > 0)
        more = max(0, self.MIN_IMAGES - n)
        self._say(f"{n} image{'s' if n != 1 else ''}" + (f" — add {more} more to make a data set" if more else ""))

    def _say(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #b00020;" if error else "")
