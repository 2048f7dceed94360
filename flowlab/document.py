"""The edited preset as one object, with change events: the window's model, and no Qt.

A :class:`Document` holds what a preset file holds — name, description, base, the layer stack, the target
configuration, the training settings and the view settings — and tells its listeners (psygnal signals) what
changed. The stack is a psygnal ``EventedList`` of immutable :class:`LayerEntry` values: an edit inserts, removes,
moves or *replaces* an entry, so every change passes through the list's events (a Qt list model adapts those,
as napari's layer list adapts its ``EventedList``). What follows from the stack and the target — the data shape,
each layer's problem and output shape — is derived once per change and kept here, for every reader.

Edits are made by undo commands (``flowlab.ui.commands``) through :meth:`Document.set` and the stack's own
methods; this module knows nothing of undo.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from psygnal import Signal
from psygnal.containers import EventedList

from flowlab.errors import FlowlabError, StackError
from flowlab.flows import LAYERS, stack_shapes, validate_stack
from flowlab.presets import Preset
from flowlab.targets import Target, build_target
from flowlab.training.objectives import objective_problem
from flowlab.training.settings import TrainSettings

Shape = tuple[int, ...]
FIELDS = ("name", "description", "base", "target", "training", "view")  # what `Document.set` changes
DEFAULT_TARGET: Mapping[str, Any] = {"kind": "moons", "params": {}, "data": {}}


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(copy.deepcopy(dict(mapping)))


@dataclass(frozen=True)
class LayerEntry:
    """One row of the stack: a registered kind, its parameters, and whether it takes part."""

    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)
    enabled: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", _frozen(self.params))

    @classmethod
    def new(cls, kind: str) -> LayerEntry:
        """A new layer of ``kind`` with the registry's defaults."""
        return cls(kind, LAYERS[kind].defaults())

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any]) -> LayerEntry:
        return cls(entry["kind"], entry.get("params", {}), entry.get("enabled", True))

    def to_dict(self) -> dict[str, Any]:
        """A plain ``{"kind", "params", "enabled"}`` (a fresh copy: the preset and engine format)."""
        return {"kind": self.kind, "params": copy.deepcopy(dict(self.params)), "enabled": self.enabled}

    def with_param(self, name: str, value: Any) -> LayerEntry:
        return LayerEntry(self.kind, {**self.params, name: value}, self.enabled)

    def with_enabled(self, enabled: bool) -> LayerEntry:
        return LayerEntry(self.kind, self.params, enabled)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LayerEntry):
            return NotImplemented
        return (self.kind, dict(self.params), self.enabled) == (other.kind, dict(other.params), other.enabled)

    def __hash__(self) -> int:
        return hash((self.kind, json.dumps(dict(self.params), sort_keys=True, default=str), self.enabled))


