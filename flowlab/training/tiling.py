"""One image grid for every picture of many images: the image views and ``flowlab train``'s PNGs (no Qt)."""

from __future__ import annotations

import math

import numpy as np

GAP = 0.75  # the 1-pixel gaps between and around the images: light grey on white paper


def arrange(cells: np.ndarray, columns: int | None = None, gap: int = 0, fill: float = 0.0) -> np.ndarray:
    """``(n, h, w)`` cells laid out row by row in ``columns`` columns (default: a square, ⌈√n⌉), row 0 on top,
    ``gap`` pixels of ``fill`` between them (and in the missing cells of the last row). Shape
    ``(rows·(h+gap)−gap, columns·(w+gap)−gap)``, float32."""
    n, h, w = cells.shape
    cols = columns or max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    grid = np.full((rows * cols, h, w), fill, dtype=np.float32)
    grid[:n] = cells
    framed = np.pad(grid, ((0, 0), (0, gap), (0, gap)), constant_values=fill)  # each cell's gap below and right
    picture = framed.reshape(rows, cols, h + gap, w + gap).transpose(0, 2, 1, 3)
    return picture.reshape(rows * (h + gap), cols * (w + gap))[: rows * (h + gap) - gap, : cols * (w + gap) - gap]


def tile(images: np.ndarray, columns: int | None = None) -> np.ndarray:
    """``(n, C, h, w)`` images with ink in [0, 1] (the first channel) as one grey picture, row 0 on top: ink
    dark on white (value ``1 − ink``, clipped to [0, 1]), 1-pixel light grey (``GAP``) gaps between and around the
    images, laid out row by row in ``columns`` columns (default: a square, ⌈√n⌉). Shape
    ``(rows·(h+1)+1, columns·(w+1)+1)``, float32."""
    ink = np.clip(1.0 - images[:, 0], 0.0, 1.0)
    return np.pad(arrange(ink, columns, gap=1, fill=GAP), 1, constant_values=GAP)  # and a gap all around
