"""Continuous normalizing flows: a learned velocity field integrated in time (Chen et al. 2018, FFJORD 2019).

The layer moves each point along dx/dt = v(x, t) for t from 0 to 1: ``forward`` (data → latent) starts at the
data, x(0) = x, and ends at the latent, z = x(1); ``inverse`` integrates back from t = 1 to t = 0. Along the way
the log-volume changes by the divergence of the field (the instantaneous change of variables):

    d/dt log|det ∂x(t)/∂x(0)| = tr ∂v/∂x (x(t), t),        so   log|det ∂z/∂x| = ∫₀¹ tr ∂v/∂x dt.

The solver is the classical fixed-step Runge–Kutta (RK4), ``steps`` steps of h = ±1/steps, four evaluations of
the field per step. The map it applies is an explicit, differentiable composition of those evaluations, and
its log-det is computed for *that* map:

* **exact** (evaluation always; training too on data with at most :data:`EXACT_MAX_FEATURES` features): each
  stage's Jacobian with respect to the step's start is carried along in forward mode (D tangent columns, the
  cost of D extra passes), K₁ = J(x₁), K₂ = J(x₂)(I + h/2 K₁), K₃ = J(x₃)(I + h/2 K₂), K₄ = J(x₄)(I + h K₃); the
  step's Jacobian is M = I + h/6 (K₁ + 2K₂ + 2K₃ + K₄) and log|det| = Σ_steps log|det M| — the log-det of the
  discrete map to rounding, which tends to ∫ tr J dt as h → 0.
* **estimate** (training on data with more features): Hutchinson's tr J ≈ εᵀJε with a fresh Rademacher ε per
  stage (one extra pass), integrated as the augmented ODE dL/dt = tr J with the same RK4 weights,
  L += h/6 (d₁ + 2d₂ + 2d₃ + d₄). Its mean is the RK4 quadrature of ∫ tr J dt along the RK4 path, which differs
  from the exact value by O(h⁴) (``tests/flows/test_continuous.py`` measures it).

Forward and inverse are each exact maps with exact log-dets, but they undo each other only up to RK4's error,
O(h⁴): :data:`ROUND_TRIP_TOLERANCE`. With too few steps for the field, a step can fold space over itself (the
continuous flow never does): then log|det M| is no longer a change of variables, and the "density" integrates to
more than one (measured: 1.4 at 2 steps on a field flow-matched to two moons, 1.000 from 4 steps on). No adjoint:
gradients are backpropagated through the solver's steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor, nn

from flowlab.flows.base import Bijection
from flowlab.flows.nets import DEPTH, HIDDEN, mlp, net_summary
from flowlab.flows.registry import Directions, LayerSpec, Param, register

#: Up to this many features the log-det is exact in training as well (D tangent passes per field evaluation);
#: above it, training uses a Hutchinson estimate (one pass). Evaluation, the views and scores are always exact.
EXACT_MAX_FEATURES = 2
#: How closely forward and inverse undo each other (absolute, float64) on the contract tests' randomised fields at
#: the default 8 steps (measured ≤ 1e-7 there). RK4's error shrinks as steps⁻⁴ but grows with the field's
#: stiffness: on a field trained 300 steps on two moons the worst of 2000 points came back 1.4e-3 off at 8 steps
#: (median 2e-5), 4.5e-5 off at 16, 1.4e-6 at 32 (``bench/cnf_solver.py``).
ROUND_TRIP_TOLERANCE = 1e-5

# The derivative of each smooth nonlinearity, from its input a and output y (relu is left out: a velocity field
# with kinks makes the divergence jump and RK4 lose its order).
SLOPES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "tanh": lambda a, y: 1.0 - y * y,
    "silu": lambda a, y: torch.sigmoid(a) * (1.0 + a * (1.0 - torch.sigmoid(a))),
    "elu": lambda a, y: torch.where(a > 0, torch.ones_like(a), y + 1.0),
}
ACTIVATION = Param("activation", "choice", "tanh", "the velocity network's nonlinearity (smooth ones only: the "
                   "solver and the divergence need a differentiable field)", choices=tuple(SLOPES))
STEPS = Param("steps", "int", 8, "RK4 steps from t = 0 to 1 (4 evaluations of the field each); more steps, a more "
              "exact inverse, slower; too few can fold a trained field's map over itself (its density then no "
              "longer integrates to one)", low=1, high=256)
VELOCITY_HIDDEN = replace(HIDDEN, help="width of each hidden layer of the velocity network v(x, t)")
VELOCITY_DEPTH = replace(DEPTH, help="number of hidden layers of the velocity network v(x, t)")


class VelocityField(nn.Module):
    """v(x, t) = MLP([x, t]): ``dim + 1 → hidden (× depth) → dim``, last layer zero (v = 0: the identity map)."""

    def __init__(self, dim: int, hidden: int, depth: int, activation: str) -> None:
        super().__init__()
        if activation not in SLOPES:
            raise ValueError(f"activation '{activation}' is not one of {', '.join(SLOPES)}")
        self.dim = dim
        self.net = mlp(dim + 1, dim, hidden, depth, activation)
        self._slope = SLOPES[activation]

    @staticmethod
    def _input(x: Tensor, t: float | Tensor) -> Tensor:
        t_col = torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(x.shape[0], 1) \
            if not isinstance(t, Tensor) or t.dim() == 0 else t.reshape(-1, 1).to(x.dtype)
        return torch.cat([x, t_col], dim=1)

    def forward(self, x: Tensor, t: float | Tensor) -> Tensor:
        """v(x, t) for ``x`` of shape (batch, dim) and ``t`` a number or one time per row."""
        return self.net(self._input(x, t))

    def jvp(self, x: Tensor, t: float | Tensor, tangents: Tensor) -> tuple[Tensor, Tensor]:
        """``(v, J·T)``: the field and its Jacobian J = ∂v/∂x applied to ``tangents`` T of shape (k, batch, dim)
        (k directions per row), by forward-mode differentiation written out layer by layer: a linear layer maps a
        tangent by its weight (the first one by its x columns only), a nonlinearity multiplies it by its slope."""
        h = self._input(x, t)
        tan = tangents
        first = True
        for module in self.net:
            if isinstance(module, nn.Linear):
                weight = module.weight[:, : self.dim] if first else module.weight
                h, tan, first = module(h), torch.nn.functional.linear(tan, weight), False
            else:
                a, h = h, module(h)
                tan = tan * self._slope(a, h)
        return h, tan

    def with_divergence(self, x: Tensor, t: float | Tensor) -> tuple[Tensor, Tensor]:
        """``(v, tr ∂v/∂x)`` per row, exactly: Σᵢ (J eᵢ)ᵢ over the D basis directions (D forward-mode passes)."""
        eye = torch.eye(self.dim, dtype=x.dtype, device=x.device)
        v, cols = self.jvp(x, t, eye[:, None, :].expand(self.dim, x.shape[0], self.dim))
        return v, torch.diagonal(cols, dim1=0, dim2=2).sum(dim=1)

    def divergence(self, x: Tensor, t: float | Tensor) -> Tensor:
        """tr ∂v/∂x per row, exactly."""
        return self.with_divergence(x, t)[1]

    def hutchinson(self, x: Tensor, t: float | Tensor) -> tuple[Tensor, Tensor]:
        """``(v, εᵀJε)`` with ε Rademacher (±1) per row: an unbiased estimate of tr ∂v/∂x, E[εεᵀ] = I."""
        eps = torch.randint(0, 2, (1, *x.shape), device=x.device).to(x.dtype) * 2.0 - 1.0
        v, jeps = self.jvp(x, t, eps)
        return v, (eps * jeps).sum(dim=2)[0]


def _logabsdet(m: Tensor) -> Tensor:
    """log|det| of M given as (k, batch, k) (rows of Mᵀ: the determinant is the same)."""
    if m.shape[0] == 1:
        return m[0, :, 0].abs().log()
    if m.shape[0] == 2:
        return (m[0, :, 0] * m[1, :, 1] - m[0, :, 1] * m[1, :, 0]).abs().log()
    return torch.linalg.slogdet(m.transpose(0, 1))[1]


def rk4_exact(field: VelocityField, x: Tensor, t0: float, t1: float, steps: int) -> tuple[Tensor, Tensor]:
    """x(t1) from x(t0) by ``steps`` RK4 steps, and the exact log|det| of that discrete map (see the module)."""
    h = (t1 - t0) / steps
    d = x.shape[1]
    eye = torch.eye(d, dtype=x.dtype, device=x.device)[:, None, :].expand(d, x.shape[0], d)
    ladj = x.new_zeros(x.shape[0])
    for n in range(steps):
        t = t0 + n * h
        k1, j1 = field.jvp(x, t, eye)
        k2, j2 = field.jvp(x + 0.5 * h * k1, t + 0.5 * h, eye + 0.5 * h * j1)
        k3, j3 = field.jvp(x + 0.5 * h * k2, t + 0.5 * h, eye + 0.5 * h * j2)
        k4, j4 = field.jvp(x + h * k3, t + h, eye + h * j3)
        x = x + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        ladj = ladj + _logabsdet(eye + (h / 6.0) * (j1 + 2.0 * j2 + 2.0 * j3 + j4))
    return x, ladj


def rk4_step(field: VelocityField, x: Tensor, t: float, h: float) -> Tensor:
    """One classical RK4 step of size h from x(t): the same points as :func:`rk4_exact`, without the Jacobians."""
    k1 = field(x, t)
    k2 = field(x + 0.5 * h * k1, t + 0.5 * h)
    k3 = field(x + 0.5 * h * k2, t + 0.5 * h)
    k4 = field(x + h * k3, t + h)
    return x + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


def rk4_augmented(field: VelocityField, x: Tensor, t0: float, t1: float, steps: int,
                  divergence: Callable[[Tensor, float], tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
    """x(t1) and L = ∫ div dt integrated together by RK4 (the augmented ODE), ``divergence(x, t) -> (v, div)``
    exact or estimated. The same x path as :func:`rk4_exact`; L differs from its log-det by O(h⁴)."""
    h = (t1 - t0) / steps
    ladj = x.new_zeros(x.shape[0])
    for n in range(steps):
        t = t0 + n * h
        k1, d1 = divergence(x, t)
        k2, d2 = divergence(x + 0.5 * h * k1, t + 0.5 * h)
        k3, d3 = divergence(x + 0.5 * h * k2, t + 0.5 * h)
        k4, d4 = divergence(x + h * k3, t + h)
        x = x + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        ladj = ladj + (h / 6.0) * (d1 + 2.0 * d2 + 2.0 * d3 + d4)
    return x, ladj


class ContinuousFlow(Bijection):
    """z = x(1) with dx/dt = v(x, t), x(0) = x; log|det ∂z/∂x| as the module says (exact, or estimated while
    training above :data:`EXACT_MAX_FEATURES` features). Implements :class:`~flowlab.flows.base.ContinuousTime`:
    the views look inside it through :meth:`velocity`, :meth:`integrate` and :meth:`path`."""

    def __init__(self, dim: int, hidden: int, depth: int, activation: str, steps: int) -> None:
        super().__init__()
        self.field = VelocityField(dim, hidden, depth, activation)
        self.steps = steps

    def velocity(self, x: Tensor, t: float | Tensor) -> Tensor:
        """v(x, t), with t = 0 at the data and t = 1 at the latent (flow matching trains this directly)."""
        return self.field(x, t)

    @property
    def estimates_ladj(self) -> bool:
        """Whether the log-det returned now is a Hutchinson estimate (training, more than 2 features)."""
        return self.training and self.field.dim > EXACT_MAX_FEATURES

    def steps_between(self, t0: float, t1: float) -> int:
        """RK4 steps from t0 to t1: as many of the layer's own size 1/steps as the interval holds (at least one),
        so that an interval between two of the solver's times repeats exactly the steps forward takes there."""
        return max(1, math.ceil(abs(t1 - t0) * self.steps - 1e-9))

    def integrate(self, x: Tensor, t0: float, t1: float) -> tuple[Tensor, Tensor]:
        """x(t1) from x(t0) and the log|det| of the map applied (exact, or estimated while training above
        :data:`EXACT_MAX_FEATURES` features), by :meth:`steps_between` RK4 steps."""
        steps = self.steps_between(t0, t1)
        if self.estimates_ladj:
            return rk4_augmented(self.field, x, t0, t1, steps, self.field.hutchinson)
        return rk4_exact(self.field, x, t0, t1, steps)

    @torch.no_grad()
    def path(self, x: Tensor, t0: float = 0.0, t1: float = 1.0) -> tuple[Tensor, Tensor]:
        """``(times, states)``: the points at each of the solver's times from t0 to t1 (both ends included), the
        same RK4 steps :meth:`integrate` takes, without the log-det: ``states[-1]`` is ``integrate(x, t0, t1)[0]``."""
        steps = self.steps_between(t0, t1)
        h = (t1 - t0) / steps
        states = [x]
        for n in range(steps):
            states.append(rk4_step(self.field, states[-1], t0 + n * h, h))
        times = torch.tensor([t0 + n * h for n in range(steps)] + [t1], dtype=x.dtype, device=x.device)
        return times, torch.stack(states)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.integrate(x, 0.0, 1.0)

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return self.integrate(z, 1.0, 0.0)


