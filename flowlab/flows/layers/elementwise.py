"""Elementwise bijections: a learnable affine map, and squashing maps for bounded data."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from flowlab.flows.base import Bijection, sum_except_batch
from flowlab.flows.registry import LayerSpec, Param, register


class ElementwiseAffine(Bijection):
    """z = (x − shift) / scale elementwise, i.e. standardisation with a given (or learnt) mean and spread."""

    def __init__(self, shape: tuple[int, ...], scale: float, shift: float, learnable: bool) -> None:
        super().__init__()
        log_scale = torch.full(shape, math.log(scale))
        loc = torch.full(shape, shift)
        if learnable:
            self.log_scale = nn.Parameter(log_scale)
            self.shift = nn.Parameter(loc)
        else:
            self.register_buffer("log_scale", log_scale)
            self.register_buffer("shift", loc)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        ladj = -self.log_scale.sum()
        return (x - self.shift) * torch.exp(-self.log_scale), ladj.expand(x.shape[0])

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        ladj = self.log_scale.sum()
        return z * torch.exp(self.log_scale) + self.shift, ladj.expand(z.shape[0])


class Logit(Bijection):
    """Data in (0, 1) → ℝ: z = logit(α + (1 − 2α) x); back through the sigmoid (RealNVP's pre-transform).

    log|dz/dx| = log(1 − 2α) − log y − log(1 − y), y = α + (1 − 2α) x.
    """

    def __init__(self, alpha: float) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        y = self.alpha + (1.0 - 2.0 * self.alpha) * x
        z = torch.log(y) - torch.log1p(-y)
        ladj = math.log(1.0 - 2.0 * self.alpha) - torch.log(y) - torch.log1p(-y)
        return z, sum_except_batch(ladj)

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        y = torch.sigmoid(z)
        # log σ'(z) = −softplus(−z) − softplus(z), exact without forming σ(1−σ)
        ladj = -F.softplus(-z) - F.softplus(z) - math.log(1.0 - 2.0 * self.alpha)
        return (y - self.alpha) / (1.0 - 2.0 * self.alpha), sum_except_batch(ladj)


class Tanh(Bijection):
    """Data in (−1, 1) → ℝ: z = atanh(x); back through tanh, which keeps samples inside the box."""

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        # d atanh/dx = 1 / (1 − x²)
        return torch.atanh(x), sum_except_batch(-torch.log1p(-x * x))

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        # log(1 − tanh² z) = 2 (log 2 − z − softplus(−2z)), stable for large |z|
        ladj = 2.0 * (math.log(2.0) - z - F.softplus(-2.0 * z))
        return torch.tanh(z), sum_except_batch(ladj)


_ANY = frozenset({"vector", "image"})

register(LayerSpec(
    kind="elementwise_affine", family="elementwise",
    help="Standardise each coordinate: subtract a shift, divide by a scale (learnt or fixed).",
    params=(Param("scale", "float", 1.0, "initial spread divided out", low=1e-6, high=1e6, log_scale=True),
            Param("shift", "float", 0.0, "initial centre subtracted", low=-1e6, high=1e6),
            Param("learnable", "bool", True, "train the scale and shift with the rest of the flow")),
    builder=lambda shape, p, gen: ElementwiseAffine(shape, p["scale"], p["shift"], p["learnable"]),
    data=_ANY,
))
register(LayerSpec(
    kind="logit", family="elementwise",
    help="For data in (0, 1), such as pixel intensities: logit to the latent side, sigmoid back.",
    params=(Param("alpha", "float", 0.0, "squeeze x into [α, 1 − α] first, away from the infinite ends",
                  low=0.0, high=0.49),),
    builder=lambda shape, p, gen: Logit(p["alpha"]), data=_ANY, support="unit_interval",
    reference="Dinh, Sohl-Dickstein & Bengio 2016 (RealNVP), section 4.1",
))
register(LayerSpec(
    kind="tanh", family="elementwise",
    help="For data in (−1, 1): atanh to the latent side, tanh back, so samples stay in the box.",
    builder=lambda shape, p, gen: Tanh(), data=_ANY, support="symmetric_interval",
))
