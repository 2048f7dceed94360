"""Householder–Sylvester flows (van den Berg et al. 2018): like D planar layers at once.

Designed for variational inference, so the paper gives the latent → data direction (our ``inverse``) in closed
form; the data → latent direction solves one monotone scalar equation per coordinate, with the planar layer's
solver (:func:`~flowlab.flows.layers.rezende_mohamed.solve_tanh_equation`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from flowlab.flows.base import Bijection
from flowlab.flows.layers.linear import REFLECTIONS, reflect, reflections_summary
from flowlab.flows.layers.rezende_mohamed import (
    NUMERICAL_NOTE,
    TOLERANCE,
    one_plus_tanh_product,
    slope,
    solve_tanh_equation,
)
from flowlab.flows.registry import Directions, LayerSpec, register


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
        return r, rt, one_plus_tanh_product(self.r_diag, self.rt_diag)

    def _q_t(self, x: Tensor) -> Tensor:
        """Qᵀ x = H_K ⋯ H_1 x."""
        for v in self.vectors:
            x = reflect(x, v)
        return x

    def _q(self, x: Tensor) -> Tensor:
        """Q x = H_1 ⋯ H_K x."""
        for v in reversed(list(self.vectors)):
            x = reflect(x, v)
        return x

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        r, rt, one_plus_rr = self._triangles()
        zt = self._q_t(z)
        t = zt @ rt.T + self.b
        x = self._q(zt + torch.tanh(t) @ r.T)
        return x, torch.log(slope(t, one_plus_rr)).sum(-1)

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
        return self._q(later_z), -torch.log(slope(later_t, one_plus_rr)).sum(-1)


def _build_sylvester(shape: tuple[int, ...], params: Mapping[str, Any], gen: torch.Generator) -> Bijection:
    return Sylvester(shape[0], params["reflections"], gen)


register(LayerSpec(
    kind="sylvester", family="sylvester",
    help="Like D planar layers at once, their directions set by mirror reflections; the density needs a solve.",
    builder=_build_sylvester, params=(REFLECTIONS,), min_features=2, summary=reflections_summary,
    directions=Directions(forward="numerical", inverse="closed", fast="inverse", tolerance=TOLERANCE,
                          note=NUMERICAL_NOTE.format(what="coordinate, last to first (the map is triangular "
                                                           "after the rotation Qᵀ)")),
    reference="van den Berg, Hasenclever, Tomczak & Welling 2018, Sylvester Normalizing Flows for "
              "Variational Inference",
))
