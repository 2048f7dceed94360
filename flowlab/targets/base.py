"""What a flow is fitted to: samples (maximum likelihood) or an energy (reverse KL).

Every target is built from plain data, ``{"kind": str, "params": {...}, "data": {...}}``, through the target
registry ``TARGETS`` (the same idea as the layer registry: the target panel, presets, the CLI and the tests read
it). ``data`` carries what a user made: drawn points, a painted grid, a file path.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor

from flowlab.errors import FlowlabError
from flowlab.params import Param, ParamProblem, resolve

Objective = Literal["samples", "energy"]


class TargetError(FlowlabError):
    """A target that cannot be built or read: a missing or unreadable file, a wrong shape, an empty drawing."""


class DataMissing(TargetError):
    """A target whose data set is not on this machine (the message says how to get it): nothing is wrong with the
    preset that names it, so a list of presets keeps it and opening it says what to install or choose."""


@dataclass(frozen=True)
class Estimate:
    """A Monte Carlo (or quadrature) estimate with its standard error."""

    value: float
    stderr: float


class Target:
    """Common attributes. ``shape`` is one data point's shape; ``bounds`` the natural plot extents:
    ``(lo, hi)`` for 1-D, ``(xmin, xmax, ymin, ymax)`` for 2-D, ``None`` for images."""

    objective: ClassVar[Objective]
    name: str = ""
    shape: tuple[int, ...] = (2,)
    bounds: tuple[float, ...] | None = None


class SampleTarget(Target):
    """A distribution known through samples; fitted by maximum likelihood."""

    objective: ClassVar[Objective] = "samples"

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """``n`` float32 samples on the CPU, shape ``(n, *shape)``."""
        raise NotImplementedError

    def log_prob(self, x: Tensor) -> Tensor | None:
        """The true log-density (nats) where it is known in closed form or by quadrature, else ``None``."""
        return None

    @property
    def has_density(self) -> bool:
        return type(self).log_prob is not SampleTarget.log_prob

    def split(self, n_train: int, n_test: int, seed: int = 0,
              device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
        """Train and held-out test samples, reproducible from ``seed``, on ``device``."""
        gen = torch.Generator().manual_seed(seed)
        data = self.sample(n_train + n_test, gen)
        return data[:n_train].to(device), data[n_train:].to(device)

    def prepare_batch(self, batch: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Per-batch randomness applied to raw training data just before each step (image targets dequantise
        here, with fresh noise every time); the identity for most targets."""
        return batch

    def entropy(self, n: int = 200_000, seed: int = 12345) -> Estimate | None:
        """H(p) = −E_p[log p(x)] by Monte Carlo on the true density (cached); ``None`` when p is unknown.

        KL(data ‖ model) = test NLL − H(p), the gap the app shows live.
        """
        if not self.has_density:
            return None
        cache = getattr(self, "_entropy_cache", None)
        if cache is not None and cache[0] == (n, seed):
            return cache[1]
        x = self.sample(n, torch.Generator().manual_seed(seed)).double()
        lp = torch.cat([self.log_prob(chunk) for chunk in x.split(50_000)])
        est = Estimate(float(-lp.mean()), float(lp.std() / math.sqrt(n)))
        self._entropy_cache = ((n, seed), est)
        return est


class EnergyTarget(Target):
    """An unnormalised density p(x) ∝ exp(−U(x)); fitted by reverse KL."""

    objective: ClassVar[Objective] = "energy"

    def energy(self, x: Tensor) -> Tensor:
        """U(x), shape ``(n,)``; differentiable in ``x``."""
        raise NotImplementedError

    def log_normalizer(self, resolution: int = 800) -> float | None:
        """log Z = log ∫ exp(−U) by the midpoint rule on ``bounds`` (2-D and 1-D), so that the true
        KL(q ‖ p) can be reported next to the training estimate. Cached; ``None`` without bounds."""
        if self.bounds is None:
            return None
        cache = getattr(self, "_log_z_cache", None)
        if cache is not None and cache[0] == resolution:
            return cache[1]
        points, cell = grid_points(self.bounds, resolution)
        with torch.no_grad():
            neg_u = -torch.cat([self.energy(c) for c in points.split(100_000)])
        log_z = float(torch.logsumexp(neg_u, dim=0) + math.log(cell))
        self._log_z_cache = (resolution, log_z)
        return log_z

    def log_prob(self, x: Tensor) -> Tensor | None:
        log_z = self.log_normalizer()
        return None if log_z is None else -self.energy(x) - log_z


