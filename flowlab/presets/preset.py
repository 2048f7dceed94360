"""The preset file: a versioned JSON document describing a layer stack, a target, and training and view settings.

Presets are data, never code. Loading validates every field and names the one at fault; a file from a newer
flowlab says so; older versions are migrated; saves are atomic (temp file + rename). A target's file
(``target.data.path``: a picture, a points file, image data) may be given relative to the preset's folder: it is
resolved on load, and written relative again on save when it lies under the preset's folder.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from flowlab.atomic import atomic_open
from flowlab.errors import FlowlabError, StackError
from flowlab.flows import BASES, validate_stack
from flowlab.targets import TARGETS, DataMissing, Target, TargetError, build_target
from flowlab.training.settings import TrainSettings

SCHEMA_VERSION = 1
MAX_PRESET_BYTES = 50 * 2**20  # drawn images included, presets are kilobytes; anything this big is not one


class PresetError(FlowlabError):
    """A preset that cannot be read; the message names the file and the field or line at fault."""


class PresetDataMissing(PresetError):
    """A sound preset whose data set is not on this machine; the message says how to get it. ``name`` and
    ``description`` are the preset's own, so that a list of presets can still offer it."""

    def __init__(self, message: str, name: str, description: str) -> None:
        super().__init__(message)
        self.name, self.description = name, description


class _TargetModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str
    params: dict[str, Any] = {}
    data: dict[str, Any] = {}


class _LayerModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str
    params: dict[str, Any] = {}
    enabled: bool = True


class _ProbeModel(BaseModel):
    """A point the window follows through the layers when the preset opens."""

    model_config = ConfigDict(extra="forbid")
    point: list[float]
    start: Literal["x", "z"] = "x"  # data space (x → z) or latent space (z → x)


# The window's side panels a lesson may hide, by the names a preset's ``view.hidden_panels`` uses.
LESSON_PANELS = ("layers", "layer_parameters", "target_and_training")


class _ViewModel(BaseModel):
    """How the window opens the preset: views brought to the front (names from the window's view table; one it
    does not know is said and skipped), a probe point, and the stack row selected (1-based, as the list shows).
    A lesson adds: the only views shown, side panels hidden, editing locked, a step at which Play pauses, and a
    speed in steps per second (slow motion, each step drawn, at 5 or fewer)."""

    model_config = ConfigDict(extra="forbid")
    front: list[str] = []
    probe: _ProbeModel | None = None
    select: int | None = Field(default=None, ge=1)
    shown: list[str] | None = None
    hidden_panels: list[Literal[LESSON_PANELS]] = []  # type: ignore[valid-type]
    locked: bool = False
    pause_at: int | None = Field(default=None, ge=1)
    speed: float | None = Field(default=None, gt=0, allow_inf_nan=False)


class _PresetModel(BaseModel):
    """The envelope; layer parameters, target parameters and training settings are checked by their registries."""

    model_config = ConfigDict(extra="forbid")
    schema_version: int
    name: str
    description: str = ""
    layers: list[_LayerModel]
    base: Literal[tuple(BASES)] = "standard"  # type: ignore[valid-type]  (the names, from the one registry)
    target: _TargetModel
    training: dict[str, Any] = {}
    view: _ViewModel = _ViewModel()


@dataclass
class Preset:
    """A validated preset, ready for the engine and the window."""

    name: str
    layers: list[dict[str, Any]]
    target: dict[str, Any]
    description: str = ""
    base: str = "standard"
    training: TrainSettings = field(default_factory=TrainSettings)
    view: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": SCHEMA_VERSION, "name": self.name, "description": self.description,
                "layers": copy.deepcopy(self.layers), "base": self.base, "target": copy.deepcopy(self.target),
                "training": self.training.to_dict(), "view": copy.deepcopy(self.view)}

    def build_target(self) -> Target:
        return build_target(self.target)


# Migrations: MIGRATIONS[v] turns a version-v document into a version-(v+1) one.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _file_path(target: Mapping[str, Any]) -> str | None:
    """The target's data file as written, for kinds that read one (``data.path``)."""
    spec = TARGETS.get(target.get("kind"))  # type: ignore[arg-type]
    data = target.get("data")
    if spec is None or "path" not in spec.data_fields or not isinstance(data, Mapping):
        return None
    raw = data.get("path")
    return raw if isinstance(raw, str) and raw else None


def _with_path(target: Mapping[str, Any], path: str) -> dict[str, Any]:
    return {**target, "data": {**target["data"], "path": path}}


def _is_shipped_name(target: Mapping[str, Any], raw: str) -> bool:
    """A bare name of a file flowlab ships for this kind ("smiley"), which needs no folder at all."""
    spec = TARGETS.get(target.get("kind"))  # type: ignore[arg-type]
    shipped = spec.source.shipped if spec is not None and spec.source is not None else None
    return shipped is not None and raw in shipped() and not Path(raw).exists()


def resolve_paths(target: Mapping[str, Any], folder: str | os.PathLike) -> Mapping[str, Any]:
    """``target`` with a relative data file made absolute against ``folder`` (the preset's)."""
    raw = _file_path(target)
    if raw is None or Path(raw).expanduser().is_absolute():
        return target
    beside = Path(os.path.abspath(Path(folder) / raw))
    if not beside.exists() and _is_shipped_name(target, raw):
        return target
    return _with_path(target, str(beside))


