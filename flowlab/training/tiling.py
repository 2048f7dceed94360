"""One image grid for every picture of many images: the image views and ``flowlab train``'s PNGs (no Qt)."""

from __future__ import annotations

import math

import numpy as np

GAP = 0.75  # the 1-pixel gaps between and around the images: light grey on white paper


def tile(images: np.ndarray, columns: int | None = None) -> np.ndarray:
    """``(n, C, h, w)`` images with ink in [0, 1] (the first channel) as one grey picture, row 0 on top: ink
    dark on white (value ``1 − ink``, clipped to [0, 1]), 1-pixel light grey (``GAP``) gaps between and around the
    images, laid out row by row in ``columns`` columns (default: a square, ⌈√n⌉). Shape
    ``(rows·(h+1)+1, columns·(w+1)+1)``, float32."""
    n, _, h, w = images.shape
    cols = columns or max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    grid = np.full((rows * cols, h, w), GAP, dtype=np.float32)  # missing cells of the last row: gap colour
    grid[:n] = np.clip(1.0 - images[:, 0], 0.0, 1.0)
    framed = np.pad(grid, ((0, 0), (0, 1), (0, 1)), constant_values=GAP)  # each cell's gap below and right
    picture = framed.reshape(rows, cols, h + 1, w + 1).transpose(0, 2, 1, 3).reshape(rows * (h + 1), cols * (w + 1))
    return np.pad(picture, ((1, 0), (1, 0)), constant_values=GAP)  # the gap above and left of the first row/column
