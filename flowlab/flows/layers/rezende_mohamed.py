"""Planar and radial flows (Rezende & Mohamed 2015).

These were designed for variational inference, which only samples, so each paper gives its map in the
latent → data direction: that is our ``inverse``, in closed form. The data → latent direction (``forward``,
needed for densities) is closed form for radial, and solved numerically for planar (and for the Sylvester
flows of :mod:`~flowlab.flows.layers.sylvester`): both reduce to the monotone scalar equation
ζ + u·tanh(w·ζ + s) = y, see :func:`solve_tanh_equation`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from flowlab.flows.base import Bijection
from flowlab.flows.registry import Directions, LayerSpec, Param, ParamProblem, Summary, register

# Fixed iteration count of the bracketed Newton solver: no data-dependent loop, so no host syncs, and it works
# under torch.func. On 4.8M random float64 problems (|u| from 1e-3 to 1e4, 1 + uw down to 1e-8, |y| up to a few
# thousand, roots on the inflection) 18 iterations reached the rounding floor, 2e-15·(|y| + |u|); 32 leave a
# margin. float32 reaches its floor the same way, about 1e-6·(|y| + |u|).
SOLVER_ITERATIONS = 32
TOLERANCE = 1e-10  # absolute residual |ζ + u·tanh(wζ + s) − y| in float64, for |y| + |u| up to ~1e4

_SOFTPLUS_INV_1 = math.log(math.e - 1.0)  # softplus(_SOFTPLUS_INV_1) = 1


# -- shared maths --------------------------------------------------------------------------------------------
def softplus_inverse(y: float) -> float:
    """x with softplus(x) = log(1 + eˣ) = y > 0, i.e. log(eʸ − 1), written without overflow or cancellation."""
    return y + math.log(-math.expm1(-y))


def hold(module: nn.Module, learnable: bool, **tensors: Tensor) -> None:
    """Attach ``tensors`` as parameters (trained) or, for a hand-set map that stays as set, as buffers (saved
    with the weights, never trained)."""
    for name, value in tensors.items():
        if learnable:
            setattr(module, name, nn.Parameter(value))
        else:
            module.register_buffer(name, value)


def _sech2(t: Tensor) -> Tensor:
    """sech²(t) = 1 − tanh²(t), without the cancellation of that formula for large |t|."""
    e = torch.exp(-2.0 * t.abs())
    return 4.0 * e / (1.0 + e) ** 2


def slope(t: Tensor, one_plus_uw: Tensor) -> Tensor:
    """1 + uw·sech²(t), written as tanh²(t) + (1 + uw)·sech²(t): a sum of non-negative terms, so it stays
    accurate (and positive) when uw is close to −1."""
    return torch.tanh(t) ** 2 + one_plus_uw * _sech2(t)


def _log_cosh(t: Tensor) -> Tensor:
    """log cosh(t) without overflow."""
    a = t.abs()
    return a + torch.log1p(torch.exp(-2.0 * a)) - math.log(2.0)


def one_plus_tanh_product(a: Tensor, b: Tensor) -> Tensor:
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
        newton = g / slope(t, one_plus_uw)
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
    return zeta - (g - g.detach()) / slope(t, one_plus_uw).detach()


# -- planar --------------------------------------------------------------------------------------------------
class Planar(Bijection):
    """x = z + û·tanh(wᵀz + b) (latent → data), log|det| = log|1 + (wᵀû)·sech²(wᵀz + b)|.

    û = u + (m(wᵀu) − wᵀu)·w/‖w‖² with m(a) = −1 + softplus(a) makes wᵀû = m(wᵀu) > −1, so the map is
    invertible. The data → latent direction solves a = wᵀz from wᵀx = a + (wᵀû)·tanh(a + b), then
    z = x − û·tanh(a + b).
    """

    def __init__(self, dim: int, generator: torch.Generator, w: Sequence[float] = (), u: Sequence[float] = (),
                 b: float = 0.0, learnable: bool = True) -> None:
        super().__init__()
        if len(w):
            w_t = torch.tensor(w, dtype=torch.float32)
        else:
            w_t = torch.randn(dim, generator=generator)
            w_t = w_t / w_t.norm()  # a unit w keeps the w/‖w‖² in û well conditioned
        if len(u):
            # The u given is the map's û: keep it, and set u's part along w so that m(wᵀu) = wᵀû.
            u_hat = torch.tensor(u, dtype=torch.float64)
            c = float(w_t.double() @ u_hat)
            u_t = (u_hat + (softplus_inverse(1.0 + c) - c) * w_t.double() / (w_t.double() @ w_t.double())).float()
        else:
            u_t = 0.01 * torch.randn(dim, generator=generator)
            # Put wᵀu where m(wᵀu) = 0: then û is u's small part orthogonal to w and the layer starts near identity.
            u_t = u_t + (_SOFTPLUS_INV_1 - w_t @ u_t) * w_t / (w_t @ w_t)
        hold(self, learnable, w=w_t, u=u_t, b=torch.tensor(float(b)))

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
        return x - torch.tanh(t).unsqueeze(-1) * u_hat, -torch.log(slope(t, one_plus_c))

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        u_hat, one_plus_c = self._u_hat()
        t = z @ self.w + self.b
        return z + torch.tanh(t).unsqueeze(-1) * u_hat, torch.log(slope(t, one_plus_c))


# -- radial --------------------------------------------------------------------------------------------------
class Radial(Bijection):
    """x = z + β·(z − z₀)/(α + r), r = ‖z − z₀‖ (latent → data); α = softplus(α̂) > 0, β = −α + softplus(β̂).

    With γ = α + β = softplus(β̂) > 0: x − z₀ = (z − z₀)·(γ + r)/(α + r), and
    log|det| = (D − 1)·log((γ + r)/(α + r)) + log((r² + 2αr + αγ)/(α + r)²), every factor positive.
    Data → latent is closed form too: taking norms, r_x = r(γ + r)/(α + r), i.e. r² + (γ − r_x)·r − α·r_x = 0,
    whose non-negative root we take in a cancellation-free form.
    """

    def __init__(self, dim: int, generator: torch.Generator, z0: Sequence[float] = (), alpha: float = 1.0,
                 beta: float = 0.0, learnable: bool = True) -> None:
        super().__init__()
        centre = torch.tensor(z0, dtype=torch.float32) if len(z0) else torch.randn(dim, generator=generator)
        hold(self, learnable, z0=centre, alpha_hat=torch.tensor(softplus_inverse(alpha)),
             beta_hat=torch.tensor(softplus_inverse(alpha + beta)))  # γ = α + β = softplus(β̂)

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


# -- registration --------------------------------------------------------------------------------------------
_RM2015 = "Rezende & Mohamed 2015, Variational Inference with Normalizing Flows"
NUMERICAL_NOTE = ("density needs a numerical inverse: the data → latent direction solves a monotone scalar "
                   f"equation per {{what}} by bracketed Newton ({SOLVER_ITERATIONS} fixed steps, residual below "
                   f"{TOLERANCE:g} in float64, about 1e-6 of the input's size in float32); sampling is closed form")


def _vector(name: str, help: str) -> Param:
    return Param(name, "floats", (), f"{help}; one number per data dimension, or empty: drawn at random",
                 low=-1e3, high=1e3)


def _learnable(what: str) -> Param:
    return Param("learnable", "bool", True, f"train {what} with the rest of the flow; off: the map stays exactly "
                                            f"as set (a hand-set picture: only the sampling direction is shown)")


PLANAR_PARAMS = (
    _vector("w", "the normal of the line across which the map steps (wᵀz + b = 0)"),
    _vector("u", "the direction points slide, û in the paper; invertibility needs wᵀû > −1, which is checked "
                 "(values that break it are refused, never bent), and u needs w"),
    Param("b", "float", 0.0, "the line's offset: the tanh step is centred where wᵀz + b = 0", low=-1e3, high=1e3),
    _learnable("w, u and b"),
)
RADIAL_PARAMS = (
    _vector("z0", "the centre points are pulled towards (β < 0) or pushed from (β > 0)"),
    Param("alpha", "float", 1.0, "α > 0, the reach: the pull fades over distances of about α", low=1e-6, high=1e3,
          log_scale=True),
    Param("beta", "float", 0.0, "β, the strength: 0 is the identity; invertibility needs β > −α, which is "
                                "checked (at β = −α the centre collapses to a point)", low=-1e3, high=1e3),
    _learnable("z0, α and β"),
)


def _check_length(shape: tuple[int, ...], params: Mapping[str, Any], name: str) -> None:
    if params[name] and len(params[name]) != shape[0]:
        raise ParamProblem(name, f"has {len(params[name])} numbers, but the data here is {shape[0]}-dimensional "
                                 f"(give {shape[0]}, or none for a random start)")


def _check_planar(shape: tuple[int, ...], params: Mapping[str, Any]) -> None:
    w, u = params["w"], params["u"]
    _check_length(shape, params, "w")
    _check_length(shape, params, "u")
    if w and not any(w):
        raise ParamProblem("w", "must not be all zeros (it is the normal of a line)")
    if u and not w:
        raise ParamProblem("u", "is set, so set w too: whether the map is invertible depends on both")
    if u and sum(a * b for a, b in zip(w, u, strict=True)) <= -1.0:
        raise ParamProblem("u", f"wᵀu = {sum(a * b for a, b in zip(w, u, strict=True)):g} is not above −1: the "
                                f"map would fold the plane and not be invertible (Rezende & Mohamed, appendix A)")


def _check_radial(shape: tuple[int, ...], params: Mapping[str, Any]) -> None:
    _check_length(shape, params, "z0")
    if params["beta"] <= -params["alpha"]:
        raise ParamProblem("beta", f"β = {params['beta']:g} is not above −α = {-params['alpha']:g}: the map "
                                   f"would not be invertible")


def _summary(vectors: tuple[str, ...], scalars: tuple[str, ...]) -> Summary:
    """"fixed, w (1, 0), u (0, 2), b 0.5": what was set by hand, nothing for a learned, random start."""
    def summary(p: Mapping[str, Any]) -> str:
        bits = [] if p["learnable"] else ["fixed"]
        bits += [(f"{n} ({', '.join(f'{v:g}' for v in p[n])})" if len(p[n]) <= 2 else f"{n} set")
                 for n in vectors if p[n]]
        if any(p[n] for n in vectors) or not p["learnable"]:
            bits += [f"{n} {p[n]:g}" for n in scalars]
        return ", ".join(bits)
    return summary


def _build_planar(shape: tuple[int, ...], params: Mapping[str, Any], gen: torch.Generator) -> Bijection:
    return Planar(shape[0], gen, params["w"], params["u"], params["b"], params["learnable"])


def _build_radial(shape: tuple[int, ...], params: Mapping[str, Any], gen: torch.Generator) -> Bijection:
    return Radial(shape[0], gen, params["z0"], params["alpha"], params["beta"], params["learnable"])


register(LayerSpec(
    kind="planar", family="rezende-mohamed",
    help="Slides points along a learned direction by a smooth tanh step across a learned line; density needs a "
         "solve. w, u and b may be set by hand.",
    builder=_build_planar, params=PLANAR_PARAMS, check=_check_planar, summary=_summary(("w", "u"), ("b",)),
    directions=Directions(forward="numerical", inverse="closed", fast="inverse", tolerance=TOLERANCE,
                          note=NUMERICAL_NOTE.format(what="point (for a = wᵀz)")),
    reference=_RM2015,
))
register(LayerSpec(
    kind="radial", family="rezende-mohamed",
    help="Pulls points towards (or pushes them away from) a centre, more strongly close to it. z0, α and β may "
         "be set by hand.",
    builder=_build_radial, params=RADIAL_PARAMS, check=_check_radial,
    summary=_summary(("z0",), ("alpha", "beta")),
    directions=Directions(note="the paper gives latent → data only; data → latent is closed form too: taking "
                               "norms turns it into a quadratic in the radius, solved with a stable root"),
    reference=_RM2015,
))
