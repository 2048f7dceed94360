"""The `cnf` presets trained by maximum likelihood through the solver and by flow matching, with `flowlab train`.

    python bench/cnf_objectives.py [--steps 1000] [--runs 2] [--threads 2]

For each of the two cnf presets (flow_matching_moons: 8 RK4 steps, batch 512; ot_pairing_moons: 4 RK4 steps,
batch 128, OT pairing) and each objective (``mle``: the exact log-likelihood through RK4, backpropagated through
every solver step; ``flow_matching``: the preset's own), runs ``flowlab train <preset> --steps N`` ``--runs`` times
in a fresh process and prints the medians of

* the test NLL at step N (the exact log-likelihood of the integrated flow, nats),
* steps/s of training (N over the run's training time, from ``metrics.csv``'s ``time_s``: no final scoring),
* evaluations of the velocity network per training step, counted by a hook on its first linear layer during one
  step in this process (a forward-mode evaluation carrying D tangent columns counts as one).

The presets' own learning-rate schedule (cosine over 5000 steps) is kept, so both objectives see the same rates.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch

from flowlab.presets import builtin
from flowlab.targets import build_target
from flowlab.training.settings import TrainSettings
from flowlab.training.trainer import Trainer

PRESETS = ("flow_matching_moons", "ot_pairing_moons")
OBJECTIVES = ("mle", "flow_matching")


def preset_file(name: str, objective: str, folder: Path) -> Path:
    """The built-in preset ``name`` with its objective set to ``objective``, as a file."""
    data = json.loads(builtin.preset_file(name).read_text())
    data["training"]["objective"] = objective
    path = folder / f"{name}_{objective}.json"
    path.write_text(json.dumps(data))
    return path


def one_run(path: Path, steps: int, out: Path, threads: int) -> tuple[float, float]:
    """(test NLL at the last step, training steps/s) of one ``flowlab train`` run."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": os.getcwd()}
    subprocess.run([sys.executable, "-m", "flowlab", "train", str(path), "--steps", str(steps), "--out", str(out),
                    "--quiet"], check=True, env=env, stdout=subprocess.DEVNULL)
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    test = [float(r["test_nll"]) for r in rows if r["test_nll"] and int(r["step"]) == steps]
    seconds = max(float(r["time_s"]) for r in rows if r["time_s"])
    return test[-1], steps / seconds


def evaluations_per_step(path: Path) -> int:
    """Calls of the velocity network's first linear layer during one training step (after a warm-up step)."""
    data = json.loads(path.read_text())
    settings = TrainSettings.from_dict({**data["training"], "n_train": 1024, "n_test": 64, "compile": False,
                                        "eval_every": 10**6})
    trainer = Trainer(data["layers"], build_target(data["target"]), settings)
    trainer.train_step()
    first = next(m for m in trainer.flow.modules() if isinstance(m, torch.nn.Linear))
    calls = [0]
    handle = first.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    trainer.train_step()
    handle.remove()
    return calls[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print(f"{'preset':<20} {'objective':<14} {'test NLL':>9} {'steps/s':>8} {'evals/step':>10}   (medians of "
          f"{args.runs} runs of {args.steps} steps; os.cpu_count() = {os.cpu_count()})", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in PRESETS:
            for objective in OBJECTIVES:
                path = preset_file(name, objective, folder)
                results = [one_run(path, args.steps, folder / f"{name}_{objective}_{i}", args.threads)
                           for i in range(args.runs)]
                nll = statistics.median(r[0] for r in results)
                rate = statistics.median(r[1] for r in results)
                spread = ", ".join(f"{r[0]:.3f}/{r[1]:.1f}" for r in results)
                print(f"{name:<20} {objective:<14} {nll:9.3f} {rate:8.1f} {evaluations_per_step(path):10d}   "
                      f"runs: {spread}", flush=True)


if __name__ == "__main__":
    main()
