"""Comparison presets: a list of stacks over one target, for ``flowlab compare``. Data only, never code.

A comparison file is JSON with ``schema_version``, ``name``, ``description`` and ``compare``: a list of 1–8
runs, each either ``{"preset": "nice_moons"}`` (a built-in preset's name, or a preset file relative to the
comparison's folder; ``"name"`` may relabel it) or a stack written out ``{"name", "layers", "base"?,
"training"?}``. ``target`` (optional) is the target every run fits, by default the first run's; ``training``
(optional) changes settings of every run (the data settings then come from the first run, as for any comparison).
The built-in comparisons are package data in ``flowlab/presets/comparisons/`` (``NN_key.json``) and refer to the
lecture presets, so each stack is written once.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from flowlab.atomic import atomic_open
from flowlab.errors import FlowlabError
from flowlab.presets.builtin import TRAINED
from flowlab.presets.preset import (
    SCHEMA_VERSION,
    Preset,
    PresetError,
    _LayerModel,
    _TargetModel,
    _where,
    load_preset,
    portable_paths,
    preset_from_dict,
    read_document,
)

# A comparison that ships its runs' weights says what each reaches: "NAME — Opens trained: N steps, test NLL X nats".
RUN_TRAINED = re.compile(r"(?P<run>[A-Za-z0-9_.-]+) — " + TRAINED.pattern)
RUNS_TRAINED_INTRO = " Each run opens trained (Reset all trains them from scratch, side by side): "
COMPARISONS_DIR = Path(str(resources.files("flowlab.presets") / "comparisons"))
MAX_RUNS = 8


class _RunModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    preset: str | None = None
    name: str | None = None
    layers: list[_LayerModel] | None = None
    base: str = "standard"
    training: dict[str, Any] = {}

    @model_validator(mode="after")
    def _one_source(self) -> _RunModel:
        if (self.preset is None) == (self.layers is None):
            raise ValueError("give either 'preset' (a preset's name or file) or 'layers' (a stack)")
        if self.layers is not None and not self.name:
            raise ValueError("a stack written out needs a 'name'")
        return self


class _ComparisonModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schema_version: int
    name: str
    description: str = ""
    target: _TargetModel | None = None
    training: dict[str, Any] = {}
    compare: list[_RunModel] = Field(min_length=1, max_length=MAX_RUNS)


@dataclass(frozen=True)
class Comparison:
    """A comparison preset: its name, description and runs (``(name, preset)`` pairs, the first's target for
    all: what :func:`flowlab.comparison.plan_runs` takes)."""

    name: str
    description: str
    runs: list[tuple[str, Preset]]


def is_comparison(doc: Any) -> bool:
    """Whether a parsed preset file is a comparison (it lists runs under ``compare``)."""
    return isinstance(doc, dict) and "compare" in doc


def comparison_from_dict(doc: Any, source: str, folder: Path | None = None) -> Comparison:
    """Validate a parsed comparison; :class:`PresetError` names the field (or the run's preset) at fault."""
    from flowlab.presets.builtin import builtin_paths

    version = doc.get("schema_version") if isinstance(doc, dict) else None
    if isinstance(version, int) and version > SCHEMA_VERSION:
        raise PresetError(f"{source}: written by a newer flowlab (schema {version}); update flowlab to open it")
    try:
        model = _ComparisonModel.model_validate(doc)
    except ValidationError as e:
        first = e.errors()[0]
        raise PresetError(f"{source}: field '{_where(first['loc'])}': {first['msg']}") from None
    target = model.target.model_dump() if model.target is not None else None
    runs: list[tuple[str, Preset]] = []
    for i, run in enumerate(model.compare):
        where = f"{source}: compare[{i}]"
        if run.preset is not None:
            path = builtin_paths().get(run.preset) or (folder / run.preset if folder else Path(run.preset))
            try:
                preset = load_preset(path)
            except PresetError as e:
                raise PresetError(f"{where}: {e}") from None
            key = run.name or (run.preset if run.preset in builtin_paths() else Path(run.preset).stem)
        else:
            fits = target if target is not None else (runs[0][1].target if runs else None)
            if fits is None:
                raise PresetError(f"{where}: a stack written out first needs the comparison's 'target'")
            doc_run = {"schema_version": SCHEMA_VERSION, "name": run.name, "base": run.base,
                       "layers": [layer.model_dump() for layer in run.layers or []], "target": fits,
                       "training": run.training}
            preset = preset_from_dict(doc_run, where, folder)
            key = run.name or f"run{i + 1}"
        if target is not None:
            preset = replace(preset, target=dict(target))
        if model.training:
            try:
                preset = replace(preset, training=preset.training.updated(**model.training))
            except FlowlabError as e:
                raise PresetError(f"{source}: field 'training': {e}") from None
        runs.append((key, preset))
    return Comparison(model.name, model.description, runs)


def comparison_paths() -> dict[str, Path]:
    """The built-in comparisons by key (files ``NN_key.json``, in order)."""
    if not COMPARISONS_DIR.is_dir():
        return {}
    return {re.sub(r"^\d+_", "", p.stem): p for p in sorted(COMPARISONS_DIR.glob("*.json"))}


def load_comparison(path: str | Path) -> Comparison:
    path = Path(path)
    return comparison_from_dict(read_document(path), str(path), path.parent)


def runs_named(name: str) -> list[tuple[str, Preset]]:
    """What one PRESET of ``flowlab compare`` stands for: a built-in comparison's runs (by its key), a
    comparison file's runs, or one preset (a file or a built-in's key) as ``[(key, preset)]``."""
    from flowlab.presets.builtin import builtin_paths, preset_file

    paths = comparison_paths()
    if name in paths and not Path(name).is_file():
        return load_comparison(paths[name]).runs
    path = preset_file(name)
    doc = read_document(path)
    if is_comparison(doc):
        return comparison_from_dict(doc, str(path), path.parent).runs
    key = name if name in builtin_paths() and not Path(name).is_file() else path.stem
    return [(key, load_preset(path))]


def comparison_to_dict(comparison: Comparison) -> dict[str, Any]:
    """A comparison as a file holds it: the first run's target once, each run's stack written out (so that the
    file stands alone: no run refers to a preset that may change)."""
    first = comparison.runs[0][1] if comparison.runs else None
    return {"schema_version": SCHEMA_VERSION, "name": comparison.name, "description": comparison.description,
            **({"target": dict(first.target)} if first is not None else {}),
            "compare": [{"name": key, "layers": [dict(layer) for layer in preset.layers], "base": preset.base,
                         "training": preset.training.to_dict()} for key, preset in comparison.runs]}


def save_comparison(comparison: Comparison, path: str | Path) -> None:
    """Write ``comparison`` atomically (its target's data file relative to the file's folder where it lies
    under it, as :func:`~flowlab.presets.preset.save_preset` does)."""
    path = Path(path)
    doc = comparison_to_dict(comparison)
    if "target" in doc:
        doc["target"] = dict(portable_paths(doc["target"], path.parent))
    text = json.dumps(doc, indent=2, allow_nan=False) + "\n"
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(text)


def run_weights_path(path: str | Path, run: str) -> Path:
    """Where a comparison file keeps one run's weights: ``NAME.RUN.weights.pt`` beside it (the built-in
    comparisons ship theirs there, so that they open trained)."""
    path = Path(path)
    return path.with_name(f"{path.stem}.{run}.weights.pt")
