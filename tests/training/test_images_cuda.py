"""Image flows on CUDA: data stays on the GPU, training and snapshots run there, and scores agree with the CPU.

Skipped, visibly, on machines without a CUDA GPU (CI is CPU-only).
"""

from __future__ import annotations

import math

import pytest
import torch

from flowlab.targets import build_target
from flowlab.training.settings import TrainSettings
from flowlab.training.trainer import Trainer
from flowlab.training.views import SnapshotMaker
from tests.flows.test_multiscale import multiscale_stack

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="no CUDA GPU on this machine: image training on CUDA not checked")

LAYERS = [{"kind": "logit", "params": {"alpha": 0.05}}] + multiscale_stack(hidden=16)
SETTINGS = dict(learning_rate=2e-3, batch_size=64, eval_every=50, n_train=1297, n_test=500)


def test_digits_train_on_cuda_with_the_data_on_the_device() -> None:
    trainer = Trainer(LAYERS, build_target({"kind": "digits"}), TrainSettings(device="cuda", **SETTINGS))
    assert trainer.train_data.device.type == "cuda" and trainer.test_data.device.type == "cuda"
    assert all(p.device.type == "cuda" for p in trainer.flow.parameters())
    for _ in range(150):
        trainer.train_step()
    bpd = trainer.evaluate()["test_bpd"]
    assert math.isfinite(bpd) and bpd < 3.0
    snap = SnapshotMaker(trainer.target).make(trainer.flow, trainer.step, full=True)
    assert snap.image_samples is not None and snap.image_samples.shape == (64, 1, 8, 8)


def test_cuda_scores_equal_cpu_scores() -> None:
    torch.manual_seed(0)
    cpu = Trainer(LAYERS, build_target({"kind": "digits"}), TrainSettings(device="cpu", **SETTINGS))
    for _ in range(20):
        cpu.train_step()
    cpu.flow.eval()
    x = cpu.test_data[:128]
    with torch.no_grad():
        want = cpu.flow.log_prob(x)
        got = cpu.flow.to("cuda").log_prob(x.cuda()).cpu()
    assert (got - want).abs().max() < 1e-3 * want.abs().max()
