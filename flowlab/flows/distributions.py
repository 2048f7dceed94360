"""Base distributions p_Z over the latent space."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from flowlab.flows.base import sum_except_batch

_LOG_2PI = math.log(2.0 * math.pi)


class StandardNormal(nn.Module):
    """N(0, I) over tensors of a fixed shape."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = tuple(shape)
        # Follows .to(device, dtype) so samples land where the model is.
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)

    def log_prob(self, z: Tensor) -> Tensor:
        return sum_except_batch(-0.5 * (z * z + _LOG_2PI))

    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        eps = torch.randn((n, *self.shape), device=self._anchor.device, dtype=self._anchor.dtype,
                          generator=generator)
        return eps * temperature


class DiagonalNormal(nn.Module):
    """A learnable N(mu, diag(sigma^2)); sigma = exp(log_scale)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = tuple(shape)
        self.loc = nn.Parameter(torch.zeros(self.shape))
        self.log_scale = nn.Parameter(torch.zeros(self.shape))

    def log_prob(self, z: Tensor) -> Tensor:
        u = (z - self.loc) * torch.exp(-self.log_scale)
        return sum_except_batch(-0.5 * (u * u + _LOG_2PI) - self.log_scale)

    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        eps = torch.randn((n, *self.shape), device=self.loc.device, dtype=self.loc.dtype, generator=generator)
        return self.loc + temperature * torch.exp(self.log_scale) * eps


BASES: dict[str, type[nn.Module]] = {"standard": StandardNormal, "diagonal": DiagonalNormal}
