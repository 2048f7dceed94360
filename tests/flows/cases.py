"""Test cases generated from the registry, so a newly registered layer kind is tested without new test code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from flowlab.flows import LAYERS, build_flow, validate_stack
from flowlab.flows.flow import Flow

SHAPES = {"vector": [(1,), (2,), (5,)], "image": [(2, 4, 4)]}
# Network width is irrelevant to correctness; small nets keep the Jacobian tests fast.
SMALL = {"hidden": 8}
# Choices that change only the network, not the maths of the map, are not multiplied out.
NOT_VARIED = {"activation"}


@dataclass(frozen=True)
class Case:
    kind: str
    shape: tuple[int, ...]
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        extra = ",".join(f"{k}={v}" for k, v in sorted(self.params.items()) if k not in SMALL)
        return f"{self.kind}-{'x'.join(map(str, self.shape))}" + (f"-{extra}" if extra else "")

    @property
    def layers(self) -> list[dict[str, Any]]:
        return [{"kind": self.kind, "params": dict(self.params)}]


def _moved(p) -> float:
    """A valid value of a float parameter away from its default (so options are exercised, not just defaults)."""
    if p.log_scale:
        value = p.default * 2.0
    else:
        value = p.default + 0.5 * min(1.0, (p.high if p.high is not None else p.default + 1.0) - p.default)
    return min(value, p.high) if p.high is not None else value


def _variants(kind: str) -> list[dict[str, Any]]:
    """Defaults first; then every choice and flag changed one at a time, with all float parameters moved."""
    spec = LAYERS[kind]
    names = {p.name for p in spec.params}
    small = {k: v for k, v in SMALL.items() if k in names}
    moved = {**small, **{p.name: _moved(p) for p in spec.params if p.type == "float"}}
    out = [small]
    if moved != small:
        out.append(moved)
    for p in spec.params:
        if p.name in NOT_VARIED:
            continue
        if p.type == "choice":
            out += [{**moved, p.name: c} for c in p.choices if c != p.default]
        elif p.type == "bool":
            out.append({**moved, p.name: not p.default})
    return out


def _set_vectors(kind: str, params: dict[str, Any], shape: tuple[int, ...]) -> dict[str, Any]:
    """``params`` with every list-of-numbers parameter (a hand-set vector, one number per dimension) set, so a
    map that is not learnable is still far from the identity."""
    vectors = {p.name: [(-1) ** i * (0.5 + 0.25 * i) for i in range(shape[0])]
               for p in LAYERS[kind].params if p.type == "floats"}
    return {**params, **vectors} if len(shape) == 1 else params


def cases(shapes: dict[str, list[tuple[int, ...]]] = SHAPES) -> list[Case]:
    """Every registered kind × every data shape it applies to × one variation of each option at a time."""
    found = []
    for kind, spec in LAYERS.items():
        for data_kind in sorted(spec.data):
            for shape in shapes.get(data_kind, []):
                for i, params in enumerate(_variants(kind)):
                    case = Case(kind, shape, _set_vectors(kind, params, shape) if i else params)
                    if not validate_stack(case.layers, shape):
                        found.append(case)
    return found


def support_sample(support: str, n: int, shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    """Points inside the layer's data support, in float64."""
    if support == "unit_interval":
        return 0.05 + 0.9 * torch.rand((n, *shape), generator=gen, dtype=torch.float64)
    if support == "symmetric_interval":
        return 0.9 * (2 * torch.rand((n, *shape), generator=gen, dtype=torch.float64) - 1)
    return 1.5 * torch.randn((n, *shape), generator=gen, dtype=torch.float64)


def randomised_flow(case: Case, seed: int = 0, noise: float = 0.3) -> Flow:
    """A float64 flow in evaluation mode, pushed well away from its identity initialisation.

    Data-dependent state is set first by a few training-mode passes over off-centre data (ActNorm's
    initialisation, BatchNorm's running statistics), then every parameter gets Gaussian noise.
    """
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    flow = build_flow(case.layers, case.shape, seed=seed).double()
    support = LAYERS[case.kind].support
    flow.train()
    with torch.no_grad():
        for _ in range(3):
            warm = support_sample(support, 256, case.shape, gen)
            if support == "real":
                warm = 2.0 * warm + 0.7
            flow(warm)
        for p in flow.parameters():
            p.add_(noise * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return flow.eval()
