"""The Fashion-MNIST preset: it trains on MNIST-format files (small synthetic ones here, so it runs wherever the
tests do), and where its data set is missing `flowlab train` says how to get it, in one line."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from flowlab.presets import PresetDataMissing, load_preset, preset_from_dict
from flowlab.presets.builtin import TIMING
from flowlab.training.trainer import Trainer
from tests.presets.builtins import builtin_document, data_missing
from tests.targets.test_images import write_idx_set

ROOT = Path(__file__).resolve().parents[2]
KEY = "glow_fashion_mnist"


def _preset_file(tmp_path: Path, folder: Path) -> Path:
    """The built-in preset as written, pointed at ``folder``."""
    doc = builtin_document(KEY)
    doc["target"]["data"]["path"] = str(folder)
    path = tmp_path / "fashion.json"
    path.write_text(json.dumps(doc))
    return path


def _synthetic_set(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    return write_idx_set(folder, rng.integers(0, 256, (40, 28, 28), dtype=np.uint8),
                         rng.integers(0, 256, (12, 28, 28), dtype=np.uint8))


def test_the_preset_trains_its_multi_scale_glow_on_28_by_28_idx_files(tmp_path: Path) -> None:
    preset = load_preset(_preset_file(tmp_path, _synthetic_set(tmp_path / "set")))
    assert preset.build_target().shape == (1, 28, 28)
    kinds = [layer["kind"] for layer in preset.layers]
    assert kinds.count("squeeze") == 2 and "factor_out" in kinds  # two scales
    trainer = Trainer(preset.layers, preset.build_target(), preset.training.updated(eval_every=2, batch_size=8),
                      base=preset.base)
    losses = [trainer.train_step().loss for _ in range(2)]
    scores = trainer.evaluate()
    assert all(math.isfinite(v) for v in losses) and math.isfinite(scores["test_bpd"])
    assert 0.0 < scores["test_bpd"] < 16.0  # noise images: far from good, but a real bits/dim


def test_the_description_states_bits_per_dim_and_the_time_of_1000_steps() -> None:
    description = builtin_document(KEY)["description"]
    assert "bits/dim" in description
    timing = TIMING.search(description)
    assert timing is not None and int(timing["steps"]) == 1000, description


def test_train_without_the_data_says_how_to_get_it_in_one_line(tmp_path: Path) -> None:
    path = _preset_file(tmp_path, tmp_path / "nowhere")
    with pytest.raises(PresetDataMissing) as missing:
        preset_from_dict(json.loads(path.read_text()), str(path))
    assert missing.value.name == builtin_document(KEY)["name"]
    r = subprocess.run([sys.executable, "-m", "flowlab", "train", str(path), "--steps", "5", "--out",
                        str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert "choose a folder that holds train-images-idx3-ubyte.gz and t10k-images-idx3-ubyte.gz" in r.stderr


@pytest.mark.skipif(not data_missing(KEY), reason="Fashion-MNIST is installed here; this checks the message "
                                                   "where it is not")
def test_the_builtin_preset_without_its_package_names_the_package() -> None:
    r = subprocess.run([sys.executable, "-m", "flowlab", "train", KEY, "--steps", "5", "--out", "unused"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and "sudo apt install dataset-fashion-mnist" in r.stderr and "Traceback" not in r.stderr