def _build(shape: tuple[int, ...], params: Mapping[str, Any], gen: torch.Generator) -> Bijection:
    return ContinuousFlow(shape[0], params["hidden"], params["depth"], params["activation"], params["steps"])


def _summary(params: Mapping[str, Any]) -> str:
    """e.g. "8 RK4 steps, 64×2"."""
    return f"{params['steps']} RK4 steps, {net_summary(params)}"


register(LayerSpec(
    kind="cnf", family="continuous",
    help="A continuous flow: points follow a learned velocity field v(x, t) from t = 0 (data) to t = 1 (latent); "
         "the log-density changes by the field's divergence along the way. Trains by maximum likelihood through "
         "the solver or, alone in the stack, by flow matching.",
    params=(STEPS, VELOCITY_HIDDEN, VELOCITY_DEPTH, ACTIVATION), builder=_build, summary=_summary,
    directions=Directions(
        forward="integrated", inverse="integrated", fast="both", tolerance=ROUND_TRIP_TOLERANCE,
        note="both directions integrate an ODE with fixed-step RK4 (4 field evaluations per step); each "
             "direction's log-det is exact for the map it applies, but the two undo each other only up to the "
             "solver's error, which shrinks as steps⁻⁴ (on a field trained on two moons: about 1e-3 at 8 steps, "
             "5e-5 at 16)"),
    ladj_estimated_above=EXACT_MAX_FEATURES, velocity_field=True,
    reference="Chen et al. 2018 (neural ODEs); Grathwohl et al. 2019 (FFJORD); Lipman et al. 2023 (flow matching)",
))
