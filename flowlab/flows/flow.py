"""A flow: a stack of bijections over a base distribution."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from flowlab.flows.base import Bijection

# Rows per chunk in Flow.push. A chunk's activations stay in cache, and with 128-wide networks each hidden tensor
# is 2 MB in float32: at 8192 rows (4 MB) every allocation went back to the OS and page-faulted anew, which made a
# 256² density grid through the built-in RealNVP 2.2× slower on the 2-core dev VM (bench/bench_views.py).
PUSH_CHUNK = 4096


@dataclass(frozen=True)
class LayerInfo:
    """Where a built module came from: its position in the user's stack, its kind and its full parameters."""

    position: int
    kind: str
    params: dict[str, Any]
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]


def _numel(shape: Sequence[int]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def sends_out(info: LayerInfo) -> bool:
    """Whether a layer hands on fewer entries than it receives: the rest leave for the base (multi-scale)."""
    return _numel(info.out_shape) < _numel(info.in_shape)


def latent_shape(infos: Sequence[LayerInfo], shape: Sequence[int]) -> tuple[int, ...]:
    """The shape of z: the last layer's output, or a flat vector of every dimension when entries left for the
    base along the way (multi-scale flows)."""
    if any(sends_out(i) for i in infos):
        return (_numel(shape),)
    return tuple(infos[-1].out_shape) if infos else tuple(shape)


class Flow(nn.Module):
    """log p(x) = log p_Z(f(x)) + log|det ∂f/∂x| with f the composition of ``layers`` (data → latent).

    Multi-scale flows: after a layer with ``factor_out = k`` the last ``k`` channels leave the running tensor.
    The latent z is then the flat concatenation ``[leaving part 1, leaving part 2, ..., final tensor]``, each
    flattened, so z has as many dimensions as x and the base is a Gaussian over all of them.
    """

    def __init__(self, layers: Sequence[Bijection], infos: Sequence[LayerInfo], shape: tuple[int, ...],
                 base: nn.Module) -> None:
        super().__init__()
        if len(layers) != len(infos):
            raise ValueError("one LayerInfo per layer")
        self.layers = nn.ModuleList(layers)
        self.infos = tuple(infos)
        self.shape = tuple(shape)
        self.base = base
        self.latent_shape = latent_shape(infos, shape)
        # Where each leaving part sits in the flat latent, by layer index: (start, stop, shape).
        self._parts: dict[int, tuple[int, int, tuple[int, ...]]] = {}
        start = 0
        for i, (layer, info) in enumerate(zip(layers, infos, strict=True)):
            if layer.factor_out:
                c, *rest = info.in_shape
                part = (layer.factor_out, *rest)
                self._parts[i] = (start, start + _numel(part), part)
                start += _numel(part)
        self._final = (start, tuple(infos[-1].out_shape)) if self._parts else None

    # -- the two directions -------------------------------------------------------------------------------
    def forward(self, x: Tensor, return_intermediates: bool = False):
        """Data → latent. Returns ``(z, ladj)``, or with intermediates ``(z, ladj, states, steps)``:
        ``states = [x, h1, ..., h_last]`` (the running tensor after each layer; z itself when nothing is factored
        out) and ``steps[k]`` the log|det J| of layer k+1 alone at its input, so ``ladj = Σ steps``."""
        ladj = x.new_zeros(x.shape[0])
        states = [x] if return_intermediates else None
        steps: list[Tensor] = []
        leaving: list[Tensor] = []
        h = x
        for layer in self.layers:
            h, step = layer(h)
            ladj = ladj + step
            if states is not None:
                steps.append(step)
            if layer.factor_out:
                leaving.append(h[:, h.shape[1] - layer.factor_out:].reshape(h.shape[0], -1))
                h = h[:, : h.shape[1] - layer.factor_out]
            if states is not None:
                states.append(h)
        if leaving:
            h = torch.cat([*leaving, h.reshape(h.shape[0], -1)], dim=1)
        return (h, ladj, states, steps) if states is not None else (h, ladj)

    def inverse(self, z: Tensor, return_intermediates: bool = False):
        """Latent → data. Returns ``(x, ladj)``, or with intermediates ``(x, ladj, states, steps)``:
        ``states = [z, ..., x]`` in the order visited (last layer first) and ``steps[k]`` the log|det J| of the
        k-th inverse applied, so ``ladj = Σ steps``."""
        ladj = z.new_zeros(z.shape[0])
        states = [z] if return_intermediates else None
        steps: list[Tensor] = []
        h = z
        if self._final is not None:
            start, final_shape = self._final
            h = z[:, start:].reshape(z.shape[0], *final_shape)
        for i in range(len(self.layers) - 1, -1, -1):
            if i in self._parts:
                a, b, shape = self._parts[i]
                h = torch.cat([h, z[:, a:b].reshape(z.shape[0], *shape)], dim=1)
            h, step = self.layers[i].inverse(h)
            ladj = ladj + step
            if states is not None:
                states.append(h)
                steps.append(step)
        return (h, ladj, states, steps) if states is not None else (h, ladj)

    # -- many points at once, for the views -----------------------------------------------------------------
    @torch.no_grad()
    def push(self, x: Tensor, inverse: bool = False, chunk: int = PUSH_CHUNK) -> tuple[Tensor, Tensor, Tensor]:
        """Many points through the flow without autograd, ``chunk`` at a time: ``(y, ladj, log_prob)``.

        Forward (data → latent): y = f(x) and log_prob = log p(x). ``inverse`` (latent → data): y = f⁻¹(x) and
        log_prob the model's log-density at the samples y (as :meth:`sample_and_log_prob`). The same numbers,
        computed by :meth:`forward` / :meth:`inverse` (hooks run as they do there), with each chunk's activations
        kept in cache and the results written into preallocated outputs. ``x`` is not changed.

        The couplings' MLPs apply their activations in place (:func:`~flowlab.flows.nets.mlp`). An in-place
        apply on the couplings themselves (updating the running tensor instead of a split and a cat) measured
        0.98–1.00× in ``bench/bench_views.py`` and was left out, as was evaluating the first coupling's network
        once per grid axis value (about 15 % of a 256² grid, but it needs the layer's internals).
        """
        n = x.shape[0]
        y = x.new_empty((n, *(self.shape if inverse else self.latent_shape)))
        ladj, logp = x.new_empty(n), x.new_empty(n)
        for x_c, y_c, ladj_c, logp_c in zip(x.split(chunk), y.split(chunk), ladj.split(chunk), logp.split(chunk),
                                            strict=True):
            h, step = self.inverse(x_c) if inverse else self.forward(x_c)
            y_c.copy_(h)
            ladj_c.copy_(step)
            base = self.base.log_prob(x_c if inverse else h)
            logp_c.copy_(base - step if inverse else base + step)
        return y, ladj, logp

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
            d = LAYERS[info.kind].directions_for(info.params)
            if d.forward == "numerical":
                out.append((info.position, info.kind, "forward"))
            if d.inverse == "numerical":
                out.append((info.position, info.kind, "inverse"))
        return out

    @property
    def dim(self) -> int:
        return _numel(self.shape)
