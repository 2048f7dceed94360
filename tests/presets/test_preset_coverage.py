"""Every registered layer kind is taught by at least one built-in preset, and every built-in preset trains."""

from __future__ import annotations

import math

import pytest

from flowlab.flows import LAYERS
from flowlab.presets.builtin import builtin_paths, load_builtin
from flowlab.training.trainer import Trainer


def test_every_registered_layer_kind_appears_in_a_builtin_preset() -> None:
    used = {layer["kind"] for key in builtin_paths() for layer in load_builtin(key).layers}
    assert set(LAYERS) - used == set(), f"layer kinds no built-in preset uses: {sorted(set(LAYERS) - used)}"


@pytest.mark.parametrize("key", sorted(builtin_paths()))
def test_every_builtin_preset_takes_steps_with_finite_losses(key: str) -> None:
    preset = load_builtin(key)
    settings = preset.training.updated(eval_every=2)
    trainer = Trainer(preset.layers, preset.build_target(), settings, base=preset.base)
    losses = [trainer.train_step().loss for _ in range(2)]
    assert all(math.isfinite(v) for v in losses)
    assert all(math.isfinite(v) for v in trainer.evaluate().values())
