"""Energy targets p(z) ∝ exp(−U(z)), fitted by reverse KL: Rezende & Mohamed's U1–U4 and a painted energy.

Rezende & Mohamed (2015), Table 1, exactly, with w1(z) = sin(2πz1/4), w2(z) = 3 exp(−½((z1 − 1)/0.6)²),
w3(z) = 3 σ((z1 − 1)/0.3) (σ the logistic sigmoid):

    U1(z) = ½((‖z‖ − 2)/0.4)² − ln(exp(−½((z1 − 2)/0.6)²) + exp(−½((z1 + 2)/0.6)²))
    U2(z) = ½((z2 − w1(z))/0.4)²
    U3(z) = −ln(exp(−½((z2 − w1(z))/0.35)²) + exp(−½((z2 − w1(z) + w2(z))/0.35)²))
    U4(z) = −ln(exp(−½((z2 − w1(z))/0.4)²) + exp(−½((z2 − w1(z) + w3(z))/0.35)²))

(ln-sum-exp terms by logsumexp, so U stays finite and smooth far away.)

The box. U1 is a normalisable ring (all but ~1e-8 of its mass is inside [−4, 4]²). U2–U4 are not: along z1
they do not decay at all, so ∫exp(−U) over the plane is infinite, and reverse KL could be lowered without limit
by spreading q along z1. The paper only shows them on [−4, 4]²; flowlab makes that box part of the definition by
adding a steep wall outside it, U_wall(z) = ½(d(z)/τ)² with d the distance from z to the box and τ = 0.05
(inside the box U is exactly the paper's). Only 1.5–2% of the mass lies in the thin skin beyond the box, and
log Z integrates over the box widened by 10τ, where the wall has killed the density (e^{−50}), so
log p = −U − log Z is the true log-density.

``painted_energy``: the user paints non-negative masses m on a grid (data "grid", row-major, row 0 at the TOP
like an image) over data "bounds" (xmin, xmax, ymin, ymax), default (−4, 4, −4, 4). With v = m / max m + floor
at the cell centres, exp(−U) is the bilinear interpolant of v between centres (held constant beyond the outer
centres, then the same wall outside the bounds, τ = width/160): U = −log(v) at each cell centre and U has a
gradient everywhere inside the painted region (a piecewise-constant U would give reverse KL no gradient to follow).
That interpolant integrates to exactly cell area × Σ v, so log Z is in closed form (plus the wall's strips and
corners); the tests check it against grid integration.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from numbers import Real
from typing import Any

import numpy as np
import torch
from torch import Tensor

from flowlab.params import Param
from flowlab.targets.base import EnergyTarget, TargetError, TargetSpec, grid_points, register_target

BOX = (-4.0, 4.0, -4.0, 4.0)
WALL_WIDTH = 0.05  # τ of the wall around the box for U2–U4
WALL_PAD = 10.0  # log Z integrates this many τ beyond the box
PAINT_WALL_FRACTION = 1.0 / 160.0  # painted energy: τ as a fraction of the smaller side of its bounds
MAX_CELLS = 1 << 20


def box_wall(z: Tensor, bounds: Sequence[float], width: float) -> Tensor:
    """½(d/τ)², d the Euclidean distance from z (n, 2) to the box; 0 inside, smooth (C¹) across its edge."""
    lo = torch.tensor(bounds[0::2], dtype=z.dtype, device=z.device)
    hi = torch.tensor(bounds[1::2], dtype=z.dtype, device=z.device)
    out = torch.relu(lo - z) + torch.relu(z - hi)
    return 0.5 * (out * out).sum(dim=1) / width ** 2


def _lse2(a: Tensor, b: Tensor) -> Tensor:
    return torch.logsumexp(torch.stack([a, b]), dim=0)


def _w1(z1: Tensor) -> Tensor:
    return torch.sin(2.0 * math.pi * z1 / 4.0)


def _w2(z1: Tensor) -> Tensor:
    return 3.0 * torch.exp(-0.5 * ((z1 - 1.0) / 0.6) ** 2)


def _w3(z1: Tensor) -> Tensor:
    return 3.0 * torch.sigmoid((z1 - 1.0) / 0.3)


def u1(z: Tensor) -> Tensor:
    z1 = z[:, 0]
    ring = 0.5 * ((torch.linalg.vector_norm(z, dim=1) - 2.0) / 0.4) ** 2
    return ring - _lse2(-0.5 * ((z1 - 2.0) / 0.6) ** 2, -0.5 * ((z1 + 2.0) / 0.6) ** 2)


def u2(z: Tensor) -> Tensor:
    return 0.5 * ((z[:, 1] - _w1(z[:, 0])) / 0.4) ** 2


def u3(z: Tensor) -> Tensor:
    z1, z2 = z[:, 0], z[:, 1]
    d = z2 - _w1(z1)
    return -_lse2(-0.5 * (d / 0.35) ** 2, -0.5 * ((d + _w2(z1)) / 0.35) ** 2)


def u4(z: Tensor) -> Tensor:
    z1, z2 = z[:, 0], z[:, 1]
    d = z2 - _w1(z1)
    return -_lse2(-0.5 * (d / 0.4) ** 2, -0.5 * ((d + _w3(z1)) / 0.35) ** 2)


class GridNormalizedEnergy(EnergyTarget):
    """An energy on a box, possibly walled: log Z by the midpoint rule over the box widened by WALL_PAD·τ."""

    shape = (2,)
    wall: float | None = None  # τ, or None for no wall

    @property
    def integration_bounds(self) -> tuple[float, ...]:
        pad = 0.0 if self.wall is None else WALL_PAD * self.wall
        return tuple(b + s * pad for b, s in zip(self.bounds, (-1, 1, -1, 1), strict=True))

    def log_normalizer(self, resolution: int = 800) -> float:
        """log ∫ exp(−U) by the midpoint rule, ``resolution`` cells across the box (more across the padding)."""
        cache = getattr(self, "_log_z_cache", None)
        if cache is not None and cache[0] == resolution:
            return cache[1]
        log_z = grid_log_integral(self.energy, self.integration_bounds, self.bounds, resolution)
        self._log_z_cache = (resolution, log_z)
        return log_z


def grid_log_integral(energy: Callable[[Tensor], Tensor], bounds: Sequence[float], box: Sequence[float],
                      resolution: int) -> float:
    """log ∫ exp(−U) over ``bounds`` by the midpoint rule, cells as wide as ``resolution`` cells across ``box``."""
    res = max(1, round(resolution * (bounds[1] - bounds[0]) / (box[1] - box[0])))
    points, cell = grid_points(tuple(bounds), res)
    with torch.no_grad():
        neg_u = -torch.cat([energy(c) for c in points.split(100_000)])
    return float(torch.logsumexp(neg_u, dim=0) + math.log(cell))


class RezendeMohamed(GridNormalizedEnergy):
    """U1–U4 of Rezende & Mohamed (2015), on the box [−4, 4]² (walled for U2–U4; see the module docstring)."""

    bounds = BOX

    def __init__(self, potential: Callable[[Tensor], Tensor], walled: bool) -> None:
        self.potential = potential
        self.wall = WALL_WIDTH if walled else None

    def energy(self, x: Tensor) -> Tensor:
        u = self.potential(x)
        return u if self.wall is None else u + box_wall(x, self.bounds, self.wall)


# -- the painted energy --------------------------------------------------------------------------------------------
class PaintedEnergy(GridNormalizedEnergy):
    """exp(−U) = bilinear interpolation of v = m/max m + floor between cell centres (constant beyond the outer
    centres), times exp(−½(d/τ)²) outside the bounds. log Z in closed form (see :meth:`log_normalizer`)."""

    def __init__(self, masses: np.ndarray, bounds: tuple[float, float, float, float], floor: float) -> None:
        self.bounds = bounds
        v = masses / masses.max() + floor
        self.values = torch.tensor(v[::-1].copy(), dtype=torch.float64)  # row 0 = bottom now
        rows, cols = self.values.shape
        self.cell = ((bounds[1] - bounds[0]) / cols, (bounds[3] - bounds[2]) / rows)
        self.wall = PAINT_WALL_FRACTION * min(bounds[1] - bounds[0], bounds[3] - bounds[2])

    def energy(self, x: Tensor) -> Tensor:
        v = self.values.to(device=x.device, dtype=x.dtype)
        x0, x1, fx = _bilinear_axis(x[:, 0], self.bounds[0], self.cell[0], v.shape[1])
        y0, y1, fy = _bilinear_axis(x[:, 1], self.bounds[2], self.cell[1], v.shape[0])
        inside = (1 - fy) * ((1 - fx) * v[y0, x0] + fx * v[y0, x1]) + fy * ((1 - fx) * v[y1, x0] + fx * v[y1, x1])
        return -torch.log(inside) + box_wall(x, self.bounds, self.wall)

    def log_normalizer(self, resolution: int = 800) -> float:
        """Exact: inside, cell area × Σ v (true of the clamped bilinear interpolant); each side strip adds
        τ√(π/2) × (its edge's values × cell length), each corner quarter-plane (π/2)τ² × the corner value.
        ``resolution`` is ignored."""
        v, (hx, hy), tau = self.values, self.cell, self.wall
        inside = hx * hy * float(v.sum())
        edges = hx * float(v[0].sum() + v[-1].sum()) + hy * float(v[:, 0].sum() + v[:, -1].sum())
        corners = float(v[0, 0] + v[0, -1] + v[-1, 0] + v[-1, -1])
        return math.log(inside + tau * math.sqrt(math.pi / 2.0) * edges + 0.5 * math.pi * tau ** 2 * corners)


def _bilinear_axis(coord: Tensor, lo: float, step: float, n: int) -> tuple[Tensor, Tensor, Tensor]:
    """Neighbouring centre indices and the fraction between them along one axis, centres at lo + (i + ½)·step;
    clamped at the outer centres (so constant beyond them)."""
    u = ((coord - lo) / step - 0.5).nan_to_num(nan=0.0).clamp(0.0, n - 1.0)  # NaN: the wall makes U NaN
    i0 = torch.floor(u).long().clamp(max=max(n - 2, 0))
    return i0, (i0 + 1).clamp(max=n - 1), u - i0


def _user_number(value: Any) -> bool:
    return isinstance(value, (Real, np.number)) and not isinstance(value, (bool, np.bool_))


def read_grid(grid: Any) -> np.ndarray:
    """A painted grid as a float64 (rows, cols) array, or a TargetError saying what is wrong with it."""
    if grid is None:
        raise TargetError("painted energy: nothing painted yet (data 'grid' is missing)")
    if isinstance(grid, np.ndarray):
        if grid.dtype.kind not in "iuf":
            raise TargetError("painted energy: the grid must hold numbers")
        rows = grid.tolist() if grid.ndim == 2 else None
    else:
        rows = [list(r) if isinstance(r, (list, tuple, np.ndarray)) else None for r in grid] \
            if isinstance(grid, (list, tuple)) else None
    if rows is None or any(r is None for r in rows):
        raise TargetError("painted energy: the grid must be a list of rows, each a list of numbers")
    if not rows or not rows[0]:
        raise TargetError("painted energy: the grid is empty; paint something first")
    if any(len(r) != len(rows[0]) for r in rows):
        raise TargetError("painted energy: the rows of the grid have different lengths")
    if not all(_user_number(v) for r in rows for v in r):
        raise TargetError("painted energy: the grid must hold only numbers")
    masses = np.asarray(rows, dtype=np.float64)
    if masses.size > MAX_CELLS:
        raise TargetError(f"painted energy: the grid has {masses.size} cells, more than {MAX_CELLS}")
    if not np.isfinite(masses).all():
        raise TargetError("painted energy: the grid holds an infinite or NaN value")
    if (masses < 0).any():
        raise TargetError("painted energy: masses cannot be negative")
    if not (masses > 0).any():
        raise TargetError("painted energy: the grid is all zero; paint something first")
    return masses


def read_bounds(bounds: Any) -> tuple[float, float, float, float]:
    """(xmin, xmax, ymin, ymax) with xmin < xmax and ymin < ymax, or a TargetError."""
    if bounds is None:
        return BOX
    if not isinstance(bounds, (list, tuple)) or len(bounds) != 4 or not all(_user_number(b) for b in bounds):
        raise TargetError("painted energy: 'bounds' must be four numbers (xmin, xmax, ymin, ymax)")
    b = tuple(float(v) for v in bounds)
    if not all(math.isfinite(v) for v in b) or not (b[0] < b[1] and b[2] < b[3]):
        raise TargetError("painted energy: 'bounds' must be finite with xmin < xmax and ymin < ymax")
    return b  # type: ignore[return-value]


def _painted(params: Mapping[str, Any], data: Mapping[str, Any]) -> PaintedEnergy:
    return PaintedEnergy(read_grid(data.get("grid")), read_bounds(data.get("bounds")), params["floor"])


# -- the registry entries ------------------------------------------------------------------------------------------
RM_REFERENCE = "Rezende & Mohamed 2015, Variational Inference with Normalizing Flows, Table 1"
_RM_HELP = {
    "u1": "A ring with two bright ends; the classic first test of fitting a flow to an energy.",
    "u2": "A sine-wave ridge; the flow must bend a blob into a wave.",
    "u3": "A sine wave that splits into two branches near the middle; a fork to cover.",
    "u4": "A sine wave with a second branch switching on to the right; two ridges joined on one side.",
}
for _kind, _u in (("u1", u1), ("u2", u2), ("u3", u3), ("u4", u4)):
    register_target(TargetSpec(
        kind=_kind, family="energy", objective="energy", help=_RM_HELP[_kind], reference=RM_REFERENCE,
        builder=lambda p, d, _u=_u, _walled=_kind != "u1": RezendeMohamed(_u, _walled),
    ))

register_target(TargetSpec(
    kind="painted_energy", family="energy", objective="energy",
    help="Paint where the density should be bright; the flow learns to match your picture.",
    builder=_painted, data_fields=("grid", "bounds"),
    params=(Param("floor", "float", 1e-4, "brightness of unpainted cells, relative to the brightest painted one",
                  low=1e-8, high=0.1, log_scale=True),),
))
