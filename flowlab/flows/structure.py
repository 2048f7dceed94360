"""What a layer shows of its own structure: named 2-D pictures (a coupling's mask, squeeze's fold, a MADE's
connectivity, a learned matrix), asked of the layer object itself, never decided from its kind name.

A layer that has something to show implements :class:`ShowsStructure`: ``structure(shape)`` with ``shape`` the
shape of one example at the layer's input. Pictures hold fresh NumPy arrays, so they may cross threads as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from torch import Tensor


@dataclass(frozen=True)
class Picture:
    """One named array and a caption. ``values`` is 2-D ``(rows, cols)``, or 3-D ``(channels, H, W)`` for an
    image-shaped pattern (shown channel by channel). ``signed``: values around zero (a matrix), drawn with a
    diverging colour map centred at zero; otherwise a pattern from 0 up (a 0/1 mask, channel numbers)."""

    name: str
    values: np.ndarray
    caption: str
    rows: str = ""  # what a row indexes ("output i")
    cols: str = ""  # what a column indexes ("input j")
    signed: bool = False


@runtime_checkable
class ShowsStructure(Protocol):
    def structure(self, shape: tuple[int, ...]) -> tuple[Picture, ...]:
        """Pictures of the layer's structure for inputs of ``shape`` (one example's)."""


def array(t: Tensor) -> np.ndarray:
    """A fresh float32 copy (a bare ``.numpy()`` would alias a tensor the optimiser keeps changing)."""
    return t.detach().to("cpu").float().numpy().copy()


def numbered(indices: Sequence[int] | Tensor) -> str:
    """1-based, comma separated: ``[0, 2]`` → ``"1, 3"`` (features are counted from 1 on screen)."""
    return ", ".join(str(int(i) + 1) for i in indices)


def matrix_picture(name: str, matrix: Tensor, caption: str) -> Picture:
    """A learned (or fixed) square matrix, row i = output i, column j = input j."""
    return Picture(name, array(matrix), caption, rows="output i", cols="input j", signed=True)
