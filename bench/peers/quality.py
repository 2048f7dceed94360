"""Quality (``--quality``): each row trains ``--steps`` steps on the same data stream (the engine's training split
and its batch indices), then scores the engine's held-out test split: the test NLL in nats against the set's true
entropy H(p) (the floor; the gap is KL(data‖model)). Figures depend on the machine: compare rows of one run.

``--seeds N`` trains every row N times, with seeds s = 0..N−1 that move the same things the same way for every
row, so that the rows stay paired within a seed: the weights (``torch.manual_seed(s)`` before building, as the
engine's seed does) and the batch stream (the loop's generator at s + 1, the engine's ``TrainSettings.seed`` at
s). The data split stays the default settings' for every seed (the engine's target has its split pinned:
:func:`~bench.peers.engine.pinned_split`), so every score is on the same test set. Each row
then gets its mean ± standard error over the seeds, its gap to H(p), its difference to the best mean, and its
per-seed scores.

``flowlab engine (early-stopped)``: the engine's test NLL with the weights it keeps by early stopping (the best
validation NLL among its evaluations, every ``eval_every`` steps and at the end), picked on the validation share
it holds back from the training data, so that the test score stays unbiased. It is not a competing row: the other
rows' loop has no early stopping.
"""

from __future__ import annotations

import argparse
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from bench.peers.engine import ENGINE, Engine, engine_settings, pinned_split
from bench.peers.loop import Loop
from bench.peers.models import BUILDERS, STACKS, Built, Skip
from flowlab.targets import build_target
from flowlab.training.trainer import Trainer

SETS = ("moons", "checkerboard", "8gaussians", "2spirals")
EARLY_STOPPED = f"{ENGINE} (early-stopped)"
NAME_WIDTH = len(EARLY_STOPPED)

Scores = list[float]  # one test NLL per seed


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """The mean and its standard error (sample standard deviation / √n; nan for one value)."""
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else math.nan
    return statistics.fmean(values), se


def format_mean_se(values: Sequence[float]) -> str:
    """``mean ± s.e.`` to 3 decimals; one value alone, as it is."""
    mean, se = mean_se(values)
    return f"{mean:7.3f}" if len(values) == 1 else f"{mean:7.3f} ± {se:.3f}"


def loop_scores(build: Callable[[str], Built], model: str, data: Tensor, test: Tensor, args: argparse.Namespace,
                device: torch.device) -> Scores | str:
    """A hand-written-loop row's test NLL for each seed, or why it is skipped."""
    scores: Scores = []
    for seed in range(args.seeds):
        try:
            torch.manual_seed(seed)  # the engine's weights seed (flowlab layers start where the engine does)
            built = build(model)
            built.module.to(device)
        except Skip as e:
            return f"skipped: {e}"
        except Exception as e:
            return f"skipped: it failed to build ({type(e).__name__}: {e})"
        loop = Loop(built, data, args.batch, seed=seed + 1)  # the engine's batch generator: its seed + 1
        for _ in range(args.steps):
            loop.step()
        scores.append(loop.test_nll(test))
    return scores


def final_and_early_stopped(trainer: Trainer) -> dict[str, Any]:
    """The engine session's ``finish``: the test NLL of the last weights, then of the early-stopped ones with their
    step, or why those are not scored."""
    final = trainer.evaluate()["test_nll"]  # the last weights are the last candidates for early stopping too
    if not trainer.settings.keep_best:
        return {"final": final, "why_not": "keep_best is off in the engine's settings"}
    if trainer.valid_data is None:
        return {"final": final, "why_not": "no validation split (valid_fraction 0): the pick would be by the test "
                                           "NLL, so it is not scored"}
    step = trainer.restore_best()
    if step is None:
        return {"final": final, "why_not": "no finite validation NLL was seen"}
    return {"final": final, "early_stopped": trainer.evaluate()["test_nll"], "step": step}


