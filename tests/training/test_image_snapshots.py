"""Snapshots of multi-scale image flows: samples, reconstructions and interpolations have the data's shape."""

from __future__ import annotations

import numpy as np
import torch

from flowlab.targets import build_target
from flowlab.training.settings import TrainSettings
from flowlab.training.trainer import Trainer
from flowlab.training.views import SnapshotMaker
from tests.flows.test_multiscale import multiscale_stack


def test_multiscale_snapshot_images_have_the_data_shape_and_reconstruct() -> None:
    layers = [{"kind": "logit", "params": {"alpha": 0.05}}] + multiscale_stack(hidden=8)
    trainer = Trainer(layers, build_target({"kind": "digits"}),
                      TrainSettings(batch_size=32, n_train=1297, n_test=500, device="cpu"))
    for _ in range(5):
        trainer.train_step()
    assert trainer.flow.latent_shape == (64,)
    snap = SnapshotMaker(trainer.target).make(trainer.flow, trainer.step, full=True)
    assert snap.image_samples.shape == (64, 1, 8, 8)
    data, back = snap.image_reconstructions
    assert data.shape == back.shape == (8, 1, 8, 8)
    assert np.abs(data - back).max() < 1e-4, "test images → latent → back must reproduce them"
    path = snap.image_interpolation
    assert path.shape[1:] == (1, 8, 8)
    a, b = (min(i, 7) for i in (0, 1))
    assert np.abs(path[0] - data[a]).max() < 1e-4 and np.abs(path[-1] - data[b]).max() < 1e-4
    assert torch.isfinite(torch.from_numpy(snap.image_samples)).all()
