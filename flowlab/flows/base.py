"""The bijection contract every layer follows.

Direction convention (the same as nflows, zuko and FrEIA; normflows and pyro use the opposite):

* ``forward(x) -> (z, ladj)`` maps **data → latent**; this is the density direction.
* ``inverse(z) -> (x, ladj)`` maps **latent → data**; this is the sampling direction.

``ladj`` is log|det J| of the map just applied, one value per batch element (shape ``(batch,)``), so at
corresponding points ``forward``'s ``ladj`` is minus ``inverse``'s.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import Tensor, nn


class Bijection(nn.Module):
    """An invertible map with a tractable log|det J| in both directions."""

    #: Channels (the last ones, dim 1) that leave for the base after this layer (multi-scale factor-out);
    #: the flow carries only the rest on to the next layer.
    factor_out: int = 0

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError


@runtime_checkable
class ContinuousTime(Protocol):
    """A layer that moves points along a velocity field dx/dt = v(x, t) for t from 0 (its data side) to 1 (its
    latent side). The registry marks such kinds with ``velocity_field``; flow matching and the views inside the
    layer (trajectories, the field at a time, the density at a time) use these methods and nothing else."""

    def velocity(self, x: Tensor, t: float | Tensor) -> Tensor:
        """v(x, t) for ``x`` of shape (batch, features)."""

    def integrate(self, x: Tensor, t0: float, t1: float) -> tuple[Tensor, Tensor]:
        """``(x(t1), log|det ∂x(t1)/∂x(t0)|)`` from ``x = x(t0)``, by the layer's own solver (exact log-det)."""

    def path(self, x: Tensor, t0: float, t1: float) -> tuple[Tensor, Tensor]:
        """``(times, states)``: the states the solver visits from ``x = x(t0)`` to t1, ``states[k]`` at
        ``times[k]`` (both ends included)."""


def sum_except_batch(t: Tensor) -> Tensor:
    """Sum over every dimension but the first."""
    return t.reshape(t.shape[0], -1).sum(dim=1)


def zeros_ladj(x: Tensor) -> Tensor:
    """A zero log-determinant for a volume-preserving map."""
    return x.new_zeros(x.shape[0])


def soft_clamp(t: Tensor, bound: float) -> Tensor:
    """Smoothly squash ``t`` into (-bound, bound); the identity near zero (used for log-scales)."""
    return bound * torch.tanh(t / bound)
