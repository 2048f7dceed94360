"""Inside one layer, for the views: the pictures of its structure it gives of itself (a mask, a fold, a MADE's
connectivity, a learned matrix) and, for an affine or additive coupling on 2-D data, the step by step of
"invertible by design":

    split  x = (x₁, x₂)          x₁ conditions, x₂ is transformed
    s, t   s(x₁), t(x₁)          the conditioner's fields, functions of x₁ alone
    map    y₂ = x₂·exp(s) + t    (additive: s ≡ 0)
    merge  y = (x₁, y₂)          inverted by x₂ = (y₂ − t(y₁))·exp(−s(y₁)), since y₁ = x₁

Computed on the training (or view) thread; what leaves is frozen dataclasses of fresh NumPy arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import torch
from torch import Tensor

from flowlab.flows import LAYERS, Flow
from flowlab.flows.build import check_applies, resolve_params
from flowlab.flows.registry import ParamProblem
from flowlab.flows.schemes import Coupling
from flowlab.flows.structure import Picture, ShowsStructure, array

Bounds = tuple[float, float, float, float]
FIELD_RES = 64  # s and t are functions of x₁ alone: a coarse grid shows them exactly


@dataclass(frozen=True)
class CouplingFields:
    """A coupling on 2-D data, step by step. ``cond`` is the coordinate x₁ that conditions (0 or 1), the other
    one, x₂, is transformed. ``s`` and ``t`` are the conditioner's log-scale and shift on a regular grid over
    ``bounds`` in the layer's *input* coordinates (row-major: ``s[iy, ix]`` at ``(xs[ix], ys[iy])``).
    ``inputs`` are points (data, or model samples for an energy target) as the layer receives them, ``outputs``
    the same points after it: outputs[:, cond] = inputs[:, cond], outputs[:, 1−cond] = x₂·exp(s) + t."""

    bounds: Bounds
    cond: int
    s: np.ndarray
    t: np.ndarray
    inputs: np.ndarray
    outputs: np.ndarray

    @property
    def transformed(self) -> int:
        return 1 - self.cond


@dataclass(frozen=True)
class LayerDetail:
    """What is inside the layer at stack ``position`` (of ``kind``): its structure ``pictures`` (empty when it has
    none), and ``fields`` when they were asked for and the layer has them; ``note`` says why they are missing."""

    position: int
    kind: str
    pictures: tuple[Picture, ...]
    fields: CouplingFields | None = None
    note: str = ""


@cache
def field_kinds() -> tuple[str, ...]:
    """The registered kinds whose layers, built on 2-D vectors with their defaults, have an s and a t to show:
    asked of the built layers, not read from their names."""
    kinds = []
    with torch.random.fork_rng(devices=[]), torch.no_grad():  # building draws weights: leave training's RNG alone
        for kind, spec in sorted(LAYERS.items()):
            try:
                params = resolve_params(spec, {})
                check_applies(spec, (2,))
                if spec.check is not None:
                    spec.check((2,), params)
            except ParamProblem:
                continue
            layer = spec.builder((2,), params, torch.Generator().manual_seed(0))
            if isinstance(layer, Coupling) and layer.scale_shift(torch.zeros(1, 2)) is not None:
                kinds.append(kind)
    return tuple(kinds)


def _index(flow: Flow, position: int) -> int | None:
    """The built layer at stack ``position`` (disabled layers are not built: None)."""
    return next((i for i, info in enumerate(flow.infos) if info.position == position), None)


def _covering(bounds: Bounds, points: Tensor) -> Bounds:
    """``bounds`` grown to hold the middle 98 % of ``points`` (with a margin): a later layer's inputs may lie
    outside the data's box."""
    if not len(points):
        return bounds
    lo = torch.quantile(points.double(), 0.01, dim=0)
    hi = torch.quantile(points.double(), 0.99, dim=0)
    pad = 0.1 * (hi - lo)
    lo, hi = (lo - pad).tolist(), (hi + pad).tolist()
    xmin, xmax, ymin, ymax = bounds
    return (min(xmin, lo[0]), max(xmax, hi[0]), min(ymin, lo[1]), max(ymax, hi[1]))


def coupling_fields(flow: Flow, index: int, points: Tensor, bounds: Bounds,
                    res: int = FIELD_RES) -> CouplingFields | None:
    """The fields of layer ``index`` (a coupling with an affine or additive map on 2-D data), else None.
    ``points`` are in data space: they are pushed through the layers before it."""
    layer = flow.layers[index]
    if not isinstance(layer, Coupling) or tuple(flow.infos[index].in_shape) != (2,):
        return None
    h = points
    for earlier in flow.layers[:index]:
        h = earlier(h)[0]
    box = _covering(bounds, h)
    xs = torch.linspace(box[0], box[1], res, dtype=points.dtype, device=points.device)
    ys = torch.linspace(box[2], box[3], res, dtype=points.dtype, device=points.device)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    found = layer.scale_shift(torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1))
    if found is None:
        return None
    s, t = (f.reshape(res, res) for f in found)
    return CouplingFields(box, int(layer.cond[0]), array(s), array(t), array(h), array(layer(h)[0]))


def layer_detail(flow: Flow, position: int, points: Tensor | None = None, bounds: Bounds | None = None,
                 fields: bool = False) -> LayerDetail | None:
    """What the layer at stack ``position`` shows; None when it is not in the flow (disabled). ``fields``: also
    the coupling's s and t (2-D data only) over ``bounds`` and at ``points`` (data space)."""
    index = _index(flow, position)
    if index is None:
        return None
    layer, info = flow.layers[index], flow.infos[index]
    shape = tuple(info.in_shape)
    pictures = layer.structure(shape) if isinstance(layer, ShowsStructure) else ()
    if not fields:
        return LayerDetail(position, info.kind, pictures)
    if points is None:
        points = torch.zeros((0, 2))
    found = coupling_fields(flow, index, points, bounds or (-4.0, 4.0, -4.0, 4.0)) if shape == (2,) else None
    note = "" if found is not None else (
        f"{info.kind} has no scale s and shift t to show: this view shows {', '.join(field_kinds())} layers"
        + ("" if shape == (2,) else ", on 2-D data"))
    return LayerDetail(position, info.kind, pictures, found, note)
