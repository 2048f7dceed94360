"""``flowlab compare``: several presets' stacks trained on the first preset's target with the same seed, one run
after another, each through ``flowlab train``'s own session (:func:`flowlab.headless.train_preset`); then one
table (``summary.csv``) and one picture (``comparison.png``: the curves overlaid, a thumbnail per run). No Qt.

What the runs share: the first preset's target, its data and evaluation settings (:data:`SHARED_SETTINGS`: the
same data, split and evaluation points for every run; evaluations at least every steps/20, so that each curve has
20 points) and the seed (``--seed`` or the first's). What each keeps: its own optimiser recipe (learning rate,
batch size, schedule…), which belongs to its stack. The CPU is not shared at all: runs train one after another,
each with the same thread policy (every core to the one run, as ``flowlab train``), so each steps/s is its own.
"""

from __future__ import annotations

import csv
import math
import os
import re
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from flowlab.atomic import atomic_open
from flowlab.errors import FlowlabError
from flowlab.flows import build_flow, validate_stack
from flowlab.headless import train_preset
from flowlab.presets import Preset
from flowlab.targets import Target, build_target
from flowlab.training import threads
from flowlab.training.objectives import plan
from flowlab.training.pngs import colorize
from flowlab.training.tiling import tile
from flowlab.training.timing import time_directions
from flowlab.training.trainer import Trainer
from flowlab.training.views import density_grid

# Training settings every run takes from the first preset: the data (seed, sizes, split), where and how it is
# evaluated, and the objective. Everything else is the run's own recipe.
SHARED_SETTINGS = ("seed", "device", "n_train", "n_test", "valid_fraction", "eval_every", "objective")
MAX_RUNS = 8
MIN_POINTS = 20  # evaluations per curve at least: the first's eval_every, or steps / 20 where that is smaller
TIMING_REPEATS = 5  # the time to score / sample a batch is the median of this many, after one warm-up
THUMB = 180
COLOURS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127))
# What the curves show, by the first metric the runs record: (column, label, floor's label).
MEASURES = (("test_bpd", "test bits/dim", None), ("test_nll", "test NLL (nats)", "entropy of the target"),
            ("neg_elbo", "−ELBO (nats)", "−log Z"))
CSV_COLUMNS = ("name", "preset", "parameters", "steps", "train_s", "steps_per_s", "measure", "best", "best_step",
               "final", "floor", "gap", "score_ms", "sample_ms", "timing_batch", "threads", "diverged")


@dataclass(frozen=True)
class Run:
    """One run to train: its name (unique, a folder name), the title of the preset it came from, and that preset
    with the first preset's target and shared settings."""

    name: str
    title: str
    preset: Preset


@dataclass(frozen=True)
class RunResult:
    """One run's figures (see :data:`CSV_COLUMNS`), its curve and its thumbnail (RGB, THUMB × THUMB)."""

    name: str
    title: str
    parameters: int
    steps: int
    train_s: float
    measure: str
    curve_steps: np.ndarray
    curve: np.ndarray
    floor: float | None
    score_s: float
    sample_s: float
    timing_batch: int
    threads: int
    thumbnail: np.ndarray
    diverged: str | None = None

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.train_s if self.train_s > 0 else math.nan

    @property
    def best(self) -> float:
        return float(np.min(self.curve)) if self.curve.size else math.nan

    @property
    def best_step(self) -> int | None:
        return int(self.curve_steps[int(np.argmin(self.curve))]) if self.curve.size else None

    @property
    def final(self) -> float:
        return float(self.curve[-1]) if self.curve.size else math.nan

    @property
    def gap(self) -> float | None:
        return None if self.floor is None else self.best - self.floor

    def row(self) -> dict[str, Any]:
        def num(v: float | None, digits: int = 6) -> str:
            return "" if v is None or not math.isfinite(v) else f"{v:.{digits}g}"

        return {"name": self.name, "preset": self.title, "parameters": self.parameters, "steps": self.steps,
                "train_s": num(self.train_s, 4), "steps_per_s": num(self.steps_per_s, 4), "measure": self.measure,
                "best": num(self.best), "best_step": "" if self.best_step is None else self.best_step,
                "final": num(self.final), "floor": num(self.floor), "gap": num(self.gap),
                "score_ms": num(self.score_s * 1e3, 4), "sample_ms": num(self.sample_s * 1e3, 4),
                "timing_batch": self.timing_batch, "threads": self.threads, "diverged": self.diverged or ""}


def run_names(keys: Sequence[str]) -> list[str]:
    """Unique folder-safe names: the keys as given, a repeated one numbered (``nice_moons_2``)."""
    names: list[str] = []
    for key in keys:
        base = re.sub(r"[^A-Za-z0-9_.-]+", "_", key).strip("._") or "run"
        name, n = base, 1
        while name in names:
            n += 1
            name = f"{base}_{n}"
        names.append(name)
    return names


