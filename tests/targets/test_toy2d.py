"""2-D toy sets: sampler statistics against values derived here from each documented recipe, reproducibility,
and the true densities (normalised, matching histograms of samples, entropies where they are known)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

from flowlab.targets import TARGETS, TargetError, build_target, grid_points
from flowlab.targets.toy2d import CurveTarget, RingTarget, isotropic_mixture_log_prob

F64 = torch.float64
TOY_KINDS = ["moons", "circles", "8gaussians", "2spirals", "checkerboard", "pinwheel", "swissroll", "rings",
             "gaussian_grid"]
# The defaults, and a second setting for the sets with shape parameters.
CASES: list[tuple[str, dict[str, Any]]] = [(k, {}) for k in TOY_KINDS] + [
    ("circles", {"factor": 0.3, "noise": 0.2}),
    ("8gaussians", {"components": 5, "radius": 2.0, "noise": 0.4}),
    ("2spirals", {"turns": 2.5, "noise": 0.05}),
    ("checkerboard", {"squares": 3}),
    ("pinwheel", {"components": 3, "radial_std": 0.3, "tangential_std": 0.2, "rate": 1.5}),
    ("rings", {"rings": 3, "noise": 0.15}),
    ("gaussian_grid", {"per_side": 3, "noise": 0.5}),
]
IDS = [f"{k}-{','.join(f'{n}={v}' for n, v in p.items())}" if p else k for k, p in CASES]


def _build(kind: str, params: dict[str, Any] | None = None) -> Any:
    return build_target({"kind": kind, "params": params or {}})


def _param(kind: str, params: dict[str, Any], name: str) -> Any:
    return params.get(name, next(p.default for p in TARGETS[kind].params if p.name == name))


def _sample(target: Any, n: int, seed: int = 0) -> torch.Tensor:
    return target.sample(n, torch.Generator().manual_seed(seed))


# -- moments derived from the recipes (independently of the module) ------------------------------------------------
def _mean_of(f: Any, lo: float, hi: float, n: int = 200_001) -> np.ndarray:
    """E[f(t)] for t ~ U[lo, hi] by the trapezoid rule; f returns (..., n)."""
    t = np.linspace(lo, hi, n)
    return np.trapezoid(f(t), t, axis=-1) / (hi - lo)


def _curve_second_moment(points: Any, lo: float, hi: float) -> np.ndarray:
    """E[c cᵀ] for c = points(t), t ~ U[lo, hi]."""
    return _mean_of(lambda t: np.einsum("in,jn->ijn", points(t), points(t)), lo, hi)


def expected_moments(kind: str, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The mean and covariance the documented recipe implies."""
    p = lambda name: _param(kind, params, name)  # noqa: E731
    eye = np.eye(2)
    if kind == "moons":  # upper arc u = (2cos θ − 1, 2sin θ − ½), θ ~ U[0, π]; the lower one is −u
        s = p("noise") ** 2
        return np.zeros(2), np.array([[3.0 + s, 0.5 - 4 / math.pi], [0.5 - 4 / math.pi, 2.25 - 4 / math.pi + s]])
    if kind == "circles":
        r_out, r_in = 3.0, 3.0 * p("factor")
        return np.zeros(2), ((r_out ** 2 + r_in ** 2) / 4 + p("noise") ** 2) * eye
    if kind == "8gaussians":
        return np.zeros(2), (p("radius") ** 2 / 2 + p("noise") ** 2) * eye
    if kind == "2spirals":  # θ² ~ U[θ0², θ1²], arms ±(3/θ1)·θ(cos θ, sin θ)
        t0, t1 = math.pi / 2, math.pi / 2 + 2 * math.pi * p("turns")
        arm = lambda q: (3 / t1) * np.sqrt(q) * np.stack([np.cos(np.sqrt(q)), np.sin(np.sqrt(q))])  # noqa: E731
        return np.zeros(2), _curve_second_moment(arm, t0 ** 2, t1 ** 2) + p("noise") ** 2 * eye
    if kind == "checkerboard":  # dark squares (i + j even) of an n×n board on [-3, 3]², uniform
        n = p("squares")
        side = 6.0 / n
        centres = np.array([(-3 + side * (i + 0.5), -3 + side * (j + 0.5))
                            for i in range(n) for j in range(n) if (i + j) % 2 == 0])
        return np.zeros(2), centres.T @ centres / len(centres) + side ** 2 / 12 * eye
    if kind == "pinwheel":  # rotations keep ‖x‖ = ‖f‖, and a K-fold symmetric covariance (K ≥ 3) is isotropic
        second = 2.0 ** 2 + p("radial_std") ** 2 + p("tangential_std") ** 2
        return np.zeros(2), second / 2 * eye
    if kind == "swissroll":  # (3/4.5π)·t(cos t, sin t), t ~ U[1.5π, 4.5π], minus its mean
        a = 3 / (4.5 * math.pi)
        roll = lambda t: a * t * np.stack([np.cos(t), np.sin(t)])  # noqa: E731
        m = _mean_of(roll, 1.5 * math.pi, 4.5 * math.pi)
        second = _curve_second_moment(roll, 1.5 * math.pi, 4.5 * math.pi)
        return np.zeros(2), second - np.outer(m, m) + p("noise") ** 2 * eye
    if kind == "rings":  # radii 3k/n with mass ∝ radius
        r = 3.0 * np.arange(1, p("rings") + 1) / p("rings")
        return np.zeros(2), ((r / r.sum()) @ r ** 2 / 2 + p("noise") ** 2) * eye
    if kind == "gaussian_grid":
        c = np.linspace(-2.5, 2.5, p("per_side"))
        return np.zeros(2), (np.mean(c ** 2) + p("noise") ** 2) * eye
    raise AssertionError(kind)


