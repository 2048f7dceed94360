"""The dialogs around the paint canvas: Draw… (points or a painted density), Energy: paint… (a painted energy) and
Draw images… (a handful of small images). Each gives a target as plain data, stored in the preset."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QImage, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from flowlab.ui.canvas import BOUNDS, GRID, ImageCanvas, PaintCanvas

SIZES = (8, 28)
# What each drawn kind is made of and how the dialog offers it: (label, canvas mode, hint).
DRAWN_KINDS: dict[str, tuple[str, str, str]] = {
    "points": ("points (click; drag to spray)", "points", "left button adds points, right button erases"),
    "painted_density": ("paint a density", "paint", "paint where the samples should land; right button erases"),
    "painted_energy": ("paint an energy", "paint", "paint where the energy is LOW (the density bright): the flow "
                       "learns to put its samples there; right button erases"),
}


class DrawDialog(QDialog):
    """Draw points or paint a grid over the plane; OK makes it the target. ``kinds`` are the targets offered
    (a subset of :data:`DRAWN_KINDS`); ``start``, a current target of one of them, is shown to be edited."""

    def __init__(self, parent: QWidget | None = None, kinds: Sequence[str] = ("points", "painted_density"),
                 start: dict[str, Any] | None = None, title: str = "Draw a target") -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.resize(560, 640)
        self.canvas = PaintCanvas(self)
        self.kinds = tuple(kinds)
        self.choices = QButtonGroup(self)
        row1 = QHBoxLayout()
        for i, kind in enumerate(self.kinds):
            button = QRadioButton(DRAWN_KINDS[kind][0])
            button.setVisible(len(self.kinds) > 1)
            self.choices.addButton(button, i)
            row1.addWidget(button)
        self.choices.idToggled.connect(lambda i, on: on and self._choose(i))
        self.brush = QDoubleSpinBox()
        self.brush.setRange(1.0, 12.0)
        self.brush.setDecimals(0)
        self.brush.setValue(self.canvas.brush)
        self.brush.setToolTip(f"brush radius, in cells of the {GRID}×{GRID} canvas")
        self.brush.valueChanged.connect(lambda v: setattr(self.canvas, "brush", float(v)))
        self.erase = QCheckBox("erase (or use the right button)")
        self.erase.toggled.connect(lambda on: setattr(self.canvas, "erase", on))
        clear = QPushButton("Clear")
        clear.clicked.connect(self.canvas.clear)
        self.hint = QLabel("")
        self.hint.setWordWrap(True)
        self.count = QLabel("")
        self.canvas.changed.connect(self._update_count)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        row2 = QHBoxLayout()
        row2.addWidget(QLabel("brush"))
        row2.addWidget(self.brush)
        row2.addWidget(self.erase)
        row2.addWidget(clear)
        box = QVBoxLayout(self)
        box.addLayout(row1)
        box.addWidget(self.hint)
        box.addWidget(self.canvas, 1)
        box.addLayout(row2)
        box.addWidget(self.count)
        box.addWidget(buttons)
        first = self.kinds.index(start["kind"]) if start and start.get("kind") in self.kinds else 0
        self.choices.button(first).setChecked(True)
        if start and start.get("kind") in self.kinds:
            self._load(start.get("data", {}))

    @property
    def kind(self) -> str:
        return self.kinds[max(self.choices.checkedId(), 0)]

    def set_kind(self, kind: str) -> None:
        self.choices.button(self.kinds.index(kind)).setChecked(True)

    def target_config(self) -> dict[str, Any]:
        """The drawing as the chosen target (plain data)."""
        if self.canvas.mode == "points":
            return {"kind": self.kind, "params": {},
                    "data": {"points": [[round(x, 4), round(y, 4)] for x, y in self.canvas.points]}}
        return {"kind": self.kind, "params": {},
                "data": {"grid": np.round(self.canvas.grid.astype(np.float64), 4).tolist(),
                         "bounds": list(self.canvas.bounds)}}

    def _choose(self, index: int) -> None:
        _, mode, hint = DRAWN_KINDS[self.kinds[index]]
        self.canvas.set_mode(mode)  # type: ignore[arg-type]
        self.hint.setText(hint)
        self._update_count()

    def _load(self, data: Any) -> None:
        """Start from a current drawing; one that cannot be read (a hand-edited preset) starts empty."""
        try:
            if self.canvas.mode == "points":
                self.canvas.set_points([(float(x), float(y)) for x, y in data.get("points", [])])
            else:
                grid = np.asarray(data["grid"], dtype=np.float32)
                bounds = tuple(float(b) for b in data.get("bounds", BOUNDS))
                if grid.ndim != 2 or len(bounds) != 4 or not np.isfinite(grid).all() or (grid < 0).any():
                    return
                self.canvas.set_grid(grid, bounds)  # type: ignore[arg-type]
        except (TypeError, ValueError, KeyError, AttributeError):
            self.canvas.clear()

    def _update_count(self) -> None:
        self.count.setText(f"{len(self.canvas.points)} points" if self.canvas.mode == "points"
                           else f"painted mass {self.canvas.grid.sum():.1f}")


def ink_qimage(image: np.ndarray) -> QImage:
    """(H, W) intensities in [0, 1] (ink = 1) → a grey QImage, ink dark on white (a deep copy)."""
    grey = np.ascontiguousarray(np.rint((1.0 - np.clip(image, 0.0, 1.0)) * 255.0).astype(np.uint8))
    h, w = grey.shape
    return QImage(grey.data, w, h, w, QImage.Format_Grayscale8).copy()


def thumbnail(image: np.ndarray, side: int = 56) -> QPixmap:
    """A crisp (nearest-neighbour) square picture of ``image`` for lists and strips."""
    return QPixmap.fromImage(ink_qimage(image).scaled(side, side, Qt.IgnoreAspectRatio, Qt.FastTransformation))


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
        self._lay_out(clear, buttons)
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

    def _lay_out(self, clear: QPushButton, buttons: QDialogButtonBox) -> None:
        tools = QHBoxLayout()
        for w in (QLabel("size"), self.size_combo, QLabel("brush"), self.brush, self.erase):
            tools.addWidget(w)
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
