"""``flowlab inspect``: one point followed through a preset's flow, printed for a person or as JSON for a script.

The model is trained by the same :class:`~flowlab.training.session.Session` as everywhere else (``steps`` of
it, 0 by default), starting from the weights saved beside the preset when there are some.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from flowlab.errors import FlowlabError
from flowlab.presets import Preset
from flowlab.targets import build_target
from flowlab.training.messages import Event, Failure, Progress, Ready, Step, Stop
from flowlab.training.probe import MAX_PROBE_DIM, ProbeError, ProbeResult, probe
from flowlab.training.session import Session, SessionSpec
from flowlab.training.trainer import Trainer


def parse_point(text: str) -> list[float]:
    """``"0.5,-1"`` → [0.5, -1.0]; one line of reason when it is not a list of finite numbers."""
    try:
        values = [float(v) for v in text.replace(" ", "").split(",") if v != ""]
    except ValueError:
        raise FlowlabError(f"--at wants numbers separated by commas (e.g. --at 0.5,-1), not '{text}'") from None
    if not values:
        raise FlowlabError("--at wants numbers separated by commas (e.g. --at 0.5,-1)")
    if not all(math.isfinite(v) for v in values):
        raise FlowlabError(f"--at wants finite numbers, not '{text}'")
    return values


def _check_shape(preset: Preset, point: Sequence[float]) -> None:
    """Refuse before training: image data, or a point of the wrong dimension."""
    shape = tuple(build_target(preset.target).shape)
    if len(shape) != 1:
        raise FlowlabError(f"inspect follows one point of vector data; '{preset.name}' is about images "
                           f"of shape {shape}")
    if shape[0] > MAX_PROBE_DIM:
        raise FlowlabError(f"inspect follows points of at most {MAX_PROBE_DIM} dimensions; this data has {shape[0]}")
    if len(point) != shape[0]:
        raise FlowlabError(f"the point has {len(point)} coordinate(s); '{preset.name}' has {shape[0]}-D data")


def inspect_preset(preset: Preset, point: Sequence[float], inverse: bool = False, steps: int = 0,
                   weights: Path | None = None) -> tuple[ProbeResult, int]:
    """Train ``steps`` steps (from ``weights`` when given and present), then follow ``point``: the result and the
    step the model was at. Raises :class:`FlowlabError` with one line of reason."""
    if steps < 0:
        raise FlowlabError("--steps must be 0 or more")
    _check_shape(preset, point)
    results: list[ProbeResult] = []
    errors: list[str] = []
    at_step = [0]
    until = [0]  # the step to stop at, once the session says where it starts

    def finish(trainer: Trainer) -> dict[str, Any]:
        trainer.flow.eval()
        at_step[0] = trainer.step
        try:
            results.append(probe(trainer.flow, point, inverse))
        except ProbeError as e:
            errors.append(str(e))
        return {}

    def on_event(event: Event) -> None:
        if isinstance(event, Ready):
            until[0] = event.step + steps
            session.send(Step(steps) if steps else Stop())
        elif isinstance(event, Progress) and event.step >= until[0] and not event.running:
            session.send(Stop())
        elif isinstance(event, Failure) and event.kind in ("build", "load", "diverged", "step"):
            errors.append(event.message)
            session.send(Stop())

    spec = SessionSpec(preset.layers, preset.target, preset.training, base=preset.base, snapshots=False,
                       weights=weights, finish=finish)
    session = Session(spec, on_event)
    session.run()
    if errors:
        raise FlowlabError(errors[0].splitlines()[0])
    return results[0], at_step[0]


def _fmt(v: np.ndarray) -> str:
    return "(" + ", ".join(f"{x: .4f}" for x in v) + ")"


def as_text(name: str, result: ProbeResult, step: int | None = None) -> str:
    """A table a person reads: each layer's kind, the point after it, log|det J| and J, then how log p adds up."""
    way = "latent → data, from z" if result.inverse else "data → latent, from x"
    at_step = "" if step is None else f", step {step}"
    lines = [f"{name}{at_step}: {way} = {_fmt(np.asarray(result.start))}"]
    width = max([len(s.kind) for s in result.steps] + [5])
    lines.append(f"  #  {'layer':<{width}}  {'point after it':<24} {'log|det J|':>11}  Jacobian ∂out/∂in")
    for s in result.steps:
        rows = [_fmt(r) for r in s.jacobian]
        lines.append(f"{s.position + 1:>3}  {s.kind:<{width}}  {_fmt(s.after):<24} {s.log_det:>11.4f}  {rows[0]}")
        lines += [f"{'':>{3 + 2 + width + 2 + 24 + 1 + 11 + 2}}{r}" for r in rows[1:]]
    total = result.log_det_sum
    if result.inverse:
        lines.append(f"x = {_fmt(result.x)}: log p(x) = log p_Z(z) − Σ log|det J| = "
                     f"{result.base_log_prob:.4f} − ({total:.4f}) = {result.log_prob:.4f}")
    else:
        lines.append(f"z = {_fmt(result.z)}: log p(x) = log p_Z(z) + Σ log|det J| = "
                     f"{result.base_log_prob:.4f} + ({total:.4f}) = {result.log_prob:.4f}")
    return "\n".join(lines)


def as_json(result: ProbeResult, step: int) -> str:
    """``{"x", "z", "direction", "step", "layers": [{"position", "kind", "output", "log_det", "jacobian"}],
    "base_log_prob", "log_prob"}`` (the layers in the order visited)."""
    return json.dumps({
        "x": result.x.tolist(), "z": result.z.tolist(),
        "direction": "latent_to_data" if result.inverse else "data_to_latent", "step": step,
        "layers": [{"position": s.position, "kind": s.kind, "output": s.after.tolist(), "log_det": s.log_det,
                    "jacobian": s.jacobian.tolist()} for s in result.steps],
        "base_log_prob": result.base_log_prob, "log_prob": result.log_prob,
    })
