"""Base distributions p_Z over the latent space, by name in :data:`BASES` (what a preset's ``base`` names).

Each takes a CPU or a device generator for its draws (the views draw with a CPU generator on any device)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from flowlab.flows.base import sum_except_batch

_LOG_2PI = math.log(2.0 * math.pi)


def _draw(draw, n: int, shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None) -> Tensor:
    """``draw`` (torch.randn or torch.rand) of (n, *shape) like ``like``, from ``generator`` wherever it lives."""
    where = like.device if generator is None else generator.device
    return draw((n, *shape), device=where, dtype=like.dtype, generator=generator).to(like.device)


class StandardNormal(nn.Module):
    """N(0, I) over tensors of a fixed shape."""

    help = "standard normal N(0, I): the usual choice, nothing to learn"

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = tuple(shape)
        # Follows .to(device, dtype) so samples land where the model is.
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)

    def log_prob(self, z: Tensor) -> Tensor:
        return sum_except_batch(-0.5 * (z * z + _LOG_2PI))

    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        return _draw(torch.randn, n, self.shape, self._anchor, generator) * temperature


class DiagonalNormal(nn.Module):
    """A learnable N(mu, diag(sigma^2)); sigma = exp(log_scale)."""

    help = "diagonal normal N(μ, diag σ²) with a learned centre and spread per coordinate"

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = tuple(shape)
        self.loc = nn.Parameter(torch.zeros(self.shape))
        self.log_scale = nn.Parameter(torch.zeros(self.shape))

    def log_prob(self, z: Tensor) -> Tensor:
        u = (z - self.loc) * torch.exp(-self.log_scale)
        return sum_except_batch(-0.5 * (u * u + _LOG_2PI) - self.log_scale)

    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        eps = _draw(torch.randn, n, self.shape, self.loc, generator)
        return self.loc + temperature * torch.exp(self.log_scale) * eps


UNIFORM_HALF_WIDTH = math.sqrt(3.0)  # U(−√3, √3) has variance 1, as N(0, 1): swapping bases keeps the scale


class Uniform(nn.Module):
    """U([−a, a]^d), a = :data:`UNIFORM_HALF_WIDTH`: log p_Z(z) = −d·log(2a) inside the box, −∞ outside.

    The support is honest: a z outside the box has zero density, so data whose latent falls outside has
    log p(x) = −∞ (maximum likelihood then stops with an infinite loss: the trainer rolls back and says so).
    Samples lie inside; ``temperature`` t draws from the box of half-width t·a (t > 1 leaves the support).
    """

    help = (f"uniform on the box [−{UNIFORM_HALF_WIDTH:.3g}, {UNIFORM_HALF_WIDTH:.3g}]^d (unit variance), zero "
            f"density outside: for sampling, as in the planar-flow figure")
    half_width = UNIFORM_HALF_WIDTH
    # Said wherever the zero density outside matters: planning maximum likelihood, and an infinite loss.
    support_note = ("the uniform base has zero density outside its box, so a data point whose latent falls "
                    "outside it has log p(x) = −∞ and makes the NLL infinite")

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = tuple(shape)
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)

    def log_prob(self, z: Tensor) -> Tensor:
        a = self.half_width
        inside = (z.abs() <= a).flatten(1).all(dim=1)
        inside_value = -math.prod(self.shape) * math.log(2.0 * a)
        return torch.where(inside, inside_value, -math.inf).to(z.dtype)

    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        u = _draw(torch.rand, n, self.shape, self._anchor, generator)
        return (2.0 * u - 1.0) * (self.half_width * temperature)


BASES: dict[str, type[nn.Module]] = {"standard": StandardNormal, "diagonal": DiagonalNormal, "uniform": Uniform}
"""Every base distribution by the name presets and the window use; each class's ``help`` says it in a line."""
