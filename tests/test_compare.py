"""``flowlab compare``: several stacks on the first preset's target, one seed, one table and one picture."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
from PIL import Image

from flowlab.comparison import MIN_POINTS, THUMB, nice_ticks, plan_runs, run_names
from flowlab.flows import build_flow
from flowlab.presets import load_preset
from flowlab.presets.builtin import preset_file
from flowlab.targets import build_target
from tests.test_cli import flowlab

TRAINING = {"batch_size": 128, "eval_every": 100, "n_train": 2000, "n_test": 500, "learning_rate": 0.003}


def _preset(folder: Path, name: str, kind: str, target: str = "moons", seed: int = 0) -> Path:
    doc = {"schema_version": 1, "name": f"{name} ({kind})", "layers": [
        {"kind": kind, "params": {"mask": "alternating", "flip": i % 2 == 1, "hidden": 16}} for i in range(4)],
        "target": {"kind": target}, "training": {**TRAINING, "seed": seed}}
    path = folder / f"{name}.json"
    path.write_text(json.dumps(doc))
    return path


def _column(path: Path, name: str) -> list[float]:
    return [float(r[name]) for r in csv.DictReader(path.open()) if r.get(name)]


def test_compare_writes_one_row_per_run_whose_figures_match_each_run(tmp_path: Path) -> None:
    affine = _preset(tmp_path, "affine", "affine_coupling")
    # another target and seed: the run still trains on the first's target, with the first's (here --seed's) seed
    additive = _preset(tmp_path, "additive", "additive_coupling", target="circles", seed=9)
    out = tmp_path / "cmp"
    r = flowlab("compare", str(affine), str(additive), str(affine), "--steps", "60", "--seed", "3", "--out", str(out),
                "--quiet")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [row["name"] for row in rows] == ["affine", "additive", "affine_2"]
    entropy = build_target({"kind": "moons"}).entropy().value
    for row, path in zip(rows, (affine, additive, affine), strict=True):
        preset = load_preset(path)
        flow = build_flow(preset.layers, (2,), base=preset.base)
        assert int(row["parameters"]) == sum(p.numel() for p in flow.parameters())
        metrics = out / row["name"] / "metrics.csv"
        tested = _column(metrics, "test_nll")
        assert len(tested) >= MIN_POINTS  # evaluated every 60 // 20 = 3 steps (the preset says 100)
        assert row["measure"] == "test_nll" and int(row["steps"]) == 60
        assert float(row["best"]) == pytest.approx(min(tested), rel=1e-5)
        assert float(row["final"]) == pytest.approx(tested[-1], rel=1e-5)
        assert float(row["floor"]) == pytest.approx(entropy, abs=1e-4)
        assert float(row["gap"]) == pytest.approx(min(tested) - entropy, abs=1e-4)
        # trained on moons: the run's own record of its gap is against the moons' entropy too
        assert _column(metrics, "kl_gap")[-1] == pytest.approx(tested[-1] - entropy, abs=1e-3)
        assert float(row["steps_per_s"]) > 0 and float(row["score_ms"]) > 0 and float(row["sample_ms"]) > 0
        assert int(row["threads"]) >= 1 and row["diverged"] == ""
    assert rows[0]["best"] != rows[1]["best"] and rows[0]["parameters"] != rows[1]["parameters"]
    # the same stack with the same seed: the same curve, to the last digit
    assert _column(out / "affine" / "metrics.csv", "test_nll") == _column(out / "affine_2" / "metrics.csv",
                                                                          "test_nll")
    assert rows[0]["best"] == rows[2]["best"]
    with Image.open(out / "comparison.png") as img:
        assert img.size == (960, 34 + 380 + 24 + THUMB + 48 + 26)
        pixels = img.convert("RGB")
        # each run's thumbnail is framed in its colour (blue, orange, green)
        assert pixels.getpixel((16 - 2, 34 + 380 + 24 + 50)) == (31, 119, 180)
        assert pixels.getpixel((16 + THUMB + 16 - 2, 34 + 380 + 24 + 50)) == (255, 127, 14)
    assert "one after another" in r.stdout and "affine_2" in r.stdout


def test_a_stack_that_cannot_fit_the_first_target_is_one_line_and_trains_nothing(tmp_path: Path) -> None:
    coupling = _preset(tmp_path, "coupling", "affine_coupling")
    out = tmp_path / "never"
    r = flowlab("compare", "change_of_variables_1d", str(coupling), "--steps", "5", "--out", str(out))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("flowlab: coupling cannot train on the target of change_of_variables_1d")
    assert not out.exists()


@pytest.mark.parametrize(("args", "words"), [
    (["compare", "--steps", "5", "--out", "x"], "PRESET"),
    (["compare", "{preset}", "--steps", "0", "--out", "x"], "--steps"),
    (["compare", "{preset}", "no_such_preset", "--steps", "5", "--out", "x"], "no_such_preset"),
    (["compare", *["{preset}"] * 9, "--steps", "5", "--out", "x"], "at most 8"),
])
def test_bad_compare_input_exits_2_with_one_line(tmp_path: Path, args: list[str], words: str) -> None:
    preset = _preset(tmp_path, "p", "affine_coupling")
    r = flowlab(*[a.format(preset=preset) for a in args], timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 or lines[0].startswith("usage:"), r.stderr
    assert words in r.stderr


def test_runs_share_the_first_data_settings_and_keep_their_own_recipe() -> None:
    planar2 = load_preset(preset_file("planar_u1_k02"))
    planar8 = load_preset(preset_file("planar_u1_k08"))
    planar8.training = planar8.training.updated(learning_rate=0.0123, n_test=77, seed=5)
    runs = plan_runs([("a", planar2), ("b", planar8)], seed=11, steps=1000, device="cpu")
    assert [r.name for r in runs] == ["a", "b"]
    b = runs[1].preset
    assert b.target == planar2.target and b.layers == planar8.layers
    assert b.training.seed == 11 and b.training.n_test == planar2.training.n_test and b.training.device == "cpu"
    assert b.training.learning_rate == 0.0123  # the run's own optimiser recipe
    assert b.training.eval_every == min(planar2.training.eval_every, 1000 // MIN_POINTS)


def test_an_energy_comparison_shows_minus_the_elbo_above_minus_log_z(tmp_path: Path) -> None:
    """Planar K = 2 against K = 8 on U1 (reverse KL): the curves are −ELBO, the floor −log Z, the gap the KL."""
    from flowlab.comparison import compare

    runs = plan_runs([(k, load_preset(preset_file(k))) for k in ("planar_u1_k02", "planar_u1_k08")], steps=40)
    results = compare(runs, 40, tmp_path)
    log_z = build_target(runs[0].preset.target).log_normalizer()
    for result in results:
        assert result.measure == "neg_elbo" and result.floor == pytest.approx(-float(log_z))
        elbo = _column(tmp_path / result.name / "metrics.csv", "elbo")
        assert result.best == pytest.approx(min(-e for e in elbo), rel=1e-5, abs=1e-8)  # 6 digits in the CSV
        assert result.gap == pytest.approx(result.best + float(log_z))
    assert results[0].parameters < results[1].parameters


def test_names_and_ticks() -> None:
    assert run_names(["a", "b", "a", "a", "x/y z"]) == ["a", "b", "a_2", "a_3", "x_y_z"]
    assert nice_ticks(1.63, 2.9) == pytest.approx([1.8, 2.0, 2.2, 2.4, 2.6, 2.8])
    ticks = nice_ticks(0, 2000)
    assert ticks[0] == 0 and ticks[-1] == 2000
    assert all(math.isclose(b - a, 500) for a, b in zip(ticks, ticks[1:], strict=False))
