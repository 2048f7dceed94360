"""Checkpoint files: everything to resume training, written atomically and read with ``weights_only=True``."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from flowlab.atomic import atomic_write
from flowlab.errors import FlowlabError
from flowlab.training.trainer import Trainer


def weights_path_for(preset_path: str | os.PathLike) -> Path:
    """Where a preset's weights live: ``name.json`` → ``name.weights.pt`` beside it."""
    p = Path(preset_path)
    return p.with_name(p.stem + ".weights.pt")


def save_checkpoint(trainer: Trainer, path: str | os.PathLike) -> None:
    state = trainer.checkpoint()
    atomic_write(path, lambda f: torch.save(state, f))


def load_checkpoint(trainer: Trainer, path: str | os.PathLike) -> None:
    """Resume ``trainer`` from ``path``; a file for another stack or an unreadable one is a FlowlabError."""
    try:
        state = torch.load(path, map_location=trainer.device, weights_only=True)
    except Exception:
        raise FlowlabError(f"{path}: cannot read the weights: the file is damaged, or holds more than plain "
                           f"weights (nothing in it was run)") from None
    trainer.load_checkpoint(state)
