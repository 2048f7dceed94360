"""What the live views need, computed on the training thread as immutable snapshots of fresh NumPy arrays.

Every array leaves here through :func:`_np` (``detach().cpu().numpy().copy()``): a bare ``.numpy()`` would alias
a tensor that the optimiser keeps changing while the UI thread draws it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor

from flowlab.flows import Flow
from flowlab.flows.flow import PUSH_CHUNK
from flowlab.targets import EnergyTarget, SampleTarget, Target
from flowlab.training import threads
from flowlab.training.continuous_views import (
    FieldAtTime,
    LayerPath,
    Trajectories,
    continuous_index,
    covering_box,
    field_at_time,
    inside_paths,
    trajectories,
)
from flowlab.training.layer_detail import LayerDetail, layer_detail
from flowlab.training.probe import ProbeError, ProbeRefused, ProbeResult, probe

Bounds = tuple[float, float, float, float]


def _np(t: Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float32).numpy().copy()


@dataclass(frozen=True)
class DensityGrid:
    """Model log-density on a regular grid (row-major: ``log_density[iy, ix]``, y increasing with the row).

    ``log_det`` is log|det ∂f/∂x| at each grid point: where the flow stretches (> 0) or squeezes space.
    ``layer_log_dets[k]`` (when asked for) is layer k's own log|det J_k| at the point's state before layer k, so
    that ``Σ_k layer_log_dets[k] = log_det`` (the chain rule: det of a product is the product of dets)."""

    bounds: Bounds
    log_density: np.ndarray
    log_det: np.ndarray
    layer_log_dets: np.ndarray | None = None  # (layers, res, res), in the flow's order (data → latent)

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
    log_det: np.ndarray  # log|df/dx|
    true_density: np.ndarray | None

    @property
    def slope(self) -> np.ndarray:
        """|df/dx|, the factor by which f stretches a small interval around x."""
        return np.exp(self.log_det)

    def affine(self, tol: float = 1e-3) -> tuple[float, float] | None:
        """``(a, b)`` when f(x) = a·x + b on the whole curve within ``tol`` (relative to the values' size), else
        None: a least-squares line, accepted when no point of the curve is farther from it than the tolerance."""
        x, z = self.x.astype(np.float64), self.z.astype(np.float64)
        ok = np.isfinite(z)
        if ok.sum() < 2:
            return None
        a, b = np.polyfit(x[ok], z[ok], 1)
        scale = max(1.0, float(np.max(np.abs(z[ok]))))
        return (float(a), float(b)) if np.max(np.abs(a * x[ok] + b - z[ok])) <= tol * scale else None


@dataclass(frozen=True)
class LayerShares:
    """Each layer's share of log p(x), averaged over ``count`` points x (``source``: "data", or "model samples"
    where there are none, as for an energy): with z = f(x) = f_L ∘ … ∘ f_1(x),

        mean log p(x) = mean log p_Z(z) + Σ_k mean log|det J_k|,

    ``log_dets[k]`` the mean of layer k's own log|det J_k| at its input (flow order, data → latent; ``kinds[k]``
    names the layer). Points where log p(x) is not finite are left out of every mean alike, so the parts add up."""

    kinds: tuple[str, ...]
    log_dets: np.ndarray
    base_log_prob: float
    log_prob: float
    source: str
    count: int

    @classmethod
    def forward(cls, flow: Flow, base_log_prob: Tensor, steps: list[Tensor], source: str) -> LayerShares:
        """From ``flow(x, return_intermediates=True)``: log p_Z(z) per point and every layer's log-det."""
        per_layer = torch.stack(steps) if steps else base_log_prob.new_zeros((0, base_log_prob.shape[0]))
        return cls._mean(flow, base_log_prob, per_layer, source)

    @classmethod
    def inverse(cls, flow: Flow, base_log_prob: Tensor, steps: list[Tensor], source: str) -> LayerShares:
        """From ``flow.inverse(z, return_intermediates=True)``: the inverse's steps run last layer first, and each
        is minus the forward layer's log-det at the point it returns to."""
        per_layer = (-torch.stack(steps[::-1]) if steps
                     else base_log_prob.new_zeros((0, base_log_prob.shape[0])))
        return cls._mean(flow, base_log_prob, per_layer, source)

    @classmethod
    def _mean(cls, flow: Flow, base_log_prob: Tensor, per_layer: Tensor, source: str) -> LayerShares:
        kinds = tuple(i.kind for i in flow.infos)
        log_p = base_log_prob + per_layer.sum(0)
        keep = torch.isfinite(log_p)
        n = int(keep.sum())
        if n == 0:
            return cls(kinds, np.full(len(kinds), np.nan), math.nan, math.nan, source, 0)
        shares = per_layer[:, keep].double().mean(1).cpu().numpy().copy()
        return cls(kinds, shares, float(base_log_prob[keep].double().mean()), float(log_p[keep].double().mean()),
                   source, n)

    @property
    def total(self) -> float:
        """mean log p_Z(z) + Σ mean log|det J_k|: the mean log p(x) again, from its parts."""
        return self.base_log_prob + float(np.sum(self.log_dets, dtype=np.float64))