def engine_runs(model: str, kind: str, args: argparse.Namespace) -> list[Mapping[str, Any]] | str:
    """The engine's :func:`final_and_early_stopped` summaries, one per seed, or why it failed."""
    runs = []
    for seed in range(args.seeds):
        engine = Engine(model, engine_settings(args, True, seed), target=kind, max_steps=args.steps,
                        finish=final_and_early_stopped)
        finished = engine.run_to_end()
        summary = finished.summary if finished is not None else {}
        if "final" not in summary:
            return f"failed: {engine.failure}"
        runs.append(summary)
    return runs


def row_line(name: str, scores: Scores, entropy: float | None, best: float, is_best: bool) -> str:
    """A row of the table: the mean score (± s.e. over seeds), its gap to H(p), its difference to the ``best`` mean
    (or "best"), then the per-seed scores when there are several."""
    mean = statistics.fmean(scores)
    gap = f"  gap {mean - entropy:+.3f}" if entropy is not None else ""
    mark = "best" if is_best else f"{mean - best:+.3f} vs best"
    if len(scores) > 1:  # the per-seed lists in one column
        mark = f"{mark:<14}  [{' '.join(f'{s:.3f}' for s in scores)}]"
    return f"  {name:<{NAME_WIDTH}} {format_mean_se(scores)}{gap}  {mark}"


def print_set(title: str, results: Mapping[str, Scores | str], runs: list[Mapping[str, Any]] | str,
              entropy: float | None) -> None:
    """One (model, set) table: the rows, the best by mean marked, then the engine's early-stopped line."""
    floor = f"H(p) = {entropy:.3f}" if entropy is not None else "H(p) unknown"
    print(f"\n{title} ({floor}):")
    numbers = {name: statistics.fmean(v) for name, v in results.items() if not isinstance(v, str)}
    best = min(numbers, key=numbers.get) if numbers else None
    for name, value in results.items():
        print(f"  {name:<{NAME_WIDTH}} {value}" if isinstance(value, str)
              else row_line(name, value, entropy, numbers[best], name == best))
    if isinstance(runs, str):
        return
    why_not = next((r["why_not"] for r in runs if "why_not" in r), None)
    if why_not is not None:
        print(f"  {EARLY_STOPPED:<{NAME_WIDTH}} not scored: {why_not}")
        return
    steps = [r["step"] for r in runs]
    print(row_line(EARLY_STOPPED, [r["early_stopped"] for r in runs], entropy, numbers[best], False)
          + f"  (weights of step{'s' if len(steps) > 1 else ''} {' '.join(map(str, steps))})")


def quality(args: argparse.Namespace, device: torch.device) -> None:
    """The ``--quality`` tables, one per model and set (see the module docstring)."""
    settings = engine_settings(args, False)
    print(f"test NLL (nats) after {args.steps} steps, same training stream and test split for every row")
    if args.seeds > 1:
        print(f"mean ± s.e. over seeds 0..{args.seeds - 1}, then the seeds' own scores: a seed moves every row's "
              f"weights and batch stream alike;\nthe data split, so the test set, is the same for every seed")
    print(f"{EARLY_STOPPED}: its weights with the best validation NLL (evaluated every {settings.eval_every} steps "
          f"and at the end,\non {settings.valid_fraction:.0%} of the training split held back), not a competing row")
    for model in args.models:
        for set_name in args.sets:
            kind = pinned_split(set_name)
            trainer = Trainer(STACKS[model], build_target({"kind": kind}), settings)
            data, test = trainer.train_data, trainer.test_data
            results: dict[str, Scores | str] = {name: loop_scores(build, model, data, test, args, device)
                                                for name, build in BUILDERS.items()}
            runs = engine_runs(model, kind, args)
            results[ENGINE] = runs if isinstance(runs, str) else [r["final"] for r in runs]
            print_set(f"{model} on {set_name}", results, runs, trainer.target_entropy())
