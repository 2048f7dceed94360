"""Image flows on 8×8 digits: quality after a fixed budget, training speed, and the time to draw a sample grid.

    python bench/bench_images.py [--steps 3000] [--threads 2] [--device cpu|cuda] [--presets 10 11]

For each built-in digits preset (RealNVP, Glow) it trains ``--steps`` steps with the preset's own settings and
prints the test bits/dim of the weights early stopping keeps (chosen on the validation split), as a ratio
against the baseline measured in the same run: an independent per-pixel model (a smoothed histogram of the 17
grey levels of each pixel, fitted on the same training images). It also prints training images per second and
the time to draw a 64-image sample grid. Compare ratios, not absolute times, across machines.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np
import torch

from flowlab.presets.builtin import load_builtin
from flowlab.training.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]
PRESETS = {"10": "realnvp_digits", "11": "glow_digits"}  # built-in presets by name


def per_pixel_bpd(train: np.ndarray, test: np.ndarray, levels: int) -> float:
    """Test bits/dim of independent per-pixel histograms (add-one smoothing): the baseline every image flow
    must beat. A discrete model's bits/dim equals that of its uniformly dequantised continuous version."""
    train = train.reshape(len(train), -1).astype(int)
    test = test.reshape(len(test), -1).astype(int)
    counts = np.ones((train.shape[1], levels))
    for j in range(train.shape[1]):
        counts[j] += np.bincount(train[:, j], minlength=levels)
    probs = counts / counts.sum(1, keepdims=True)
    logp = np.log2(probs[np.arange(test.shape[1])[None, :], test])
    return float(-logp.mean())


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--presets", nargs="+", default=sorted(PRESETS), choices=sorted(PRESETS))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, device {args.device}, {args.steps} steps")

    baseline = None
    for key in args.presets:
        preset = load_builtin(PRESETS[key])
        trainer = Trainer(preset.layers, preset.build_target(), preset.training.updated(device=args.device),
                          base=preset.base)
        if baseline is None:
            levels = trainer.target.levels
            test_levels = np.floor(trainer.test_data.cpu().numpy() * levels)  # held-out data is dequantised
            baseline = per_pixel_bpd(trainer.train_data.cpu().numpy(), test_levels, levels)
            print(f"baseline: independent per-pixel model, test {baseline:.3f} bits/dim")
        n_params = sum(p.numel() for p in trainer.flow.parameters())
        device = trainer.device
        start = time.perf_counter()
        while trainer.step < args.steps:
            trainer.train_step()
        sync(device)
        seconds = time.perf_counter() - start
        images_per_s = args.steps * preset.training.batch_size / seconds
        best_step = trainer.restore_best()
        scores = trainer.evaluate()
        trainer.flow.eval()
        grid_ms = []
        with torch.no_grad():
            for i in range(12):
                sync(device)
                t0 = time.perf_counter()
                trainer.flow.sample(64, temperature=0.8).clamp(0, 1).cpu()
                sync(device)
                if i >= 2:  # warm-up
                    grid_ms.append(1000 * (time.perf_counter() - t0))
        bpd = scores["test_bpd"]
        print(f"{preset.name} ({n_params / 1000:.0f}k parameters): test {bpd:.3f} bits/dim at step {best_step} "
              f"(valid {scores.get('valid_bpd', math.nan):.3f}) = {bpd / baseline:.3f}× the per-pixel baseline; "
              f"{images_per_s:.0f} training images/s ({seconds:.0f} s); 64-image grid "
              f"{statistics.median(grid_ms):.1f} ms (median, {min(grid_ms):.1f}–{max(grid_ms):.1f})")


if __name__ == "__main__":
    main()
