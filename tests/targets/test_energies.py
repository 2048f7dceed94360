"""Energy targets: Rezende & Mohamed's U1–U4 against the paper's formulas, their normalisers, the box wall, and
the painted energy (orientation, interpolation, closed-form normaliser, user errors)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from flowlab.targets import TARGETS, TargetError, build_target, grid_points

F64 = torch.float64
KINDS = ["u1", "u2", "u3", "u4"]
TAU = 0.05  # the documented wall width around [-4, 4]² for U2–U4


# -- the paper's Table 1, written out with the math module ---------------------------------------------------------
def w1(z1: float) -> float:
    return math.sin(2 * math.pi * z1 / 4)


def w2(z1: float) -> float:
    return 3 * math.exp(-0.5 * ((z1 - 1) / 0.6) ** 2)


def w3(z1: float) -> float:
    return 3 / (1 + math.exp(-(z1 - 1) / 0.3))


PAPER: dict[str, Callable[[float, float], float]] = {
    "u1": lambda z1, z2: 0.5 * ((math.hypot(z1, z2) - 2) / 0.4) ** 2
    - math.log(math.exp(-0.5 * ((z1 - 2) / 0.6) ** 2) + math.exp(-0.5 * ((z1 + 2) / 0.6) ** 2)),
    "u2": lambda z1, z2: 0.5 * ((z2 - w1(z1)) / 0.4) ** 2,
    "u3": lambda z1, z2: -math.log(math.exp(-0.5 * ((z2 - w1(z1)) / 0.35) ** 2)
                                   + math.exp(-0.5 * ((z2 - w1(z1) + w2(z1)) / 0.35) ** 2)),
    "u4": lambda z1, z2: -math.log(math.exp(-0.5 * ((z2 - w1(z1)) / 0.4) ** 2)
                                   + math.exp(-0.5 * ((z2 - w1(z1) + w3(z1)) / 0.35) ** 2)),
}
POINTS = [(0.0, 0.0), (1.0, -0.5), (2.5, 1.3), (-1.7, 2.2), (3.9, -3.9)]


def _energy(kind: str, points: list[tuple[float, float]] | torch.Tensor, **build: Any) -> torch.Tensor:
    target = build_target({"kind": kind, **build})
    return target.energy(torch.as_tensor(points, dtype=F64))


def test_kinds_are_registered_as_energies() -> None:
    for kind in KINDS + ["painted_energy"]:
        spec = TARGETS[kind]
        assert spec.family == "energy" and spec.objective == "energy"
        assert spec.help and "\n" not in spec.help
    painted = build_target({"kind": "painted_energy", "data": {"grid": [[0.0, 1.0], [2.0, 0.0]]}})
    assert painted.objective == "energy" and painted.shape == (2,)
    for kind in KINDS:
        target = build_target({"kind": kind})
        assert target.objective == "energy" and target.bounds == (-4.0, 4.0, -4.0, 4.0) and target.shape == (2,)


@pytest.mark.parametrize("kind", KINDS)
def test_energies_equal_the_paper_at_known_points(kind: str) -> None:
    got = _energy(kind, POINTS)
    for (z1, z2), u in zip(POINTS, got.tolist(), strict=True):
        assert u == pytest.approx(PAPER[kind](z1, z2), abs=1e-12), (z1, z2)
    assert float(_energy("u1", [(0.0, 0.0)])) == pytest.approx(12.5 - math.log(2) + 0.5 * (2 / 0.6) ** 2)


@pytest.mark.parametrize("kind", KINDS)
def test_energies_equal_the_paper_everywhere_inside_the_box(kind: str) -> None:
    z = 8 * torch.rand(500, 2, dtype=F64) - 4
    expected = torch.tensor([PAPER[kind](a, b) for a, b in z.tolist()], dtype=F64)
    assert (_energy(kind, z) - expected).abs().max() < 1e-10
    z32 = z.float().requires_grad_(True)
    u = build_target({"kind": kind}).energy(z32)
    assert u.dtype == torch.float32 and u.shape == (500,)


@pytest.mark.parametrize("kind", ["u2", "u3", "u4"])
def test_the_wall_outside_the_box(kind: str) -> None:
    # Only outside [-4, 4]²: U = paper + ½(d/τ)², d the distance to the box.
    for z1, z2, d in [(4.5, w1(4.5), 0.5), (-4.2, 0.3, 0.2), (4.3, 4.4, math.hypot(0.3, 0.4))]:
        wall = float(_energy(kind, [(z1, z2)])) - PAPER[kind](z1, z2)
        assert wall == pytest.approx(0.5 * (d / TAU) ** 2, rel=1e-9)
    assert float(_energy("u1", [(4.5, 0.0)])) == pytest.approx(PAPER["u1"](4.5, 0.0))  # U1 needs no wall


@pytest.mark.parametrize("kind", KINDS)
def test_log_normalizer_is_converged_and_holds_all_the_mass(kind: str) -> None:
    target = build_target({"kind": kind})
    log_z = target.log_normalizer()
    assert abs(log_z - target.log_normalizer(1600)) < 1e-3
    # Over a much wider square nothing is added: exp(−U) is integrable and log Z is the true normaliser.
    points, cell = grid_points((-8.0, 8.0, -8.0, 8.0), 1600)
    wide = float(torch.logsumexp(-target.energy(points), 0)) + math.log(cell)
    assert abs(wide - log_z) < 1e-4
    # ... and log p = −U − log Z is a density.
    assert float(target.log_prob(points).exp().sum()) * cell == pytest.approx(1.0, abs=1e-4)


def test_u1_mass_is_inside_the_box() -> None:
    target = build_target({"kind": "u1"})
    points, cell = grid_points(target.bounds, 800)
    inside = float(torch.logsumexp(-target.energy(points), 0)) + math.log(cell)
    assert abs(inside - target.log_normalizer()) < 1e-6


@pytest.mark.parametrize("kind", KINDS)
def test_energies_and_gradients_stay_finite_far_away(kind: str) -> None:
    z = torch.tensor([[0.0, 0.0], [50.0, -50.0], [-50.0, 50.0], [1e3, 0.0], [0.0, -1e3]], requires_grad=True)
    u = build_target({"kind": kind}).energy(z)
    (grad,) = torch.autograd.grad(u.sum(), z)
    assert torch.isfinite(u).all() and torch.isfinite(grad).all()
    assert (u[1:] > 100).all()


# -- painted energy ------------------------------------------------------------------------------------------------
def _painted(grid: Any, bounds: Any = None, floor: float | None = None) -> Any:
    data = {"grid": grid} if bounds is None else {"grid": grid, "bounds": bounds}
    params = {} if floor is None else {"floor": floor}
    return build_target({"kind": "painted_energy", "params": params, "data": data})


def test_painted_row_zero_is_the_top() -> None:
    target = _painted([[1, 0], [0, 0]], floor=1e-3)  # cells 4×4 on [-4, 4]²: top-left painted
    u = target.energy(torch.tensor([[-2.0, 2.0], [-2.0, -2.0], [2.0, 2.0]], dtype=F64))
    assert u.tolist() == pytest.approx([-math.log(1.001), -math.log(1e-3), -math.log(1e-3)], abs=1e-12)


def test_painted_interpolates_bilinearly_between_cell_centres() -> None:
    masses = np.array([[0.0, 2.0, 1.0], [4.0, 0.5, 0.0]])  # on (-1, 5) × (0, 2): cells 2 wide, 1 high
    target = _painted(masses.tolist(), bounds=[-1, 5, 0, 2])
    v = masses / 4.0 + 1e-4
    xs, ys = [0.0, 2.0, 4.0], [1.5, 0.5]  # centres; row 0 at the top (y = 1.5)
    centres = torch.tensor([[x, y] for y in ys for x in xs], dtype=F64)
    assert torch.allclose(target.energy(centres), torch.tensor(-np.log(v).reshape(-1)), atol=1e-12)
    between = torch.tensor([[1.0, 1.5], [0.0, 1.0], [1.0, 1.0]], dtype=F64)
    expected = [(v[0, 0] + v[0, 1]) / 2, (v[0, 0] + v[1, 0]) / 2, v.mean(where=[[1, 1, 0], [1, 1, 0]])]
    assert torch.allclose(target.energy(between), torch.tensor(-np.log(expected)), atol=1e-12)
    # Beyond the outer centres, up to the bounds, the value is held.
    edge = torch.tensor([[-0.9, 1.9], [4.9, 0.1]], dtype=F64)
    assert torch.allclose(target.energy(edge), torch.tensor(-np.log([v[0, 0], v[1, 2]])), atol=1e-12)
    # And it has a gradient to follow between centres of different mass.
    z = torch.tensor([[1.0, 1.2]], dtype=F64, requires_grad=True)
    (grad,) = torch.autograd.grad(target.energy(z).sum(), z)
    assert grad.abs().min() > 0.01


def test_painted_energy_of_bad_points_is_nan_or_inf_not_a_crash() -> None:
    u = _painted([[1, 2], [3, 0]]).energy(torch.tensor([[float("nan"), 0.0], [float("inf"), 1.0], [0.0, 0.0]]))
    assert torch.isnan(u[0]) and torch.isposinf(u[1]) and torch.isfinite(u[2])


def test_painted_scale_of_the_masses_does_not_matter() -> None:
    z = 8 * torch.rand(100, 2, dtype=F64) - 4
    a, b = _painted([[1, 2], [3, 0]]), _painted([[10, 20], [30, 0]])
    assert torch.allclose(a.energy(z), b.energy(z)) and a.log_normalizer() == pytest.approx(b.log_normalizer())


@pytest.mark.parametrize("bounds", [None, [-1, 3, 0, 2]])
def test_painted_normaliser_agrees_with_grid_integration(bounds: Any) -> None:
    gen = np.random.default_rng(0)
    masses = gen.random((5, 7)) * (gen.random((5, 7)) > 0.4)
    target = _painted(masses.tolist(), bounds=bounds)
    xmin, xmax, ymin, ymax = target.bounds
    pad = 10 * (min(xmax - xmin, ymax - ymin) / 160)  # ten wall widths: the wall has killed everything there
    points, cell = grid_points((xmin - pad, xmax + pad, ymin - pad, ymax + pad), 1400)
    by_grid = float(torch.logsumexp(-target.energy(points), 0)) + math.log(cell)
    assert abs(by_grid - target.log_normalizer()) < 1e-4
    assert float(target.log_prob(points).exp().sum()) * cell == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({}, "nothing painted"),
        ({"grid": []}, "empty"),
        ({"grid": [[]]}, "empty"),
        ({"grid": [[0, 0], [0, 0]]}, "all zero"),
        ({"grid": np.zeros((3, 3))}, "all zero"),
        ({"grid": [[1, 2], [3]]}, "different lengths"),
        ({"grid": [[1, "a"]]}, "only numbers"),
        ({"grid": [[1, None]]}, "only numbers"),
        ({"grid": [[True, 1]]}, "only numbers"),
        ({"grid": [[1, -0.5]]}, "negative"),
        ({"grid": [[1, float("nan")]]}, "NaN"),
        ({"grid": "a picture"}, "list of rows"),
        ({"grid": [1, 2, 3]}, "list of rows"),
        ({"grid": np.ones(4)}, "list of rows"),
        ({"grid": [[1]], "bounds": [0, 1, 2]}, "four numbers"),
        ({"grid": [[1]], "bounds": [0, 1, 1, 1]}, "ymin < ymax"),
        ({"grid": [[1]], "bounds": [0, float("inf"), 0, 1]}, "finite"),
        ({"grid": [[1]], "colour": "red"}, "unknown data field"),
    ],
)
def test_painted_grid_errors_are_readable(data: dict[str, Any], words: str) -> None:
    with pytest.raises(TargetError, match=words):
        build_target({"kind": "painted_energy", "data": data})
