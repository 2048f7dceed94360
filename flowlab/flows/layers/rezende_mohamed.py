"""Planar and radial flows (Rezende & Mohamed 2015), Householder reflections (Tomczak & Welling 2016) and
Householder–Sylvester flows (van den Berg et al. 2018).

These were designed for variational inference, which only samples, so each paper gives its map in the
latent → data direction: that is our ``inverse``, in closed form. The data → latent direction (``forward``,
needed for densities) is closed form for radial and Householder, and solved numerically for planar and
Sylvester: both reduce to the monotone scalar equation ζ + u·tanh(w·ζ + s) = y, see :func:`solve_tanh_equation`.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from flowlab.flows.base import Bijection, zeros_ladj
from flowlab.flows.registry import Directions, LayerSpec, Param, register

# Fixed iteration count of the bracketed Newton solver: no data-dependent loop, so no host syncs, and it works
# under torch.func. On 4.8M random float64 problems (|u| from 1e-3 to 1e4, 1 + uw down to 1e-8, |y| up to a few
# thousand, roots on the inflection) 18 iterations reached the rounding floor, 2e-15·(|y| + |u|); 32 leave a
# margin. float32 reaches its floor the same way, about 1e-6·(|y| + |u|).
SOLVER_ITERATIONS = 32
TOLERANCE = 1e-10  # absolute residual |ζ + u·tanh(wζ + s) − y| in float64, for |y| + |u| up to ~1e4

_SOFTPLUS_INV_1 = math.log(math.e - 1.0)  # softplus(_SOFTPLUS_INV_1) = 1


# -- shared maths --------------------------------------------------------------------------------------------
def _sech2(t: Tensor) -> Tensor:
    """sech²(t) = 1 − tanh²(t), without the cancellation of that formula for large |t|."""
    e = torch.exp(-2.0 * t.abs())
    return 4.0 * e / (1.0 + e) ** 2


def _slope(t: Tensor, one_plus_uw: Tensor) -> Tensor:
    """1 + uw·sech²(t), written as tanh²(t) + (1 + uw)·sech²(t): a sum of non-negative terms, so it stays
    accurate (and positive) when uw is close to −1."""
    return torch.tanh(t) ** 2 + one_plus_uw * _sech2(t)


def _log_cosh(t: Tensor) -> Tensor:
    """log cosh(t) without overflow."""
    a = t.abs()
    return a + torch.log1p(torch.exp(-2.0 * a)) - math.log(2.0)


def _one_plus_tanh_product(a: Tensor, b: Tensor) -> Tensor:
    """1 + tanh(a)·tanh(b) = cosh(a + b) / (cosh a · cosh b), positive even where both tanh round to ±1."""
    return torch.exp(_log_cosh(a + b) - _log_cosh(a) - _log_cosh(b))


def _bracketed_newton(y: Tensor, u: Tensor, w: Tensor, s: Tensor, one_plus_uw: Tensor, iterations: int) -> Tensor:
    """Safeguarded Newton for g(ζ) = ζ + u·tanh(wζ + s) − y = 0, elementwise, a fixed number of times.

    g is strictly increasing (g′ = 1 + uw·sech² > 0) and its root lies in (y − |u|, y + |u|). Each iteration
    shrinks a bracket with the sign of g, then takes the Newton step unless it leaves the bracket or is not at
    most half the step before last (Newton can cycle on tanh-shaped g): then it bisects. This is ``rtsafe`` of
    Numerical Recipes; its early exit becomes a freeze once |g| is at rounding level, because there the sign of
    g is noise and a bisection of a one-sided bracket would throw the solution away.
    """
    y, u, w, s, one_plus_uw = torch.broadcast_tensors(y, u, w, s, one_plus_uw)
    eps = torch.finfo(y.dtype).eps
    # Twice the exact bracket: with tanh rounded to ±1 the root sits on its ends, where Newton must be allowed.
    lo, hi = y - 2.0 * u.abs(), y + 2.0 * u.abs()
    zeta = y
    step = step_before = hi - lo
    for _ in range(iterations):
        t = w * zeta + s
        g = zeta + u * torch.tanh(t) - y
        lo = torch.where(g < 0, zeta, lo)
        hi = torch.where(g > 0, zeta, hi)
        newton = g / _slope(t, one_plus_uw)
        target = zeta - newton
        ok = (target >= lo) & (target <= hi) & (2.0 * newton.abs() <= step_before.abs())
        done = g.abs() <= 4.0 * eps * (y.abs() + zeta.abs() + u.abs())
        mid = 0.5 * (lo + hi)
        step_before, step = step, torch.where(ok, newton, zeta - mid)
        zeta = torch.where(done, zeta, torch.where(ok, target, mid))
    return zeta


def solve_tanh_equation(y: Tensor, u: Tensor, w: Tensor, s: Tensor, one_plus_uw: Tensor,
                        iterations: int = SOLVER_ITERATIONS) -> Tensor:
    """ζ with ζ + u·tanh(w·ζ + s) = y (elementwise, broadcasting), given 1 + u·w > 0.

    The solve runs without gradients on detached tensors. Gradients then come from one differentiable Newton
    step at its solution ζ*: by the implicit function theorem ∂ζ/∂θ = −(∂g/∂θ) / g′ for every input θ, which is
    exactly that step's derivative. The step's *value* is dropped (ζ* − (g − g̅)/g′, g̅ = g detached): the solve
    has already converged to rounding level, and where g′ ≈ 1e-13 a real step would turn rounding noise in g
    into a jump.
    """
    with torch.no_grad():
        zeta = _bracketed_newton(y.detach(), u.detach(), w.detach(), s.detach(), one_plus_uw.detach(), iterations)
    t = w * zeta + s
    g = zeta + u * torch.tanh(t) - y
    return zeta - (g - g.detach()) / _slope(t, one_plus_uw).detach()


def _reflect(x: Tensor, v: Tensor) -> Tensor:
    """Householder reflection (I − 2 v vᵀ / ‖v‖²) x of each row of ``x``."""
    return x - (2.0 * (x @ v) / (v @ v)).unsqueeze(-1) * v


# -- planar --------------------------------------------------------------------------------------------------
class Planar(Bijection):
    """x = z + û·tanh(wᵀz + b) (latent → data), log|det| = log|1 + (wᵀû)·sech²(wᵀz + b)|.

    û = u + (m(wᵀu) − wᵀu)·w/‖w‖² with m(a) = −1 + softplus(a) makes wᵀû = m(wᵀu) > −1, so the map is
    invertible. The data → latent direction solves a = wᵀz from wᵀx = a + (wᵀû)·tanh(a + b), then
    z = x − û·tanh(a + b).
    """

    def __init__(self, dim: int, generator: torch.Generator) -> None:
        super().__init__()
        w = torch.randn(dim, generator=generator)
        w = w / w.norm()  # a unit w keeps the w/‖w‖² in û well conditioned
        u = 0.01 * torch.randn(dim, generator=generator)
        # Put wᵀu where m(wᵀu) = 0: then û is u's small part orthogonal to w and the layer starts near identity.
        u = u + (_SOFTPLUS_INV_1 - w @ u) * w
        self.w = nn.Parameter(w)
        self.u = nn.Parameter(u)
        self.b = nn.Parameter(torch.zeros(()))

    def _u_hat(self) -> tuple[Tensor, Tensor]:
        """(û, 1 + wᵀû); the latter is softplus(wᵀu), kept apart so it stays positive in float32 (and clamped
        where softplus underflows, wᵀu < −87 in float32: the map is then numerically singular, but finite)."""
        wu = self.w @ self.u
        one_plus_c = F.softplus(wu).clamp_min(torch.finfo(wu.dtype).tiny)
        u_hat = self.u + (one_plus_c - 1.0 - wu) * self.w / (self.w @ self.w)
        return u_hat, one_plus_c

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        u_hat, one_plus_c = self._u_hat()
        a = solve_tanh_equation(x @ self.w, one_plus_c - 1.0, torch.ones_like(self.b), self.b, one_plus_c)
        t = a + self.b
        return x - torch.tanh(t).unsqueeze(-1) * u_hat, -torch.log(_slope(t, one_plus_c))

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        u_hat, one_plus_c = self._u_hat()
        t = z @ self.w + self.b
        return z + torch.tanh(t).unsqueeze(-1) * u_hat, torch.log(_slope(t, one_plus_c))


# -- radial --------------------------------------------------------------------------------------------------
class Radial(Bijection):
    """x = z + β·(z − z₀)/(α + r), r = ‖z − z₀‖ (latent → data); α = softplus(α̂) > 0, β = −α + softplus(β̂).

    With γ = α + β = softplus(β̂) > 0: x − z₀ = (z − z₀)·(γ + r)/(α + r), and
    log|det| = (D − 1)·log((γ + r)/(α + r)) + log((r² + 2αr + αγ)/(α + r)²), every factor positive.
    Data → latent is closed form too: taking norms, r_x = r(γ + r)/(α + r), i.e. r² + (γ − r_x)·r − α·r_x = 0,
    whose non-negative root we take in a cancellation-free form.
    """

    def __init__(self, dim: int, generator: torch.Generator) -> None:
        super().__init__()
        self.z0 = nn.Parameter(torch.randn(dim, generator=generator))
        self.alpha_hat = nn.Parameter(torch.tensor(_SOFTPLUS_INV_1))  # α = 1
        # γ ≈ α, i.e. β ≈ 0: near identity, and β's gradient is not zero.
        self.beta_hat = nn.Parameter(_SOFTPLUS_INV_1 + 0.01 * torch.randn((), generator=generator))

    def _alpha_gamma(self) -> tuple[Tensor, Tensor]:
        return F.softplus(self.alpha_hat), F.softplus(self.beta_hat)

    def _log_det(self, r: Tensor, alpha: Tensor, gamma: Tensor, dim: int) -> Tensor:
        log_ar = torch.log(alpha + r)
        radial = torch.log(r * r + 2.0 * alpha * r + alpha * gamma) - 2.0 * log_ar
        return (dim - 1) * (torch.log(gamma + r) - log_ar) + radial

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        alpha, gamma = self._alpha_gamma()
        d = x - self.z0
        rx = torch.linalg.vector_norm(d, dim=-1)  # its gradient at d = 0 is 0, which is right here
        p = gamma - rx
        sq = torch.sqrt(p * p + 4.0 * alpha * rx)
        # (−p + sq)/2 cancels when p > 0; rationalised there. Both branches are finite everywhere (|p|), so
        # torch.where's unused branch cannot put NaN into gradients.
        r = torch.where(p >= 0, 2.0 * alpha * rx / (p.abs() + sq), 0.5 * (p.abs() + sq))
        z = self.z0 + d * ((alpha + r) / (gamma + r)).unsqueeze(-1)
        return z, -self._log_det(r, alpha, gamma, x.shape[-1])

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        alpha, gamma = self._alpha_gamma()
        d = z - self.z0
        r = torch.linalg.vector_norm(d, dim=-1)
        x = self.z0 + d * ((gamma + r) / (alpha + r)).unsqueeze(-1)
        return x, self._log_det(r, alpha, gamma, z.shape[-1])


# -- Householder ---------------------------------------------------------------------------------------------
class Householder(Bijection):
    """z = H_K ⋯ H_1 x with reflections H_k = I − 2 v_k v_kᵀ / ‖v_k‖²: orthogonal, so ladj = 0."""

    def __init__(self, dim: int, reflections: int, generator: torch.Generator) -> None:
        super().__init__()
        self.vectors = nn.Parameter(torch.randn(reflections, dim, generator=generator))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        for v in self.vectors:
            x = _reflect(x, v)
        return x, zeros_ladj(x)

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        for v in reversed(list(self.vectors)):  # each reflection is its own inverse
            z = _reflect(z, v)
        return z, zeros_ladj(z)


# -- Sylvester (Householder variant) -------------------------------------------------------------------------
class Sylvester(Bijection):
    """x = z + Q R tanh(R̃ Qᵀ z + b) (latent → data), the Householder variant: Q = H_1 ⋯ H_K is a product of
    reflections (square, M = D), R and R̃ upper triangular with diagonals tanh(·), so R_ii R̃_ii > −1.

    log|det| = Σ_i log(1 + R_ii R̃_ii sech²(t_i)), t = R̃ Qᵀ z + b, by Sylvester's determinant identity.
    Data → latent: with x̃ = Qᵀx, z̃ = Qᵀz the map is x̃ = z̃ + R tanh(R̃ z̃ + b), upper triangular, so z̃ is
    found from the last coordinate up, one scalar equation ζ + R_ii tanh(R̃_ii ζ + s_i) = y_i each.
    """

    def __init__(self, dim: int, reflections: int, generator: torch.Generator) -> None:
        super().__init__()
        upper = torch.triu(torch.ones(dim, dim), 1)
        self.register_buffer("upper_mask", upper)
        self.vectors = nn.Parameter(torch.randn(reflections, dim, generator=generator))
        # R small (near identity), R̃ of order one (so R has a gradient), b = 0.
        self.r_diag = nn.Parameter(0.01 * torch.randn(dim, generator=generator))
        self.r_upper = nn.Parameter(0.01 * torch.randn(dim, dim, generator=generator) * upper)
        self.rt_diag = nn.Parameter(torch.randn(dim, generator=generator))
        self.rt_upper = nn.Parameter(torch.randn(dim, dim, generator=generator) * upper / math.sqrt(dim))
        self.b = nn.Parameter(torch.zeros(dim))

    def _triangles(self) -> tuple[Tensor, Tensor, Tensor]:
        """(R, R̃, 1 + R_ii R̃_ii)."""
        r = self.r_upper * self.upper_mask + torch.diag(torch.tanh(self.r_diag))
        rt = self.rt_upper * self.upper_mask + torch.diag(torch.tanh(self.rt_diag))
        return r, rt, _one_plus_tanh_product(self.r_diag, self.rt_diag)

    def _q_t(self, x: Tensor) -> Tensor:
        """Qᵀ x = H_K ⋯ H_1 x."""
        for v in self.vectors:
            x = _reflect(x, v)
        return x

    def _q(self, x: Tensor) -> Tensor:
        """Q x = H_1 ⋯ H_K x."""
        for v in reversed(list(self.vectors)):
            x = _reflect(x, v)
        return x

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        r, rt, one_plus_rr = self._triangles()
        zt = self._q_t(z)
        t = zt @ rt.T + self.b
        x = self._q(zt + torch.tanh(t) @ r.T)
        return x, torch.log(_slope(t, one_plus_rr)).sum(-1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        r, rt, one_plus_rr = self._triangles()
        xt = self._q_t(x)
        dim = x.shape[-1]
        later_z = x.new_zeros(x.shape[0], 0)  # z̃_{i+1..D}, solved already
        later_t = x.new_zeros(x.shape[0], 0)  # t_{i+1..D}
        for i in reversed(range(dim)):
            s = later_z @ rt[i, i + 1:] + self.b[i]
            y = xt[:, i] - torch.tanh(later_t) @ r[i, i + 1:]
            zeta = solve_tanh_equation(y, r[i, i], rt[i, i], s, one_plus_rr[i])
            later_z = torch.cat([zeta.unsqueeze(-1), later_z], dim=-1)
            later_t = torch.cat([(rt[i, i] * zeta + s).unsqueeze(-1), later_t], dim=-1)
        return self._q(later_z), -torch.log(_slope(later_t, one_plus_rr)).sum(-1)


# -- registration --------------------------------------------------------------------------------------------
REFLECTIONS = Param("reflections", "int", 2, "how many learnable mirror reflections are chained; D of them can "
                    "make any rotation or mirroring of D-dimensional space", low=1, high=16)
_RM2015 = "Rezende & Mohamed 2015, Variational Inference with Normalizing Flows"
_NUMERICAL_NOTE = ("density needs a numerical inverse: the data → latent direction solves a monotone scalar "
                   f"equation per {{what}} by bracketed Newton ({SOLVER_ITERATIONS} fixed steps, residual below "
                   f"{TOLERANCE:g} in float64, about 1e-6 of the input's size in float32); sampling is closed form")


def _build_planar(shape: tuple[int, ...], params: Mapping[str, Any], gen: torch.Generator) -> Bijection:
    return Planar(shape[0], gen)


def _build_radial(shape: tuple[int, ...], params: Mapping[str, Any], gen: torch.Generator) -> Bijection:
    return Radial(shape[0], gen)


def _build_householder(shape: tuple[int, ...], params: Mapping[str, Any], gen: torch.Generator) -> Bijection:
    return Householder(shape[0], params["reflections"], gen)


def _build_sylvester(shape: tuple[int, ...], params: Mapping[str, Any], gen: torch.Generator) -> Bijection:
    return Sylvester(shape[0], params["reflections"], gen)


register(LayerSpec(
    kind="planar", family="rezende-mohamed",
    help="Slides points along a learned direction by a smooth tanh step across a learned line; density needs a solve.",
    builder=_build_planar,
    directions=Directions(forward="numerical", inverse="closed", fast="inverse", tolerance=TOLERANCE,
                          note=_NUMERICAL_NOTE.format(what="point (for a = wᵀz)")),
    reference=_RM2015,
))
register(LayerSpec(
    kind="radial", family="rezende-mohamed",
    help="Pulls points towards (or pushes them away from) a learned centre, more strongly close to it.",
    builder=_build_radial,
    directions=Directions(note="the paper gives latent → data only; data → latent is closed form too: taking "
                               "norms turns it into a quadratic in the radius, solved with a stable root"),
    reference=_RM2015,
))
register(LayerSpec(
    kind="householder", family="linear",
    help="A learnable rotation-like map built from mirror reflections; it never changes volumes.",
    builder=_build_householder, params=(REFLECTIONS,), min_features=2,
    reference="Tomczak & Welling 2016, Improving Variational Auto-Encoders using Householder Flow",
))
register(LayerSpec(
    kind="sylvester", family="sylvester",
    help="Like D planar layers at once, their directions set by mirror reflections; the density needs a solve.",
    builder=_build_sylvester, params=(REFLECTIONS,), min_features=2,
    directions=Directions(forward="numerical", inverse="closed", fast="inverse", tolerance=TOLERANCE,
                          note=_NUMERICAL_NOTE.format(what="coordinate, last to first (the map is triangular "
                                                           "after the rotation Qᵀ)")),
    reference="van den Berg, Hasenclever, Tomczak & Welling 2018, Sylvester Normalizing Flows for "
              "Variational Inference",
))
