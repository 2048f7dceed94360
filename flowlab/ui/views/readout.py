"""What a readout says under the cursor: numbers as it prints them, O(1) look-ups of what a picture, histogram or
sorted axis shows at a point, and the viewport watcher that reports every mouse move and the cursor leaving."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPointF


def num(value: float, digits: int = 4) -> str:
    """A number as a readout prints it: ``digits`` significant digits, a true minus sign."""
    return f"{value:.{digits}g}".replace("-", "−")


def point_text(name: str, x: float, y: float) -> str:
    """``x = (0.512, −0.3)``: a point's coordinates as a readout prints them."""
    return f"{name} = ({num(x)}, {num(y)})"


def pixel_at(bounds: Sequence[float], shape: tuple[int, ...], x: float, y: float) -> tuple[int, int] | None:
    """``(row, column)`` of the pixel under ``(x, y)`` in a row-major grid drawn over ``bounds`` = ``(xmin, xmax,
    ymin, ymax)`` (an ``ImageItem`` given ``rect=`` those extents), or None outside it: what the picture shows
    there, an O(1) look-up."""
    xmin, xmax, ymin, ymax = bounds
    rows, cols = shape[:2]
    if not (xmin <= x <= xmax and ymin <= y <= ymax) or xmax <= xmin or ymax <= ymin:
        return None
    col = min(int((x - xmin) / (xmax - xmin) * cols), cols - 1)
    row = min(int((y - ymin) / (ymax - ymin) * rows), rows - 1)
    return row, col


def bin_index(edges: np.ndarray | None, x: float) -> int | None:
    """Which bin of a histogram with these (sorted) ``edges`` holds ``x`` (None outside them)."""
    if edges is None or len(edges) < 2 or not edges[0] <= x <= edges[-1]:
        return None
    return max(0, min(int(np.searchsorted(edges, x, side="right")) - 1, len(edges) - 2))


def bin_at(edges: np.ndarray | None, heights: np.ndarray | None, x: float) -> float | None:
    """The height of the histogram bar over ``x`` (None outside the bars)."""
    i = bin_index(edges, x)
    return None if i is None or heights is None or i >= len(heights) else float(heights[i])


def nearest(xs: np.ndarray, x: float) -> int | None:
    """The index of the value of the sorted ``xs`` nearest ``x`` (None when there are none)."""
    if not len(xs):
        return None
    i = int(np.searchsorted(xs, x))
    if i == len(xs) or (i > 0 and x - xs[i - 1] <= xs[i] - x):
        i -= 1
    return i


class Pointer(QObject):
    """Calls ``moved`` with every mouse position over the watched widget (its own coordinates) and ``left`` when
    the widget loses the cursor."""

    def __init__(self, moved: Callable[[QPointF], None], left: Callable[[], None], parent: QObject) -> None:
        super().__init__(parent)
        self.moved, self.left = moved, left

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if event.type() == QEvent.MouseMove:
            self.moved(event.position())
        elif event.type() == QEvent.Leave:
            self.left()
        return False