@pytest.mark.parametrize(("kind", "params"), CASES, ids=IDS)
def test_sampler_mean_and_covariance_match_the_recipe(kind: str, params: dict[str, Any]) -> None:
    n = 100_000
    x = _sample(_build(kind, params), n).double().numpy()
    mean, cov = expected_moments(kind, params)
    # Tolerances: 5 standard errors, estimated from the samples themselves.
    assert np.all(np.abs(x.mean(0) - mean) < 5 * x.std(0) / math.sqrt(n) + 1e-9), (x.mean(0), mean)
    centred = x - mean
    products = np.einsum("ni,nj->nij", centred, centred)
    err = np.abs(products.mean(0) - cov)
    assert np.all(err < 5 * products.std(0) / math.sqrt(n) + 1e-9), (products.mean(0), cov)


# -- contract: shape, dtype, generator, support --------------------------------------------------------------------
def test_every_toy_kind_is_registered_with_help() -> None:
    toys = sorted(k for k, s in TARGETS.items() if s.family == "toy")
    assert toys == sorted(TOY_KINDS)
    for kind in toys:
        spec = TARGETS[kind]
        assert spec.objective == "samples"
        assert spec.help and "\n" not in spec.help
        target = _build(kind)
        assert target.shape == (2,) and target.bounds == (-4.0, 4.0, -4.0, 4.0) and target.has_density


@pytest.mark.parametrize("kind", TOY_KINDS)
def test_samples_are_float32_cpu_and_reproducible(kind: str) -> None:
    target = _build(kind)
    torch.manual_seed(0)
    global_state = torch.get_rng_state()
    a, b, c = _sample(target, 1000, 7), _sample(target, 1000, 7), _sample(target, 1000, 8)
    assert torch.equal(torch.get_rng_state(), global_state), "the sampler must use only the given generator"
    assert a.dtype == torch.float32 and a.shape == (1000, 2) and a.device.type == "cpu"
    assert torch.equal(a, b)
    assert (a - c).abs().max() > 0.1
    assert _sample(target, 0).shape == (0, 2)


