"""One contiguous tensor for a model's trainable parameters, and one for their gradients.

A small flow has dozens of parameter tensors (RealNVP ×8 with 2×128 conditioners: 48), and the optimiser step,
gradient clipping and zeroing each cost an op, or several, per tensor, with Python around each. With every
parameter a view into one flat tensor θ and every gradient a view into one flat gradient g, the optimiser steps θ
alone, ‖g‖ is one norm, clipping one multiply and zeroing one fill: the engine's small-flow steps ran about 1.1×
faster (``bench/bench_peers.py``). Adam, AdamW and weight decay act elementwise, so stepping θ is stepping every
parameter; the views keep the modules, their ``state_dict`` and their autograd graph as they were.

The optimiser's own ``state_dict`` then holds one tensor per moment instead of one per parameter;
:func:`flat_optimizer_state` reads one saved either way, so older checkpoints still resume.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

ALIGN = 16  # elements: each view starts 64 bytes after the last (compiled kernels assume aligned inputs)


def _padded(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


class FlatParameters:
    """Make ``params`` views into one flat parameter (:attr:`param`, whose ``grad`` the gradients are views of).

    Something that replaces a parameter's storage or sets its gradient to None breaks the views;
    :meth:`attach` (called before every backward pass) puts them back, keeping the values. A parameter the loss
    does not reach gets a zero gradient rather than none: Adam leaves it where it is either way (its moments stay
    zero), but decoupled weight decay, when set, now shrinks it too."""

    def __init__(self, params: Iterable[nn.Parameter]) -> None:
        self.params = [p for p in params if p.requires_grad]
        if not self.params:
            raise ValueError("no trainable parameters")
        first = self.params[0]
        if any(p.dtype != first.dtype or p.device != first.device for p in self.params):
            raise ValueError("the parameters differ in dtype or device")
        self.offsets: list[int] = []
        total = 0
        for p in self.params:
            self.offsets.append(total)
            total += _padded(p.numel())
        self.param = nn.Parameter(torch.zeros(total, dtype=first.dtype, device=first.device))
        self._grad = self.param.grad = torch.zeros_like(self.param)
        self._views: list[tuple[Tensor, Tensor]] = []
        for p, offset in zip(self.params, self.offsets, strict=True):
            self._views.append((self._slot(self.param.data, p, offset), self._slot(self.param.grad, p, offset)))
        self.attach()

    @staticmethod
    def _slot(flat: Tensor, p: Tensor, offset: int) -> Tensor:
        return flat[offset:offset + p.numel()].view_as(p)

    def attach(self) -> None:
        """Every parameter and gradient a view into the flat tensors (values and gradients kept)."""
        for p, (value, grad) in zip(self.params, self._views, strict=True):
            if p.data.data_ptr() != value.data_ptr():
                value.copy_(p.data)
                p.data = value
            if p.grad is not grad:
                if p.grad is None:
                    grad.zero_()
                else:
                    grad.copy_(p.grad)
                p.grad = grad
        if self.param.grad is not self._grad:  # an optimiser's zero_grad(set_to_none=True) on the flat one
            self.param.grad = self._grad

    def zero_grad(self) -> None:
        self.attach()
        self.param.grad.zero_()

    def clip_grad_norm(self, max_norm: float) -> float:
        """The gradient's 2-norm before clipping; scaled down to ``max_norm`` when above it (as
        ``torch.nn.utils.clip_grad_norm_``: factor max_norm / (‖g‖ + 1e-6), never above 1)."""
        grad = self.param.grad
        norm = float(torch.linalg.vector_norm(grad))
        if math.isfinite(norm) and norm > max_norm:
            grad.mul_(max_norm / (norm + 1e-6))
        return norm

    # -- optimiser state, flat and per parameter -------------------------------------------------------------
    def flat_optimizer_state(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """An optimiser ``state_dict`` for the flat parameter, from one saved for it or for the parameters one by
        one (a checkpoint written before parameters were flat: its moments are laid out in the flat order)."""
        groups = state["param_groups"]
        if len(groups) == 1 and len(groups[0]["params"]) == 1:
            return dict(state)
        ids = [i for group in groups for i in group["params"]]
        if len(ids) != len(self.params):
            raise ValueError(f"the optimiser state is for {len(ids)} parameters, the model has {len(self.params)}")
        per_param = state["state"]
        moments: dict[str, Tensor] = {}
        steps: list[Tensor] = []
        for i, p, offset in zip(ids, self.params, self.offsets, strict=True):
            entry = per_param.get(i, {})
            for key, value in entry.items():
                if key == "step":
                    steps.append(torch.as_tensor(value, dtype=torch.float32))
                elif isinstance(value, Tensor) and value.numel() == p.numel():
                    flat = moments.setdefault(key, torch.zeros_like(self.param.data))
                    self._slot(flat, p, offset).copy_(value.reshape(p.shape))
        group = copy.deepcopy({k: v for k, v in groups[0].items() if k != "params"})
        group["params"] = [0]
        entry: dict[str, Any] = dict(moments)
        if steps:
            entry["step"] = torch.stack(steps).max().reshape(())
        return {"state": {0: entry} if entry else {}, "param_groups": [group]}
