"""Regenerate the weights some lecture presets open with, and the phrase that states what they reach.

    python scripts/lecture_weights.py [KEY ...] [--check]

Each preset in ``LECTURE_WEIGHTS`` (or each KEY) is trained with ``flowlab train`` for the step count its
description states (one seed, one thread: the same weights again on the same PyTorch), its checkpoint is written
beside the preset as ``NN_key.weights.pt`` without the optimiser's moments (two thirds of the file; training on
from it starts them afresh), and the description's "Opens trained: N steps, test NLL X nats" phrase is rewritten
from the held-out score the written file reaches (``flowlab.headless.score_weights``). ``--check`` rewrites
nothing: it prints each file's stated and measured score.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

from flowlab.atomic import atomic_write
from flowlab.headless import score_weights, train_preset
from flowlab.presets import load_preset
from flowlab.presets.builtin import TIMING, TRAINED, builtin_paths, trained_phrase
from flowlab.training import threads
from flowlab.training.checkpoints import weights_path_for

# The lecture demos that train longest live: they open trained (Reset weights trains them from scratch).
LECTURE_WEIGHTS = ("realnvp_moons", "realnvp_checkerboard", "spline_checkerboard", "realnvp_digits", "glow_digits")


def _scored(path: Path, weights: Path) -> tuple[int, float, bool]:
    step, scores = score_weights(load_preset(path), weights)
    bits = "test_bpd" in scores
    return step, scores["test_bpd" if bits else "test_nll"], bits


def rewrite_description(path: Path, old: str, new: str) -> None:
    """Replace a preset file's description ``old`` by ``new`` in place, the rest of the file as it was written."""
    raw = path.read_text(encoding="utf-8")
    written = json.dumps(old, ensure_ascii=False)
    if written not in raw:
        raise SystemExit(f"{path}: cannot find its description as written (rewrite it with ensure_ascii=False)")
    path.write_text(raw.replace(written, json.dumps(new, ensure_ascii=False), 1), encoding="utf-8")


def regenerate(key: str, path: Path) -> str:
    preset = load_preset(path)
    timing = TIMING.search(preset.description)
    if timing is None:
        raise SystemExit(f"{key}: its description states no step count ('N steps in about …')")
    steps = int(timing["steps"])
    with tempfile.TemporaryDirectory() as tmp:
        train_preset(preset, steps, Path(tmp), device="cpu")
        state = torch.load(Path(tmp) / "checkpoint.pt", weights_only=True)
    state["optimizer"] = None
    weights = weights_path_for(path)
    atomic_write(weights, lambda f: torch.save(state, f))
    step, score, bits = _scored(path, weights)
    phrase = trained_phrase(step, score, bits)
    text = preset.description
    new = (TRAINED.sub(phrase, text) if TRAINED.search(text)
           else f"{text.rstrip()} {phrase} (Reset weights trains it from scratch).")
    rewrite_description(path, text, new)
    return f"{key}: {phrase}; {weights.stat().st_size / 1e6:.2f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("keys", nargs="*", help=f"presets (default: {', '.join(LECTURE_WEIGHTS)})")
    parser.add_argument("--check", action="store_true", help="print stated and measured scores, rewrite nothing")
    args = parser.parse_args(argv)
    threads.configure(interactive=True)  # one training thread: the figures do not depend on the core count
    paths = builtin_paths()
    for key in args.keys or LECTURE_WEIGHTS:
        path = paths[key]
        if args.check:
            stated = TRAINED.search(load_preset(path).description)
            step, score, bits = _scored(path, weights_path_for(path))
            print(f"{key}: stated {stated[0] if stated else 'nothing'}; measured {trained_phrase(step, score, bits)}")
        else:
            print(regenerate(key, path), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