@pytest.mark.parametrize(("kind", "params"), CASES, ids=IDS)
def test_samples_lie_in_the_support_and_inside_the_bounds(kind: str, params: dict[str, Any]) -> None:
    target = _build(kind, params)
    x = _sample(target, 20_000)
    lp = target.log_prob(x.double())
    assert torch.isfinite(lp).all()
    xmin, xmax, ymin, ymax = target.bounds
    outside = (x[:, 0] < xmin) | (x[:, 0] > xmax) | (x[:, 1] < ymin) | (x[:, 1] > ymax)
    assert outside.float().mean() < 1e-3
    if kind in ("circles", "rings"):  # every point within 6σ of a ring
        noise = _param(kind, params, "noise")
        assert (x.norm(dim=1) < 3.0 + 6 * noise).all()


def test_bounds_widen_only_when_the_mass_needs_room() -> None:
    assert _build("gaussian_grid", {"noise": 0.5}).bounds == (-5.0, 5.0, -5.0, 5.0)  # 2.5 + 4.5·0.5 = 4.75
    assert _build("moons", {"noise": 1.0}).bounds == (-7.5, 7.5, -7.5, 7.5)  # 3 + 4.5
    assert _build("pinwheel", {"radial_std": 0.6}).bounds == (-5.0, 5.0, -5.0, 5.0)


def test_checkerboard_support_is_the_dark_squares() -> None:
    target = _build("checkerboard")
    x = _sample(target, 20_000).double()
    cells = torch.floor((x + 3.0) / 1.5)
    assert ((cells >= 0) & (cells < 4)).all() and (cells.sum(dim=1) % 2 == 0).all()
    light = torch.tensor([[-2.25, -0.75], [0.75, -0.75], [3.5, 0.0], [0.1, 0.1]], dtype=F64)
    assert torch.isneginf(target.log_prob(light)[:3]).all()
    assert target.log_prob(light)[3] == -math.log(8 * 1.5 ** 2)


def test_log_prob_keeps_the_input_dtype_and_handles_far_points() -> None:
    for kind in TOY_KINDS:
        target = _build(kind)
        x = torch.tensor([[0.3, -0.2], [50.0, -60.0]])
        lp32, lp64 = target.log_prob(x), target.log_prob(x.double())
        assert lp32.dtype == torch.float32 and lp64.dtype == F64 and lp64.shape == (2,)
        assert not torch.isnan(lp64).any() and not torch.isposinf(lp64).any()
        if kind != "checkerboard":
            assert torch.isfinite(lp64).all() and lp64[1] < -100


def test_bad_parameters_are_reported() -> None:
    with pytest.raises(TargetError, match="noise"):
        build_target({"kind": "moons", "params": {"noise": -1.0}})
    with pytest.raises(TargetError, match="components"):
        build_target({"kind": "8gaussians", "params": {"components": 2.5}})


# -- the true densities ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "params"), CASES, ids=IDS)
def test_density_integrates_to_one(kind: str, params: dict[str, Any]) -> None:
    target = _build(kind, params)
    points, cell = grid_points(target.bounds, 200)
    total = float(target.log_prob(points).exp().sum()) * cell
    assert abs(total - 1.0) < 0.01


def _cell_probabilities(target: Any, cells: int, sub: int) -> torch.Tensor:
    """P(cell) on a cells×cells partition of the bounds, by the midpoint rule with sub×sub points per cell."""
    points, area = grid_points(target.bounds, cells * sub)
    p = target.log_prob(points).exp().reshape(cells, sub, cells, sub)  # (row, sub-row, column, sub-column)
    return p.sum(dim=(1, 3)) * area


