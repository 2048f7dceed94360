"""Affine autoregressive flows with a MADE conditioner: MAF (Papamakarios et al. 2017) and IAF (Kingma et al. 2016).

Both use the same elementwise map between data x and latent z, with μ_i, α_i functions of earlier coordinates:

    MAF:  z_i = (x_i − μ_i(x_<i)) · exp(−α_i(x_<i))   density (forward) in one pass, sampling in D passes
    IAF:  x_i = z_i · exp(α_i(z_<i)) + μ_i(z_<i)       sampling (inverse) in one pass, density in D passes

Both directions are exact; the slow one simply runs the conditioner D times, filling in one coordinate each time.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import Tensor

from flowlab.flows.base import Bijection, soft_clamp
from flowlab.flows.layers.coupling import MAX_LOG_SCALE
from flowlab.flows.nets import ACTIVATION, DEPTH, HIDDEN, MADE
from flowlab.flows.registry import Directions, LayerSpec, register


class AffineAutoregressive(Bijection):
    """y = u · exp(α(u_<i)) + μ(u_<i) in the *fast* direction; ``iaf`` says whether that is sampling or density."""

    def __init__(self, dim: int, iaf: bool, hidden: int, depth: int, activation: str,
                 max_log_scale: float) -> None:
        super().__init__()
        self.dim = dim
        self.iaf = iaf
        self.max_log_scale = max_log_scale
        self.made = MADE(dim, 2, hidden, depth, activation)

    def _shift_logscale(self, u: Tensor) -> tuple[Tensor, Tensor]:
        h = self.made(u)
        return h[..., 0], soft_clamp(h[..., 1], self.max_log_scale)

    def _one_pass(self, u: Tensor, sign: float) -> tuple[Tensor, Tensor]:
        """Apply the map conditioned on ``u`` itself (the fast direction)."""
        mu, alpha = self._shift_logscale(u)
        if sign > 0:  # u is the latent (IAF sampling): x = z·e^α + μ
            return u * torch.exp(alpha) + mu, alpha.sum(dim=1)
        return (u - mu) * torch.exp(-alpha), -alpha.sum(dim=1)  # u is the data (MAF density)

    def _sequential(self, y: Tensor, sign: float) -> tuple[Tensor, Tensor]:
        """Undo the fast map: find u from y one coordinate per pass (pass i fixes coordinate i)."""
        u = torch.zeros_like(y)
        alpha = torch.zeros_like(y)
        for _ in range(self.dim):
            mu, alpha = self._shift_logscale(u)
            if sign > 0:  # y is data, u the IAF latent: z = (x − μ)·e^−α
                u = (y - mu) * torch.exp(-alpha)
            else:  # y is the latent, u the MAF data: x = z·e^α + μ
                u = y * torch.exp(alpha) + mu
        return u, (-alpha.sum(dim=1) if sign > 0 else alpha.sum(dim=1))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self._sequential(x, +1.0) if self.iaf else self._one_pass(x, -1.0)

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return self._one_pass(z, +1.0) if self.iaf else self._sequential(z, -1.0)


def _builder(iaf: bool):
    def build(shape: tuple[int, ...], params: Mapping[str, Any], gen: torch.Generator) -> Bijection:
        return AffineAutoregressive(shape[0], iaf, params["hidden"], params["depth"], params["activation"],
                                    params["max_log_scale"])
    return build


_PARAMS = (HIDDEN, DEPTH, ACTIVATION, MAX_LOG_SCALE)

register(LayerSpec(
    kind="maf", family="autoregressive",
    help="Masked autoregressive flow: each coordinate is shifted and scaled by a function of the earlier ones; "
         "fast density, sampling takes D passes.",
    params=_PARAMS, builder=_builder(False),
    directions=Directions(fast="forward", note="sampling runs the network once per dimension"),
    reference="Papamakarios, Pavlakou & Murray 2017 (MAF)",
))
register(LayerSpec(
    kind="iaf", family="autoregressive",
    help="Inverse autoregressive flow: conditioned on the latent, so sampling is one pass and density takes D.",
    params=_PARAMS, builder=_builder(True),
    directions=Directions(fast="inverse", note="scoring data runs the network once per dimension"),
    reference="Kingma et al. 2016 (IAF)",
))
