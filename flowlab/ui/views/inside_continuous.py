"""What the views that look inside a continuous layer share: they draw 2-D data, and only for a stack with a layer
that the registry marks as moving points along a velocity field; and how their pictures are drawn as one item each
(paths and arrows as NaN-separated polylines)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from flowlab.flows import LAYERS
from flowlab.training.continuous_views import continuous_kinds
from flowlab.ui.views.base import View

HEAD = 0.3  # an arrow head's length, as a share of the arrow's
HEAD_ANGLE = np.deg2rad(25.0)


class InsideContinuousLayer(View):
    """Base of the views inside a continuous layer (the selected one, else the stack's first)."""

    data_kinds = frozenset({"2d"})
    stack_needs = ("looks inside a layer that moves points along a velocity field ("
                   + ", ".join(k for k, spec in LAYERS.items() if spec.velocity_field) + "): this stack has none")

    @classmethod
    def applies_to(cls, shape: tuple[int, ...], layer_kinds: Sequence[str] | None = None) -> bool:
        return super().applies_to(shape) and (layer_kinds is None or bool(continuous_kinds(layer_kinds)))


def polylines(paths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``paths`` of shape (steps, n, 2), one polyline per point, as x and y arrays with a NaN after each
    polyline: one ``PlotDataItem`` with ``connect="finite"`` draws them all."""
    steps, n, _ = paths.shape
    out = np.full((n, steps + 1, 2), np.nan, dtype=np.float32)
    out[:, :steps] = np.swapaxes(paths[..., :2], 0, 1)
    flat = out.reshape(-1, 2)
    return flat[:, 0], flat[:, 1]


def arrows(points: np.ndarray, vectors: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Arrows from ``points`` along ``vectors · scale`` (both (m, 2)), each a shaft and a two-stroke head, as one
    NaN-separated polyline: tail, tip, NaN, left barb, tip, right barb, NaN."""
    tips = points + scale * vectors
    back = points - tips  # from the tip towards the tail
    barbs = []
    for angle in (HEAD_ANGLE, -HEAD_ANGLE):
        c, s = np.cos(angle), np.sin(angle)
        turned = np.stack([c * back[:, 0] - s * back[:, 1], s * back[:, 0] + c * back[:, 1]], axis=1)
        barbs.append(tips + HEAD * turned)
    gap = np.full_like(points, np.nan)
    out = np.stack([points, tips, gap, barbs[0], tips, barbs[1], gap], axis=1).reshape(-1, 2)
    return out[:, 0].astype(np.float32), out[:, 1].astype(np.float32)
