"""``bench/bench_peers.py``: its quality mode end to end (a subprocess, as people run it; the peers may be missing,
as in CI, and are then skipped), its command line, and the pieces its pairing of rows over seeds rests on."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.peers.engine import Engine, pinned_split
from bench.peers.models import MODELS, PEERS, STACKS, build_flowlab_layers
from bench.peers.quality import EARLY_STOPPED, final_and_early_stopped, format_mean_se, mean_se
from flowlab.targets import build_target
from flowlab.targets.base import TARGETS
from flowlab.training.settings import TrainSettings
from flowlab.training.trainer import Trainer

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "bench_peers.py"
STEPS, SEEDS = 30, 2
QUALITY = ["--quality", "--steps", str(STEPS), "--seeds", str(SEEDS), "--models", "realnvp", "--sets", "moons",
           "--threads", "1"]
NUMBER = r"(\d+\.\d{3})"
# name, mean ± s.e., gap, mark ("best" or a difference), the per-seed scores
ROW = re.compile(rf"^  (?P<name>.+?) +{NUMBER} ± {NUMBER}  gap [+-]\d+\.\d{{3}}  "
                 rf"(?P<mark>best|[+-]\d+\.\d{{3}} vs best) +\[(?P<seeds>[\d. ]+)\](?P<rest>.*)$")


def bench(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    """``bench_peers.py args`` on one thread, with an empty compile cache (no cached compiled step swaps in at a
    moment that depends on the machine)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "FLOWLAB_CACHE_DIR": str(tmp_path)}
    return subprocess.run([sys.executable, str(BENCH), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def rows(stdout: str) -> dict[str, re.Match]:
    return {m["name"]: m for m in map(ROW.match, stdout.splitlines()) if m}


def test_quality_over_seeds_runs_end_to_end_and_repeats(tmp_path: Path) -> None:
    first = bench(QUALITY, tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    table = rows(first.stdout)
    for name in ("bare", "flowlab layers", "flowlab engine", EARLY_STOPPED):
        assert name in table, f"no mean ± s.e. line for {name!r}:\n{first.stdout}"
        row = table[name]
        scores = [float(s) for s in row["seeds"].split()]
        assert len(scores) == SEEDS and len(set(scores)) == SEEDS, f"{name}: not one score per seed"
        mean, se = mean_se(scores)  # the printed summary is that of the printed scores (to their rounding)
        assert float(row[2]) == pytest.approx(mean, abs=1e-3) and float(row[3]) == pytest.approx(se, abs=1e-3)
    for peer in PEERS:  # measured, or skipped with the reason
        assert peer in table or re.search(rf"^  {peer} +skipped: .+", first.stdout, re.M), first.stdout
    best = [name for name, row in table.items() if row["mark"] == "best"]
    competing = {name: float(row[2]) for name, row in table.items() if name != EARLY_STOPPED}
    assert len(best) == 1 and competing[best[0]] == min(competing.values())  # the early-stopped line competes not
    steps = re.fullmatch(r"  \(weights of steps ([\d ]+)\)", table[EARLY_STOPPED]["rest"])
    assert steps and all(0 < int(s) <= STEPS for s in steps[1].split())

    second = bench(QUALITY, tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.stdout == first.stdout


def test_help_describes_the_command_line(tmp_path: Path) -> None:
    out = bench(["--help"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "--seeds" in out.stdout and "--quality" in out.stdout
    assert "flowlab engine (early-stopped)" in out.stdout  # the parts' docstrings are in the help


@pytest.mark.parametrize(("flag", "value", "said"), [("--sets", "moon", "unknown set 'moon'"),
                                                     ("--models", "glow", "unknown model 'glow'"),
                                                     ("--seeds", "0", "--seeds must be at least 1")])
def test_a_mistyped_argument_is_a_usage_error_not_a_traceback(tmp_path: Path, flag: str, value: str,
                                                              said: str) -> None:
    out = bench(["--quality", flag, value], tmp_path)
    assert out.returncode == 2 and said in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("values", [[0.61, 0.58, 0.66], [2.5, 2.25], [1.0, 1.0, 1.0, 1.5, 0.75]])
def test_mean_and_standard_error_match_numpy(values: list[float]) -> None:
    mean, se = mean_se(values)
    expected_se = np.std(values, ddof=1) / math.sqrt(len(values))
    assert mean == pytest.approx(np.mean(values)) and se == pytest.approx(expected_se)
    assert format_mean_se(values) == f"{np.mean(values):7.3f} ± {expected_se:.3f}"


def test_one_value_is_printed_alone() -> None:
    assert format_mean_se([0.6125]) == "  0.613"
    assert math.isnan(mean_se([0.6125])[1])


@pytest.fixture(autouse=True)
def _registry_as_it_was():
    """The bench registers its pinned-split targets for the process it runs in; here that process is the test
    session, whose other tests count the registered kinds: take them out again."""
    before = dict(TARGETS)
    yield
    TARGETS.clear()
    TARGETS.update(before)


def test_a_pinned_split_keeps_the_data_whatever_the_seed() -> None:
    def data(seed: int) -> tuple[torch.Tensor, ...]:
        t = Trainer(STACKS["realnvp"], build_target({"kind": pinned_split("moons")}),
                    TrainSettings(seed=seed, compile=False, device="cpu"))
        return t.train_data, t.valid_data, t.test_data

    default = Trainer(STACKS["realnvp"], build_target({"kind": "moons"}), TrainSettings(compile=False, device="cpu"))
    for got, want in zip(data(3), (default.train_data, default.valid_data, default.test_data), strict=True):
        assert torch.equal(got, want)


def test_flowlab_layers_start_where_the_engine_does() -> None:
    """The quality rows are paired: with ``torch.manual_seed(s)`` first, flowlab's layers in the hand-written loop
    get the weights the engine's trainer builds from seed ``s``."""
    for model in MODELS:
        engine = Trainer(STACKS[model], build_target({"kind": "moons"}), TrainSettings(seed=2, compile=False,
                                                                                      device="cpu"))
        torch.manual_seed(2)
        layers = build_flowlab_layers(model).module.state_dict()
        assert layers.keys() == engine.flow.state_dict().keys()
        assert all(torch.equal(layers[k], v) for k, v in engine.flow.state_dict().items())


def small_trainer(**settings: object) -> Trainer:
    return Trainer(STACKS["realnvp"], build_target({"kind": "moons"}),
                   TrainSettings(compile=False, device="cpu", n_train=2000, n_test=500, eval_every=5, **settings))


def test_the_early_stopped_score_is_that_of_the_best_validation_weights() -> None:
    trainer = small_trainer()
    evaluations = {r.step: r.evaluation for r in (trainer.train_step() for _ in range(10)) if r.evaluation}
    with torch.no_grad():  # the last weights spoilt: the early-stopped ones are an earlier evaluation's
        for p in trainer.flow.parameters():
            p.add_(torch.randn_like(p))
    out = final_and_early_stopped(trainer)
    best = min(evaluations, key=lambda step: evaluations[step]["valid_nll"])
    assert out["step"] == best
    assert out["early_stopped"] == pytest.approx(evaluations[best]["test_nll"], rel=1e-6)
    assert out["final"] > out["early_stopped"] + 1.0


@pytest.mark.parametrize(("settings", "why"), [({"valid_fraction": 0.0}, "no validation split"),
                                               ({"keep_best": False}, "keep_best is off")])
def test_no_early_stopped_score_without_a_validation_pick(settings: dict, why: str) -> None:
    trainer = small_trainer(**settings)
    trainer.train_step()
    out = final_and_early_stopped(trainer)
    assert why in out["why_not"] and "early_stopped" not in out and math.isfinite(out["final"])


def test_an_engine_run_that_diverges_ends_with_the_failure_instead_of_waiting_forever() -> None:
    settings = TrainSettings(batch_size=256, learning_rate=1.0, grad_clip=0, compile=False)
    engine = Engine("realnvp", settings, target="moons", max_steps=3000, finish=lambda trainer: {})
    assert engine.run_to_end() is None
    assert engine.failure is not None and engine.failure.kind == "diverged"
