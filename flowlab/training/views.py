"""What the live views need, computed on the training thread as immutable snapshots of fresh NumPy arrays.

Every array leaves here through :func:`_np` (``detach().cpu().numpy().copy()``): a bare ``.numpy()`` would alias
a tensor that the optimiser keeps changing while the UI thread draws it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from flowlab.flows import Flow
from flowlab.targets import EnergyTarget, SampleTarget, Target

Bounds = tuple[float, float, float, float]


def _np(t: Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float32).numpy().copy()


@dataclass(frozen=True)
class DensityGrid:
    """Model log-density on a regular grid (row-major: ``log_density[iy, ix]``, y increasing with the row).

    ``log_det`` is log|det ∂f/∂x| at each grid point: where the flow stretches (> 0) or squeezes space."""

    bounds: Bounds
    log_density: np.ndarray
    log_det: np.ndarray

    @property
    def density(self) -> np.ndarray:
        return np.exp(self.log_density)


@dataclass(frozen=True)
class WarpedGrid:
    """Polylines of a regular grid pushed through the flow: ``lines[k]`` is an ``(m, 2)`` array."""

    source_bounds: Bounds
    lines: tuple[np.ndarray, ...]


@dataclass(frozen=True)
class Curve1D:
    """For 1-D flows, the change-of-variables picture: the base density, the map and the model density."""

    x: np.ndarray
    z: np.ndarray  # f(x), data → latent
    model_density: np.ndarray
    base_density_at_z: np.ndarray
    log_det: np.ndarray
    true_density: np.ndarray | None


@dataclass(frozen=True)
class Snapshot:
    """One frame for the views. Fields a view does not need may be ``None``; ``cost_s`` is what it took."""

    step: int
    model_samples: np.ndarray | None = None
    data_samples: np.ndarray | None = None
    latent_of_data: np.ndarray | None = None
    density: DensityGrid | None = None
    warp_forward: WarpedGrid | None = None
    warp_inverse: WarpedGrid | None = None
    layers_forward: tuple[np.ndarray, ...] | None = None  # data through each layer, x → z
    layers_inverse: tuple[np.ndarray, ...] | None = None  # base samples through each layer, z → x
    curve_1d: Curve1D | None = None
    image_samples: np.ndarray | None = None
    cost_s: float = 0.0
    extras: dict = field(default_factory=dict)


def _grid_axes(bounds: Bounds, res: int, device, dtype) -> tuple[Tensor, Tensor]:
    xmin, xmax, ymin, ymax = bounds
    xs = torch.linspace(xmin, xmax, res, device=device, dtype=dtype)
    ys = torch.linspace(ymin, ymax, res, device=device, dtype=dtype)
    return xs, ys


@torch.no_grad()
def density_grid(flow: Flow, bounds: Bounds, res: int = 128, chunk: int = 65536) -> DensityGrid:
    """log p(x) and log|det ∂f/∂x| on a ``res × res`` grid over ``bounds``."""
    p = next(flow.parameters(), None)
    device = p.device if p is not None else torch.device("cpu")
    dtype = p.dtype if p is not None else torch.float32
    xs, ys = _grid_axes(bounds, res, device, dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)
    logp, ladj = [], []
    for c in pts.split(chunk):
        z, l = flow(c)
        logp.append(flow.base.log_prob(z) + l)
        ladj.append(l)
    logp_t = torch.nan_to_num(torch.cat(logp), nan=-math.inf)
    return DensityGrid(bounds, _np(logp_t.reshape(res, res)), _np(torch.cat(ladj).reshape(res, res)))


def _grid_lines(bounds: Bounds, n_lines: int, n_points: int, device, dtype) -> Tensor:
    """``2·n_lines`` polylines of ``n_points`` each: vertical then horizontal lines, as one (L, m, 2) tensor."""
    xmin, xmax, ymin, ymax = bounds
    t = torch.linspace(0.0, 1.0, n_points, device=device, dtype=dtype)
    s = torch.linspace(0.0, 1.0, n_lines, device=device, dtype=dtype)
    vx = (xmin + s[:, None] * (xmax - xmin)).expand(n_lines, n_points)
    vy = (ymin + t[None, :] * (ymax - ymin)).expand(n_lines, n_points)
    hx = (xmin + t[None, :] * (xmax - xmin)).expand(n_lines, n_points)
    hy = (ymin + s[:, None] * (ymax - ymin)).expand(n_lines, n_points)
    return torch.cat([torch.stack([vx, vy], -1), torch.stack([hx, hy], -1)], dim=0)


@torch.no_grad()
def warped_grid(flow: Flow, bounds: Bounds, inverse: bool, n_lines: int = 17, n_points: int = 80) -> WarpedGrid:
    """The image of a regular grid: data space → latent (``inverse=False``) or latent → data."""
    p = next(flow.parameters(), None)
    device = p.device if p is not None else torch.device("cpu")
    dtype = p.dtype if p is not None else torch.float32
    lines = _grid_lines(bounds, n_lines, n_points, device, dtype)
    flat = lines.reshape(-1, 2)
    mapped = (flow.inverse(flat) if inverse else flow(flat))[0].reshape(lines.shape)
    return WarpedGrid(bounds, tuple(_np(l) for l in mapped))


@torch.no_grad()
def layer_states(flow: Flow, points: Tensor, inverse: bool) -> tuple[np.ndarray, ...]:
    """The points after every layer, in the order they are visited (input first)."""
    states = (flow.inverse(points, return_intermediates=True) if inverse
              else flow(points, return_intermediates=True))[2]
    return tuple(_np(s) for s in states)


@torch.no_grad()
def curve_1d(flow: Flow, target: Target, res: int = 400) -> Curve1D:
    lo, hi = target.bounds if target.bounds else (-4.0, 4.0)
    p = next(flow.parameters(), None)
    device = p.device if p is not None else torch.device("cpu")
    x = torch.linspace(lo, hi, res, device=device).unsqueeze(1)
    z, ladj = flow(x)
    base = torch.exp(flow.base.log_prob(z))
    true = None
    if isinstance(target, SampleTarget) and target.has_density:
        true = _np(torch.exp(target.log_prob(x.cpu().double())))
    elif isinstance(target, EnergyTarget) and target.log_normalizer() is not None:
        true = _np(torch.exp(target.log_prob(x.cpu().double())))
    return Curve1D(_np(x[:, 0]), _np(z[:, 0]), _np(torch.exp(base.log() + ladj)), _np(base), _np(ladj), true)


class SnapshotMaker:
    """Computes snapshots at a rate that adapts to a time budget.

    After a snapshot that took ``c`` seconds the next is due ``c·(1 − budget)/budget`` later (at least
    ``min_interval``), so view work stays near ``budget`` of the training thread's time.
    """

    def __init__(self, target: Target, budget: float = 0.2, min_interval: float = 0.05, grid_res: int = 128,
                 n_samples: int = 2000, n_layer_points: int = 1000) -> None:
        self.target = target
        self.budget = budget
        self.min_interval = min_interval
        self.grid_res = grid_res
        self.n_samples = n_samples
        self.n_layer_points = n_layer_points
        self._due = 0.0
        self._gen = torch.Generator().manual_seed(1234)
        self.data_view = None
        if isinstance(target, SampleTarget):
            self.data_view = target.sample(n_samples, torch.Generator().manual_seed(4321))
            if len(target.shape) == 3:
                self.data_view = target.prepare_batch(self.data_view, torch.Generator().manual_seed(4321))

    def due(self, now: float | None = None) -> bool:
        return (time.perf_counter() if now is None else now) >= self._due

    def make(self, flow: Flow, step: int) -> Snapshot:
        start = time.perf_counter()
        was_training = flow.training
        flow.eval()
        try:
            snap = self._compute(flow, step)
        finally:
            flow.train(was_training)
        cost = time.perf_counter() - start
        self._due = time.perf_counter() + max(self.min_interval, cost * (1.0 - self.budget) / self.budget)
        return Snapshot(**{**snap.__dict__, "cost_s": cost})

    def _compute(self, flow: Flow, step: int) -> Snapshot:
        p = next(flow.parameters(), None)
        device = p.device if p is not None else torch.device("cpu")
        shape = self.target.shape
        z = torch.randn((self.n_samples, *shape), generator=self._gen).to(device)
        if len(shape) == 3:
            x = flow.inverse(z[:64])[0]
            return Snapshot(step, image_samples=_np(x.clamp(0.0, 1.0)))
        samples, _, inv_states = flow.inverse(z, return_intermediates=True)
        data = self.data_view.to(device) if self.data_view is not None else None
        latent = flow(data)[0] if data is not None else None
        fwd_states = None
        if data is not None:
            fwd_states = layer_states(flow, data[: self.n_layer_points], inverse=False)
        layers_inverse = tuple(_np(s[: self.n_layer_points]) for s in inv_states)
        if shape == (1,):
            return Snapshot(step, model_samples=_np(samples), data_samples=None if data is None else _np(data),
                            latent_of_data=None if latent is None else _np(latent),
                            curve_1d=curve_1d(flow, self.target), layers_forward=fwd_states,
                            layers_inverse=layers_inverse)
        bounds = tuple(self.target.bounds or (-4.0, 4.0, -4.0, 4.0))
        latent_bounds = (-3.5, 3.5, -3.5, 3.5)
        return Snapshot(
            step,
            model_samples=_np(samples),
            data_samples=None if data is None else _np(data),
            latent_of_data=None if latent is None else _np(latent),
            density=density_grid(flow, bounds, self.grid_res) if shape == (2,) else None,
            warp_forward=warped_grid(flow, bounds, inverse=False) if shape == (2,) else None,
            warp_inverse=warped_grid(flow, latent_bounds, inverse=True) if shape == (2,) else None,
            layers_forward=fwd_states,
            layers_inverse=layers_inverse,
        )
