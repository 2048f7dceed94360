"""The bijection contract every layer follows.

Direction convention (the same as nflows, zuko and FrEIA; normflows and pyro use the opposite):

* ``forward(x) -> (z, ladj)`` maps **data → latent**; this is the density direction.
* ``inverse(z) -> (x, ladj)`` maps **latent → data**; this is the sampling direction.

``ladj`` is log|det J| of the map just applied, one value per batch element (shape ``(batch,)``), so at
corresponding points ``forward``'s ``ladj`` is minus ``inverse``'s.
"""

from __future__ import annotations

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


def sum_except_batch(t: Tensor) -> Tensor:
    """Sum over every dimension but the first."""
    return t.reshape(t.shape[0], -1).sum(dim=1)


def zeros_ladj(x: Tensor) -> Tensor:
    """A zero log-determinant for a volume-preserving map."""
    return x.new_zeros(x.shape[0])


def soft_clamp(t: Tensor, bound: float) -> Tensor:
    """Smoothly squash ``t`` into (-bound, bound); the identity near zero (used for log-scales)."""
    return bound * torch.tanh(t / bound)
