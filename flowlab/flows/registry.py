"""The layer registry: the single source of truth about every layer kind.

The palette, the parameter editor, presets, the CLI and the tests all read ``LAYERS``. A new layer kind is one
module in ``flowlab/flows/layers/``, named after the kind's family, that calls :func:`register`; the package
imports every module there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from flowlab.flows.base import Bijection
from flowlab.params import Param, ParamProblem  # noqa: F401  (re-exported: layer modules import them here)

Shape = tuple[int, ...]
DataKind = Literal["vector", "image"]
Support = Literal["real", "unit_interval", "symmetric_interval"]
# closed: a formula; numerical: solved iteratively, so autograd through the solver is not the map's derivative;
# integrated: an ODE integrated with fixed steps, an explicit map whose autograd derivative is its own, but which
# undoes the other direction only up to the solver's error.
Method = Literal["closed", "numerical", "integrated"]
# How a layer's state depends on the data it sees while training (beyond gradient steps): not at all, set once
# from the first batch (ActNorm), or from every batch's statistics (BatchNorm).
DataDependence = Literal["none", "first_batch", "every_batch"]


@dataclass(frozen=True)
class Directions:
    """How each direction is computed, and which one is cheap.

    ``forward`` is data → latent (scoring data), ``inverse`` latent → data (sampling). A numerical direction is
    solved iteratively to ``tolerance`` (absolute, in float64) instead of in closed form; an integrated one is a
    fixed-step ODE solve, and ``tolerance`` is then how closely the two directions undo each other.
    """

    forward: Method = "closed"
    inverse: Method = "closed"
    fast: Literal["forward", "inverse", "both"] = "both"
    tolerance: float | None = None
    note: str = ""


Builder = Callable[[Shape, Mapping[str, Any], torch.Generator], Bijection]
Check = Callable[[Shape, Mapping[str, Any]], None]
ShapeFn = Callable[[Shape, Mapping[str, Any]], Shape]
Summary = Callable[[Mapping[str, Any]], str]
DirectionsFn = Callable[[Mapping[str, Any]], Directions]


def _same_shape(shape: Shape, params: Mapping[str, Any]) -> Shape:
    return shape


@dataclass(frozen=True)
class LayerSpec:
    """Everything the app knows about one layer kind.

    ``directions`` holds at the default parameters; a kind whose directions depend on its parameters gives
    ``directions_of`` instead (then ``directions`` is derived from it): ask :meth:`directions_for`.
    ``summary`` turns full parameters into a one-line summary ("alternating, flip, 64×2"); ask :meth:`summarize`.
    """

    kind: str
    family: str
    help: str
    builder: Builder
    params: tuple[Param, ...] = ()
    data: frozenset[DataKind] = frozenset({"vector"})
    min_features: int = 1  # vectors: the least dimension it makes sense on (couplings need 2)
    directions: Directions = field(default_factory=Directions)
    directions_of: DirectionsFn | None = None
    support: Support = "real"  # where the layer's data-side input must lie
    check: Check | None = None  # extra shape/parameter checks; raises ParamProblem
    out_shape: ShapeFn = _same_shape
    data_dependent: DataDependence = "none"
    summary: Summary | None = None
    reference: str = ""  # the paper it comes from
    # On vector data with more features than this, the log|det| the layer returns *in training mode* is a
    # stochastic, unbiased estimate (Hutchinson's trace estimator); in evaluation mode it is exact. None: always exact.
    ladj_estimated_above: int | None = None
    # The layer is a continuous-time flow whose module implements ``flowlab.flows.base.ContinuousTime``
    # (``velocity(x, t)``, ``integrate``, ``path``): flow matching can train it, the views can look inside it.
    velocity_field: bool = False

    def __post_init__(self) -> None:
        if self.directions_of is not None:
            object.__setattr__(self, "directions", self.directions_of(self.defaults()))

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def with_defaults(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """``params`` with the missing ones at their defaults (values are not checked)."""
        return {**self.defaults(), **(params or {})}

    def directions_for(self, params: Mapping[str, Any] | None = None) -> Directions:
        """The directions with these parameters (missing ones at their defaults)."""
        if self.directions_of is None:
            return self.directions
        return self.directions_of(self.with_defaults(params))

    def estimates_ladj(self, shape: Shape) -> bool:
        """Whether, on data of this shape, training sees an estimated log|det| (evaluation is always exact)."""
        return self.ladj_estimated_above is not None and len(shape) == 1 and shape[0] > self.ladj_estimated_above

    def summarize(self, params: Mapping[str, Any] | None = None) -> str:
        """A one-line summary of the key parameters; by default every choice's value and every flag that is on
        ("learnable"), in the order the parameters are declared."""
        full = self.with_defaults(params)
        if self.summary is not None:
            return self.summary(full)
        bits = []
        for p in self.params:
            if p.type == "choice":
                bits.append(str(full[p.name]))
            elif p.type == "bool" and full[p.name]:
                bits.append(p.name.replace("_", " "))
        return ", ".join(bits)


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


def layer_summary(entry: Mapping[str, Any]) -> str:
    """The one-line summary of a stack entry ``{"kind": ..., "params": {...}}``, e.g. "alternating, flip, 64×2";
    "" for an unknown kind or parameters it cannot summarise (the editor shows those problems elsewhere)."""
    spec = LAYERS.get(entry.get("kind"))  # type: ignore[arg-type]
    params = entry.get("params") or {}
    if spec is None or not isinstance(params, Mapping):
        return ""
    try:
        return spec.summarize(params)
    except (KeyError, TypeError, ValueError):
        return ""
