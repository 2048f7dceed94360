"""Regenerate the weights the built-in comparisons open with, and the phrases that state what each run reaches.

    python scripts/comparison_weights.py [KEY ...] [--steps N] [--check]

Each comparison in ``COMPARISON_WEIGHTS`` (or each KEY) is planned as the window plans it (the first run's target,
data and seed for all), each run trained with ``flowlab train``'s session for N steps (default 2000; one thread: the
same weights again on the same PyTorch), its checkpoint written beside the comparison as ``NN_key.RUN.weights.pt``
without the optimiser's moments, and the description's "RUN — Opens trained: N steps, test NLL X nats" phrases
rewritten from the held-out scores the written files reach. ``--check`` rewrites nothing: it prints each run's
stated and measured score.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch
from lecture_weights import rewrite_description  # the script beside this one

from flowlab.atomic import atomic_write
from flowlab.comparison import plan_runs
from flowlab.headless import score_weights, train_preset
from flowlab.presets.builtin import trained_phrase
from flowlab.presets.comparison import (
    RUN_TRAINED,
    RUNS_TRAINED_INTRO,
    comparison_paths,
    load_comparison,
    run_weights_path,
)
from flowlab.training import threads

COMPARISON_WEIGHTS = ("nice_realnvp_spline_moons",)


def _phrase(run, weights: Path) -> str:
    step, scores = score_weights(run.preset, weights)
    bits = "test_bpd" in scores
    return f"{run.name} — {trained_phrase(step, scores['test_bpd' if bits else 'test_nll'], bits)}"


def regenerate(key: str, path: Path, steps: int) -> str:
    comparison = load_comparison(path)
    phrases = []
    for run in plan_runs(comparison.runs):
        with tempfile.TemporaryDirectory() as tmp:
            train_preset(run.preset, steps, Path(tmp), device="cpu")
            state = torch.load(Path(tmp) / "checkpoint.pt", weights_only=True)
        state["optimizer"] = None
        weights = run_weights_path(path, run.name)
        atomic_write(weights, lambda f, state=state: torch.save(state, f))
        phrases.append(_phrase(run, weights))
        print(f"  {phrases[-1]}; {weights.stat().st_size / 1e6:.2f} MB", flush=True)
    text = comparison.description
    base = text.split(RUNS_TRAINED_INTRO)[0].rstrip()
    new = f"{base}{RUNS_TRAINED_INTRO}{'; '.join(phrases)}."
    rewrite_description(path, text, new)
    return f"{key}: {'; '.join(phrases)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("keys", nargs="*", help=f"comparisons (default: {', '.join(COMPARISON_WEIGHTS)})")
    parser.add_argument("--steps", type=int, default=2000, help="training steps per run (default 2000)")
    parser.add_argument("--check", action="store_true", help="print stated and measured scores, rewrite nothing")
    args = parser.parse_args(argv)
    threads.configure(interactive=True)  # one training thread: the figures do not depend on the core count
    paths = comparison_paths()
    for key in args.keys or COMPARISON_WEIGHTS:
        path = paths[key]
        if args.check:
            comparison = load_comparison(path)
            stated = {m["run"]: m[0] for m in RUN_TRAINED.finditer(comparison.description)}
            for run in plan_runs(comparison.runs):
                print(f"{key}/{run.name}: stated {stated.get(run.name, 'nothing')}; measured "
                      f"{_phrase(run, run_weights_path(path, run.name))}")
        else:
            print(regenerate(key, path, args.steps), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
