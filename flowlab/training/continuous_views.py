"""Inside a continuous layer, for the views: the paths points take through it, its velocity field at a time, and
the density of the points at that time. Asked of the layers the registry marks ``velocity_field``, through their
:class:`~flowlab.flows.base.ContinuousTime` methods; nothing here reads a kind name.

With the continuous layer f_i at flow index i, h = the point inside it at time t, and the rest of the flow after it
g = f_L ∘ … ∘ f_{i+1}, the distribution of the points at time t has the density (change of variables from t on)

    log p_t(h) = log p_Z(g(φ_{t→1}(h))) + log|det ∂φ_{t→1}/∂h| + Σ_{j>i} log|det J_j|,

φ_{t→1} the layer's own solver from t to 1. At t = 0 that is the density of the layer's inputs (the model's own
density when the layer comes first), at t = 1 that of its outputs (the base's when it comes last).

Computed on the training (or view) thread; what leaves is frozen dataclasses of fresh NumPy arrays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from flowlab.flows import LAYERS, Flow
from flowlab.flows.base import ContinuousTime
from flowlab.flows.flow import PUSH_CHUNK

Bounds = tuple[float, float, float, float]
ARROWS = 21  # arrows per side of the velocity field's grid
DENSITY_RES = 64  # the density at time t: each point is integrated with its exact log-det, ~5× a plain push


def _np(t: Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float32).numpy().copy()


def continuous_kinds(kinds: Sequence[str]) -> list[str]:
    """Those of ``kinds`` whose layers the registry marks as moving points along a velocity field."""
    return [k for k in kinds if k in LAYERS and LAYERS[k].velocity_field]


def continuous_index(flow: Flow, position: int | None = None) -> int | None:
    """The flow index of the continuous layer to look inside: the one at stack ``position`` if it is one, else
    the first one (None: the flow has none)."""
    found = [i for i, (layer, info) in enumerate(zip(flow.layers, flow.infos, strict=True))
             if LAYERS[info.kind].velocity_field and isinstance(layer, ContinuousTime)]
    chosen = [i for i in found if flow.infos[i].position == position]
    return (chosen or found or [None])[0]


@dataclass(frozen=True)
class LayerPath:
    """The states a continuous layer's solver visits: ``states[k]`` (n, d) at ``times[k]``, from t = 0 to 1
    (data side to latent side, ``inverse`` False) or from 1 to 0. ``index`` is the layer's place in the flow
    (0-based, data → latent), ``position`` in the user's stack."""

    index: int
    position: int
    kind: str
    inverse: bool
    times: np.ndarray
    states: np.ndarray


def layer_path(flow: Flow, index: int, h: Tensor, inverse: bool) -> LayerPath:
    """The path of ``h`` (points entering the layer at flow ``index`` in the direction followed) through it."""
    layer, info = flow.layers[index], flow.infos[index]
    times, states = layer.path(h, 1.0, 0.0) if inverse else layer.path(h, 0.0, 1.0)
    return LayerPath(index, info.position, info.kind, inverse, _np(times), _np(states))


def inside_paths(flow: Flow, states: Sequence[Tensor], inverse: bool) -> tuple[LayerPath, ...]:
    """The path through every continuous layer of points whose states after each layer are ``states`` (from
    ``flow(x, return_intermediates=True)``, or ``flow.inverse`` with ``inverse``: last layer first)."""
    n = len(flow.layers)
    out = []
    for i, (layer, info) in enumerate(zip(flow.layers, flow.infos, strict=True)):
        if LAYERS[info.kind].velocity_field and isinstance(layer, ContinuousTime):
            out.append(layer_path(flow, i, states[n - 1 - i] if inverse else states[i], inverse))
    return tuple(out)


@dataclass(frozen=True)
class Trajectories:
    """Points carried through the continuous layer at flow ``index``: ``forward`` the data (through the layers
    before it) from t = 0 to 1, ``inverse`` base samples (back through the layers after it) from t = 1 to 0, in
    the layer's own coordinates; ``whole``: the layer is the whole flow, so its two sides are the data and the
    latent."""

    forward: LayerPath | None
    inverse: LayerPath
    whole: bool

    @property
    def position(self) -> int:
        return self.inverse.position

    @property
    def kind(self) -> str:
        return self.inverse.kind


