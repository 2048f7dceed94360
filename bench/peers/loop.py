"""The one hand-written training loop that every row but the engine runs (the peers', the floor's and flowlab's
layers): the same optimiser and the same batch stream for all of them."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import Tensor

from bench.peers.models import LEARNING_RATE, Built


class Loop:
    """Adam on ``loss``; batches are rows of ``data`` drawn by a seeded generator (the engine's stream)."""

    def __init__(self, built: Built, data: Tensor, batch: int, seed: int) -> None:
        self.built, self.loss, self.data, self.batch = built, built.loss, data, batch
        # Fused Adam, as the engine's (fused AdamW without decay): the optimizer is not what is compared here.
        self.optimizer = torch.optim.Adam(built.module.parameters(), lr=LEARNING_RATE,
                                          fused=data.device.type in ("cpu", "cuda"))
        self.gen = torch.Generator(device=data.device).manual_seed(seed)
        self.steps = 0

    def step(self) -> None:
        idx = torch.randint(0, self.data.shape[0], (self.batch,), device=self.data.device, generator=self.gen)
        loss = self.loss(self.data[idx])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.steps += 1

    def run_for(self, seconds: float, sync: Callable[[], None]) -> float:
        """Steps per second over about ``seconds``."""
        sync()
        start, n = time.perf_counter(), 0
        while time.perf_counter() - start < seconds:
            self.step()
            n += 1
            if n % 10 == 0:
                sync()
        sync()
        return n / (time.perf_counter() - start)

    @torch.no_grad()
    def test_nll(self, test: Tensor) -> float:
        self.built.module.eval()
        return float(sum(-self.built.log_prob(chunk).sum() for chunk in test.split(8192))) / test.shape[0]
