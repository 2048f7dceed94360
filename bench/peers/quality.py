"""Quality (``--quality``): each row trains ``--steps`` steps on the same data stream (the engine's training split
and its batch indices), then scores the engine's held-out test split: the test NLL in nats against the set's true
entropy H(p) (the floor; the gap is KL(data‖model)). Figures depend on the machine: compare rows of one run.
"""

from __future__ import annotations

import argparse

import torch

from bench.peers.engine import ENGINE, Engine, engine_settings
from bench.peers.loop import Loop
from bench.peers.models import BUILDERS, STACKS, Skip
from flowlab.targets import build_target
from flowlab.training.trainer import Trainer

SETS = ("moons", "checkerboard", "8gaussians", "2spirals")


def quality(args: argparse.Namespace, device: torch.device) -> None:
    print(f"test NLL (nats) after {args.steps} steps, same training stream and test split for every row")
    for model in args.models:
        for set_name in args.sets:
            trainer = Trainer(STACKS[model], build_target({"kind": set_name}), engine_settings(args, False))
            data, test = trainer.train_data, trainer.test_data
            entropy = trainer.target_entropy()
            results: dict[str, float | str] = {}
            for name, build in BUILDERS.items():
                try:
                    torch.manual_seed(0)  # the engine's weights seed (flowlab layers start where the engine does)
                    built = build(model)
                    built.module.to(device)
                except Skip as e:
                    results[name] = f"skipped: {e}"
                    continue
                except Exception as e:
                    results[name] = f"skipped: it failed to build ({type(e).__name__}: {e})"
                    continue
                loop = Loop(built, data, args.batch, seed=1)  # the engine's batch generator: its seed + 1
                for _ in range(args.steps):
                    loop.step()
                results[name] = loop.test_nll(test)
            scores: list[float] = []
            engine = Engine(model, engine_settings(args, True), target=set_name, max_steps=args.steps,
                            finish=lambda tr, scores=scores: scores.append(tr.evaluate()["test_nll"]) or {})
            engine.run_to_end()
            results[ENGINE] = scores[0] if scores else f"failed: {engine.failure}"
            floor = f"H(p) = {entropy:.3f}" if entropy is not None else "H(p) unknown"
            numbers = {n: v for n, v in results.items() if isinstance(v, float)}
            best = min(numbers, key=numbers.get) if numbers else None
            print(f"\n{model} on {set_name} ({floor}):")
            for name, value in results.items():
                if isinstance(value, float):
                    gap = f"  gap {value - entropy:+.3f}" if entropy is not None else ""
                    mark = "  best" if name == best else f"  {value - numbers[best]:+.3f} vs best"
                    print(f"  {name:<22} {value:7.3f}{gap}{mark}")
                else:
                    print(f"  {name:<22} {value}")
