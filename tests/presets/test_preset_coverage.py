"""Every registered layer kind is taught by at least one built-in preset, and every built-in preset trains."""

from __future__ import annotations

import math

import pytest

from flowlab.flows import LAYERS
from flowlab.presets.builtin import SECONDS, TIMING, builtin_paths, timing_phrase
from flowlab.training.trainer import Trainer
from tests.presets.builtins import builtin_document, load_builtin_or_skip


def test_every_registered_layer_kind_appears_in_a_builtin_preset() -> None:
    used = {layer["kind"] for key in builtin_paths() for layer in builtin_document(key)["layers"]}
    assert set(LAYERS) - used == set(), f"layer kinds no built-in preset uses: {sorted(set(LAYERS) - used)}"


@pytest.mark.parametrize("key", sorted(builtin_paths()))
def test_every_builtin_preset_takes_steps_with_finite_losses(key: str) -> None:
    preset = load_builtin_or_skip(key)
    settings = preset.training.updated(eval_every=2)
    trainer = Trainer(preset.layers, preset.build_target(), settings, base=preset.base)
    losses = [trainer.train_step().loss for _ in range(2)]
    assert all(math.isfinite(v) for v in losses)
    assert all(math.isfinite(v) for v in trainer.evaluate().values())


@pytest.mark.parametrize("key", sorted(builtin_paths()))
def test_a_stated_training_time_is_in_the_phrase_the_timing_script_keeps_true(key: str) -> None:
    """Times in a description are re-measured by ``bench/preset_timings.py --write``, which finds them by
    :data:`TIMING`: a time in seconds said any other way would go stale unseen."""
    description = builtin_document(key)["description"]
    assert not SECONDS.findall(TIMING.sub("", description)), description
    for m in TIMING.finditer(description):
        assert int(m["steps"]) > 0 and int(m["window"]) >= 1 and int(m["headless"]) >= 1
        assert TIMING.match(timing_phrase(int(m["steps"]), 12.4, 3.6))["window"] == "12"
