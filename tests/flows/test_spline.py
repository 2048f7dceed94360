"""Rational-quadratic splines: the elementwise function, and the coupling and autoregressive layers built on it."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from flowlab.flows import build_flow
from flowlab.flows.maps import MIN_BIN_HEIGHT, MIN_BIN_WIDTH, MIN_DERIVATIVE, rq_spline
from flowlab.flows.schemes import coupling_split

F64 = torch.float64
BOUND = 3.0
K = 6


def _params(n: int, scale: float = 1.5, seed: int = 0, dtype: torch.dtype = F64) -> tuple[torch.Tensor, ...]:
    """Random unconstrained widths, heights (n, K) and interior derivatives (n, K-1)."""
    gen = torch.Generator().manual_seed(seed)
    return tuple(scale * torch.randn(n, k, generator=gen, dtype=dtype) for k in (K, K, K - 1))


def _data_points(n: int, seed: int = 1, dtype: torch.dtype = F64) -> torch.Tensor:
    """Points inside and outside [-B, B], with the boundary and far-away values included."""
    gen = torch.Generator().manual_seed(seed)
    special = torch.tensor([-BOUND, BOUND, -1e6, 1e6, 0.0, BOUND + 1e-9, -BOUND - 1e-9], dtype=dtype)
    return torch.cat([special, 2.0 * BOUND * torch.randn(n - len(special), generator=gen, dtype=dtype)])


def _spline(x: torch.Tensor, params: tuple[torch.Tensor, ...], inverse: bool) -> tuple[torch.Tensor, torch.Tensor]:
    return rq_spline(x, *params, inverse=inverse, tail_bound=BOUND)


# -- the function ----------------------------------------------------------------------------------------------
def test_round_trip_both_ways_including_tails() -> None:
    params = _params(2000)
    x = _data_points(2000)
    y, lad = _spline(x, params, inverse=False)
    x_back, lad_back = _spline(y, params, inverse=True)
    assert (x_back - x).abs().max() < 1e-6
    assert (lad + lad_back).abs().max() < 1e-6

    y2 = _data_points(2000, seed=2)
    x2, lad2 = _spline(y2, params, inverse=True)
    y2_back, lad2_back = _spline(x2, params, inverse=False)
    assert (y2_back - y2).abs().max() < 1e-6
    assert (lad2 + lad2_back).abs().max() < 1e-6
    assert (y - x).abs().max() > 0.1, "random parameters should bend the spline"


def test_identity_outside_the_tail_bound() -> None:
    params = _params(2000)
    x = _data_points(2000)
    for inverse in (False, True):
        y, lad = _spline(x, params, inverse)
        outside = x.abs() > BOUND
        assert outside.sum() > 100
        assert torch.equal(y[outside], x[outside]) and torch.equal(lad[outside], torch.zeros_like(lad[outside]))
        # The ends of the interval are fixed points: the spline is continuous with the tails.
        assert (y[:2] - x[:2]).abs().max() < 1e-12


@pytest.mark.parametrize("inverse", [False, True])
def test_logabsdet_is_the_autograd_derivative(inverse: bool) -> None:
    params = _params(500, seed=3)
    x = _data_points(500, seed=4).requires_grad_(True)
    y, lad = _spline(x, params, inverse)
    (dydx,) = torch.autograd.grad(y.sum(), x)  # elementwise map: the gradient of the sum is the derivative
    assert (dydx > 0).all()
    assert (torch.log(dydx) - lad).abs().max() < 1e-9


def test_spline_is_monotone_and_interpolates_its_knots() -> None:
    w, h, d = (p[:1] for p in _params(1, scale=2.0, seed=5))
    x = torch.linspace(-2 * BOUND, 2 * BOUND, 20001, dtype=F64)
    params = tuple(p.expand(len(x), -1) for p in (w, h, d))
    y, _ = _spline(x, params, inverse=False)
    assert (y[1:] - y[:-1] > 0).all()

    # Knots computed independently: y(x_k) = y_k and y'(x_k) = d_k.
    def knots(u: torch.Tensor, min_size: float) -> torch.Tensor:
        frac = min_size + (1 - min_size * K) * torch.softmax(u, -1)
        return -BOUND + 2 * BOUND * F.pad(torch.cumsum(frac, -1), (1, 0))

    xk, yk = knots(w[0], MIN_BIN_WIDTH), knots(h[0], MIN_BIN_HEIGHT)
    dk = torch.cat([torch.ones(1, dtype=F64), MIN_DERIVATIVE + F.softplus(d[0]), torch.ones(1, dtype=F64)])
    at = xk.clone().requires_grad_(True)
    y_at, lad_at = _spline(at, tuple(p.expand(K + 1, -1) for p in (w, h, d)), inverse=False)
    assert (y_at - yk).abs().max() < 1e-12
    assert (lad_at.exp() - dk).abs().max() < 1e-9


def test_float32_is_robust_at_the_boundary_and_far_away() -> None:
    params = _params(8, dtype=torch.float32)
    x = torch.tensor([-BOUND, BOUND, -1e30, 1e30, float("inf"), -float("inf"), 0.5, -0.5])
    wh = [p.clone().requires_grad_(True) for p in params]
    for inverse in (False, True):
        y, lad = rq_spline(x, *wh, inverse=inverse, tail_bound=BOUND)
        assert torch.isfinite(lad).all() and torch.equal(y[2:6], x[2:6])
        grads = torch.autograd.grad((y[:2].sum() + y[6:].sum() + lad.sum()), wh)
        assert all(torch.isfinite(g).all() for g in grads), "the identity tails must not poison gradients"
    y, _ = rq_spline(x[6:], *(p[6:] for p in params), inverse=False, tail_bound=BOUND)
    x_back, _ = rq_spline(y, *(p[6:] for p in params), inverse=True, tail_bound=BOUND)
    assert (x_back - x[6:]).abs().max() < 1e-4


# -- the layers ------------------------------------------------------------------------------------------------
SPLINE_LAYERS = [
    {"kind": "spline_coupling"},
    {"kind": "spline_coupling", "params": {"mask": "alternating", "flip": True}},
    {"kind": "spline_autoregressive", "params": {"direction": "maf"}},
    {"kind": "spline_autoregressive", "params": {"direction": "iaf"}},
]


def _randomise(flow: torch.nn.Module, seed: int = 0, noise: float = 0.3) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(noise * torch.randn(p.shape, generator=gen, dtype=p.dtype))


def _layer_id(entry: dict) -> str:
    return "-".join(map(str, [entry["kind"], *entry.get("params", {}).values()]))


@pytest.mark.parametrize("layer", SPLINE_LAYERS, ids=_layer_id)
def test_layers_are_the_identity_at_initialisation(layer: dict) -> None:
    flow = build_flow([layer], (3,)).double()
    x = 2.0 * torch.randn(50, 3, dtype=F64)
    z, ladj = flow(x)
    x2, ladj2 = flow.inverse(x)
    assert (z - x).abs().max() < 1e-12 and ladj.abs().max() < 1e-12
    assert (x2 - x).abs().max() < 1e-12 and ladj2.abs().max() < 1e-12
    _randomise(flow)
    assert (flow(x)[0] - x).abs().max() > 1e-2, "randomised weights must move the layer off the identity"


@pytest.mark.parametrize("mask,flip,cond", [
    ("half", False, [0, 1]), ("half", True, [2, 3, 4]),
    ("alternating", False, [0, 2, 4]), ("alternating", True, [1, 3]),
])
def test_coupling_leaves_the_conditioning_features_alone(mask: str, flip: bool, cond: list[int]) -> None:
    assert coupling_split(5, mask, flip)[0].tolist() == cond
    flow = build_flow([{"kind": "spline_coupling", "params": {"mask": mask, "flip": flip}}], (5,)).double()
    _randomise(flow)
    x = torch.randn(64, 5, dtype=F64)
    z, ladj = flow(x)
    x_back, ladj_back = flow.inverse(z)
    trans = [i for i in range(5) if i not in cond]
    assert torch.equal(z[:, cond], x[:, cond])
    assert ((z[:, trans] - x[:, trans]).abs() > 1e-6).all()
    assert (x_back - x).abs().max() < 1e-9 and (ladj + ladj_back).abs().max() < 1e-9


@pytest.mark.parametrize("direction,fast", [("maf", "forward"), ("iaf", "inverse")])
def test_autoregressive_calls_its_made_once_in_the_fast_direction(direction: str, fast: str) -> None:
    dim = 4
    flow = build_flow([{"kind": "spline_autoregressive", "params": {"direction": direction}}], (dim,)).double()
    _randomise(flow)
    made = flow.layers[0].made
    calls = []
    made.register_forward_hook(lambda *_: calls.append(1))
    x = torch.randn(16, dim, dtype=F64)
    z, ladj = flow(x)
    n_forward = len(calls)
    x_back, ladj_back = flow.inverse(z)
    n_inverse = len(calls) - n_forward
    assert (n_forward, n_inverse) == ((1, dim) if fast == "forward" else (dim, 1))
    assert (x_back - x).abs().max() < 1e-9 and (ladj + ladj_back).abs().max() < 1e-9


def test_autoregressive_jacobian_is_lower_triangular() -> None:
    flow = build_flow([{"kind": "spline_autoregressive", "params": {"direction": "iaf"}}], (4,)).double()
    _randomise(flow)
    for fn in (lambda t: flow(t)[0], lambda t: flow.inverse(t)[0]):
        jac = torch.autograd.functional.jacobian(fn, torch.randn(1, 4, dtype=F64))[0, :, 0, :]
        assert torch.triu(jac, 1).abs().max() == 0
        assert torch.tril(jac, -1).abs().max() > 1e-4