@dataclass(frozen=True)
class ProbeAt:
    """A point to follow through the layers: in data space (``inverse=False``, x → z) or in latent space."""

    point: tuple[float, ...]
    inverse: bool = False


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
    target_density: DensityGrid | None = None  # the true density of an energy target (full snapshots only)
    image_samples: np.ndarray | None = None  # (n, C, H, W) at ``temperature``
    image_reconstructions: np.ndarray | None = None  # (2, n, C, H, W): originals, then f⁻¹(f(x))
    image_interpolation: np.ndarray | None = None  # (steps, C, H, W) from image a to image b in latent space
    temperature: float = 1.0
    probe: ProbeResult | ProbeRefused | None = None  # the maker's ``probe`` point followed through the layers
    layer_detail: LayerDetail | None = None  # what is inside the layer at the maker's ``layer`` position
    layer_shares: LayerShares | None = None  # each layer's mean log|det J| over the data, beside log p_Z(z)
    # Inside continuous layers (flowlab.training.continuous_views): the states their solvers visit for the
    # scrubber's points, each direction; paths of a few hundred points through one; its field at the maker's time.
    inside_forward: tuple[LayerPath, ...] | None = None
    inside_inverse: tuple[LayerPath, ...] | None = None
    trajectories: Trajectories | None = None
    field_at_time: FieldAtTime | None = None
    cost_s: float = 0.0
    full: bool = False  # every shown view was computed for this step (no field left over from an earlier one)


def _grid_axes(bounds: Bounds, res: int, device, dtype) -> tuple[Tensor, Tensor]:
    xmin, xmax, ymin, ymax = bounds
    xs = torch.linspace(xmin, xmax, res, device=device, dtype=dtype)
    ys = torch.linspace(ymin, ymax, res, device=device, dtype=dtype)
    return xs, ys


@torch.inference_mode()
def model_samples(flow: Flow, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
    """``flow.sample(n, temperature, generator)``: the same base draws through :meth:`Flow.push` (an inference
    tensor: for views, not for autograd)."""
    return flow.push(flow.base.sample(n, temperature, generator), inverse=True)[0]


@torch.inference_mode()
def density_grid(flow: Flow, bounds: Bounds, res: int = 128, chunk: int = PUSH_CHUNK,
                 per_layer: bool = False) -> DensityGrid:
    """log p(x) and log|det ∂f/∂x| on a ``res × res`` grid over ``bounds``, through :meth:`Flow.push`; with
    ``per_layer`` also every layer's own log|det J_k| there, from the same single pass (:func:`_push_layers`).

    Chunks keep each layer's activations in cache (see :data:`~flowlab.flows.flow.PUSH_CHUNK`)."""
    p = next(flow.parameters(), None)
    device = p.device if p is not None else torch.device("cpu")
    dtype = p.dtype if p is not None else torch.float32
    xs, ys = _grid_axes(bounds, res, device, dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)  # point iy·res + ix is (xs[ix], ys[iy])
    steps = None
    if per_layer:
        ladj, logp, steps = _push_layers(flow, pts, chunk)
    else:
        _, ladj, logp = flow.push(pts, chunk=chunk)
    logp = torch.nan_to_num(logp, nan=-math.inf)
    return DensityGrid(bounds, _np(logp.reshape(res, res)), _np(ladj.reshape(res, res)),
                       None if steps is None else _np(steps.reshape(-1, res, res)))


def _push_layers(flow: Flow, x: Tensor, chunk: int) -> tuple[Tensor, Tensor, Tensor]:
    """``(ladj, log_prob, steps)`` of many points, ``chunk`` at a time as :meth:`Flow.push` does, with
    ``steps[k]`` layer k's own log|det J_k| (from ``forward(return_intermediates=True)``, so one pass)."""
    n = x.shape[0]
    ladj, logp = x.new_empty(n), x.new_empty(n)
    steps = x.new_empty((len(flow.layers), n))
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        z, step, _, layer_steps = flow(x[start:stop], return_intermediates=True)
        ladj[start:stop] = step
        logp[start:stop] = flow.base.log_prob(z) + step
        if layer_steps:
            steps[:, start:stop] = torch.stack(layer_steps)
    return ladj, logp, steps


@torch.no_grad()
def target_density_grid(target: EnergyTarget, bounds: Bounds, res: int = 128) -> DensityGrid | None:
    """log p = −U − log Z of an energy target on the same grid as the model's density (None without log Z)."""
    log_z = target.log_normalizer()
    if log_z is None:
        return None
    xs, ys = _grid_axes(bounds, res, torch.device("cpu"), torch.float64)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)
    logp = -target.energy(pts) - log_z
    return DensityGrid(bounds, _np(logp.reshape(res, res)), np.zeros((res, res), dtype=np.float32))


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
    mapped = flow.push(flat, inverse=inverse)[0].reshape(lines.shape)
    return WarpedGrid(bounds, tuple(_np(line) for line in mapped))


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