def grid_points(bounds: tuple[float, ...], resolution: int) -> tuple[Tensor, float]:
    """Cell midpoints of a regular grid over ``bounds`` (float64) and the cell volume."""
    axes = []
    cell = 1.0
    for lo, hi in zip(bounds[0::2], bounds[1::2], strict=True):
        step = (hi - lo) / resolution
        axes.append(lo + step * (torch.arange(resolution, dtype=torch.float64) + 0.5))
        cell *= step
    mesh = torch.meshgrid(*axes, indexing="xy")
    return torch.stack([m.reshape(-1) for m in mesh], dim=1), cell


# -- the registry ------------------------------------------------------------------------------------------------
TargetBuilder = Callable[[Mapping[str, Any], Mapping[str, Any]], Target]


@dataclass(frozen=True)
class DataSource:
    """How a user points a target at its data, ``data["path"]``: a file picked with the file-dialog filter
    ``pattern`` (such as ``"Pictures (*.png *.jpg)"``), or a folder. ``title`` names it where it is offered; kinds
    sharing a ``group`` are offered together; ``start`` is the folder the dialog opens in ("" = the last one);
    ``shipped`` lists files that come with flowlab by bare name (a preset may say ``"smiley"``, no folder)."""

    title: str
    pattern: str = ""
    folder: bool = False
    group: str = ""
    start: str = ""
    shipped: Callable[[], Mapping[str, Path]] | None = None

    def __post_init__(self) -> None:
        if self.folder == bool(self.pattern):
            raise ValueError(f"data source {self.title!r}: give a file pattern or folder=True, not both")


@dataclass(frozen=True)
class TargetSpec:
    """Everything the app knows about one kind of target."""

    kind: str
    family: Literal["toy", "1d", "user", "energy", "image"]
    help: str
    builder: TargetBuilder  # (params, data) -> Target
    objective: Objective = "samples"
    params: tuple[Param, ...] = ()
    data_fields: tuple[str, ...] = ()  # keys of "data" the builder reads (drawn points, a painted grid, a path)
    reference: str = ""
    source: DataSource | None = None  # for kinds read from a file or folder (data "path")


TARGETS: dict[str, TargetSpec] = {}


def register_target(spec: TargetSpec) -> TargetSpec:
    if spec.kind in TARGETS:
        raise ValueError(f"target kind '{spec.kind}' is registered twice")
    if spec.source is not None and "path" not in spec.data_fields:
        raise ValueError(f"target kind '{spec.kind}' has a data source but reads no data 'path'")
    TARGETS[spec.kind] = spec
    return spec


def build_target(config: Mapping[str, Any]) -> Target:
    """Build a target from ``{"kind", "params", "data"}``; a :class:`TargetError` names the field at fault."""
    if not isinstance(config, Mapping):
        raise TargetError("the target must be an object with a 'kind'")
    extra = set(config) - {"kind", "params", "data"}
    if extra:
        raise TargetError(f"target: unknown field(s) {', '.join(sorted(extra))}")
    kind = config.get("kind")
    if kind not in TARGETS:
        known = ", ".join(sorted(TARGETS))
        raise TargetError(f"target: unknown kind {kind!r} (known: {known})")
    spec = TARGETS[kind]
    given = config.get("params", {})
    data = config.get("data", {})
    if not isinstance(given, Mapping) or not isinstance(data, Mapping):
        raise TargetError(f"target {kind}: 'params' and 'data' must be objects")
    unknown = set(data) - set(spec.data_fields)
    if unknown:
        raise TargetError(f"target {kind}: unknown data field(s) {', '.join(sorted(unknown))}")
    try:
        params = resolve(spec.params, given, f"target {kind}")
    except ParamProblem as p:
        raise TargetError(f"target {kind}: parameter '{p.param}' {p.reason}") from None
    target = spec.builder(params, data)
    target.name = target.name or kind
    return target
