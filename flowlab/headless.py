"""Training without a window: ``flowlab train`` and scripts. Writes metrics.csv, the weights and PNG plots."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import torch

from flowlab.atomic import atomic_write
from flowlab.errors import FlowlabError
from flowlab.presets import Preset
from flowlab.training import pngs
from flowlab.training.checkpoints import save_checkpoint
from flowlab.training.messages import Event, Failure, Finished, Play, Progress, Ready, Stop
from flowlab.training.session import Session, SessionSpec
from flowlab.training.settings import TrainSettings
from flowlab.training.trainer import Trainer
from flowlab.training.views import density_grid

if TYPE_CHECKING:
    from flowlab.training.distributed import Replicas


@dataclass(frozen=True)
class RunSummary:
    steps: int
    final: dict[str, float]
    best_step: int | None
    best: dict[str, float]  # the scores recorded when the kept (early-stopping) weights were evaluated
    diverged: str | None
    seconds: float
    out_dir: Path
    measured: Mapping[str, Any] = field(default_factory=dict)  # what ``measure`` returned (empty without one)
    # why training stopped early: "diverged" (decided by every process together), "step" (this process's own
    # failure; across processes nothing is written then), or None
    stop_kind: str | None = None


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


class _Status:
    """The progress line's text, from the session's Progress events (the latest value of each score)."""

    LABELS = (("train_nll", "train"), ("train_loss", "loss"), ("train_fm", "flow matching"),
              ("valid_bpd", "valid bits/dim"), ("test_nll", "test"), ("test_bpd", "bits/dim"), ("kl_gap", "gap"))

    def __init__(self) -> None:
        self.latest: dict[str, float] = {}

    def update(self, p: Progress) -> str:
        if p.restarted:
            self.latest.clear()
        for key, _ in self.LABELS:
            values = [v for v in p.rows.get(key, []) if not math.isnan(v)]
            if values:
                self.latest[key] = values[-1]
        parts = [f"{p.steps_per_s:.0f} steps/s" + (" (compiled)" if p.compile_state == "compiled" else "")] \
            if p.steps_per_s else []
        parts += [f"{label} {self.latest[key]:.3f}" for key, label in self.LABELS if key in self.latest]
        return ", ".join(parts)


def train_preset(preset: Preset, steps: int, out_dir: str | Path, device: str | None = None,
                 seed: int | None = None, progress: Callable[[int, str], None] | None = None,
                 measure: Callable[[Trainer], Mapping[str, Any]] | None = None,
                 replicas: Replicas | None = None) -> RunSummary:
    """Train ``preset`` for ``steps`` steps and write the results into ``out_dir``: the same
    :class:`~flowlab.training.session.Session` the window runs, here on the calling thread, without views.
    ``measure`` is called with the trainer once the results are written, before the model is freed; what it
    returns is :attr:`RunSummary.measured` (``flowlab compare`` takes its figures there).
    ``replicas``: train together with the other processes torchrun started (``flowlab.training.distributed``):
    every process evaluates its share, rank 0 alone writes the files, and the compiled step is off."""
    out = Path(out_dir)
    writes = replicas is None or replicas.launch.main
    if writes:
        out.mkdir(parents=True, exist_ok=True)
    changes = {k: v for k, v in (("device", device), ("seed", seed)) if v is not None}
    if replicas is not None:
        changes["compile"] = False
    settings: TrainSettings = preset.training.updated(**changes) if changes else preset.training
    status = _Status()
    failures: list[Failure] = []
    finished: list[Finished] = []
    errors: list[BaseException] = []

    def finish(trainer: Trainer) -> dict[str, Any]:
        if replicas is not None and any(f.kind == "step" for f in failures):
            return {}  # a process failed on its own: a final evaluation together would wait for it for ever
        try:
            results = _write_results(trainer, out, write=writes)
            if measure is not None:
                results["measured"] = dict(measure(trainer))
            return results
        except BaseException as e:  # re-raised on this side once the model is freed (e.g. a full disk)
            errors.append(e)
            return {}

    def on_event(event: Event) -> None:
        if isinstance(event, Progress) and progress is not None:
            progress(event.step, status.update(event))
        elif isinstance(event, Failure):
            failures.append(event)
            if event.kind in ("diverged", "step"):  # headless, nobody can resume it: end the run
                session.send(Stop())
        elif isinstance(event, Finished):
            finished.append(event)

    spec = SessionSpec(preset.layers, preset.target, settings, base=preset.base, snapshots=False, max_steps=steps,
                       finish=finish, replicas=replicas)
    session = Session(spec, on_event)
    start = time.perf_counter()
    session.send(Play())
    session.run()
    if errors:
        raise errors[0]
    build = next((f for f in failures if f.kind == "build"), None)
    if build is not None:
        raise FlowlabError(build.message)
    summary = finished[-1].summary
    stop = next((f for f in failures if f.kind in ("diverged", "step")), None)
    return RunSummary(finished[-1].step, summary.get("final", {}), summary.get("best_step"), summary.get("best", {}),
                      stop.message if stop else None, time.perf_counter() - start, out, summary.get("measured", {}),
                      stop.kind if stop else None)


def score_weights(preset: Preset, weights: Path) -> tuple[int, dict[str, float]]:
    """The step ``weights`` were saved at and the held-out scores they reach on the preset's own test data (what a
    preset that opens trained states). A file that cannot be loaded is a FlowlabError."""
    errors: list[str] = []
    finished: list[Finished] = []

    def on_event(event: Event) -> None:
        if isinstance(event, Ready):
            session.send(Stop())
        elif isinstance(event, Failure) and event.kind in ("build", "load"):
            errors.append(event.message)
        elif isinstance(event, Finished):
            finished.append(event)

    spec = SessionSpec(preset.layers, preset.target, preset.training, base=preset.base, snapshots=False,
                       weights=weights, finish=lambda trainer: {"step": trainer.step, **trainer.evaluate()})
    session = Session(spec, on_event)
    session.run()
    if errors:
        raise FlowlabError(errors[0])
    summary = dict(finished[-1].summary)
    return int(summary.pop("step")), summary


def _write_results(trainer: Trainer, out: Path, write: bool = True) -> dict[str, Any]:
    """On the session's thread, before the model is freed: a final evaluation, metrics.csv, checkpoint.pt,
    best_weights.pt (early stopping) and the pictures; returns the figures the summary reports. Without
    ``write``, only the evaluation (a process beside rank 0 scores its share of it)."""
    if trainer.step % trainer.settings.eval_every != 0 or trainer.step == 0:
        trainer.metrics.append(step=trainer.step, **trainer.evaluate())
    final = {k: trainer.metrics.last(k) for k in trainer.metrics.columns if k != "step"}
    final = {k: v for k, v in final.items() if not math.isnan(v)}
    if not write:
        return {"final": final, "best_step": trainer.best[1] if trainer.best else None, "best": {}}
    trainer.metrics.write_csv(out / "metrics.csv")
    save_checkpoint(trainer, out / "checkpoint.pt")
    best_step, best = None, {}
    if trainer.best is not None:
        best_weights = trainer.best[2]
        atomic_write(out / "best_weights.pt", lambda f: torch.save(best_weights, f))
        best_step = trainer.best[1]
        best = trainer.metrics.at(best_step)
    _write_pictures(trainer, out)
    return {"final": final, "best_step": best_step, "best": best}


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
