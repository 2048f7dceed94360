"""One model trained by several processes: PyTorch's DistributedDataParallel (DDP) under ``torchrun``.

    torchrun --standalone --nproc_per_node=N -m flowlab train PRESET --steps S --out DIR

torchrun starts N copies of ``flowlab train`` and tells each its place in the environment (``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``; :func:`launched` reads them). Every process builds the same
model and data from the preset's seed and draws the same global batch of B examples from the same batch stream;
process r of W keeps its share S_r (``batch.tensor_split(W)[r]``) and its loss is

    L_r = (W / B) · Σ_{i ∈ S_r} −log p(x_i).

DDP averages the gradients over the processes, so every process steps with

    (1/W) Σ_r ∇L_r = (1/B) Σ_i ∇(−log p(x_i)),

the gradient of the mean loss over the whole batch: N processes with batch B train what one process with batch B
trains, to float rounding, whatever N is.

Decisions are taken together. The loss reported and checked for NaN is the batch's mean, summed over the
processes, so a NaN on one of them rolls every one back at the same step; gradients are averaged before their norm
is checked; held-out scores are sums over each process's share of the held-out set, summed over the processes, so
early stopping keeps the same step everywhere.

ActNorm's data-dependent initialisation runs before wrapping, on the whole first batch (every process has it), as
one process does at its first step; DDP then broadcasts rank 0's parameters and buffers. Layers that standardise
with every batch's statistics (the registry's ``data_dependent="every_batch"``) would see one share only: refused.
Only maximum likelihood runs this way, and eagerly (no compiled step). Gloo on the CPU; NCCL on CUDA, one GPU per
process (``cuda:LOCAL_RANK``).
"""

from __future__ import annotations

import gc
import os
import signal
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from flowlab.errors import FlowlabError
from flowlab.flows import LAYERS, Flow
from flowlab.training.device import pick_device

if TYPE_CHECKING:
    from flowlab.training.trainer import Trainer


@dataclass(frozen=True)
class Launch:
    """This process's place among the processes torchrun started."""

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int

    @property
    def main(self) -> bool:
        """Rank 0 alone writes files, draws the progress bar and says what every process found."""
        return self.rank == 0


def launched(environ: Mapping[str, str] = os.environ) -> Launch | None:
    """The :class:`Launch` torchrun describes in ``environ``; None outside torchrun, or when it started one process
    (which then trains exactly as ``flowlab train`` alone does)."""
    if "WORLD_SIZE" not in environ:
        return None
    try:
        world = int(environ["WORLD_SIZE"])
        rank = int(environ.get("RANK", "0"))
        local_rank = int(environ.get("LOCAL_RANK", str(rank)))
        local_world = int(environ.get("LOCAL_WORLD_SIZE", str(world)))
    except ValueError:
        raise FlowlabError("WORLD_SIZE, RANK, LOCAL_RANK and LOCAL_WORLD_SIZE must be whole numbers (torchrun sets "
                           "them)") from None
    if world <= 1:
        return None
    if not (0 <= rank < world and 0 <= local_rank < local_world <= world):
        raise FlowlabError(f"RANK {rank} / LOCAL_RANK {local_rank} do not fit WORLD_SIZE {world} / LOCAL_WORLD_SIZE "
                           f"{local_world}")
    return Launch(rank, world, local_rank, local_world)