def _histogram(x: torch.Tensor, bounds: tuple[float, ...], cells: int) -> torch.Tensor:
    xmin, xmax, ymin, ymax = bounds
    ix = ((x[:, 0] - xmin) / (xmax - xmin) * cells).floor().long()
    iy = ((x[:, 1] - ymin) / (ymax - ymin) * cells).floor().long()
    ok = (ix >= 0) & (ix < cells) & (iy >= 0) & (iy < cells)
    return torch.bincount(iy[ok] * cells + ix[ok], minlength=cells * cells).reshape(cells, cells).double()


def _chi_square(observed: torch.Tensor, expected: torch.Tensor, min_expected: float = 20.0) -> tuple[float, int]:
    """Pearson's statistic over cells expecting at least ``min_expected``, the others pooled into one bin."""
    big = expected >= min_expected
    obs = torch.cat([observed[big], observed[~big].sum()[None]])
    exp = torch.cat([expected[big], expected[~big].sum()[None]])
    keep = exp > 0
    return float(((obs[keep] - exp[keep]) ** 2 / exp[keep]).sum()), int(keep.sum()) - 1


def _histogram_agrees(target: Any, sampler: Any, n: int = 50_000) -> bool:
    observed = _histogram(_sample(sampler, n, seed=3).double(), target.bounds, 16)
    expected = n * _cell_probabilities(target, 16, 10)
    chi2, dof = _chi_square(observed, expected)
    return chi2 < dof + 6 * math.sqrt(2 * dof)


@pytest.mark.parametrize(("kind", "params"), CASES, ids=IDS)
def test_density_agrees_with_a_histogram_of_samples(kind: str, params: dict[str, Any]) -> None:
    target = _build(kind, params)
    assert _histogram_agrees(target, target)


def test_the_histogram_check_can_fail() -> None:
    # A density 20% too wide, or a lattice shifted by a fifth of a blob width, is caught.
    assert not _histogram_agrees(_build("8gaussians", {"noise": 0.3}), _build("8gaussians"))
    assert not _histogram_agrees(_build("circles", {"factor": 0.52}), _build("circles"))


def test_curve_quadrature_matches_the_closed_form_on_a_circle() -> None:
    def circle(s: torch.Tensor) -> torch.Tensor:
        return 2.0 * torch.stack([torch.cos(2 * math.pi * s), torch.sin(2 * math.pi * s)], dim=1)

    for noise in (0.05, 0.3):
        exact, quad = RingTarget((2.0,), (1.0,), noise), CurveTarget((circle,), (1.0,), noise)
        x = torch.cat([_sample(exact, 2000).double(), 6 * torch.rand(2000, 2, dtype=F64) - 3])
        lp = exact.log_prob(x)
        near = lp > lp.max() - 30
        assert (quad.log_prob(x) - lp)[near].abs().max() < 1e-6


def test_large_mixtures_skip_only_negligible_centres() -> None:
    # 700 centres on a wiggly line, points near it, between its loops and far away: the tiled sum must equal the
    # plain one everywhere, including the dtype and the tails.
    gen = torch.Generator().manual_seed(0)
    t = torch.linspace(0, 1, 700, dtype=F64)
    centres = torch.stack([6 * t - 3, torch.sin(12 * t)], dim=1)
    log_w = torch.log(torch.rand(700, generator=gen, dtype=F64))
    x = torch.cat([centres[::3] + 0.1 * torch.randn(234, 2, generator=gen, dtype=F64),
                   8 * torch.rand(500, 2, generator=gen, dtype=F64) - 4, torch.tensor([[40.0, -30.0]], dtype=F64)])
    for sigma in (0.03, 0.1, 1.0):
        d2 = ((x[:, None, :] - centres[None]) ** 2).sum(dim=2)
        plain = torch.logsumexp(log_w - d2 / (2 * sigma ** 2), dim=1) - math.log(2 * math.pi * sigma ** 2)
        assert (isotropic_mixture_log_prob(x, centres, log_w, sigma) - plain).abs().max() < 1e-9


# -- entropies -----------------------------------------------------------------------------------------------------
def _assert_entropy(target: Any, expected: float, slack: float, n: int = 40_000) -> None:
    est = target.entropy(n=n, seed=1)
    assert abs(est.value - expected) < 4 * est.stderr + slack, (est, expected)


