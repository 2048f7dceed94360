"""The layer registry: the single source of truth about every layer kind.

The palette, the parameter editor, presets, the CLI and the tests all read ``LAYERS``. A new layer kind is one
module in ``flowlab/flows/layers/`` that calls :func:`register`; the package imports every module there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping

import torch

from flowlab.flows.base import Bijection
from flowlab.params import Param, ParamProblem  # noqa: F401  (re-exported: layer modules import them here)

Shape = tuple[int, ...]
DataKind = Literal["vector", "image"]
Support = Literal["real", "unit_interval", "symmetric_interval"]
Method = Literal["closed", "numerical"]


@dataclass(frozen=True)
class Directions:
    """How each direction is computed, and which one is cheap.

    ``forward`` is data → latent (scoring data), ``inverse`` latent → data (sampling). A numerical direction is
    solved iteratively to ``tolerance`` (absolute, in float64) instead of in closed form.
    """

    forward: Method = "closed"
    inverse: Method = "closed"
    fast: Literal["forward", "inverse", "both"] = "both"
    tolerance: float | None = None
    note: str = ""


Builder = Callable[[Shape, Mapping[str, Any], torch.Generator], Bijection]
Check = Callable[[Shape, Mapping[str, Any]], None]
ShapeFn = Callable[[Shape, Mapping[str, Any]], Shape]


def _same_shape(shape: Shape, params: Mapping[str, Any]) -> Shape:
    return shape


@dataclass(frozen=True)
class LayerSpec:
    """Everything the app knows about one layer kind."""

    kind: str
    family: str
    help: str
    builder: Builder
    params: tuple[Param, ...] = ()
    data: frozenset[DataKind] = frozenset({"vector"})
    min_features: int = 1  # vectors: the least dimension it makes sense on (couplings need 2)
    directions: Directions = field(default_factory=Directions)
    support: Support = "real"  # where the layer's data-side input must lie
    check: Check | None = None  # extra shape/parameter checks; raises ParamProblem
    out_shape: ShapeFn = _same_shape
    reference: str = ""  # the paper it comes from

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}


LAYERS: dict[str, LayerSpec] = {}


def register(spec: LayerSpec) -> LayerSpec:
    """Add a layer kind to ``LAYERS``; kind names are unique."""
    if spec.kind in LAYERS:
        raise ValueError(f"layer kind '{spec.kind}' is registered twice")
    names = [p.name for p in spec.params]
    if len(set(names)) != len(names):
        raise ValueError(f"layer kind '{spec.kind}' repeats a parameter name")
    LAYERS[spec.kind] = spec
    return spec
