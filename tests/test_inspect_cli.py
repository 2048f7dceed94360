"""`flowlab inspect`: a point followed through a preset's layers, printed for people and as JSON, checked against
the model's own log p(x) computed independently from the same saved weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from flowlab.headless import train_preset
from flowlab.presets import load_preset
from flowlab.targets import build_target
from flowlab.training.checkpoints import load_checkpoint
from flowlab.training.trainer import Trainer
from tests.test_cli import _small_preset, flowlab


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """A small RealNVP trained 60 steps: the preset and its checkpoint."""
    folder = tmp_path_factory.mktemp("inspect")
    preset = _small_preset(folder)
    train_preset(load_preset(preset), 60, folder / "run")
    return preset, folder / "run" / "checkpoint.pt"


def _independent_log_prob(preset: Path, weights: Path, x: list[float]) -> float:
    p = load_preset(preset)
    trainer = Trainer(p.layers, build_target(p.target), p.training)
    load_checkpoint(trainer, weights)
    trainer.flow.eval()
    with torch.no_grad():
        return float(trainer.flow.log_prob(torch.tensor([x], dtype=torch.float32))[0])


def test_json_adds_up_and_matches_the_model(trained) -> None:
    preset, weights = trained
    r = flowlab("inspect", str(preset), "--weights", str(weights), "--at", "-0.5,0.75", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["x"] == [-0.5, 0.75] and out["direction"] == "data_to_latent" and out["step"] == 60
    assert [layer["kind"] for layer in out["layers"]] == ["affine_coupling"] * 4
    assert all(np.asarray(layer["jacobian"]).shape == (2, 2) for layer in out["layers"])
    for layer in out["layers"]:  # each Jacobian's log|det| is the layer's log-det
        assert np.linalg.slogdet(np.asarray(layer["jacobian"]))[1] == pytest.approx(layer["log_det"], abs=1e-4)
    assert out["layers"][-1]["output"] == pytest.approx(out["z"])
    total = sum(layer["log_det"] for layer in out["layers"])
    assert out["base_log_prob"] + total == pytest.approx(out["log_prob"], abs=1e-5)
    assert out["log_prob"] == pytest.approx(_independent_log_prob(preset, weights, [-0.5, 0.75]), abs=1e-4)

    back = flowlab("inspect", str(preset), "--weights", str(weights), "--at", ",".join(map(str, out["z"])),
                   "--inverse", "--json")
    assert back.returncode == 0, back.stderr
    inv = json.loads(back.stdout)
    assert inv["direction"] == "latent_to_data"
    assert inv["x"] == pytest.approx([-0.5, 0.75], abs=1e-4)
    assert inv["log_prob"] == pytest.approx(out["log_prob"], abs=1e-4)
    assert [layer["log_det"] for layer in inv["layers"]] == pytest.approx(
        [-layer["log_det"] for layer in reversed(out["layers"])], abs=1e-4)


def test_text_names_each_layer_and_trains_when_asked(trained) -> None:
    preset, _ = trained
    r = flowlab("inspect", str(preset), "--at", "0.5,-0.25", "--steps", "5")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0].startswith("tiny, step 5: data → latent")
    assert sum(line.split()[:2] == [str(k), "affine_coupling"] for k in range(1, 5) for line in lines) == 4
    assert "log p(x) = log p_Z(z) + Σ log|det J|" in lines[-1]


@pytest.mark.parametrize(("args", "words"), [
    (["{preset}", "--at", "1,2,3"], "3 coordinate(s)"),
    (["{preset}", "--at", "nan,1"], "finite"),
    (["{preset}", "--at", "a,b"], "numbers separated by commas"),
    (["{preset}", "--at", "1,2", "--steps", "-1"], "--steps"),
    (["{preset}", "--at", "1,2", "--weights", "no_such.pt"], "no weights file"),
    (["realnvp_digits", "--at", "1,2"], "images"),
])
def test_bad_input_exits_2_with_one_line(trained, args, words) -> None:
    preset, _ = trained
    r = flowlab("inspect", *[a.format(preset=preset) for a in args], timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and words in r.stderr, r.stderr
