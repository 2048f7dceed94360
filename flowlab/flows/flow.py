"""A flow: a stack of bijections over a base distribution."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from flowlab.flows.base import Bijection


@dataclass(frozen=True)
class LayerInfo:
    """Where a built module came from: its position in the user's stack, its kind and its full parameters."""

    position: int
    kind: str
    params: dict[str, Any]
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]


class Flow(nn.Module):
    """log p(x) = log p_Z(f(x)) + log|det ∂f/∂x| with f the composition of ``layers`` (data → latent)."""

    def __init__(self, layers: Sequence[Bijection], infos: Sequence[LayerInfo], shape: tuple[int, ...],
                 base: nn.Module) -> None:
        super().__init__()
        if len(layers) != len(infos):
            raise ValueError("one LayerInfo per layer")
        self.layers = nn.ModuleList(layers)
        self.infos = tuple(infos)
        self.shape = tuple(shape)
        self.base = base

    # -- the two directions -------------------------------------------------------------------------------
    def forward(self, x: Tensor, return_intermediates: bool = False):
        """Data → latent. Returns ``(z, ladj)``, or ``(z, ladj, [x, h1, ..., z])`` with intermediates."""
        ladj = x.new_zeros(x.shape[0])
        states = [x] if return_intermediates else None
        h = x
        for layer in self.layers:
            h, l = layer(h)
            ladj = ladj + l
            if states is not None:
                states.append(h)
        return (h, ladj, states) if states is not None else (h, ladj)

    def inverse(self, z: Tensor, return_intermediates: bool = False):
        """Latent → data. Returns ``(x, ladj)``, or ``(x, ladj, [z, ..., x])`` with intermediates."""
        ladj = z.new_zeros(z.shape[0])
        states = [z] if return_intermediates else None
        h = z
        for layer in reversed(self.layers):
            h, l = layer.inverse(h)
            ladj = ladj + l
            if states is not None:
                states.append(h)
        return (h, ladj, states) if states is not None else (h, ladj)

    # -- densities and samples ----------------------------------------------------------------------------
    def log_prob(self, x: Tensor) -> Tensor:
        """log p(x) per example, in nats."""
        z, ladj = self.forward(x)
        return self.base.log_prob(z) + ladj

    def sample(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        """``n`` samples; ``temperature`` scales the base's spread (Glow's reduced-temperature sampling)."""
        return self.sample_and_log_prob(n, temperature, generator)[0]

    def sample_and_log_prob(self, n: int, temperature: float = 1.0,
                            generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Samples and their log-density under the (untempered) model, in one pass through the stack."""
        z = self.base.sample(n, temperature, generator)
        x, ladj = self.inverse(z)
        return x, self.base.log_prob(z) - ladj

    # -- what the engine and the UI ask --------------------------------------------------------------------
    def numerical_directions(self) -> list[tuple[int, str, str]]:
        """``(position, kind, direction)`` for every layer whose direction is solved numerically."""
        from flowlab.flows.registry import LAYERS

        out = []
        for info in self.infos:
            d = LAYERS[info.kind].directions
            if d.forward == "numerical":
                out.append((info.position, info.kind, "forward"))
            if d.inverse == "numerical":
                out.append((info.position, info.kind, "inverse"))
        return out

    @property
    def dim(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n