class Document:
    """The preset being edited. ``changed(field)`` fires after :meth:`set` changes one of :data:`FIELDS` and
    after any stack edit (``"stack"``); ``derived`` fires after the shape, problems and shapes were recomputed
    (a stack, target or training change), before ``changed``. ``reset`` fires after :meth:`load` replaced everything."""

    changed = Signal(str)
    derived = Signal()
    resetting = Signal()
    reset = Signal()

    def __init__(self, preset: Preset | None = None) -> None:
        self.name = "untitled"
        self.description = ""
        self.base = "standard"
        self.target: Mapping[str, Any] = _frozen(DEFAULT_TARGET)
        self.training = TrainSettings()
        self.view: Mapping[str, Any] = _frozen({})
        self.stack: EventedList[LayerEntry] = EventedList()
        self._target_cache: tuple[str, Target] | None = None
        self.shape: Shape = (2,)
        self.target_problem: str | None = None
        self.problems: dict[int, StackError] = {}
        self.stack_problem: StackError | None = None  # a problem of the stack as a whole (no position)
        self.training_problem: str | None = None  # the objective chosen cannot train this stack
        self.shapes: list[Shape | None] = []
        self._loading = False
        self.stack.events.inserted.connect(self._stack_edited)
        self.stack.events.removed.connect(self._stack_edited)
        self.stack.events.moved.connect(self._stack_edited)
        self.stack.events.changed.connect(self._stack_edited)
        self.load(preset or Preset(name="untitled", layers=[], target=dict(DEFAULT_TARGET)))

    # -- whole documents ------------------------------------------------------------------------------------------
    def load(self, preset: Preset) -> None:
        """Replace everything with ``preset`` (one ``resetting``/``reset`` pair, no per-row events)."""
        self.resetting.emit()
        self._loading = True
        try:
            self.name, self.description, self.base = preset.name, preset.description, preset.base
            self.target = _frozen(preset.target)
            self.training = preset.training
            self.view = _frozen(preset.view)
            with self.stack.events.blocked():
                self.stack.clear()
                self.stack.extend(LayerEntry.from_dict(e) for e in preset.layers)
        finally:
            self._loading = False
        self._derive()
        self.reset.emit()

    @classmethod
    def from_preset(cls, preset: Preset) -> Document:
        return cls(preset)

    def to_preset(self) -> Preset:
        """The document as a preset (fresh copies throughout: safe to hand to another thread)."""
        return Preset(name=self.name, description=self.description, layers=self.layers(),
                      target=self.target_config(), base=self.base, training=self.training,
                      view=copy.deepcopy(dict(self.view)))

    # -- reading --------------------------------------------------------------------------------------------------
    def layers(self) -> list[dict[str, Any]]:
        """The stack in the preset and engine format (fresh dicts)."""
        return [e.to_dict() for e in self.stack]

    def target_config(self) -> dict[str, Any]:
        return copy.deepcopy(dict(self.target))

    @staticmethod
    def _target_key(config: Mapping[str, Any]) -> str:
        return json.dumps(dict(config), sort_keys=True, default=str)

    def adopt_target(self, config: Mapping[str, Any], target: Target) -> None:
        """``target``, built from ``config`` elsewhere (a large file read off the window's thread), is what
        :meth:`built_target` gives for ``config`` from now on."""
        self._target_cache = (self._target_key(config), target)

    def built_target(self, config: Mapping[str, Any] | None = None) -> Target:
        """The target built from ``config`` (default: the document's), built once per configuration: choosing,
        validating and framing views all read it, and a picture or an image folder is slow to build.
        Raises :class:`FlowlabError` when it cannot be built."""
        config = self.target if config is None else config
        key = self._target_key(config)
        if self._target_cache is None or self._target_cache[0] != key:
            self._target_cache = (key, build_target(copy.deepcopy(dict(config))))
        return self._target_cache[1]

    @property
    def valid(self) -> bool:
        """True when the target builds and the stack has no problem: a session can train it."""
        return (self.target_problem is None and not self.problems and self.stack_problem is None
                and self.training_problem is None)

    def first_problem(self) -> str | None:
        """The first thing keeping this document from training, in words."""
        if self.target_problem is not None:
            return self.target_problem
        if self.problems:
            return str(self.problems[min(self.problems)])
        if self.stack_problem is not None:
            return str(self.stack_problem)
        return self.training_problem

    def shape_note(self, row: int) -> str:
        """' → 4×4×4' beside a layer: always on images (where layers reshape), on vectors only where the
        dimension changes; nothing where the layer is invalid (its reason is shown instead)."""
        out = self.shapes[row] if 0 <= row < len(self.shapes) else None
        before = next((s for s in reversed(self.shapes[:row]) if s is not None), self.shape)
        if out is None or (len(out) == 1 and out == before):
            return ""
        return "  → " + "×".join(str(n) for n in out)

    # -- editing (by undo commands) -------------------------------------------------------------------------------
    def set(self, name: str, value: Any) -> None:
        """Change one field of :data:`FIELDS`; ``training`` takes a :class:`TrainSettings` (or a mapping, which is
        validated), ``target`` and ``view`` mappings. Emits ``changed(name)`` when the value differs."""
        if name not in FIELDS:
            raise KeyError(f"'{name}' is not a document field (fields: {', '.join(FIELDS)})")
        if name == "training" and not isinstance(value, TrainSettings):
            value = TrainSettings.from_dict(value)
        elif name in ("target", "view"):
            value = _frozen(value)
        if self.get(name) == value:
            return
        setattr(self, name, value)
        if name in ("target", "training"):
            self._derive()
        self.changed.emit(name)

    def get(self, name: str) -> Any:
        """The current value of a field of :data:`FIELDS` (a plain copy for mappings)."""
        value = getattr(self, name)
        return copy.deepcopy(dict(value)) if isinstance(value, Mapping) else value

    # -- derived facts --------------------------------------------------------------------------------------------
    def _stack_edited(self, *_: Any) -> None:
        if self._loading:
            return
        self._derive()
        self.changed.emit("stack")

    def _derive(self) -> None:
        """Shape from the target; each layer's problem and output shape from the stack; whether the training
        objective can train the stack (once per change)."""
        try:
            self.shape = tuple(self.built_target().shape)
            self.target_problem = None
        except FlowlabError as e:
            self.target_problem = f"the target cannot be used: {e}"  # the shape stays the last one known
        layers = self.layers()
        found = validate_stack(layers, self.shape)
        self.problems = {p.position: p for p in found if p.position is not None}
        self.stack_problem = next((p for p in found if p.position is None), None)
        self.shapes = stack_shapes(layers, self.shape)
        self.training_problem = objective_problem(self.training.objective, layers)
        self.derived.emit()
