"""Built-in comparisons that open trained: each run's shipped weights load (``weights_only``) into the run as the
window plans it and reach the step and held-out score the comparison's description states for that run."""

from __future__ import annotations

import pytest

from flowlab.comparison import plan_runs
from flowlab.headless import score_weights
from flowlab.presets.builtin import builtin_paths
from flowlab.presets.comparison import RUN_TRAINED, comparison_paths, load_comparison, run_weights_path
from flowlab.training.checkpoints import weights_path_for

STATED = {(key, m["run"]): m for key, path in comparison_paths().items()
          for m in RUN_TRAINED.finditer(load_comparison(path).description)}


def test_a_lecture_comparison_opens_trained_and_all_shipped_weights_stay_small() -> None:
    assert {run for key, run in STATED if key == "nice_realnvp_spline_moons"} == {"nice", "realnvp", "spline"}
    shipped = [weights_path_for(p) for p in builtin_paths().values()] + [
        p for path in comparison_paths().values() for p in path.parent.glob(f"{path.stem}.*.weights.pt")]
    assert sum(p.stat().st_size for p in shipped if p.exists()) < 8e6


@pytest.mark.parametrize(("key", "run"), sorted(STATED))
def test_each_runs_weights_reach_the_score_the_comparison_states(key, run) -> None:
    path = comparison_paths()[key]
    planned = {r.name: r for r in plan_runs(load_comparison(path).runs)}
    stated = STATED[key, run]
    step, scores = score_weights(planned[run].preset, run_weights_path(path, run))
    assert step == int(stated["steps"])
    score = scores["test_bpd" if stated["unit"] == "bits/dim" else "test_nll"]
    assert score == pytest.approx(float(stated["score"]), abs=0.006)


def test_every_shipped_run_weights_file_is_stated() -> None:
    for key, path in comparison_paths().items():
        files = {p.name for p in path.parent.glob(f"{path.stem}.*.weights.pt")}
        assert files == {run_weights_path(path, run).name for k, run in STATED if k == key}
