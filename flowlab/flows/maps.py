"""Elementwise (univariate) maps: the transformer half of a coupling or autoregressive layer.

A map is a monotone function y = g(x; θ) applied to every feature it is given, with parameters θ per feature read
from a conditioner network (zuko calls these the *univariate* transformations). A conditioning scheme
(:mod:`flowlab.flows.schemes`) decides which features are transformed and what θ depends on; the map decides
what happens to each one. Every map:

* reads ``theta`` of shape ``(*x.shape, n_params)`` (a strided view is fine),
* returns ``(y, lad)`` with ``lad`` = log|dy/dx| elementwise (``None`` when it is zero: volume preserving),
  or with ``inverse`` the inverse map and *its* log|det|, so the two are minus each other at corresponding points,
* is the identity when ``theta`` is zero, so a zero-initialised conditioner starts a layer at the identity.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn import functional as F

from flowlab.flows.base import soft_clamp

MIN_BIN_WIDTH = 1e-3
MIN_BIN_HEIGHT = 1e-3
MIN_DERIVATIVE = 1e-3
# softplus(0 + shift) + MIN_DERIVATIVE = 1: a zero-initialised conditioner makes every spline the identity.
_DERIVATIVE_SHIFT = math.log(math.expm1(1.0 - MIN_DERIVATIVE))


class ElementwiseMap:
    """The interface; subclasses hold only hyperparameters (no tensors), so layers own every parameter."""

    n_params: int = 0  # conditioner outputs per transformed feature

    def __call__(self, x: Tensor, theta: Tensor, inverse: bool = False) -> tuple[Tensor, Tensor | None]:
        raise NotImplementedError  # pragma: no cover - abstract

    def scale_shift(self, theta: Tensor) -> tuple[Tensor, Tensor] | None:
        """(s, t) with y = x·exp(s) + t, for maps that are affine in x; None for the others."""
        return None


class AdditiveMap(ElementwiseMap):
    """NICE (Dinh et al. 2014): y = x + t, log|dy/dx| = 0; θ = (t,)."""

    n_params = 1

    def scale_shift(self, theta: Tensor) -> tuple[Tensor, Tensor]:
        """(0, t): no scaling, volume preserving."""
        return torch.zeros_like(theta[..., 0]), theta[..., 0]

    def __call__(self, x: Tensor, theta: Tensor, inverse: bool = False) -> tuple[Tensor, Tensor | None]:
        t = theta[..., 0]
        return (x - t if inverse else x + t), None


class AffineMap(ElementwiseMap):
    """RealNVP (Dinh et al. 2016): y = x·exp(s) + t, log|dy/dx| = s; θ = (ŝ, t) with s = B·tanh(ŝ/B).

    The soft clamp to (−B, B), B = ``max_log_scale``, keeps one bad step from blowing up the scale.
    """

    n_params = 2

    def __init__(self, max_log_scale: float) -> None:
        self.max_log_scale = max_log_scale

    def scale_shift(self, theta: Tensor) -> tuple[Tensor, Tensor]:
        """(s, t): the bounded log-scale and the shift."""
        return soft_clamp(theta[..., 0], self.max_log_scale), theta[..., 1]

    def __call__(self, x: Tensor, theta: Tensor, inverse: bool = False) -> tuple[Tensor, Tensor | None]:
        s, t = self.scale_shift(theta)
        if inverse:
            return (x - t) * torch.exp(-s), -s
        return x * torch.exp(s) + t, s


class SplineMap(ElementwiseMap):
    """Durkan et al. 2019: a monotone rational-quadratic spline with K bins on [−B, B], the identity outside;
    θ = (K widths, K heights, K − 1 interior derivatives), unconstrained (see :func:`rq_spline`)."""

    def __init__(self, bins: int, tail_bound: float) -> None:
        self.bins, self.tail_bound = bins, tail_bound
        self.n_params = 3 * bins - 1

    def __call__(self, x: Tensor, theta: Tensor, inverse: bool = False) -> tuple[Tensor, Tensor | None]:
        k = self.bins
        widths, heights = theta[..., :k], theta[..., k:2 * k]
        derivatives = theta[..., 2 * k:] + _DERIVATIVE_SHIFT
        return rq_spline(x, widths, heights, derivatives, inverse, self.tail_bound)


# -- the rational-quadratic spline -------------------------------------------------------------------------------
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
