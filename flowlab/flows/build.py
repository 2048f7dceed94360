"""Turn a stack description (plain data, as in a preset) into a :class:`Flow`, validating every field."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from flowlab.errors import StackError
from flowlab.flows.distributions import BASES
from flowlab.flows.flow import Flow, LayerInfo, latent_shape
from flowlab.flows.registry import LAYERS, LayerSpec, ParamProblem, Shape
from flowlab.params import resolve


def data_kind(shape: Sequence[int]) -> str:
    """'vector' for ``(D,)``, 'image' for ``(C, H, W)``; anything else is an error."""
    if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in shape):
        raise StackError(f"data shape {tuple(shape)} must be positive integers")
    if len(shape) == 1:
        return "vector"
    if len(shape) == 3:
        return "image"
    raise StackError(f"data shape {tuple(shape)} is neither a vector (D,) nor an image (C, H, W)")


def resolve_params(spec: LayerSpec, given: Mapping[str, Any] | None) -> dict[str, Any]:
    """The layer's parameters with defaults filled in and every value checked."""
    return resolve(spec.params, given, spec.kind)


def check_applies(spec: LayerSpec, shape: Shape) -> None:
    """Raise ParamProblem(None, ...) when the layer kind does not apply to data of this shape."""
    kind = data_kind(shape)
    if kind not in spec.data:
        only = " and ".join(sorted(spec.data))
        raise ParamProblem(None, f"works on {only} data only, not on {kind} data of shape {tuple(shape)}")
    if kind == "vector" and shape[0] < spec.min_features:
        raise ParamProblem(None, f"needs at least {spec.min_features}-dimensional data, "
                                 f"got {shape[0]}-dimensional")


def _layer_entry(position: int, entry: Any) -> tuple[str, Mapping[str, Any], bool]:
    if not isinstance(entry, Mapping):
        raise StackError(f"must be an object with 'kind' and 'params', got {type(entry).__name__}",
                         position=position)
    extra = set(entry) - {"kind", "params", "enabled"}
    if extra:
        raise StackError(f"unknown field(s) {', '.join(sorted(extra))}", position=position)
    kind = entry.get("kind")
    if not isinstance(kind, str):
        raise StackError("has no 'kind' string", position=position)
    if kind not in LAYERS:
        raise StackError(f"unknown layer kind '{kind}'", position=position, kind=kind)
    params = entry.get("params", {})
    if not isinstance(params, Mapping):
        raise StackError("'params' must be an object", position=position, kind=kind)
    enabled = entry.get("enabled", True)
    if not isinstance(enabled, bool):
        raise StackError("'enabled' must be true or false", position=position, kind=kind)
    return kind, params, enabled


def _resolve_layer(position: int, entry: Any, current: Shape) -> tuple[LayerSpec, dict[str, Any], bool, Shape]:
    """Check one stack entry against the shape it receives: ``(spec, params, enabled, out_shape)``."""
    kind, given, enabled = _layer_entry(position, entry)
    spec = LAYERS[kind]
    try:
        params = resolve_params(spec, given)
        check_applies(spec, current)
        if spec.check is not None:
            spec.check(current, params)
        out = tuple(spec.out_shape(current, params))
    except ParamProblem as problem:
        raise StackError(problem.reason, position=position, kind=kind, param=problem.param) from None
    return spec, params, enabled, out


def _check_stack_container(layers: Any, shape: Sequence[int]) -> Shape:
    shape = tuple(shape)
    data_kind(shape)
    if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence):
        raise StackError("the layer stack must be a list")
    return shape


def build_flow(layers: Sequence[Mapping[str, Any]], shape: Sequence[int], base: str = "standard",
               seed: int = 0) -> Flow:
    """Build a :class:`Flow` from ``[{"kind": str, "params": {...}, "enabled": bool}, ...]``.

    ``shape`` is the shape of one data point: ``(2,)``, ``(1,)``, ``(1, 8, 8)``. Missing parameters take their
    defaults; layers with ``enabled: false`` are checked but skipped. ``seed`` fixes everything random *in the
    structure* (random permutations): each layer draws from its own generator seeded by ``seed`` and its
    position. Network weights use PyTorch's global generator: call ``torch.manual_seed`` first to fix them.

    Raises :class:`~flowlab.errors.StackError` naming the position, kind and parameter of the first problem.
    """
    current = _check_stack_container(layers, shape)
    if base not in BASES:
        raise StackError(f"unknown base distribution '{base}' (choose {', '.join(BASES)})")
    modules, infos = [], []
    for position, entry in enumerate(layers):
        spec, params, enabled, out = _resolve_layer(position, entry, current)
        if not enabled:
            continue
        gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + position)
        modules.append(spec.builder(current, params, gen))
        infos.append(LayerInfo(position, spec.kind, params, current, out))
        current = out
    return Flow(modules, infos, tuple(shape), BASES[base](latent_shape(infos, shape)))


def validate_stack(layers: Sequence[Mapping[str, Any]], shape: Sequence[int]) -> list[StackError]:
    """Every problem in a stack, one per offending layer, without building anything (for the editor)."""
    try:
        current = _check_stack_container(layers, shape)
    except StackError as e:
        return [e]
    problems: list[StackError] = []
    for position, entry in enumerate(layers):
        try:
            _, _, enabled, out = _resolve_layer(position, entry, current)
        except StackError as e:
            problems.append(e)
            continue
        if enabled:
            current = out
    return problems


def stack_shapes(layers: Sequence[Mapping[str, Any]], shape: Sequence[int]) -> list[Shape | None]:
    """The shape each layer hands on (for the editor's shape column), ``None`` where a layer is invalid.

    Disabled layers hand on what they receive. After an invalid layer the shapes are computed from the last
    valid one, so one mistake does not blank the rest of the column.
    """
    try:
        current = _check_stack_container(layers, shape)
    except StackError:
        return [None] * (len(layers) if isinstance(layers, Sequence) else 0)
    out: list[Shape | None] = []
    for position, entry in enumerate(layers):
        try:
            _, _, enabled, after = _resolve_layer(position, entry, current)
        except StackError:
            out.append(None)
            continue
        if enabled:
            current = after
        out.append(current)
    return out
