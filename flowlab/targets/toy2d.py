"""2-D toy data sets: the classic pictures a flow is shown learning, each with its true density.

Common scale. Every set is centred (its mean is exactly 0 by construction), has a spread of about 1–2 per
coordinate and, with its default parameters, lies inside the square [−4, 4]², its ``bounds`` (the plot extents):
essentially all the mass is in the square and most of it within radius 3.5 of the origin (only the corner cells
of the checkerboard and of the Gaussian grid reach a little beyond that radius). So one flow, one base
distribution and one plot fit every set. Settings that need more room (a blur so wide, or pinwheel blades so
long, that mass would reach past ±4) widen the square in steps of ½ so that it still holds essentially all the
mass: the noiseless shape plus 4.5 noise widths.

Each set is a generative recipe; the sampler follows it using only the given ``torch.Generator`` and returns
float32 (n, 2) on the CPU. The recipe fixes the true density p(x) that ``log_prob`` returns (float64 inside; the
result has the input's dtype), from which ``entropy()`` estimates H(p) and the app shows KL(data ‖ model):

- ``moons``: two interleaved half circles of radius 2, + N(0, σ²I). Density by quadrature along the curves.
- ``circles``: two concentric circles, radii 3 and 3·factor, equal mass, + N(0, σ²I). Exact (Bessel I₀).
- ``8gaussians``: K Gaussians N(μ_k, σ²I), μ_k evenly spaced on a circle of radius r. Exact.
- ``2spirals``: two interleaved Archimedean spiral arms, + N(0, σ²I). Quadrature.
- ``checkerboard``: uniform on the dark squares of an n×n board on [−3, 3]². Exact (1/area there, 0 elsewhere).
- ``pinwheel``: K radially elongated Gaussians twisted by a radius-dependent rotation. Exact (the twist keeps
  area, so the density is the untwisted mixture's at the untwisted point).
- ``swissroll``: one spiral a·t(cos t, sin t), t ~ U[1.5π, 4.5π], re-centred, + N(0, σ²I). Quadrature.
- ``rings``: n concentric circles of radii 3k/n, mass ∝ radius (evenly bright), + N(0, σ²I). Exact (Bessel I₀).
- ``gaussian_grid``: an n×n lattice of Gaussians N(μ_ij, σ²I) on [−2.5, 2.5]². Exact.

Curve sets: curve k is chosen with probability w_k, s ~ U[0, 1] and x = c_k(s) + σε with ε ~ N(0, I), so
p(x) = Σ_k w_k ∫₀¹ N(x; c_k(s), σ²I) ds. The integral is a quadrature (:func:`curve_rule`) with nodes at most
0.8σ apart along the curve and graded towards its ends; against a 400 000-node rule its error in log p is below
1e-5 wherever p is within e⁻³⁰ of its maximum (only far out in the empty tails does it grow, to ~1e-3 in a
log p of −100 or less).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from flowlab.params import Param
from flowlab.targets.base import SampleTarget, TargetSpec, register_target

F64 = torch.float64
BOUNDS = (-4.0, 4.0, -4.0, 4.0)
LOG_2PI = math.log(2.0 * math.pi)

NODE_SPACING = 0.8  # quadrature node spacing along a curve (away from its ends), in units of σ
MIN_NODES = 64
BLUR_REACH = 4.5  # bounds reach this many noise widths beyond the noiseless shape (mass outside ~1e-5)
CUTOFFS = (7.0, 14.0, 28.0)  # mixture centres farther than C·σ from a point are skipped when provably negligible:
MARGIN = 16.0  # ... when together they add less than e^{−MARGIN} ≈ 1e-7 relative
DENSE_BELOW = 256  # mixtures with fewer centres are always summed in full
CHUNK_ELEMENTS = 1 << 20  # points × centres held at once
TILE_RANGE = 1e6  # points farther out than this are summed in full

Curve = Callable[[Tensor], Tensor]  # s ∈ [0, 1], float64 shape (m,) → points (m, 2)


# -- shared helpers ------------------------------------------------------------------------------------------------
def isotropic_mixture_log_prob(x: Tensor, centres: Tensor, log_weights: Tensor, sigma: float) -> Tensor:
    """log Σ_k w_k N(x; μ_k, σ²I) for x (n, 2), centres (K, 2), log w (K,), in float64.

    Large mixtures (the quadrature nodes of a curve) sum, for each point, only the centres within C·σ of the
    point's tile (a square of side C·σ/3.5). The skipped centres lie farther than C·σ, so together they weigh at
    most W·exp(−C²/2) (W = Σ w_k); a point whose partial sum is not at least e^{MARGIN} times that is tried again
    with C doubled, and finally summed over all centres: the relative error is below e^{−MARGIN} everywhere.
    """
    x = x.reshape(-1, 2).to(F64)
    centres = centres.to(device=x.device, dtype=F64)
    log_weights = log_weights.to(device=x.device, dtype=F64)
    if len(centres) < DENSE_BELOW or len(x) == 0:
        return _log_sum_gauss(x, centres, log_weights, sigma) - LOG_2PI - 2.0 * math.log(sigma)
    out = torch.empty(len(x), dtype=F64, device=x.device)
    tame = (x.abs() < TILE_RANGE).all(dim=1)  # non-finite or huge points skip the tiles (integer tile keys)
    out[~tame] = _log_sum_gauss(x[~tame], centres, log_weights, sigma)
    todo = torch.nonzero(tame).squeeze(1)
    log_total = float(torch.logsumexp(log_weights, 0))
    for cutoff in CUTOFFS:
        lse = _log_sum_gauss_near(x[todo], centres, log_weights, sigma, cutoff)
        done = lse > log_total - cutoff ** 2 / 2.0 + MARGIN
        out[todo[done]] = lse[done]
        todo = todo[~done]
        if len(todo) == 0:
            break
    else:
        out[todo] = _log_sum_gauss(x[todo], centres, log_weights, sigma)
    return out - LOG_2PI - 2.0 * math.log(sigma)


def _log_sum_gauss_near(x: Tensor, centres: Tensor, log_weights: Tensor, sigma: float, cutoff: float) -> Tensor:
    """log Σ_k w_k exp(−‖x − μ_k‖²/2σ²) over the centres within ``cutoff``·σ of each point's tile (−inf if none).

    Tiles are bucketed by their number of near centres (rounded up to a power of two) to limit padding.
    """
    out = torch.full((len(x),), -math.inf, dtype=F64, device=x.device)
    if len(x) == 0:
        return out
    tile = cutoff * sigma / 3.5
    cell = torch.floor(x / tile).long()
    cell -= cell.min(dim=0).values
    tiles, point_tile = torch.unique(cell[:, 0] * (int(cell[:, 1].max()) + 1) + cell[:, 1], return_inverse=True)
    first = torch.zeros(len(tiles), dtype=torch.long, device=x.device).scatter_(
        0, point_tile, torch.arange(len(x), device=x.device))  # any one point of each tile
    tile_centres = (torch.floor(x[first] / tile) + 0.5) * tile
    near = torch.cdist(tile_centres, centres) <= tile / math.sqrt(2.0) + cutoff * sigma
    count = near.sum(dim=1)
    near_idx = torch.argsort((~near).to(torch.uint8), dim=1, stable=True)  # each tile's near centres first
    bucket = torch.ceil(torch.log2(count.clamp_min(1).to(F64))).long()
    for b in torch.unique(bucket[count > 0]).tolist():
        width = min(1 << b, len(centres))
        idx_table, ok_table = near_idx[:, :width], torch.arange(width, device=x.device) < count[:, None]
        points = torch.nonzero(((bucket == b) & (count > 0))[point_tile]).squeeze(1)
        for rows in points.split(max(1, CHUNK_ELEMENTS // width)):
            idx, ok = idx_table[point_tile[rows]], ok_table[point_tile[rows]]
            d2 = ((x[rows, None, :] - centres[idx]) ** 2).sum(dim=2)
            logits = (log_weights[idx] - d2 / (2.0 * sigma ** 2)).masked_fill(~ok, -math.inf)
            out[rows] = torch.logsumexp(logits, dim=1)
    return out


def _log_sum_gauss(x: Tensor, centres: Tensor, log_weights: Tensor, sigma: float) -> Tensor:
    """log Σ_k w_k exp(−‖x − μ_k‖²/2σ²) over all centres, chunked over the points."""
    c2 = (centres * centres).sum(dim=1)
    out = [torch.empty(0, dtype=F64, device=x.device)]
    for xc in x.split(max(1, CHUNK_ELEMENTS // len(centres))):
        d2 = ((xc * xc).sum(dim=1, keepdim=True) + c2 - 2.0 * xc @ centres.T).clamp_min(0.0)
        out.append(torch.logsumexp(log_weights - d2 / (2.0 * sigma ** 2), dim=1))
    return torch.cat(out)


def _as_dtype_of(result: Tensor, x: Tensor) -> Tensor:
    return result.to(x.dtype) if x.is_floating_point() else result


def _choose(weights: Tensor, n: int, generator: torch.Generator) -> Tensor:
    """n component labels drawn with probabilities ``weights``."""
    if n == 0:
        return torch.zeros(0, dtype=torch.long)
    return torch.multinomial(weights, n, replacement=True, generator=generator)


def _rotation(angle: Tensor) -> Tensor:
    """Rotation matrices R(angle), shape (*angle.shape, 2, 2)."""
    c, s = torch.cos(angle), torch.sin(angle)
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


def _uniform_weights(k: int) -> Tensor:
    return torch.full((k,), 1.0 / k, dtype=F64)


class ToyTarget(SampleTarget):
    """A 2-D toy set on the common scale (see the module docstring)."""

    shape = (2,)
    bounds = BOUNDS


def square_bounds(reach: float) -> tuple[float, float, float, float]:
    """[−h, h]² with h = max(4, ``reach`` rounded up to a multiple of ½): the common plot square unless the
    set needs more room."""
    half = max(BOUNDS[1], math.ceil(2.0 * reach) / 2.0)
    return (-half, half, -half, half)


# -- curve + noise sets (density by quadrature) -------------------------------------------------------------------
class CurveTarget(ToyTarget):
    """Curve k with probability w_k, s ~ U[0, 1], x = c_k(s) + σε: p(x) = Σ_k w_k ∫₀¹ N(x; c_k(s), σ²I) ds."""

    def __init__(self, curves: Sequence[Curve], weights: Sequence[float], noise: float) -> None:
        self.curves = tuple(curves)
        w = torch.tensor(weights, dtype=F64)
        self.weights = w / w.sum()
        self.noise = noise
        self._nodes: tuple[Tensor, Tensor] | None = None
        fine = torch.cat([c(torch.linspace(0.0, 1.0, 1025, dtype=F64)) for c in self.curves])
        self.bounds = square_bounds(float(fine.abs().max()) + BLUR_REACH * noise)

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        labels = _choose(self.weights, n, generator)
        s = torch.rand(n, generator=generator, dtype=F64)
        points = torch.empty(n, 2, dtype=F64)
        for k, curve in enumerate(self.curves):
            mask = labels == k
            points[mask] = curve(s[mask])
        return (points + self.noise * torch.randn(n, 2, generator=generator, dtype=F64)).float()

    def quadrature(self) -> tuple[Tensor, Tensor]:
        """Nodes (M, 2) and log weights of the rule for Σ_k w_k ∫₀¹ N(x; c_k(s), σ²I) ds (see curve_rule)."""
        if self._nodes is None:
            rules = [curve_rule(curve, self.noise) for curve in self.curves]
            nodes = torch.cat([r[0] for r in rules])
            weights = self.weights.tolist()
            log_w = torch.cat([torch.log(r[1]) + math.log(w) for r, w in zip(rules, weights, strict=True)])
            self._nodes = (nodes, log_w)
        return self._nodes

    def log_prob(self, x: Tensor) -> Tensor:
        nodes, log_w = self.quadrature()
        return _as_dtype_of(isotropic_mixture_log_prob(x, nodes, log_w, self.noise), x)


def curve_rule(curve: Curve, noise: float, fine: int = 1 << 16) -> tuple[Tensor, Tensor]:
    """Nodes c(s_j) and weights v_j with Σ_j v_j f(c(s_j)) ≈ ∫₀¹ f(c(s)) ds for f varying on the scale σ.

    Substitute arc length ℓ = L·φ(u), φ(u) = u − sin(2πu)/2π (Sidi's sin² map), and take the midpoint rule in u
    with N nodes: s_j = S⁻¹(L φ(u_j)), v_j = L φ'(u_j) / (N ‖c'(s_j)‖), S the arc length from s = 0. Nodes are then
    at most 0.8σ apart along the curve (φ' ≤ 2), close enough for the midpoint rule to sum a Gaussian of width σ
    to ~1e-13 (Poisson summation), and φ' vanishes to second order at the ends, which removes the midpoint rule's
    end corrections of orders h² and h⁴ that an open curve would otherwise cause.
    """
    s = torch.linspace(0.0, 1.0, fine + 1, dtype=F64)
    arc = torch.cat([torch.zeros(1, dtype=F64), (curve(s[1:]) - curve(s[:-1])).norm(dim=1).cumsum(0)])
    length = float(arc[-1])
    n = max(MIN_NODES, math.ceil(2.0 * length / (NODE_SPACING * noise)))
    u = (torch.arange(n, dtype=F64) + 0.5) / n
    ell = length * (u - torch.sin(2.0 * math.pi * u) / (2.0 * math.pi))
    k = torch.searchsorted(arc, ell).clamp(1, fine)
    s_j = s[k - 1] + (ell - arc[k - 1]) / (arc[k] - arc[k - 1]) * (s[k] - s[k - 1])
    lo, hi = (s_j - 1e-6).clamp_min(0.0), (s_j + 1e-6).clamp_max(1.0)
    speed = (curve(hi) - curve(lo)).norm(dim=1) / (hi - lo)
    v = length * (1.0 - torch.cos(2.0 * math.pi * u)) / (n * speed)
    return curve(s_j), v / v.sum()  # Σ v_j = ∫₀¹ ds = 1 up to the arc-length table's ~1e-9


def moon_curves() -> tuple[Curve, Curve]:
    """Upper moon (2cos πs − 1, 2sin πs − ½) and the lower moon, its mirror image through the origin."""
    def upper(s: Tensor) -> Tensor:
        a = math.pi * s
        return torch.stack([2.0 * torch.cos(a) - 1.0, 2.0 * torch.sin(a) - 0.5], dim=1)

    return upper, lambda s: -upper(s)


def spiral_curves(turns: float) -> tuple[Curve, Curve]:
    """Arms ±a·θ(cos θ, sin θ) with θ² uniform in [θ₀², θ₁²] (≈ uniform along the arm), θ₀ = π/2,
    θ₁ = θ₀ + 2π·turns, a = 3/θ₁ (outer end at radius 3)."""
    t0 = 0.5 * math.pi
    t1 = t0 + 2.0 * math.pi * turns
    a = 3.0 / t1

    def arm(s: Tensor) -> Tensor:
        theta = torch.sqrt(t0 ** 2 + s * (t1 ** 2 - t0 ** 2))
        return a * theta[:, None] * torch.stack([torch.cos(theta), torch.sin(theta)], dim=1)

    return arm, lambda s: -arm(s)


SWISS_T0, SWISS_T1 = 1.5 * math.pi, 4.5 * math.pi
SWISS_A = 3.0 / SWISS_T1


def swiss_roll_curve() -> Curve:
    """a·t(cos t, sin t) − m with t = 1.5π + 3πs, a = 3/(4.5π), m its mean (so that the set is centred):
    m = a/(t₁ − t₀)·([t sin t + cos t], [sin t − t cos t]) evaluated between t₀ and t₁."""
    def antiderivative(t: float) -> tuple[float, float]:
        return t * math.sin(t) + math.cos(t), math.sin(t) - t * math.cos(t)

    (cx1, sx1), (cx0, sx0) = antiderivative(SWISS_T1), antiderivative(SWISS_T0)
    mean = torch.tensor([cx1 - cx0, sx1 - sx0], dtype=F64) * SWISS_A / (SWISS_T1 - SWISS_T0)

    def curve(s: Tensor) -> Tensor:
        t = SWISS_T0 + (SWISS_T1 - SWISS_T0) * s
        return SWISS_A * t[:, None] * torch.stack([torch.cos(t), torch.sin(t)], dim=1) - mean

    return curve


# -- circles with noise (exact) ------------------------------------------------------------------------------------
class RingTarget(ToyTarget):
    """Circle k (radius r_k) with probability w_k, angle ~ U[0, 2π), plus N(0, σ²I) noise. Exactly:
    p(x) = Σ_k w_k (2πσ²)⁻¹ exp(−(ρ − r_k)²/2σ²) · i0e(ρ r_k/σ²), ρ = ‖x‖, i0e(z) = e^{−z} I₀(z)
    (averaging the Gaussian over the angle gives the modified Bessel function I₀)."""

    def __init__(self, radii: Sequence[float], weights: Sequence[float], noise: float) -> None:
        self.radii = torch.tensor(radii, dtype=F64)
        w = torch.tensor(weights, dtype=F64)
        self.weights = w / w.sum()
        self.noise = noise
        self.bounds = square_bounds(float(self.radii.max()) + BLUR_REACH * noise)

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        r = self.radii[_choose(self.weights, n, generator)]
        angle = 2.0 * math.pi * torch.rand(n, generator=generator, dtype=F64)
        points = r[:, None] * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
        return (points + self.noise * torch.randn(n, 2, generator=generator, dtype=F64)).float()

    def log_prob(self, x: Tensor) -> Tensor:
        rho = x.reshape(-1, 2).to(F64).norm(dim=1, keepdim=True)
        r = self.radii.to(rho.device)
        s2 = self.noise ** 2
        terms = (torch.log(self.weights.to(rho.device)) - (rho - r) ** 2 / (2.0 * s2)
                 + torch.log(torch.special.i0e(rho * r / s2)))
        return _as_dtype_of(torch.logsumexp(terms, dim=1) - LOG_2PI - math.log(s2), x)


# -- Gaussian mixtures (exact) -------------------------------------------------------------------------------------
class GaussianMixture2D(ToyTarget):
    """p(x) = Σ_k w_k N(x; μ_k, σ²I)."""

    def __init__(self, centres: Tensor, weights: Tensor, noise: float) -> None:
        self.centres = centres.to(F64)
        self.weights = weights / weights.sum()
        self.noise = noise
        self.bounds = square_bounds(float(self.centres.abs().max()) + BLUR_REACH * noise)

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        mu = self.centres[_choose(self.weights, n, generator)]
        return (mu + self.noise * torch.randn(n, 2, generator=generator, dtype=F64)).float()

    def log_prob(self, x: Tensor) -> Tensor:
        return _as_dtype_of(isotropic_mixture_log_prob(x, self.centres, torch.log(self.weights), self.noise), x)


def circle_centres(k: int, radius: float) -> Tensor:
    """μ_j = r(cos 2πj/K, sin 2πj/K)."""
    angle = 2.0 * math.pi * torch.arange(k, dtype=F64) / k
    return radius * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)


GRID_HALF_WIDTH = 2.5


def grid_centres(per_side: int) -> Tensor:
    """μ_ij on the n×n lattice linspace(−2.5, 2.5, n)²."""
    axis = torch.linspace(-GRID_HALF_WIDTH, GRID_HALF_WIDTH, per_side, dtype=F64)
    gx, gy = torch.meshgrid(axis, axis, indexing="xy")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)


# -- checkerboard (exact) ------------------------------------------------------------------------------------------
class Checkerboard(ToyTarget):
    """Uniform on the dark squares of an n×n board covering [−3, 3]²: square (i, j) (column i from the left,
    row j from the bottom) is dark when i + j is even. p(x) = 1/A on dark squares, 0 elsewhere, with
    A = ⌈n²/2⌉·(6/n)² the dark area; so H(p) = log A exactly."""

    half_width = 3.0

    def __init__(self, squares: int) -> None:
        self.squares = squares
        self.side = 2.0 * self.half_width / squares
        idx = torch.arange(squares)
        gi, gj = torch.meshgrid(idx, idx, indexing="xy")
        dark = (gi + gj) % 2 == 0
        self.dark_cells = torch.stack([gi[dark], gj[dark]], dim=1).to(F64)  # (column, row) pairs
        self.log_area = math.log(len(self.dark_cells) * self.side ** 2)

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        cell = self.dark_cells[torch.randint(len(self.dark_cells), (n,), generator=generator)]
        offset = torch.rand(n, 2, generator=generator, dtype=F64)
        return (-self.half_width + self.side * (cell + offset)).float()

    def log_prob(self, x: Tensor) -> Tensor:
        idx = torch.floor((x.reshape(-1, 2).to(F64) + self.half_width) / self.side)
        inside = ((idx >= 0) & (idx < self.squares)).all(dim=1)
        dark = inside & (idx.sum(dim=1) % 2 == 0)
        out = torch.full(dark.shape, -math.inf, dtype=F64, device=x.device)
        out[dark] = -self.log_area
        return _as_dtype_of(out, x)


# -- pinwheel (exact, by change of variables) ----------------------------------------------------------------------
class Pinwheel(ToyTarget):
    """K arms. Arm k: f ~ N((μ, 0), diag(σ_r², σ_t²)) (elongated along the radius), g = R(2πk/K) f, then the
    twist x = T(g) = R(c‖g‖) g, a rotation by an angle growing with the radius (c = ``rate``).

    T keeps radii and shifts angles by c·r: in polar coordinates its Jacobian is [[1, 0], [c, 1]], so it preserves
    area (|det| = 1) and T⁻¹(x) = R(−c‖x‖) x. Hence exactly
    p(x) = (1/K) Σ_k N(R(−2πk/K) R(−c‖x‖) x; (μ, 0), diag(σ_r², σ_t²)), and H(p) = H(the untwisted mixture)
    ≈ log K + log(2πe σ_r σ_t) while the arms do not overlap. (After Johnson et al. 2016, who twist by c·e^{f₁}.)
    """

    arm_radius = 2.0  # μ

    def __init__(self, components: int, radial_std: float, tangential_std: float, rate: float) -> None:
        self.components = components
        self.std = torch.tensor([radial_std, tangential_std], dtype=F64)
        self.rate = rate
        self.arm_angles = 2.0 * math.pi * torch.arange(components, dtype=F64) / components
        self.bounds = square_bounds(math.hypot(self.arm_radius + BLUR_REACH * radial_std,
                                               BLUR_REACH * tangential_std))

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        arm = torch.randint(self.components, (n,), generator=generator)
        f = torch.randn(n, 2, generator=generator, dtype=F64) * self.std
        f[:, 0] += self.arm_radius
        g = (_rotation(self.arm_angles[arm]) @ f[:, :, None])[:, :, 0]
        return (_rotation(self.rate * g.norm(dim=1)) @ g[:, :, None])[:, :, 0].float()

    def log_prob(self, x: Tensor) -> Tensor:
        x64 = x.reshape(-1, 2).to(F64)
        std = self.std.to(x64.device)
        g = (_rotation(-self.rate * x64.norm(dim=1)) @ x64[:, :, None])[:, :, 0]  # T⁻¹(x)
        f = torch.einsum("kij,nj->nki", _rotation(-self.arm_angles.to(x64.device)), g)  # (n, K, 2)
        z = (f - torch.tensor([self.arm_radius, 0.0], dtype=F64, device=x64.device)) / std
        log_n = -0.5 * (z * z).sum(dim=2) - LOG_2PI - torch.log(std).sum()
        return _as_dtype_of(torch.logsumexp(log_n, dim=1) - math.log(self.components), x)


# -- the registry entries ------------------------------------------------------------------------------------------
def _noise(default: float, low: float = 0.03) -> Param:
    return Param("noise", "float", default, "width σ of the Gaussian blur around the shape", low=low, high=1.0)


def _reg(kind: str, help: str, builder: Callable[[Mapping[str, Any]], SampleTarget],
         params: tuple[Param, ...], reference: str = "") -> None:
    register_target(TargetSpec(kind=kind, family="toy", help=help, builder=lambda p, d: builder(p),
                               params=params, reference=reference))


_reg("moons", "Two interlocking half-moons; the flow must bend space to separate them.",
     lambda p: CurveTarget(moon_curves(), (1.0, 1.0), p["noise"]), (_noise(0.1),),
     "scikit-learn make_moons (rescaled)")

_reg("circles", "Two rings, one inside the other: a hole that a continuous flow must open up.",
     lambda p: RingTarget((3.0, 3.0 * p["factor"]), (1.0, 1.0), p["noise"]),
     (_noise(0.1), Param("factor", "float", 0.5, "inner radius as a fraction of the outer one", low=0.1,
                         high=0.9)),
     "scikit-learn make_circles (rescaled)")

_reg("8gaussians", "Blobs evenly spaced on a circle: separate modes with empty space between them.",
     lambda p: GaussianMixture2D(circle_centres(p["components"], p["radius"]),
                                 _uniform_weights(p["components"]), p["noise"]),
     (Param("components", "int", 8, "how many blobs", low=2, high=16),
      Param("radius", "float", 2.5, "distance of the blob centres from the origin", low=0.5, high=3.0),
      _noise(0.25, low=0.02)),
     "Grathwohl et al. 2019 (FFJORD)")

_reg("2spirals", "Two spiral arms wound into each other; hard for flows with few layers.",
     lambda p: CurveTarget(spiral_curves(p["turns"]), (1.0, 1.0), p["noise"]),
     (_noise(0.1), Param("turns", "float", 1.5, "how many times each arm winds round", low=0.5, high=3.0)),
     "Grathwohl et al. 2019 (FFJORD)")

_reg("checkerboard", "Flat density on alternate squares of a board: sharp edges and many corners.",
     lambda p: Checkerboard(p["squares"]),
     (Param("squares", "int", 4, "squares along each side of the board", low=2, high=8),),
     "Grathwohl et al. 2019 (FFJORD)")

_reg("pinwheel", "Stretched blobs swirled round the centre like the blades of a pinwheel.",
     lambda p: Pinwheel(p["components"], p["radial_std"], p["tangential_std"], p["rate"]),
     (Param("components", "int", 5, "how many blades", low=2, high=10),
      Param("radial_std", "float", 0.4, "length of each blade (spread along the radius)", low=0.05, high=0.6),
      Param("tangential_std", "float", 0.1, "thickness of each blade", low=0.02, high=0.5),
      Param("rate", "float", 0.6, "swirl: extra turn (radians) per unit of distance from the centre", low=0.0,
            high=2.0)),
     "Johnson et al. 2016 (SVAE), with an area-preserving twist")

_reg("swissroll", "One spiral whose points crowd towards its inner end, like a rolled-up sheet.",
     lambda p: CurveTarget((swiss_roll_curve(),), (1.0,), p["noise"]), (_noise(0.1),),
     "scikit-learn make_swiss_roll (2-D, rescaled)")

_reg("rings", "Several concentric rings, evenly bright; many holes to open.",
     lambda p: RingTarget([3.0 * (k + 1) / p["rings"] for k in range(p["rings"])],
                          [k + 1.0 for k in range(p["rings"])], p["noise"]),
     (Param("rings", "int", 4, "how many rings", low=2, high=8), _noise(0.08)),
     "Grathwohl et al. 2019 (FFJORD)")

_reg("gaussian_grid", "A square lattice of blobs: many equal modes to cover at once.",
     lambda p: GaussianMixture2D(grid_centres(p["per_side"]), _uniform_weights(p["per_side"] ** 2),
                                 p["noise"]),
     (Param("per_side", "int", 5, "blobs along each side of the grid", low=2, high=8), _noise(0.2, low=0.02)))