def test_entropy_of_separated_gaussian_mixtures() -> None:
    # Well separated equal components: H = log K + log(2πe σ²).
    _assert_entropy(_build("8gaussians"), math.log(8) + math.log(2 * math.pi * math.e * 0.25 ** 2), 0.002)
    _assert_entropy(_build("gaussian_grid", {"noise": 0.1}),
                    math.log(25) + math.log(2 * math.pi * math.e * 0.1 ** 2), 0.002)


def test_entropy_of_the_checkerboard_is_the_log_of_its_area() -> None:
    assert _build("checkerboard").entropy().value == pytest.approx(math.log(8 * 1.5 ** 2), abs=1e-12)
    assert _build("checkerboard", {"squares": 3}).entropy().value == pytest.approx(math.log(5 * 2.0 ** 2))


def test_entropy_of_the_pinwheel_is_that_of_the_untwisted_arms() -> None:
    # The twist preserves area: H = log K + log(2πe σ_r σ_t) while the arms do not overlap.
    _assert_entropy(_build("pinwheel"), math.log(5) + math.log(2 * math.pi * math.e * 0.4 * 0.1), 0.005)


def _arc_entropy(speeds: np.ndarray, weights: list[float]) -> float:
    """Entropy of the arc-length distribution: curve k with probability w_k, then s ~ U[0, 1] moved at speed
    ‖c_k'(s)‖: H = Σ_k w_k (−log w_k + E_s log ‖c_k'(s)‖) (curves disjoint)."""
    return sum(w * (-math.log(w) + float(np.mean(np.log(v)))) for w, v in zip(weights, speeds, strict=True))


def _tube_entropy(kind: str, noise: float) -> float:
    """Thin-tube limit: curve noise of width σ ≪ curvature radius adds ½ log(2πe σ²) to the arc-length entropy."""
    s = (np.arange(200_000) + 0.5) / 200_000
    if kind == "moons":  # two half circles of radius 2
        speeds, weights = [np.full_like(s, 2 * math.pi)] * 2, [0.5, 0.5]
    elif kind == "circles":
        speeds, weights = [np.full_like(s, 2 * math.pi * r) for r in (3.0, 1.5)], [0.5, 0.5]
    elif kind == "rings":
        r = np.array([0.75, 1.5, 2.25, 3.0])
        speeds, weights = [np.full_like(s, 2 * math.pi * ri) for ri in r], list(r / r.sum())
    elif kind == "2spirals":  # θ = √(θ0² + s(θ1² − θ0²)), c = aθ(cos θ, sin θ): ‖dc/ds‖ = a√(1+θ²)·dθ/ds
        t0, t1 = math.pi / 2, 3.5 * math.pi
        theta = np.sqrt(t0 ** 2 + s * (t1 ** 2 - t0 ** 2))
        speeds, weights = [3 / t1 * np.sqrt(1 + theta ** 2) * (t1 ** 2 - t0 ** 2) / (2 * theta)] * 2, [0.5, 0.5]
    elif kind == "swissroll":  # t = 1.5π + 3πs, c = a t(cos t, sin t)
        t = 1.5 * math.pi + 3 * math.pi * s
        speeds, weights = [3 / (4.5 * math.pi) * np.sqrt(1 + t ** 2) * 3 * math.pi], [1.0]
    else:
        raise AssertionError(kind)
    return _arc_entropy(np.array(speeds), weights) + 0.5 * math.log(2 * math.pi * math.e * noise ** 2)


@pytest.mark.parametrize("kind", ["moons", "circles", "rings", "2spirals", "swissroll"])
def test_entropy_of_curve_sets_in_the_thin_tube_limit(kind: str) -> None:
    noise = 0.04
    _assert_entropy(_build(kind, {"noise": noise}), _tube_entropy(kind, noise), 0.01)
