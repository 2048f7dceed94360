"""One point followed through the layers: where it goes, each layer's Jacobian there, and how log p adds up.

Going data → latent (``inverse=False``) the change of variables reads, with h₀ = x and h_k = f_k(h_{k−1}),

    log p(x) = log p_Z(z) + Σ_k log|det J_k(h_{k−1})|,     J_k = ∂f_k/∂h  (a d × d matrix at one point);

going latent → data from z the layers are undone last first, each with the Jacobian of its inverse, and
log p(x) = log p_Z(z) − Σ_k log|det ∂f_k⁻¹/∂h|. Every Jacobian comes from autograd on one point. Where a layer's
direction is solved numerically (planar going data → latent) autograd through the solver is not the derivative of
the map, so that Jacobian is the inverse of the closed-form direction's Jacobian at the other end (the inverse
function theorem). The layer's own reported log|det| is kept beside it: the two agree, and a test says so.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.autograd.functional import jacobian

from flowlab.errors import FlowlabError
from flowlab.flows import LAYERS, Flow
from flowlab.flows.base import ContinuousTime
from flowlab.flows.flow import sends_out

MAX_PROBE_DIM = 64  # a 64 × 64 Jacobian per layer is still instant; images are not probed


class ProbeError(FlowlabError):
    """The point cannot be followed (wrong dimension, not finite, a flow over images)."""


@dataclass(frozen=True)
class ProbeStep:
    """One layer as the point passes through it, in the direction followed.

    ``position`` is the layer's place in the user's stack, ``kind`` its registry kind; ``before``/``after`` the
    point entering and leaving; ``jacobian[i, j] = ∂after_i/∂before_j``; ``log_det`` the layer's own reported
    log|det J| and ``jacobian_log_det`` log|det| of the matrix (they agree to rounding). ``inside``: for a layer
    that moves points along a velocity field, ``(times, states)``, the point at each of its solver's times in the
    direction followed (t from 0 to 1 going data → latent, from 1 to 0 back), else None."""

    position: int
    kind: str
    before: np.ndarray
    after: np.ndarray
    jacobian: np.ndarray
    log_det: float
    jacobian_log_det: float
    inside: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def structural_zeros(self) -> np.ndarray:
        """Where the Jacobian is zero (to rounding): a coupling's or autoregressive layer's triangle, a swap."""
        scale = max(float(np.abs(self.jacobian).max()), 1.0)
        return np.abs(self.jacobian) <= 1e-7 * scale


@dataclass(frozen=True)
class ProbeResult:
    """The point ``start`` followed ``inverse`` (latent → data) or not; ``x`` the data point and ``z`` its latent;
    ``steps`` in the order visited; log p(x) = ``base_log_prob`` + Σ forward log-dets."""

    start: tuple[float, ...]
    inverse: bool
    x: np.ndarray
    z: np.ndarray
    steps: tuple[ProbeStep, ...]
    base_log_prob: float
    log_prob: float

    @property
    def path(self) -> tuple[np.ndarray, ...]:
        """The point after each layer in stack order, from x to z (whichever way it was followed)."""
        if not self.steps:
            return (self.x,)
        ordered = self.steps[::-1] if self.inverse else self.steps
        if self.inverse:
            return (ordered[0].after, *(s.before for s in ordered))
        return (ordered[0].before, *(s.after for s in ordered))

    @property
    def log_det_sum(self) -> float:
        """Σ log|det J| of the maps applied, in the direction followed."""
        return float(sum(s.log_det for s in self.steps))


@dataclass(frozen=True)
class ProbeRefused:
    """The point ``start`` could not be followed, and why (in words for the user)."""

    start: tuple[float, ...]
    inverse: bool
    message: str


def _np(t: Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float64).numpy().copy()


def check_point(flow: Flow, point: Sequence[float]) -> Tensor:
    """The point as a (1, d) tensor on the flow's device and dtype; :class:`ProbeError` says why it cannot be."""
    if len(flow.shape) != 1 or any(sends_out(i) for i in flow.infos):
        raise ProbeError(f"a probe follows one point of vector data; this flow is over data of shape "
                         f"{tuple(flow.shape)}")
    d = flow.shape[0]
    if d > MAX_PROBE_DIM:
        raise ProbeError(f"a probe follows points of at most {MAX_PROBE_DIM} dimensions; this flow has {d}")
    values = [float(v) for v in point]
    if len(values) != d:
        raise ProbeError(f"the point has {len(values)} coordinate(s); this flow's data has {d}")
    if not all(math.isfinite(v) for v in values):
        raise ProbeError("the point's coordinates must be finite numbers")
    # The flow's own precision and device (a flow without parameters still has its base's buffer).
    p = next((t for t in itertools.chain(flow.parameters(), flow.buffers()) if t.is_floating_point()), None)
    device = p.device if p is not None else torch.device("cpu")
    dtype = p.dtype if p is not None else torch.float64
    return torch.tensor([values], device=device, dtype=dtype)


def _jacobian(fn, h: Tensor) -> Tensor:
    """∂fn/∂h of a batch-of-one map at ``h`` (shape (1, d)), as a (d, d) matrix."""
    return jacobian(lambda v: fn(v.unsqueeze(0))[0].squeeze(0), h[0].detach())


def _step(flow: Flow, index: int, h: Tensor, inverse: bool) -> tuple[ProbeStep, Tensor]:
    layer, info = flow.layers[index], flow.infos[index]
    apply, other = (layer.inverse, layer.forward) if inverse else (layer.forward, layer.inverse)
    out, ladj = apply(h)
    directions = LAYERS[info.kind].directions_for(info.params)
    if (directions.inverse if inverse else directions.forward) == "numerical":
        jac = torch.linalg.inv(_jacobian(other, out))  # the inverse function theorem at the other end
    else:
        jac = _jacobian(apply, h)
    jac_logdet = torch.linalg.slogdet(jac.double())[1]
    inside = None
    if LAYERS[info.kind].velocity_field and isinstance(layer, ContinuousTime):
        with torch.no_grad():
            times, states = layer.path(h.detach(), 1.0, 0.0) if inverse else layer.path(h.detach(), 0.0, 1.0)
        inside = (_np(times), _np(states[:, 0]))
    step = ProbeStep(info.position, info.kind, _np(h[0]), _np(out[0]), _np(jac), float(ladj[0].detach()),
                     float(jac_logdet), inside)
    return step, out.detach()


def probe(flow: Flow, point: Sequence[float], inverse: bool = False) -> ProbeResult:
    """Follow ``point`` through ``flow``: from x to z, or (``inverse``) from z back to x. The flow should be in
    evaluation mode (a BatchNorm layer would otherwise use this one point's statistics)."""
    order = range(len(flow.layers) - 1, -1, -1) if inverse else range(len(flow.layers))
    steps = []
    with torch.inference_mode(False), torch.enable_grad():  # a caller's inference mode would forbid autograd
        h = start = check_point(flow, point)
        for i in order:
            step, h = _step(flow, i, h, inverse)
            steps.append(step)
        z, x = (start, h) if inverse else (h, start)
        with torch.no_grad():
            base = float(flow.base.log_prob(z)[0])
    total = sum(s.log_det for s in steps)
    log_prob = base - total if inverse else base + total
    return ProbeResult(tuple(float(v) for v in point), inverse, _np(x[0]), _np(z[0]), tuple(steps), base, log_prob)
