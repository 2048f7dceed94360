"""Lecture presets that open trained: each shipped weights file loads (``weights_only``) and reaches the step and
held-out score its preset's description states; each stated score has its file; together they stay small."""

from __future__ import annotations

import pytest

from flowlab.headless import score_weights
from flowlab.presets.builtin import TRAINED, builtin_paths, load_builtin
from flowlab.training.checkpoints import weights_path_for
from tests.presets.builtins import builtin_document

SHIPPED = {key: weights_path_for(path) for key, path in builtin_paths().items() if weights_path_for(path).exists()}


def test_lecture_presets_ship_weights_and_they_stay_small() -> None:
    assert {"realnvp_moons", "glow_digits"} <= set(SHIPPED)
    assert sum(p.stat().st_size for p in SHIPPED.values()) < 8e6


@pytest.mark.parametrize("key", sorted(SHIPPED))
def test_shipped_weights_reach_the_score_their_preset_states(key) -> None:
    preset = load_builtin(key)
    stated = TRAINED.search(preset.description)
    assert stated, f"{key} ships weights but its description does not say what they reach"
    step, scores = score_weights(preset, SHIPPED[key])
    assert step == int(stated["steps"])
    score = scores["test_bpd" if stated["unit"] == "bits/dim" else "test_nll"]
    assert score == pytest.approx(float(stated["score"]), abs=0.006)


def test_every_stated_trained_score_has_its_weights() -> None:
    stated = {key for key in builtin_paths() if TRAINED.search(builtin_document(key)["description"])}
    assert stated == set(SHIPPED)
