"""Rational-quadratic spline flows (Durkan et al. 2019, "Neural Spline Flows").

Each transformed feature goes through a monotone piecewise rational-quadratic function on [-B, B] with K bins,
and through the identity outside (linear tails). Bin widths, heights and the K-1 interior knot derivatives come
from a conditioner network: an MLP on the other features (coupling) or a MADE (autoregressive).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch
from torch import Tensor
from torch.nn import functional as F

from flowlab.flows.base import Bijection
from flowlab.flows.nets import ACTIVATION, DEPTH, HIDDEN, MADE, mlp
from flowlab.flows.registry import Directions, LayerSpec, Param, register

MIN_BIN_WIDTH = 1e-3
MIN_BIN_HEIGHT = 1e-3
MIN_DERIVATIVE = 1e-3
# softplus(0 + shift) + MIN_DERIVATIVE = 1: a zero-initialised conditioner makes every spline the identity.
_DERIVATIVE_SHIFT = math.log(math.expm1(1.0 - MIN_DERIVATIVE))


# -- the spline itself -----------------------------------------------------------------------------------------
def _knots(unnormalized: Tensor, bound: float, min_size: float) -> tuple[Tensor, Tensor, Tensor]:
    """Bin sizes ``2B (min_size + (1 - K·min_size) softmax(u))`` laid end to end over [-B, B].

    Returns ``(knots (..., K+1), sizes (..., K), interior knots (..., K-1))``; the end knots are exactly ±B and
    the interior ones are contiguous, ready for ``searchsorted``. The softmax is written out because
    ``torch.softmax`` over a short last dimension is several times slower on CPU, and the cumulative sum of
    the exponentials gives the normaliser for free.
    """
    k = unnormalized.shape[-1]
    e = torch.exp(unnormalized - unnormalized.detach().amax(dim=-1, keepdim=True))
    cum = torch.cumsum(e, dim=-1)
    cum_frac = cum[..., :-1] / cum[..., -1:]  # softmax summed over bins < j, at interior knot j
    j = torch.arange(1, k, dtype=e.dtype, device=e.device)
    interior = 2.0 * bound * (min_size * j + (1.0 - min_size * k) * cum_frac) - bound
    end = interior.new_full((*interior.shape[:-1], 1), bound)
    knots = torch.cat([-end, interior, end], dim=-1)
    return knots, knots[..., 1:] - knots[..., :-1], interior


def _gather(t: Tensor, idx: Tensor) -> Tensor:
    return t.gather(-1, idx).squeeze(-1)


def rq_spline(inputs: Tensor, widths: Tensor, heights: Tensor, derivatives: Tensor, inverse: bool,
              tail_bound: float, min_bin_width: float = MIN_BIN_WIDTH, min_bin_height: float = MIN_BIN_HEIGHT,
              min_derivative: float = MIN_DERIVATIVE) -> tuple[Tensor, Tensor]:
    """Elementwise monotone rational-quadratic spline on [-B, B], the identity outside.

    ``widths`` and ``heights`` are unconstrained ``(*inputs.shape, K)`` (softmax-normalised), ``derivatives``
    unconstrained ``(*inputs.shape, K-1)`` for the interior knots (``softplus + min_derivative``); the two end
    derivatives are 1, so the map is C¹ at ±B. In bin k with ξ = (x - x_k)/w_k, s = h_k/w_k:

        y = y_k + h_k (s ξ² + d_k ξ(1-ξ)) / (s + (d_{k+1} + d_k - 2s) ξ(1-ξ))
        dy/dx = s² (d_{k+1} ξ² + 2s ξ(1-ξ) + d_k (1-ξ)²) / (s + (d_{k+1} + d_k - 2s) ξ(1-ξ))²

    The inverse solves the quadratic a ξ² + b ξ + c = 0 for ξ ∈ [0, 1] with the cancellation-free root
    ξ = 2c / (-b - √(b² - 4ac)). Returns ``(outputs, logabsdet)``, both shaped like ``inputs``; logabsdet is
    that of the map applied (so the inverse's is minus the forward's at corresponding points).
    """
    bound = float(tail_bound)
    inside = (inputs >= -bound) & (inputs <= bound)
    # Evaluate everywhere on a clamped copy (no data-dependent indexing), then keep the tails as the identity.
    u = inputs.clamp(-bound, bound)

    xs, bin_w, x_inner = _knots(widths, bound, min_bin_width)
    ys, bin_h, y_inner = _knots(heights, bound, min_bin_height)
    d = F.pad(min_derivative + F.softplus(derivatives), (1, 1), value=1.0)

    # Bin index = number of interior knots ≤ u, in 0..K-1 (the end knots need no search).
    idx = torch.searchsorted(y_inner if inverse else x_inner, u.unsqueeze(-1).contiguous(), right=True)

    x_k, w_k = _gather(xs, idx), _gather(bin_w, idx)
    y_k, h_k = _gather(ys, idx), _gather(bin_h, idx)
    d_k, d_k1 = _gather(d, idx), _gather(d, idx + 1)
    s = h_k / w_k
    bend = d_k1 + d_k - 2.0 * s

    if inverse:
        dy = u - y_k
        a = h_k * (s - d_k) + dy * bend
        b = h_k * d_k - dy * bend
        c = -s * dy
        disc = (b * b - 4.0 * a * c).clamp_min(0.0)
        xi = (2.0 * c) / (-b - torch.sqrt(disc))
    else:
        xi = (u - x_k) / w_k
    t = xi * (1.0 - xi)
    denom = s + bend * t
    out = x_k + xi * w_k if inverse else y_k + h_k * (s * xi * xi + d_k * t) / denom

    slope_num = d_k1 * xi * xi + 2.0 * s * t + d_k * (1.0 - xi) ** 2
    lad = 2.0 * torch.log(s) + torch.log(slope_num) - 2.0 * torch.log(denom)
    if inverse:
        lad = -lad
    return torch.where(inside, out, inputs), torch.where(inside, lad, torch.zeros_like(lad))


def _n_params(bins: int) -> int:
    """Conditioner outputs per transformed feature: K widths, K heights, K-1 interior derivatives."""
    return 3 * bins - 1


def _apply(h: Tensor, raw: Tensor, bins: int, tail_bound: float, inverse: bool) -> tuple[Tensor, Tensor]:
    """The spline with parameters ``raw (..., 3K-1)`` straight from a conditioner (zero raw ⇒ identity)."""
    widths, heights = raw[..., :bins], raw[..., bins:2 * bins]
    derivatives = raw[..., 2 * bins:] + _DERIVATIVE_SHIFT
    return rq_spline(h, widths, heights, derivatives, inverse, tail_bound)


# -- coupling --------------------------------------------------------------------------------------------------
def coupling_split(dim: int, mask: str, flip: bool) -> tuple[Tensor, Tensor]:
    """``(conditioning, transformed)`` feature indices.

    "half": the first D//2 features condition, the rest are transformed; "alternating": even indices condition,
    odd ones are transformed. ``flip`` swaps the two parts.
    """
    idx = torch.arange(dim)
    first = idx < dim // 2 if mask == "half" else idx % 2 == 0
    cond, trans = idx[first], idx[~first]
    return (trans, cond) if flip else (cond, trans)


class SplineCoupling(Bijection):
    """y_B = RQS(x_B; θ(x_A)), y_A = x_A; the Jacobian is triangular, so log|det| = Σ log RQS'(x_B)."""

    def __init__(self, dim: int, mask: str, flip: bool, bins: int, tail_bound: float, hidden: int, depth: int,
                 activation: str) -> None:
        super().__init__()
        cond, trans = coupling_split(dim, mask, flip)
        self.register_buffer("cond_idx", cond)
        self.register_buffer("trans_idx", trans)
        # Where each output feature lies in cat([x_A, y_B]).
        self.register_buffer("merge_idx", torch.argsort(torch.cat([cond, trans])))
        self.bins, self.tail_bound = bins, tail_bound
        self.net = mlp(len(cond), len(trans) * _n_params(bins), hidden, depth, activation)

    def _run(self, h: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        h_a, h_b = h[:, self.cond_idx], h[:, self.trans_idx]
        raw = self.net(h_a).reshape(h.shape[0], h_b.shape[1], _n_params(self.bins))
        out_b, lad = _apply(h_b, raw, self.bins, self.tail_bound, inverse)
        return torch.cat([h_a, out_b], dim=1)[:, self.merge_idx], lad.sum(dim=1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self._run(x, inverse=False)

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return self._run(z, inverse=True)


# -- autoregressive --------------------------------------------------------------------------------------------
class SplineAutoregressive(Bijection):
    """"maf": z_i = RQS(x_i; θ_i(x_<i)); "iaf": x_i = RQS(z_i; θ_i(z_<i)); θ comes from a MADE.

    The Jacobian is triangular, so log|det| = Σ_i log RQS'. The direction in which the spline runs reads its
    conditioning from its own input: one MADE pass (MAF: ``forward``, IAF: ``inverse``). The other direction
    knows only the spline's outputs, so it recovers feature i after the ones before it: D MADE passes.
    """

    def __init__(self, dim: int, direction: str, bins: int, tail_bound: float, hidden: int, depth: int,
                 activation: str) -> None:
        super().__init__()
        self.dim, self.bins, self.tail_bound = dim, bins, tail_bound
        self.fast_is_forward = direction == "maf"
        self.made = MADE(dim, _n_params(bins), hidden, depth, activation)

    def _one_pass(self, h: Tensor) -> tuple[Tensor, Tensor]:
        """The spline in its own direction, conditioned on its input: one MADE call."""
        out, lad = _apply(h, self.made(h), self.bins, self.tail_bound, inverse=False)
        return out, lad.sum(dim=1)

    def _sequential(self, h: Tensor) -> tuple[Tensor, Tensor]:
        """The spline's inverse, conditioned on its output: feature i needs outputs < i, so D MADE calls."""
        zeros = h.new_zeros(h.shape)
        cols: list[Tensor] = []
        lads: list[Tensor] = []
        for i in range(self.dim):
            # Features ≥ i are still unknown; the MADE's mask ignores them for output i, so zeros will do.
            known = torch.cat([*cols, zeros[:, i:]], dim=1)
            raw = self.made(known)[:, i]
            col, lad = _apply(h[:, i], raw, self.bins, self.tail_bound, inverse=True)
            cols.append(col.unsqueeze(1))
            lads.append(lad)
        return torch.cat(cols, dim=1), torch.stack(lads, dim=1).sum(dim=1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self._one_pass(x) if self.fast_is_forward else self._sequential(x)

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return self._sequential(z) if self.fast_is_forward else self._one_pass(z)


# -- registration ----------------------------------------------------------------------------------------------
BINS = Param("bins", "int", 8, "number of spline pieces between -tail_bound and tail_bound", low=2, high=64)
TAIL_BOUND = Param("tail_bound", "float", 4.0, "the spline bends values in [-B, B]; outside it they pass unchanged",
                   low=0.5, high=50.0, log_scale=True)


def _build_coupling(shape: tuple[int, ...], params: Mapping[str, Any], gen: torch.Generator) -> Bijection:
    return SplineCoupling(shape[0], params["mask"], params["flip"], params["bins"], params["tail_bound"],
                          params["hidden"], params["depth"], params["activation"])


def _build_autoregressive(shape: tuple[int, ...], params: Mapping[str, Any], gen: torch.Generator) -> Bijection:
    return SplineAutoregressive(shape[0], params["direction"], params["bins"], params["tail_bound"],
                                params["hidden"], params["depth"], params["activation"])


register(LayerSpec(
    kind="spline_coupling", family="spline",
    help="Bend half of the features with a flexible monotone spline whose shape is set by the other half.",
    params=(
        Param("mask", "choice", "half", "which features steer the spline: the first half, or the even-indexed ones",
              choices=("half", "alternating")),
        Param("flip", "bool", False, "swap the roles: bend the features that would otherwise steer"),
        BINS, TAIL_BOUND, HIDDEN, DEPTH, ACTIVATION,
    ),
    builder=_build_coupling, data=frozenset({"vector"}), min_features=2,
    reference="Durkan et al. 2019 (Neural Spline Flows)",
))
register(LayerSpec(
    kind="spline_autoregressive", family="spline",
    help="Bend each feature with a monotone spline whose shape depends on the features before it.",
    params=(
        Param("direction", "choice", "maf",
              "maf: fast density, slow sampling; iaf: fast sampling, slow density", choices=("maf", "iaf")),
        BINS, TAIL_BOUND, HIDDEN, DEPTH, ACTIVATION,
    ),
    builder=_build_autoregressive, data=frozenset({"vector"}), min_features=1,
    directions=Directions(forward="closed", inverse="closed", fast="forward",
                          note="with direction='iaf' the fast direction is inverse (sampling)"),
    reference="Durkan et al. 2019 (Neural Spline Flows); Papamakarios et al. 2017 (MAF); Kingma et al. 2016 (IAF)",
))
