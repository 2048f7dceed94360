"""Comparison presets: a list of stacks over one target, read with errors that name the field."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from flowlab.comparison import plan_runs
from flowlab.presets import PresetError, load_preset
from flowlab.presets.builtin import builtin_paths
from flowlab.presets.comparison import comparison_paths, load_comparison, runs_named
from tests.test_cli import flowlab

SHIPPED = {"nice_vs_realnvp_moons": ["nice_moons", "realnvp_moons"],
           "planar_k_u2": ["planar_u2_k02", "planar_u2_k08", "planar_u2_k32"],
           "affine_vs_spline_checkerboard": ["realnvp_checkerboard", "spline_checkerboard"],
           "maf_vs_iaf_8gaussians": ["maf_8gaussians", "iaf_8gaussians"]}


@pytest.mark.parametrize("key", sorted(SHIPPED))
def test_each_shipped_comparison_refers_to_lecture_presets_that_share_a_target(key: str) -> None:
    comparison = load_comparison(comparison_paths()[key])
    assert [name for name, _ in comparison.runs] == SHIPPED[key]
    for name, preset in comparison.runs:
        assert preset.layers == load_preset(builtin_paths()[name]).layers  # the lecture preset's stack, not a copy
        assert preset.target == comparison.runs[0][1].target  # the pairs were chosen on one target
    assert len(plan_runs(comparison.runs, steps=100)) == len(SHIPPED[key])  # every stack fits
    assert comparison.description


def _write(tmp_path: Path, doc: dict) -> Path:
    path = tmp_path / "cmp.json"
    path.write_text(json.dumps({"schema_version": 1, "name": "mine", **doc}))
    return path


def test_a_stack_written_out_fits_the_comparison_target_with_shared_settings(tmp_path: Path) -> None:
    coupling = [{"kind": "affine_coupling", "params": {"mask": "alternating", "flip": i % 2 == 1}} for i in range(2)]
    path = _write(tmp_path, {"target": {"kind": "circles"}, "training": {"learning_rate": 0.002},
                             "compare": [{"preset": "nice_moons", "name": "nice"},
                                         {"name": "two couplings", "layers": coupling}]})
    runs = runs_named(str(path))
    assert [name for name, _ in runs] == ["nice", "two couplings"]
    assert all(p.target["kind"] == "circles" and p.training.learning_rate == 0.002 for _, p in runs)
    assert runs[1][1].layers[1]["params"]["flip"] is True


@pytest.mark.parametrize(("compare", "words"), [
    ([{"name": "x"}], "either 'preset'"),
    ([{"preset": "no_such_preset"}], "compare[0]: "),
    ([{"layers": []}], "needs a 'name'"),
    ([{"preset": "nice_moons"}] * 9, "at most 8"),
    ([], "at least 1"),
    ([{"preset": "nice_moons", "colour": "red"}], "compare[0].colour"),
])
def test_a_broken_comparison_names_the_field(tmp_path: Path, compare: list, words: str) -> None:
    with pytest.raises(PresetError) as e:
        load_comparison(_write(tmp_path, {"compare": compare}))
    assert words in str(e.value) and str(tmp_path / "cmp.json") in str(e.value)


def test_compare_takes_a_comparison_by_name(tmp_path: Path) -> None:
    r = flowlab("compare", "nice_vs_realnvp_moons", "--steps", "3", "--out", str(tmp_path), "--quiet")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader((tmp_path / "summary.csv").open()))
    assert [row["name"] for row in rows] == ["nice_moons", "realnvp_moons"]
    r = flowlab("presets", timeout=60)
    assert all(key in r.stdout for key in SHIPPED)
