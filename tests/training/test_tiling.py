"""One tiling for every grid of images (the image views and ``flowlab train``'s PNGs)."""

from __future__ import annotations

import numpy as np
import pytest

from flowlab.training import pngs
from flowlab.training.tiling import GAP, tile


def _reference(images: np.ndarray, columns: int) -> np.ndarray:
    """Cell by cell: paper where a gap is, 1 − ink where an image is."""
    n, _, h, w = images.shape
    rows = -(-n // columns)
    out = np.full((rows * (h + 1) + 1, columns * (w + 1) + 1), GAP)
    for i in range(n):
        r, c = divmod(i, columns)
        top, left = 1 + r * (h + 1), 1 + c * (w + 1)
        out[top:top + h, left:left + w] = 1.0 - images[i, 0]
    return out


@pytest.mark.parametrize("n, columns", [(1, None), (5, None), (7, 3), (8, 8), (2, 8)])
def test_tile_places_each_image_in_its_cell(n, columns) -> None:
    rng = np.random.default_rng(n)
    images = rng.random((n, 1, 4, 3))
    got = tile(images, columns)
    cols = columns or int(np.ceil(np.sqrt(n)))
    assert got.dtype == np.float32
    assert np.allclose(got, _reference(images, cols), atol=1e-6)
    assert got[0, 0] == pytest.approx(GAP) and got[1, 1] == pytest.approx(1.0 - images[0, 0, 0, 0])  # row 0 on top


def test_tile_clips_ink_outside_the_unit_range() -> None:
    got = tile(np.array([[[[-0.5, 1.5]]]]), 1)
    assert got[1, 1] == 1.0 and got[1, 2] == 0.0


def test_the_png_grid_is_the_tiling(tmp_path) -> None:
    from PIL import Image

    images = np.random.default_rng(0).random((10, 1, 5, 5))
    path = tmp_path / "grid.png"
    pngs.image_grid_png(images, path, columns=4, scale=2)
    pic = np.asarray(Image.open(path).convert("L"), dtype=float)
    expected = np.round(tile(images, 4) * 255)
    assert pic.shape == (expected.shape[0] * 2, expected.shape[1] * 2)
    assert np.array_equal(pic[::2, ::2], expected)

