"""Training without a window: ``flowlab train`` and scripts. Writes metrics.csv, the weights and PNG plots."""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TextIO

import torch

from flowlab.presets import Preset
from flowlab.training import pngs
from flowlab.training.settings import TrainSettings
from flowlab.training.trainer import Diverged, Trainer
from flowlab.training.views import density_grid


@dataclass(frozen=True)
class RunSummary:
    steps: int
    final: dict[str, float]
    best_step: int | None
    best: dict[str, float]  # the scores recorded when the kept (early-stopping) weights were evaluated
    diverged: str | None
    seconds: float
    out_dir: Path


class ProgressBar:
    """A one-line text progress bar on a stream (redrawn at most 10 times a second)."""

    def __init__(self, total: int, stream: TextIO = sys.stderr, width: int = 30) -> None:
        self.total, self.stream, self.width = total, stream, width
        self._last = 0.0

    def update(self, step: int, text: str, force: bool = False) -> None:
        self._latest = (step, text)
        now = time.perf_counter()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        done = int(self.width * step / max(self.total, 1))
        self.stream.write(f"\r[{'#' * done}{'.' * (self.width - done)}] {step}/{self.total} {text}   ")
        self.stream.flush()

    def close(self) -> None:
        latest = getattr(self, "_latest", None)
        if latest is not None:
            self.update(*latest, force=True)  # the final state, whatever the throttle skipped
        self.stream.write("\n")
        self.stream.flush()


def _status(trainer: Trainer) -> str:
    m = trainer.metrics
    parts = [f"{trainer.steps_per_s:.0f} steps/s"] if trainer.steps_per_s else []
    for key, label in (("train_nll", "train"), ("train_loss", "loss"), ("valid_bpd", "valid bits/dim"),
                       ("test_nll", "test"), ("test_bpd", "bits/dim"), ("kl_gap", "gap")):
        v = m.last(key) if len(m) else math.nan
        if not math.isnan(v):
            parts.append(f"{label} {v:.3f}")
    return ", ".join(parts)


def train_preset(preset: Preset, steps: int, out_dir: str | Path, device: str | None = None,
                 seed: int | None = None, progress: Callable[[int, str], None] | None = None) -> RunSummary:
    """Train ``preset`` for ``steps`` steps and write the results into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    changes = {k: v for k, v in (("device", device), ("seed", seed)) if v is not None}
    settings: TrainSettings = preset.training.updated(**changes) if changes else preset.training
    target = preset.build_target()
    trainer = Trainer(preset.layers, target, settings, base=preset.base)
    start = time.perf_counter()
    diverged = None
    try:
        while trainer.step < steps:
            trainer.train_step()
            if progress:
                progress(trainer.step, _status(trainer))
    except Diverged as e:
        diverged = str(e)
    if trainer.step % settings.eval_every != 0 or trainer.step == 0:
        final_eval = trainer.evaluate()
        trainer.metrics.append(step=trainer.step, **final_eval)
    final = {k: trainer.metrics.last(k) for k in trainer.metrics.columns if k != "step"}
    final = {k: v for k, v in final.items() if not math.isnan(v)}
    trainer.metrics.write_csv(out / "metrics.csv")
    torch.save(trainer.checkpoint(), out / "checkpoint.pt")
    best_step, best = None, {}
    if trainer.best is not None:
        torch.save(trainer.best[2], out / "best_weights.pt")
        best_step = trainer.best[1]
        best = trainer.metrics.at(best_step)
    _write_pictures(trainer, out)
    return RunSummary(trainer.step, final, best_step, best, diverged, time.perf_counter() - start, out)


@torch.no_grad()
def _write_pictures(trainer: Trainer, out: Path) -> None:
    flow, target = trainer.flow.eval(), trainer.target
    gen = torch.Generator(device=trainer.device).manual_seed(0)
    if len(target.shape) == 3:
        x = flow.sample(64, generator=gen).clamp(0, 1).cpu().numpy()
        pngs.image_grid_png(x, out / "samples.png")
        return
    samples = flow.sample(5000, generator=gen).float().cpu().numpy()
    if target.shape == (2,):
        bounds = tuple(target.bounds or (-4.0, 4.0, -4.0, 4.0))
        grid = density_grid(flow, bounds, 256)
        pngs.density_png(grid.log_density, out / "density.png")
        ref = trainer.test_data[:5000].float().cpu().numpy() if trainer.test_data is not None else None
        pngs.samples_png(samples, bounds, out / "samples.png", reference=ref)
