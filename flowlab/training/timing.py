"""How long one batch takes in each direction, measured now and then on the training thread: the cost of
scoring data (x → z, one pass for a MAF, one per dimension for an IAF) against sampling (z → x, the other way
round), the trade-off between MAF and IAF made visible."""

from __future__ import annotations

import itertools
import time

import torch

from flowlab.flows import Flow
from flowlab.training.messages import DirectionTimes

TIMING_EVERY_S = 5.0  # a measurement costs two batches through the model: every few seconds is a small share
TIMING_BATCH = 256


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def time_directions(flow: Flow, data: torch.Tensor | None, batch: int = TIMING_BATCH,
                    generator: torch.Generator | None = None) -> DirectionTimes:
    """Wall-clock seconds for ``flow.log_prob`` of ``batch`` points (data rows, or the model's own samples when
    there is no data) and for ``flow.sample(batch)``, in evaluation mode (no statistics updated)."""
    was_training = flow.training
    flow.eval()
    try:
        sample_s, samples = _timed(flow, lambda: flow.sample(batch, generator=generator))
        points = data[:batch] if data is not None else samples
        score_s, _ = _timed(flow, lambda: flow.log_prob(points))
    finally:
        flow.train(was_training)
    return DirectionTimes(batch=int(points.shape[0]), score_s=score_s, sample_s=sample_s)


def _timed(flow: Flow, work):
    tensor = next(itertools.chain(flow.parameters(), flow.buffers()), None)
    device = tensor.device if tensor is not None else torch.device("cpu")
    _sync(device)
    start = time.perf_counter()
    out = work()
    _sync(device)
    return time.perf_counter() - start, out


class DirectionTimer:
    """Measures :func:`time_directions` at most every ``every_s`` seconds; ``latest`` holds the last figures."""

    def __init__(self, every_s: float = TIMING_EVERY_S, batch: int = TIMING_BATCH) -> None:
        self.every_s, self.batch = every_s, batch
        self.latest: DirectionTimes | None = None
        self._due = 0.0
        self._gen = torch.Generator().manual_seed(99)

    def reset(self) -> None:
        """A new model (reset, roll-back): measure again at the next chance."""
        self.latest, self._due = None, 0.0

    def maybe_measure(self, flow: Flow, data: torch.Tensor | None, now: float) -> bool:
        """Measure if due; True when ``latest`` changed."""
        if now < self._due:
            return False
        self.latest = time_directions(flow, data, self.batch, self._gen)
        self._due = time.perf_counter() + self.every_s
        return True