def plan_runs(presets: Sequence[tuple[str, Preset]], seed: int | None = None, steps: int | None = None,
              device: str | None = None) -> list[Run]:
    """The runs for ``presets`` (``(key, preset)`` pairs, the first's target for all), checked before anything
    trains: a stack that cannot fit that target raises :class:`FlowlabError` naming the preset and the reason.
    With ``steps``, held-out evaluations come often enough for a curve of :data:`MIN_POINTS` points; ``seed`` and
    ``device`` replace the first preset's for every run."""
    if not presets:
        raise FlowlabError("compare needs at least one preset")
    if len(presets) > MAX_RUNS:
        raise FlowlabError(f"compare takes at most {MAX_RUNS} presets (got {len(presets)})")
    first_key, first = presets[0]
    target = build_target(first.target)
    shared = {k: getattr(first.training, k) for k in SHARED_SETTINGS}
    if seed is not None:
        shared["seed"] = seed
    if device is not None:
        shared["device"] = device
    if steps is not None:  # a curve of MIN_POINTS evaluations at least (they change no training step)
        shared["eval_every"] = max(1, min(shared["eval_every"], steps // MIN_POINTS))
    runs = []
    for name, (key, preset) in zip(run_names([k for k, _ in presets]), presets, strict=True):
        settings = preset.training.updated(**shared)
        why = _cannot_fit(preset, target, settings.objective)
        if why is not None:
            raise FlowlabError(f"{key} cannot train on the target of {first_key} ({target.name}, shape "
                               f"{tuple(target.shape)}): {why}")
        runs.append(Run(name, preset.name, replace(preset, target=dict(first.target), training=settings)))
    return runs


def _cannot_fit(preset: Preset, target: Target, objective: str) -> str | None:
    """Why ``preset``'s stack cannot be trained on ``target`` by ``objective``, or None."""
    problems = validate_stack(preset.layers, tuple(target.shape))
    if problems:
        return str(problems[0])
    try:
        plan(build_flow(preset.layers, tuple(target.shape), base=preset.base), target, objective)
    except FlowlabError as e:
        return str(e)
    return None


def compare(runs: Sequence[Run], steps: int, out_dir: str | Path,
            progress: Callable[[int, Run, int, str], None] | None = None) -> list[RunResult]:
    """Train each run for ``steps`` steps, one after another, into ``out_dir/<name>/`` (``flowlab train``'s
    files), then write ``out_dir/summary.csv`` and ``out_dir/comparison.png``. ``progress(i, run, step, text)``
    follows the runs. Returns the results in the runs' order."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)  # an unwritable folder fails here, before any training
    results: list[RunResult] = []
    for i, run in enumerate(runs):
        report = (lambda step, text, i=i, run=run: progress(i, run, step, text)) if progress else None
        summary = train_preset(run.preset, steps, out / run.name, progress=report, measure=_measure)
        m = summary.measured
        results.append(RunResult(
            run.name, run.title, m["parameters"], summary.steps, m["train_s"], m["measure"], m["curve_steps"],
            m["curve"], m["floor"], m["score_s"], m["sample_s"], m["timing_batch"], m["threads"], m["thumbnail"],
            summary.diverged))
    write_summary(results, out / "summary.csv")
    comparison_png(results, out / "comparison.png", title=f"{runs[0].preset.build_target().name}, "
                   f"{steps} steps, seed {runs[0].preset.training.seed}", note=cpu_note(results))
    return results


def cpu_note(results: Sequence[RunResult]) -> str:
    """How the CPU was shared, in one line."""
    each = "/".join(map(str, sorted({r.threads for r in results})))
    return (f"CPU: the runs trained one after another, never two at once, each with {each} torch thread(s) on "
            f"{os.cpu_count()} cores: each steps/s is the run's own")


# -- measured on the session's thread, before the model is freed -----------------------------------------------
def measure_column(columns: Mapping[str, Sequence[float]]) -> str:
    """The metric the comparison shows: the first of :data:`MEASURES` the record holds a finite value of."""
    for name, _, _ in MEASURES:
        values = [-v for v in columns.get("elbo", [])] if name == "neg_elbo" else columns.get(name, [])
        if any(math.isfinite(v) for v in values):
            return name
    return "test_nll"


def _measure(trainer: Trainer) -> dict[str, Any]:
    cols = trainer.metrics.columns
    name = measure_column(cols)
    values = np.array([-v for v in cols["elbo"]] if name == "neg_elbo" else cols[name], dtype=float)
    steps = np.array(cols["step"], dtype=float)
    ok = np.isfinite(values)
    floor = None
    if name == "test_nll":
        floor = trainer.target_entropy()
    elif name == "neg_elbo" and trainer.energy is not None:
        log_z = trainer.energy.log_normalizer()
        floor = None if log_z is None else -float(log_z)
    score_s, sample_s, batch = _direction_times(trainer)
    policy = threads.current()
    return {"parameters": sum(p.numel() for p in trainer.flow.parameters()),
            "train_s": trainer.metrics.last("time_s"), "measure": name,
            "curve_steps": steps[ok].astype(int), "curve": values[ok], "floor": floor,
            "score_s": score_s, "sample_s": sample_s, "timing_batch": batch,
            "threads": policy.training if policy is not None else torch.get_num_threads(),
            "thumbnail": thumbnail(trainer)}


def _direction_times(trainer: Trainer) -> tuple[float, float, int]:
    """Median seconds to score and to sample one batch with the trained model (after a warm-up)."""
    gen = torch.Generator(device=trainer.device).manual_seed(0)
    time_directions(trainer.flow, trainer.test_data, generator=gen)
    times = [time_directions(trainer.flow, trainer.test_data, generator=gen) for _ in range(TIMING_REPEATS)]
    return (statistics.median(t.score_s for t in times), statistics.median(t.sample_s for t in times),
            times[0].batch)


@torch.no_grad()
def thumbnail(trainer: Trainer, size: int = THUMB) -> np.ndarray:
    """A picture of what the run learned (RGB, ``size`` × ``size``): the density on 2-D data, sample images on
    images, the density curve on 1-D data, else samples' first two coordinates."""
    flow, target = trainer.flow.eval(), trainer.target
    shape = tuple(target.shape)
    gen = torch.Generator(device=trainer.device).manual_seed(0)
    if shape == (2,):
        grid = density_grid(flow, tuple(target.bounds or (-4.0, 4.0, -4.0, 4.0)), 128)
        dens = np.exp(np.nan_to_num(grid.log_density, nan=-np.inf))
        pic = Image.fromarray(colorize(dens, 0.0, float(dens.max()) or 1.0)[::-1])
        return np.asarray(pic.resize((size, size), Image.NEAREST))
    if len(shape) == 3:
        x = flow.sample(16, generator=gen).clamp(0, 1).float().cpu().numpy()
        grey = np.round((1.0 - tile(x, 4)) * 255).astype(np.uint8)  # ink dark on white
        return np.asarray(Image.fromarray(grey).convert("RGB").resize((size, size), Image.NEAREST))
    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)
    if shape == (1,):
        lo, hi = target.bounds if target.bounds else (-4.0, 4.0)
        x = torch.linspace(lo, hi, size, device=trainer.device).unsqueeze(1)
        p = torch.exp(flow.log_prob(x)).float().cpu().numpy()
        p = np.nan_to_num(p) / max(float(np.nanmax(p)), 1e-12)
        draw.line([(i, size - 4 - v * (size - 8)) for i, v in enumerate(p)], fill=COLOURS[0], width=2)
        return np.asarray(img)
    pts = flow.sample(2000, generator=gen).float().cpu().numpy().reshape(2000, -1)[:, :2]
    lo, hi = np.percentile(pts, 1, axis=0), np.percentile(pts, 99, axis=0)
    px = (pts - lo) / np.maximum(hi - lo, 1e-9) * (size - 1)
    for x, y in px:
        draw.point((float(x), float(size - 1 - y)), fill=COLOURS[0])
    return np.asarray(img)


# -- writing -------------------------------------------------------------------------------------------------------
def write_summary(results: Sequence[RunResult], path: Path) -> None:
    """``summary.csv``: one row per run, :data:`CSV_COLUMNS`, written atomically."""
    with atomic_open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        w.writeheader()
        for r in results:
            w.writerow(r.row())


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: one bitmap size
        return ImageFont.load_default()


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten apart) covering [lo, hi], about ``count`` of them."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    fraction = raw / power  # rounded to a nice number (Heckbert's): about ``count`` ticks, fewer or more
    step = power * (1 if fraction < 1.5 else 2 if fraction < 3 else 5 if fraction < 7 else 10)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def y_range(curves: Sequence[Sequence[float]], floor: float | None) -> tuple[float, float]:
    """The curves' range, the first tenth of each curve left out of the top (an untrained model's score would
    squash the rest), the floor included."""
    lows, highs = [], []
    for curve in curves:
        if len(curve):
            lows.append(float(min(curve)))
            highs.append(float(max(curve[len(curve) // 10:])))
    if floor is not None:
        lows.append(floor)
    if not lows:
        return 0.0, 1.0
    lo, hi = min(lows), max(highs or lows)
    pad = 0.05 * (hi - lo) or 0.5
    return lo - pad, hi + pad


def comparison_png(results: Sequence[RunResult], path: Path, title: str = "", note: str = "") -> tuple[int, int]:
    """The comparison picture, written atomically: the runs' curves overlaid (one colour each, the floor once,
    dashed), then a row of thumbnails with each run's name and figures, then ``note``. Returns its size."""
    n = len(results)
    width = max(960, n * (THUMB + 16) + 16)
    plot_h, top, label_h, note_h = 380, 34, 48, 26
    height = top + plot_h + 24 + THUMB + label_h + note_h
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    small, normal = _font(12), _font(15)
    draw.text((16, 8), title, fill="black", font=normal)
    measure = results[0].measure if results else "test_nll"
    label, floor_label = next((lab, fl) for m, lab, fl in MEASURES if m == measure)
    floor = next((r.floor for r in results if r.floor is not None), None)
    # the plot area
    left, right, bottom = 72, width - 20, top + plot_h - 36
    x_max = max((int(r.curve_steps.max()) for r in results if r.curve.size), default=1) or 1
    y_lo, y_hi = y_range([r.curve for r in results], floor)

    def to_px(step: float, value: float) -> tuple[float, float]:
        return (left + step / x_max * (right - left), bottom - (value - y_lo) / (y_hi - y_lo) * (bottom - top))

    for t in nice_ticks(y_lo, y_hi):
        y = to_px(0, t)[1]
        draw.line([(left, y), (right, y)], fill=(232, 232, 232))
        draw.text((left - 6, y), f"{t:g}", fill="black", font=small, anchor="rm")
    for t in nice_ticks(0, x_max):
        x = to_px(t, y_lo)[0]
        draw.line([(x, bottom), (x, bottom + 4)], fill="black")
        draw.text((x, bottom + 6), f"{t:g}", fill="black", font=small, anchor="mt")
    draw.rectangle([left, top, right, bottom], outline="black")
    draw.text(((left + right) / 2, bottom + 22), "step", fill="black", font=small, anchor="mt")
    draw.text((8, top - 2), label, fill="black", font=small)
    # curves drawn on a layer of the plot area alone: a point off the range is clipped, not drawn over the axes
    layer = Image.new("RGBA", (right - left - 1, bottom - top - 1), (0, 0, 0, 0))
    ldraw = ImageDraw.Draw(layer)

    def shifted(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return [(x - left - 1, y - top - 1) for x, y in points]

    if floor is not None and y_lo <= floor <= y_hi:
        y = to_px(0, floor)[1] - top - 1
        for x0 in range(0, layer.width, 12):
            ldraw.line([(x0, y), (min(x0 + 6, layer.width), y)], fill=(90, 90, 90), width=1)
    for i, r in enumerate(results):
        pts = shifted([to_px(s, v) for s, v in zip(r.curve_steps, r.curve, strict=True)])
        if len(pts) > 1:
            ldraw.line(pts, fill=COLOURS[i % len(COLOURS)], width=2, joint="curve")
        elif pts:
            x, y = pts[0]
            ldraw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=COLOURS[i % len(COLOURS)])
    img.paste(layer, (left + 1, top + 1), layer)
    # legend, top right inside the plot
    entries = [(f"{r.name}  best {r.best:.4g}", COLOURS[i % len(COLOURS)]) for i, r in enumerate(results)]
    if floor is not None:
        entries.append((f"{floor_label} {floor:.4g}", (90, 90, 90)))
    lw = max(draw.textlength(t, font=small) for t, _ in entries) + 36
    lx, ly = right - lw - 8, top + 8
    draw.rectangle([lx, ly, right - 8, ly + 18 * len(entries) + 6], fill="white", outline=(200, 200, 200))
    for k, (text, colour) in enumerate(entries):
        y = ly + 12 + 18 * k
        draw.line([(lx + 6, y), (lx + 26, y)], fill=colour, width=2)
        draw.text((lx + 32, y), text, fill="black", font=small, anchor="lm")
    # thumbnails
    y0 = top + plot_h + 24
    for i, r in enumerate(results):
        x0 = 16 + i * (THUMB + 16)
        img.paste(Image.fromarray(r.thumbnail).resize((THUMB, THUMB)), (x0, y0))
        colour = COLOURS[i % len(COLOURS)]
        draw.rectangle([x0 - 2, y0 - 2, x0 + THUMB + 1, y0 + THUMB + 1], outline=colour, width=2)
        draw.text((x0, y0 + THUMB + 6), r.name, fill=colour, font=small)
        gap = "" if r.gap is None else f", gap {r.gap:.3f}"
        draw.text((x0, y0 + THUMB + 22), f"{r.parameters:,} params{gap}", fill="black", font=small)
    draw.text((16, height - note_h + 4), note, fill=(80, 80, 80), font=small)
    with atomic_open(path, "wb") as f:
        img.save(f, format="PNG")
    return img.size