def trajectories(flow: Flow, index: int, data: Tensor | None, base_samples: Tensor) -> Trajectories:
    """The paths through the layer at flow ``index`` of ``data`` (None: no data, as for an energy) and of
    ``base_samples`` (points of the base, pulled back to the layer's latent side first)."""
    h = base_samples
    for layer in reversed(flow.layers[index + 1:]):
        h = layer.inverse(h)[0]
    back = layer_path(flow, index, h, inverse=True)
    forth = None
    if data is not None:
        h = data
        for layer in flow.layers[:index]:
            h = layer(h)[0]
        forth = layer_path(flow, index, h, inverse=False)
    return Trajectories(forth, back, len(flow.layers) == 1)


def covering_box(paths: Sequence[LayerPath], keep: float = 98.0, pad: float = 0.1) -> Bounds:
    """A box holding the middle ``keep`` % of every state of ``paths`` on each axis, grown by ``pad`` of its size:
    the same frame at every time (the points move from the data's box to the latent's)."""
    pts = np.concatenate([p.states.reshape(-1, p.states.shape[-1])[:, :2] for p in paths])
    pts = pts[np.isfinite(pts).all(axis=1)]
    if not len(pts):
        return (-4.0, 4.0, -4.0, 4.0)
    tail = (100.0 - keep) / 2
    lo, hi = np.percentile(pts, [tail, 100.0 - tail], axis=0)
    size = np.maximum(hi - lo, 1e-3)
    lo, hi = lo - pad * size, hi + pad * size
    return (float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))


@dataclass(frozen=True)
class FieldAtTime:
    """The continuous layer at stack ``position`` at time ``time``: its velocity ``velocity[k]`` at the grid point
    ``points[k]`` (the arrows, ``(m, 2)`` each), and the log-density of the points inside it at that time on a
    regular grid over ``bounds`` (row-major: ``log_density[iy, ix]``, y increasing with the row; see the
    module)."""

    position: int
    kind: str
    time: float
    bounds: Bounds
    points: np.ndarray
    velocity: np.ndarray
    log_density: np.ndarray | None


def _grid(bounds: Bounds, res: int, like: Tensor) -> Tensor:
    """The ``res × res`` points over ``bounds``, point iy·res + ix at (xs[ix], ys[iy])."""
    xs = torch.linspace(bounds[0], bounds[1], res, dtype=like.dtype, device=like.device)
    ys = torch.linspace(bounds[2], bounds[3], res, dtype=like.dtype, device=like.device)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)


def density_at_time(flow: Flow, index: int, t: float, h: Tensor, chunk: int = PUSH_CHUNK) -> Tensor:
    """log p_t(h) of points ``h`` inside the layer at flow ``index`` at time ``t`` (the module's formula)."""
    out = h.new_empty(h.shape[0])
    for start in range(0, h.shape[0], chunk):
        part, ladj = flow.layers[index].integrate(h[start:start + chunk], t, 1.0)
        for layer in flow.layers[index + 1:]:
            part, step = layer(part)
            ladj = ladj + step
        out[start:start + chunk] = flow.base.log_prob(part) + ladj
    return out


def field_at_time(flow: Flow, index: int, t: float, bounds: Bounds, arrows: int = ARROWS,
                  density_res: int | None = DENSITY_RES) -> FieldAtTime:
    """The velocity field of the layer at flow ``index`` at time ``t`` on an ``arrows × arrows`` grid over
    ``bounds``, and (unless ``density_res`` is None) the density at time t on a finer grid over the same box."""
    t = min(1.0, max(0.0, float(t)))
    layer, info = flow.layers[index], flow.infos[index]
    like = next(flow.parameters(), torch.zeros(()))
    points = _grid(bounds, arrows, like)
    velocity = layer.velocity(points, t)
    log_density = None
    if density_res is not None:
        logp = density_at_time(flow, index, t, _grid(bounds, density_res, like))
        log_density = _np(torch.nan_to_num(logp, nan=-math.inf).reshape(density_res, density_res))
    return FieldAtTime(info.position, info.kind, t, bounds, _np(points), _np(velocity), log_density)