def portable_paths(target: Mapping[str, Any], folder: str | os.PathLike) -> Mapping[str, Any]:
    """``target`` with its data file relative to ``folder`` when it lies under it, absolute otherwise."""
    raw = _file_path(target)
    if raw is None or _is_shipped_name(target, raw):
        return target
    path = Path(os.path.abspath(Path(raw).expanduser()))
    for base, file in ((Path(os.path.abspath(folder)), path), (Path(folder).resolve(), path.resolve())):
        try:
            return _with_path(target, file.relative_to(base).as_posix())
        except ValueError:
            continue
    return _with_path(target, str(path))


def preset_from_dict(doc: Any, source: str = "preset", folder: str | os.PathLike | None = None) -> Preset:
    """Validate a parsed JSON document; raise :class:`PresetError` naming the field at fault. A relative data
    file of the target is taken relative to ``folder`` (the preset file's), when given."""
    if not isinstance(doc, Mapping):
        raise PresetError(f"{source}: not a flowlab preset (the file holds a JSON {type(doc).__name__}, "
                          f"not an object)")
    version = doc.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise PresetError(f"{source}: not a flowlab preset (no whole-number 'schema_version' field)")
    if version > SCHEMA_VERSION:
        raise PresetError(f"{source}: written by a newer flowlab (preset schema {version}; this version reads "
                          f"up to {SCHEMA_VERSION}). Update flowlab to open it.")
    if version < 1:
        raise PresetError(f"{source}: schema_version {version} is not a valid preset version")
    doc = dict(doc)
    while doc["schema_version"] < SCHEMA_VERSION:
        doc = MIGRATIONS[doc["schema_version"]](doc)
    try:
        model = _PresetModel.model_validate(doc)
    except ValidationError as e:
        first = e.errors()[0]
        raise PresetError(f"{source}: field '{_where(first['loc'])}': {first['msg']}") from None
    try:
        training = TrainSettings.from_dict(model.training)
    except FlowlabError as e:
        raise PresetError(f"{source}: {e}") from None
    layers = [m.model_dump() for m in model.layers]
    target_cfg = model.target.model_dump()
    if folder is not None:
        target_cfg = dict(resolve_paths(target_cfg, folder))
    try:
        target = build_target(target_cfg)
    except DataMissing as e:
        raise PresetDataMissing(f"{source}: {e}", model.name, model.description) from None
    except TargetError as e:
        raise PresetError(f"{source}: field 'target': {e}") from None
    problems = validate_stack(layers, target.shape)
    if problems:
        p = problems[0]
        raise PresetError(f"{source}: field '{_stack_field(p)}': {p}")
    view = model.view
    if view.select is not None and view.select > len(layers):
        raise PresetError(f"{source}: field 'view.select': row {view.select}, but the stack has {len(layers)}")
    if view.probe is not None and (len(target.shape) != 1 or len(view.probe.point) != target.shape[0]):
        raise PresetError(f"{source}: field 'view.probe.point': {len(view.probe.point)} coordinate(s) for data of "
                          f"shape {tuple(target.shape)}")
    return Preset(name=model.name, description=model.description, layers=layers, base=model.base,
                  target=target_cfg, training=training, view=model.view.model_dump(exclude_defaults=True))


def _stack_field(problem: StackError) -> str:
    if problem.position is None:
        return "layers"
    where = f"layers[{problem.position}]"
    return f"{where}.params.{problem.param}" if problem.param else where


def load_preset(path: str | os.PathLike) -> Preset:
    """Read and validate a preset file (refused unread above :data:`MAX_PRESET_BYTES`)."""
    path = Path(path)
    doc = read_document(path)
    try:
        return preset_from_dict(doc, str(path), folder=path.parent)
    except RecursionError:
        raise PresetError(f"{path}: not a flowlab preset (a field is nested too deeply to read)") from None


def read_document(path: Path) -> Any:
    """A preset file's parsed JSON (refused unread above :data:`MAX_PRESET_BYTES`); :class:`PresetError` says
    what is wrong with a file that cannot be read or parsed."""
    try:
        size = path.stat().st_size
        if size > MAX_PRESET_BYTES:
            raise PresetError(f"{path}: {size / 2**20:.0f} MB is too large for a preset (at most "
                              f"{MAX_PRESET_BYTES // 2**20} MB; data belongs in a file the target points to)")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PresetError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise PresetError(f"{path}: cannot be read ({e.__class__.__name__}: {e})") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise PresetError(f"{path}: not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}") from None
    except RecursionError:
        raise PresetError(f"{path}: not a flowlab preset (its JSON is nested too deeply to read)") from None
    return doc


def save_preset(preset: Preset, path: str | os.PathLike) -> None:
    """Write atomically: a crash mid-save leaves the old file intact. The target's data file is written
    relative to the preset's folder when it lies under it (the two can move together), absolute otherwise."""
    path = Path(path)
    doc = preset.to_dict()
    doc["target"] = dict(portable_paths(doc["target"], path.parent))
    text = json.dumps(doc, indent=2, allow_nan=False) + "\n"
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(text)
