"""1-D targets: moments, reproducibility, normalisation, histogram agreement and the analytic entropies."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from flowlab.targets import TARGETS, TargetError, build_target, grid_points

F64 = torch.float64
CASES: list[tuple[str, dict[str, Any]]] = [
    ("gaussian_mixture_1d", {}),
    ("gaussian_mixture_1d", {"components": 3, "separation": 8.0}),
    ("gaussian_mixture_1d", {"components": 1}),
    ("affine_gaussian_1d", {}),
    ("affine_gaussian_1d", {"scale": 3.0, "shift": -2.0}),
]
IDS = [f"{k}-{p}" for k, p in CASES]


def _build(kind: str, params: dict[str, Any] | None = None) -> Any:
    return build_target({"kind": kind, "params": params or {}})


def _sample(target: Any, n: int, seed: int = 0) -> torch.Tensor:
    return target.sample(n, torch.Generator().manual_seed(seed))


def _moments(kind: str, params: dict[str, Any]) -> tuple[float, float]:
    """Mean and variance: mixture of K unit Gaussians spaced d apart around 0 has variance 1 + d²(K² − 1)/12;
    u = a·v + b has mean b and variance a²."""
    if kind == "gaussian_mixture_1d":
        k, d = params.get("components", 2), params.get("separation", 4.0)
        return 0.0, 1.0 + d * d * (k * k - 1) / 12.0
    return params.get("shift", 1.0), params.get("scale", 0.75) ** 2


def test_kinds_are_registered_as_1d() -> None:
    kinds = sorted(k for k, s in TARGETS.items() if s.family == "1d")
    assert kinds == ["affine_gaussian_1d", "gaussian_mixture_1d"]
    for kind in kinds:
        assert TARGETS[kind].help and "\n" not in TARGETS[kind].help
        target = _build(kind)
        assert target.shape == (1,) and len(target.bounds) == 2 and target.has_density


@pytest.mark.parametrize(("kind", "params"), CASES, ids=IDS)
def test_samples_have_the_recipe_moments(kind: str, params: dict[str, Any]) -> None:
    n = 100_000
    x = _sample(_build(kind, params), n).double()[:, 0]
    mean, var = _moments(kind, params)
    assert abs(float(x.mean()) - mean) < 5 * math.sqrt(var / n)
    sq = (x - mean) ** 2
    assert abs(float(sq.mean()) - var) < 5 * float(sq.std()) / math.sqrt(n)


@pytest.mark.parametrize("kind", ["gaussian_mixture_1d", "affine_gaussian_1d"])
def test_samples_are_float32_columns_and_reproducible(kind: str) -> None:
    target = _build(kind)
    global_state = torch.get_rng_state()
    a, b, c = _sample(target, 500, 1), _sample(target, 500, 1), _sample(target, 500, 2)
    assert torch.equal(torch.get_rng_state(), global_state)
    assert a.shape == (500, 1) and a.dtype == torch.float32 and a.device.type == "cpu"
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize(("kind", "params"), CASES, ids=IDS)
def test_density_integrates_to_one_within_the_bounds(kind: str, params: dict[str, Any]) -> None:
    target = _build(kind, params)
    points, cell = grid_points(target.bounds, 4000)
    assert points.shape == (4000, 1)
    assert float(target.log_prob(points).exp().sum()) * cell == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize(("kind", "params"), CASES, ids=IDS)
def test_density_agrees_with_a_histogram(kind: str, params: dict[str, Any]) -> None:
    target = _build(kind, params)
    n, cells, sub = 50_000, 40, 50
    lo, hi = target.bounds
    x = _sample(target, n, seed=5).double()[:, 0]
    observed = torch.histc(x, bins=cells, min=lo, max=hi).double()
    points, width = grid_points(target.bounds, cells * sub)
    expected = n * target.log_prob(points).exp().reshape(cells, sub).sum(dim=1) * width
    big = expected > 20
    chi2 = float(((observed[big] - expected[big]) ** 2 / expected[big]).sum())
    dof = int(big.sum())
    assert chi2 < dof + 6 * math.sqrt(2 * dof)


def test_affine_density_is_the_change_of_variables_formula() -> None:
    target = _build("affine_gaussian_1d")
    for u in (-1.0, 0.0, 1.0, 1.75, 3.2):
        v = (u - 1.0) / 0.75
        expected = -0.5 * v * v - 0.5 * math.log(2 * math.pi) - math.log(0.75)
        assert float(target.log_prob(torch.tensor([[u]], dtype=F64))) == pytest.approx(expected, abs=1e-12)
    assert target.log_prob(torch.tensor([1.0, 2.0])).shape == (2,)  # a flat (n,) input is accepted too
    assert target.log_prob(torch.zeros(3, 1)).dtype == torch.float32


def test_mixture_density_at_known_points() -> None:
    target = _build("gaussian_mixture_1d", {"components": 2, "separation": 4.0})  # means ±2
    for x in (-2.0, 0.0, 0.7, 5.0):
        expected = math.log(0.5 * (math.exp(-0.5 * (x - 2) ** 2) + math.exp(-0.5 * (x + 2) ** 2))
                            / math.sqrt(2 * math.pi))
        assert float(target.log_prob(torch.tensor([[x]], dtype=F64))) == pytest.approx(expected, abs=1e-12)


def test_bounds_hold_the_mass_and_the_base() -> None:
    assert _build("affine_gaussian_1d").bounds == (-4.0, 4.75)  # N(0, 1) base (±4) and 1 ± 5·0.75
    assert _build("gaussian_mixture_1d", {"components": 3, "separation": 2.0}).bounds == (-7.0, 7.0)


def test_entropies_match_the_analytic_values() -> None:
    affine = _build("affine_gaussian_1d").entropy(n=100_000, seed=3)
    expected = 0.5 * math.log(2 * math.pi * math.e * 0.75 ** 2)
    assert abs(affine.value - expected) < 4 * affine.stderr + 1e-9
    assert expected == pytest.approx(1.13126, abs=1e-5)
    # Three unit Gaussians 8 apart barely overlap: H = log 3 + ½ log(2πe).
    mix = _build("gaussian_mixture_1d", {"components": 3, "separation": 8.0}).entropy(n=100_000, seed=3)
    assert abs(mix.value - (math.log(3) + 0.5 * math.log(2 * math.pi * math.e))) < 4 * mix.stderr + 1e-4


def test_bad_parameters_are_reported() -> None:
    with pytest.raises(TargetError, match="scale"):
        build_target({"kind": "affine_gaussian_1d", "params": {"scale": 0.0}})
    with pytest.raises(TargetError, match="components"):
        build_target({"kind": "gaussian_mixture_1d", "params": {"components": 0}})