def slerp(za: Tensor, zb: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation between two latents (flattened angle), linear where they are parallel."""
    a, b = za.reshape(-1), zb.reshape(-1)
    cos = torch.clamp(torch.dot(a, b) / (a.norm() * b.norm() + 1e-12), -1.0, 1.0)
    omega = torch.arccos(cos)
    if float(omega) < 1e-6:
        return za + t.reshape(-1, *[1] * za.dim()) * (zb - za)
    t = t.reshape(-1, *[1] * za.dim())
    return (torch.sin((1 - t) * omega) * za + torch.sin(t * omega) * zb) / torch.sin(omega)


@torch.no_grad()
def interpolate(flow: Flow, xa: Tensor, xb: Tensor, steps: int = 8, spherical: bool = False) -> Tensor:
    """Images along the path between the latents of ``xa`` and ``xb``; the ends reproduce the two images."""
    z, _ = flow(torch.stack([xa, xb]))
    t = torch.linspace(0.0, 1.0, steps, device=z.device, dtype=z.dtype)
    if spherical:
        path = slerp(z[0], z[1], t)
    else:
        path = z[0] + t.reshape(-1, *[1] * (z.dim() - 1)) * (z[1] - z[0])
    return flow.inverse(path)[0]


def probe_snapshot(flow: Flow, at: ProbeAt) -> ProbeResult | ProbeRefused:
    """The probe point followed through ``flow``, or why it cannot be."""
    try:
        return probe(flow, at.point, at.inverse)
    except ProbeError as e:
        return ProbeRefused(at.point, at.inverse, str(e))


ALL_VIEWS = frozenset({"density", "samples", "latent", "warp", "layers", "curve_1d", "images", "volume", "shares",
                       "coupling", "trajectories", "velocity"})
# SnapshotMaker's settable options; ``time``: where in [0, 1] the velocity view looks inside a continuous layer
VIEW_OPTIONS = frozenset({"temperature", "pair", "spherical", "probe", "layer", "time"})
N_TRAJECTORIES = 300  # points whose paths through a continuous layer are drawn


class SnapshotMaker:
    """Computes snapshots at a rate that adapts to a time budget.

    After a snapshot that took ``c`` seconds the next is due ``c·(1 − budget)/budget`` later (at least
    ``min_interval``), so view work stays near ``budget`` of the training thread's time. The density heatmap
    and the model samples are refreshed in every snapshot; the data-dependent views (latent space, layer by
    layer) every ``slow_every``-th and the warped grids every ``slow_every + 1``-th, since they change slowly
    and cost as much again. A ``None`` field means "unchanged since the last snapshot". Only the views in
    ``views`` (what the window shows) are computed at all.
    """

    def __init__(self, target: Target, budget: float = 0.2, min_interval: float = 0.05, grid_res: int = 128,
                 n_samples: int = 1500, n_layer_points: int = 1000, slow_every: int = 2,
                 views: frozenset[str] = ALL_VIEWS, threads: int | None = None) -> None:
        self.target = target
        self.threads = threads  # intra-op threads for view work (large batched matmuls parallelise well)
        self.budget = budget
        self.min_interval = min_interval
        self.grid_res = grid_res
        self.n_samples = n_samples
        self.n_layer_points = n_layer_points
        self.slow_every = slow_every
        self.views = frozenset(views)
        self._due = 0.0
        self._count = 0
        self.temperature = 1.0
        self.pair = (0, 1)  # the two data images to interpolate between
        self.spherical = False
        self.probe: ProbeAt | None = None  # a point followed through the layers, in every snapshot
        self.layer: int | None = None  # the stack position of the layer to look inside
        self.time = 0.5  # the time inside a continuous layer at which its field and density are shown
        self._field_key: tuple[float, Bounds] | None = None  # the time and box of the last field computed
        self._field_box: Bounds | None = None
        self._gen = torch.Generator().manual_seed(1234)
        self.data_view = None
        if isinstance(target, SampleTarget):
            raw = target.sample(n_layer_points, torch.Generator().manual_seed(4321))
            self.data_view = raw

    def set_views(self, views: frozenset[str]) -> None:
        self.views = frozenset(views)
        self._count = 0  # the next snapshot computes everything shown

    def due(self, now: float | None = None) -> bool:
        return (time.perf_counter() if now is None else now) >= self._due

    def make(self, flow: Flow, step: int, full: bool = False) -> Snapshot:
        """A snapshot; ``full`` computes every shown view (after a reset, a new stack, a single step)."""
        start = time.perf_counter()
        was_training = flow.training
        flow.eval()
        full = full or self._count == 0
        try:
            with threads.intra_op(self.threads), torch.inference_mode():
                snap = self._compute(flow, step, full)
                if self.layer is not None:
                    snap = replace(snap, layer_detail=self._layer_detail(flow))
        finally:
            flow.train(was_training)
        self._count += 1
        cost = time.perf_counter() - start
        self._due = time.perf_counter() + max(self.min_interval, cost * (1.0 - self.budget) / self.budget)
        return Snapshot(**{**snap.__dict__, "cost_s": cost, "full": full})

    def _compute(self, flow: Flow, step: int, full: bool) -> Snapshot:
        p = next(flow.parameters(), None)
        device = p.device if p is not None else torch.device("cpu")
        shape = self.target.shape
        want = self.views
        slow = full or self._count % self.slow_every == 0
        warp_now = full or self._count % (self.slow_every + 1) == 0
        z = flow.base.sample(self.n_samples, generator=self._gen)  # the model's own base (diagonal, uniform)
        if len(shape) == 3:
            return self._images(flow, step, device, full)
        fields: dict = {}
        # Each layer's share of log p(x): over the data pushed forward, or (energies) over the model's samples.
        sample_shares = "shares" in want and slow and self.data_view is None
        if want & {"samples", "layers", "density", "curve_1d"} or sample_shares:
            if ("layers" in want and slow) or sample_shares:
                out = flow.inverse(z, return_intermediates=True)
                fields["model_samples"] = _np(out[0])
                if "layers" in want and slow:
                    kept = [s[: self.n_layer_points] for s in out[2]]
                    fields["layers_inverse"] = tuple(_np(s) for s in kept)
                    fields["inside_inverse"] = inside_paths(flow, kept, inverse=True)
                if sample_shares:
                    fields["layer_shares"] = LayerShares.inverse(flow, flow.base.log_prob(z), out[3],
                                                                 "model samples")
            else:
                fields["model_samples"] = _np(flow.push(z, inverse=True)[0])
        if self.data_view is not None and slow and want & {"samples", "latent", "layers", "shares"}:
            data = self.data_view.to(device)
            z_data, _, states, steps = flow(data, return_intermediates=True)
            fields["data_samples"] = _np(data)
            fields["latent_of_data"] = _np(z_data)
            fields["layers_forward"] = tuple(_np(s) for s in states)
            if "layers" in want:
                fields["inside_forward"] = inside_paths(flow, states, inverse=False)
            if "shares" in want:
                fields["layer_shares"] = LayerShares.forward(flow, flow.base.log_prob(z_data), steps, "data")
        if self.probe is not None:
            fields["probe"] = probe_snapshot(flow, self.probe)
        if shape == (1,):
            if "curve_1d" in want:
                fields["curve_1d"] = curve_1d(flow, self.target)
            return Snapshot(step, **fields)
        if shape == (2,):
            bounds = tuple(self.target.bounds or (-4.0, 4.0, -4.0, 4.0))
            if full and "samples" in want and isinstance(self.target, EnergyTarget):
                fields["target_density"] = target_density_grid(self.target, bounds, self.grid_res)
            if want & {"density", "volume"}:  # the volume view's per-layer grids come from the same pass
                fields["density"] = density_grid(flow, bounds, self.grid_res, per_layer="volume" in want)
            if "warp" in want and warp_now:
                fields["warp_forward"] = warped_grid(flow, bounds, inverse=False)
                fields["warp_inverse"] = warped_grid(flow, (-3.5, 3.5, -3.5, 3.5), inverse=True)
            if want & {"trajectories", "velocity"}:
                fields.update(self._continuous(flow, z, device, slow))
        return Snapshot(step, **fields)

    def _continuous(self, flow: Flow, z: Tensor, device: torch.device, slow: bool) -> dict:
        """Inside the continuous layer (the selected one, else the first): paths through it on slow snapshots,
        and its field and density at :attr:`time` when the time or the weights (a slow snapshot) changed."""
        index = continuous_index(flow, self.layer)
        if index is None:
            return {}
        out: dict = {}
        if slow or self._field_box is None:
            data = None if self.data_view is None else self.data_view[:N_TRAJECTORIES].to(device)
            paths = trajectories(flow, index, data, z[:N_TRAJECTORIES])
            self._field_box = covering_box([p for p in (paths.forward, paths.inverse) if p is not None])
            if "trajectories" in self.views:
                out["trajectories"] = paths
        key = (float(self.time), self._field_box)
        if "velocity" in self.views and (slow or key != self._field_key):
            out["field_at_time"] = field_at_time(flow, index, self.time, self._field_box)
            self._field_key = key
        return out

    def _layer_detail(self, flow: Flow) -> LayerDetail | None:
        """The selected layer's pictures, and its s and t fields while the coupling view is shown (2-D data)."""
        fields = "coupling" in self.views and tuple(self.target.shape) == (2,)
        points = None
        if fields:
            p = next(flow.parameters(), None)
            device = p.device if p is not None else torch.device("cpu")
            points = (self.data_view.to(device) if self.data_view is not None else
                      flow.push(torch.randn((self.n_layer_points, 2), generator=self._gen).to(device), inverse=True)[0])
        bounds = tuple(self.target.bounds or (-4.0, 4.0, -4.0, 4.0))
        return layer_detail(flow, self.layer, points, bounds, fields)

    def _images(self, flow: Flow, step: int, device: torch.device, full: bool) -> Snapshot:
        """Samples at the chosen temperature each time; reconstructions and an interpolation every so often."""
        z = flow.base.sample(64, self.temperature, self._gen)
        fields: dict = {"image_samples": _np(flow.inverse(z)[0].clamp(0.0, 1.0)), "temperature": self.temperature}
        slow = full or self._count % self.slow_every == 0
        if self.data_view is not None and slow:
            data = self.data_view[:8].to(device)  # ``sample`` already returns dequantised images
            back = flow.inverse(flow(data)[0])[0]
            fields["image_reconstructions"] = np.stack([_np(data), _np(back.clamp(0.0, 1.0))])
            a, b = (min(i, len(self.data_view) - 1) for i in self.pair)
            pair = self.data_view[[a, b]].to(device)
            path = interpolate(flow, pair[0], pair[1], 8, self.spherical)
            fields["image_interpolation"] = _np(path.clamp(0.0, 1.0))
            if "layers" in self.views:  # one test image through the layers, and one sample back from z
                fields["layers_forward"] = tuple(_np(s) for s in flow(data[:1], return_intermediates=True)[2])
                out = flow.inverse(z[:1] / max(self.temperature, 1e-6), return_intermediates=True)
                fields["layers_inverse"] = tuple(_np(s) for s in out[2])
        return Snapshot(step, **fields)
