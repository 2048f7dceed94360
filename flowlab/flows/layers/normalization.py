"""Normalising layers: ActNorm (Glow) and a BatchNorm flow (RealNVP).

Both act per feature on vectors and per channel on images (then log|det| counts every pixel: × H·W).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from flowlab.flows.base import Bijection
from flowlab.flows.registry import Directions, LayerSpec, Param, register


def _stat_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Broadcastable shape of per-feature / per-channel statistics (without the batch axis)."""
    return (shape[0],) if len(shape) == 1 else (shape[0], 1, 1)


def _pixels(shape: tuple[int, ...]) -> int:
    return shape[1] * shape[2] if len(shape) == 3 else 1


def _reduce_dims(x: Tensor) -> list[int]:
    return [0] if x.dim() == 2 else [0, 2, 3]


class ActNorm(Bijection):
    """z = (x + loc) · exp(log_scale), initialised from the first training batch to zero mean, unit variance.

    The "initialised" flag is a buffer, so it is saved in the ``state_dict`` and a reloaded model is *not*
    re-initialised (a known bug in other libraries). Initialisation happens only in training mode: evaluating a
    fresh model on, say, a plotting grid must not set its statistics from the grid.
    """

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        stat = _stat_shape(shape)
        self.loc = nn.Parameter(torch.zeros(stat))
        self.log_scale = nn.Parameter(torch.zeros(stat))
        self.register_buffer("initialized", torch.tensor(False))
        self._ready = False  # a host-side mirror of the buffer, so the hot path never syncs with the GPU
        self.pixels = _pixels(shape)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._ready = bool(self.initialized)

    @torch.no_grad()
    def _initialize(self, x: Tensor) -> None:
        dims = _reduce_dims(x)
        mean = x.mean(dim=dims)
        std = x.std(dim=dims) if x.shape[0] > 1 else torch.ones_like(mean)
        self.loc.copy_((-mean).reshape(self.loc.shape))
        self.log_scale.copy_((-torch.log(std + 1e-6)).reshape(self.log_scale.shape))
        self.initialized.fill_(True)
        self._ready = True

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if not self._ready and self.training:
            self._initialize(x.detach())
        ladj = self.log_scale.sum() * self.pixels
        return (x + self.loc) * torch.exp(self.log_scale), ladj.expand(x.shape[0])

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        ladj = -self.log_scale.sum() * self.pixels
        return z * torch.exp(-self.log_scale) - self.loc, ladj.expand(z.shape[0])


class BatchNormFlow(Bijection):
    """z = (x − m) / sqrt(v + eps) · exp(log_gamma) + beta (Dinh et al. 2016, appendix).

    In training mode (m, v) are the batch's statistics and running averages are updated; in evaluation mode the
    running averages are used in both directions, so there the inverse is exact. ``inverse`` always uses the
    running averages (a latent batch says nothing about data statistics).
    """

    def __init__(self, shape: tuple[int, ...], momentum: float, eps: float) -> None:
        super().__init__()
        stat = _stat_shape(shape)
        self.log_gamma = nn.Parameter(torch.zeros(stat))
        self.beta = nn.Parameter(torch.zeros(stat))
        self.register_buffer("running_mean", torch.zeros(stat))
        self.register_buffer("running_var", torch.ones(stat))
        self.momentum, self.eps = momentum, eps
        self.pixels = _pixels(shape)

    def _ladj(self, var: Tensor, batch: int) -> Tensor:
        per = (self.log_gamma - 0.5 * torch.log(var + self.eps)).sum() * self.pixels
        return per.expand(batch)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.training and x.shape[0] > 1:
            dims = _reduce_dims(x)
            mean = x.mean(dim=dims).reshape(self.running_mean.shape)
            var = x.var(dim=dims, unbiased=False).reshape(self.running_var.shape)
            with torch.no_grad():
                self.running_mean.lerp_(mean.detach(), self.momentum)
                self.running_var.lerp_(var.detach(), self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        z = (x - mean) * torch.rsqrt(var + self.eps) * torch.exp(self.log_gamma) + self.beta
        return z, self._ladj(var, x.shape[0])

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        mean, var = self.running_mean, self.running_var
        x = (z - self.beta) * torch.exp(-self.log_gamma) * torch.sqrt(var + self.eps) + mean
        return x, -self._ladj(var, z.shape[0])


def _build_actnorm(shape: tuple[int, ...], params: Mapping[str, Any], gen: torch.Generator) -> Bijection:
    return ActNorm(shape)


def _build_batchnorm(shape: tuple[int, ...], params: Mapping[str, Any], gen: torch.Generator) -> Bijection:
    return BatchNormFlow(shape, params["momentum"], params["eps"])


register(LayerSpec(
    kind="actnorm", family="normalization",
    help="Per-feature scale and shift, set from the first batch so activations start standardised (Glow).",
    builder=_build_actnorm, data=frozenset({"vector", "image"}), data_dependent="first_batch",
    reference="Kingma & Dhariwal 2018 (Glow)",
))
register(LayerSpec(
    kind="batchnorm", family="normalization",
    help="Batch normalisation as a flow: standardise with batch statistics while training, running ones after.",
    params=(Param("momentum", "float", 0.1, "how fast the running statistics follow the batches", low=0.0,
                  high=1.0),
            Param("eps", "float", 1e-5, "added to the variance for stability", low=1e-12, high=1.0,
                  log_scale=True)),
    builder=_build_batchnorm, data=frozenset({"vector", "image"}), data_dependent="every_batch",
    directions=Directions(note="exact inverse in evaluation mode (running statistics); while training, the "
                               "density uses the batch's statistics"),
    reference="Dinh, Sohl-Dickstein & Bengio 2016 (RealNVP)",
))