def speaks(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether this process says what every process finds alike (a bad preset, a refusal): rank 0, or a process
    that torchrun did not start."""
    return "WORLD_SIZE" not in environ or environ.get("RANK", "0").strip() == "0"


def refusal(layers: list[Mapping[str, object]], objective: str, batch_size: int, world_size: int) -> str | None:
    """Why a stack and its settings cannot train across ``world_size`` processes as one process would, or None."""
    if objective != "mle":
        return (f"training across processes fits by maximum likelihood only; this preset trains by {objective} "
                f"(train it in one process: flowlab train without torchrun)")
    for i, entry in enumerate(layers, 1):
        spec = LAYERS.get(str(entry.get("kind")))
        if spec is not None and entry.get("enabled", True) and spec.data_dependent == "every_batch":
            return (f"layer {i} ({spec.kind}) standardises with each batch's own statistics; across processes "
                    f"each sees only its share of the batch, which one process would not: use actnorm instead, or "
                    f"train in one process")
    if batch_size < world_size:
        return f"batch_size {batch_size} is smaller than the {world_size} processes: each needs one example at least"
    return None


class _LogProb(nn.Module):
    """The module DDP wraps: its forward is the flow's log-density, the call whose backward DDP reduces."""

    def __init__(self, flow: Flow) -> None:
        super().__init__()
        self.flow = flow

    def forward(self, x: Tensor) -> Tensor:
        return self.flow.log_prob(x)


class Replicas:
    """This process's part in training one model with the others (see the module docstring). Build it with
    :func:`replicas_on` inside :func:`process_group`; the :class:`~flowlab.training.trainer.Trainer` given it
    calls :meth:`join`, then :meth:`loss`, :meth:`average` and :meth:`mean_nll` in place of its one-process
    arithmetic."""

    def __init__(self, launch: Launch, device: torch.device) -> None:
        self.launch, self.device = launch, device
        self._model: DistributedDataParallel | None = None

    @property
    def rank(self) -> int:
        return self.launch.rank

    @property
    def size(self) -> int:
        return self.launch.world_size

    def join(self, trainer: Trainer) -> None:
        """Check the stack trains alike across processes and that every process built the same data, run the
        data-dependent initialisations on the whole first batch, then wrap the model in DDP."""
        why = refusal(trainer.layers, trainer.plan.objective, trainer.settings.batch_size, self.size)
        if why is not None:
            raise FlowlabError(why)
        self._check_same_data(trainer)
        trainer.initialize_from_next_batch()
        unused = _unused_parameters(trainer.flow, trainer.train_data[:2], trainer.target)
        self._model = DistributedDataParallel(
            _LogProb(trainer.flow), device_ids=[self.device.index] if self.device.type == "cuda" else None,
            forward_sync_buffers=False,  # synced once here; the buffers (ActNorm's flag, LU's permutation) stay equal
            find_unused_parameters=unused)

    def close(self) -> None:
        """Let go of the DDP wrapper (and with it the process group it holds) before the group is destroyed: one
        freed later, at exit, can abort the process ("terminate called without an active exception")."""
        self._model = None
        gc.collect()

    def loss(self, batch: Tensor) -> Tensor:
        """L_r = (W / B) · Σ −log p over this process's share of the global ``batch`` (B rows)."""
        share = batch.tensor_split(self.size)[self.rank]
        return -self._model(share).sum() * (self.size / batch.shape[0])

    def average(self, loss: Tensor) -> float:
        """(1/W) Σ_r L_r: the mean loss over the whole batch, the same number on every process."""
        total = loss.detach().to(torch.float64).reshape(1)
        dist.all_reduce(total)
        return float(total) / self.size

    @torch.no_grad()
    def mean_nll(self, flow: Flow, data: Tensor, chunk: int) -> float:
        """−(1/n) Σ log p over ``data`` (n rows): each process scores its share, the sums are added up."""
        total = torch.zeros(1, dtype=torch.float64, device=data.device)
        share = data.tensor_split(self.size)[self.rank]
        for part in share.split(chunk) if share.shape[0] else ():
            total -= flow.log_prob(part).sum().to(torch.float64)
        dist.all_reduce(total)
        return float(total) / data.shape[0]

    def _check_same_data(self, trainer: Trainer) -> None:
        """Every process must hold the same rows in the same order (its share is cut from them): a fingerprint
        of each split, compared between the smallest and the largest over the processes."""
        parts = [x for x in (trainer.train_data, trainer.valid_data, trainer.test_data) if x is not None]
        prints = torch.tensor([v for x in parts for v in _fingerprint(x)], dtype=torch.float64, device=self.device)
        low, high = prints.clone(), prints.clone()
        dist.all_reduce(low, op=dist.ReduceOp.MIN)
        dist.all_reduce(high, op=dist.ReduceOp.MAX)
        if not torch.equal(low, high):
            raise FlowlabError("the processes built different data from the same preset (a data file that differs "
                               "between machines, or a target that is not drawn the same way from its seed); every "
                               "process must read the same data")


def _fingerprint(x: Tensor) -> tuple[float, float, float]:
    """Rows, the sum of the values, and the sum of the row sums weighted by position (catches a reordering)."""
    rows = x.reshape(x.shape[0], -1).to(torch.float64).sum(dim=1)
    weights = torch.arange(1, x.shape[0] + 1, dtype=torch.float64, device=x.device)
    return float(x.shape[0]), float(rows.sum()), float((rows * weights).sum())


def _unused_parameters(flow: Flow, sample: Tensor, target: object) -> bool:
    """Whether the log-density leaves some parameter without a gradient (DDP must then look for them each step,
    a cost it is spared otherwise). One backward pass on two raw rows; the gradients are dropped after."""
    prepare = getattr(target, "prepare_batch", None)
    x = prepare(sample, torch.Generator(device=sample.device).manual_seed(0)) if prepare else sample
    flow.train()
    (-flow.log_prob(x).sum()).backward()
    unused = any(p.grad is None for p in flow.parameters() if p.requires_grad)
    flow.zero_grad(set_to_none=True)
    return unused


def say_when_stopped(launch: Launch) -> None:
    """When torchrun stops this process (SIGTERM: another process failed or left), rank 0 says so in a line
    before torchrun's report, which names the process that failed; every process then exits at once."""
    def stopped(signum: int, frame: object) -> None:
        if launch.main:
            sys.stderr.write(f"\nflowlab: training stopped: torchrun ended the {launch.world_size} processes because "
                             f"one of them failed or was stopped (its report follows); nothing was written\n")
            sys.stderr.flush()
        os._exit(128 + signum)  # no clean-up: it would wait on the processes that are gone

    signal.signal(signal.SIGTERM, stopped)


@contextmanager
def process_group(launch: Launch) -> Iterator[None]:
    """Join torchrun's processes for the block and leave the group however it ends: gloo for CPU tensors and, where
    CUDA is, NCCL for CUDA tensors on ``cuda:LOCAL_RANK``. Joined before the preset is read, so that a problem any
    one process finds is heard by all (:func:`agree`) instead of leaving the others waiting."""
    backend = "gloo"
    if torch.cuda.is_available():
        torch.cuda.set_device(launch.local_rank)
        backend = "cpu:gloo,cuda:nccl"
    dist.init_process_group(backend, rank=launch.rank, world_size=launch.world_size)
    try:
        yield
    finally:
        dist.destroy_process_group()


def agree(problem: str | None) -> None:
    """Every process hands in its problem (or None); if any has one, every process raises the first as a
    :class:`FlowlabError` (rank 0 says it; the message names another process that found it)."""
    found: list[str | None] = [None] * dist.get_world_size()
    dist.all_gather_object(found, problem)
    first = next(((rank, p) for rank, p in enumerate(found) if p is not None), None)
    if first is not None:
        rank, message = first
        raise FlowlabError(message if rank == 0 else f"process {rank}: {message}")


def replicas_on(launch: Launch, requested_device: str) -> Replicas:
    """This process's :class:`Replicas` on the device the settings ask for: the CPU, or CUDA's ``cuda:LOCAL_RANK``
    (the one :func:`process_group` made current)."""
    device = pick_device(requested_device)
    if device.type == "cuda":
        device = torch.device("cuda", launch.local_rank)
    elif device.type != "cpu":
        raise FlowlabError(f"training across processes runs on the CPU (gloo) or CUDA (NCCL), not {device.type}: "
                           f"pass --device cpu")
    return Replicas(launch, device)
