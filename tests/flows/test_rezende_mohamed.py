"""Planar, radial, Householder and Sylvester layers, far from their identity initialisation, in float64."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch.func import functional_call, jacrev

from flowlab.flows import LAYERS, build_flow
from flowlab.flows.base import Bijection
from flowlab.flows.layers.linear import Householder
from flowlab.flows.layers.rezende_mohamed import SOLVER_ITERATIONS, TOLERANCE, Planar, Radial, solve_tanh_equation
from flowlab.flows.layers.sylvester import Sylvester

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _planar(dim: int, wu: float, u_perp: float, b: float, w_norm: float = 1.0, seed: int = 0) -> Planar:
    """A float64 planar layer with wᵀu = ``wu`` (so 1 + wᵀû = softplus(wu)) and ‖u − its w part‖ = ``u_perp``."""
    g = _gen(seed)
    layer = Planar(dim, g).double()
    w = torch.randn(dim, generator=g, dtype=F64)
    w = w_norm * w / w.norm()
    perp = torch.randn(dim, generator=g, dtype=F64)
    perp = perp - (perp @ w) * w / (w @ w)
    perp = u_perp * perp / perp.norm() if dim > 1 else perp * 0
    with torch.no_grad():
        layer.w.copy_(w)
        layer.u.copy_(perp + wu * w / (w @ w))
        layer.b.fill_(b)
    return layer


def _radial(dim: int, alpha: float, beta_hat: float, seed: int = 0) -> Radial:
    """A float64 radial layer with α = ``alpha`` and γ = α + β = softplus(``beta_hat``)."""
    layer = Radial(dim, _gen(seed)).double()
    with torch.no_grad():
        layer.alpha_hat.fill_(math.log(math.expm1(alpha)))
        layer.beta_hat.fill_(beta_hat)
        layer.z0.copy_(torch.randn(dim, generator=_gen(seed + 1), dtype=F64))
    return layer


def _sylvester(dim: int, reflections: int, diag: float, seed: int = 0) -> Sylvester:
    """Sylvester with R_ii = tanh(±diag), R̃_ii = tanh(∓diag) (R_ii R̃_ii near −1 for large ``diag``), full R's."""
    g = _gen(seed)
    layer = Sylvester(dim, reflections, g).double()
    sign = torch.where(torch.rand(dim, generator=g) < 0.5, -1.0, 1.0).to(F64)
    with torch.no_grad():
        layer.r_diag.copy_(sign * diag)
        layer.rt_diag.copy_(-sign * diag)
        layer.r_upper.copy_(2.0 * torch.randn(dim, dim, generator=g, dtype=F64))
        layer.rt_upper.copy_(torch.randn(dim, dim, generator=g, dtype=F64))
        layer.b.copy_(torch.randn(dim, generator=g, dtype=F64))
    return layer


def _points(n: int, dim: int, scale: float = 3.0, seed: int = 1) -> torch.Tensor:
    return scale * torch.randn(n, dim, generator=_gen(seed), dtype=F64)


def _jacobian_logdets(fn, x: torch.Tensor) -> torch.Tensor:
    """log|det| of each example's block of the autograd Jacobian of a batched map."""
    b, d = x.shape
    jac = jacrev(fn)(x).reshape(b, d, b, d)
    idx = torch.arange(b)
    return torch.linalg.slogdet(jac[idx, :, idx, :])[1]


def _u_hat(layer: Planar) -> torch.Tensor:
    return layer._u_hat()[0]


# Far from identity: moderate; û nearly making the map singular (1 + wᵀû = 8e-7) with a large ‖û‖; a huge
# positive wᵀû; a small w; one dimension.
PLANAR = {
    "moderate": dict(dim=2, wu=-1.0, u_perp=3.0, b=0.7),
    "near-singular": dict(dim=3, wu=-14.0, u_perp=20.0, b=-0.4),
    "steep": dict(dim=2, wu=200.0, u_perp=5.0, b=2.0, w_norm=3.0),
    "small-w": dict(dim=5, wu=0.3, u_perp=1.0, b=0.2, w_norm=0.05),
    "1-d": dict(dim=1, wu=-12.0, u_perp=0.0, b=0.1),
}


# -- planar --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", PLANAR)
def test_planar_round_trip_both_ways(name: str) -> None:
    layer = _planar(**PLANAR[name])
    dim = PLANAR[name]["dim"]
    x = torch.cat([_points(500, dim), 50.0 * torch.nn.functional.normalize(_points(100, dim, seed=2), dim=1)])
    with torch.no_grad():
        z, _ = layer(x)
        x_back, _ = layer.inverse(z)
        z2, _ = layer(layer.inverse(z + 0.5)[0])
    # Data side: the round trip error is û times the scalar residual.
    bound = TOLERANCE * (1.0 + _u_hat(layer).norm())
    assert (x_back - x).abs().max() < bound
    # Latent side: the error is û·residual / (1 + wᵀû sech²), larger where the map is nearly singular.
    assert (z2 - (z + 0.5)).abs().max() < 1e-9


def test_planar_solver_converges_for_extreme_parameters() -> None:
    """1 + wᵀû down to 1e-13 with roots on the inflection (the flattest spot), wᵀû up to 1e4, |x| = 50."""
    eps = torch.finfo(F64).eps
    for wu, u_perp, b in [(-20.7, 50.0, 0.0), (-14.0, 20.0, 3.0), (1e4, 10.0, -1.0), (-30.0, 1.0, 0.5)]:
        layer = _planar(4, wu, u_perp, b, seed=3)
        with torch.no_grad():
            w, (u_hat, one_plus_c) = layer.w, layer._u_hat()
            x = 50.0 * torch.nn.functional.normalize(_points(2000, 4, seed=4), dim=1)
            on_inflection = -b * w / (w @ w) + _points(200, 4, seed=5) * 1e-3  # wᵀz + b ≈ 0: where det ≈ 0
            x = torch.cat([x, layer.inverse(on_inflection)[0]])
            # The stated tolerance is on the scalar equation a + (wᵀû)·tanh(a + b) = wᵀx that forward solves.
            a = solve_tanh_equation(x @ w, one_plus_c - 1.0, torch.ones_like(layer.b), layer.b, one_plus_c)
            residual = (a + (one_plus_c - 1.0) * torch.tanh(a + b) - x @ w).abs().max()
            z, ladj = layer(x)
            x_back, _ = layer.inverse(z)
        assert residual < TOLERANCE, (wu, residual)
        assert torch.isfinite(z).all() and torch.isfinite(ladj).all()
        # In data space the residual is multiplied by û, and rounding of z by the map's Lipschitz constant.
        lipschitz = 1.0 + u_hat.norm() * w.norm()
        assert (x_back - x).abs().max() < TOLERANCE * (1.0 + u_hat.norm()) + 16 * eps * 50.0 * lipschitz


def _random_scalar_problems(n: int) -> tuple[torch.Tensor, ...]:
    """(y, u, w, s, 1 + uw) spanning |u| in [1e-3, 1e2], 1 + uw in [1e-8, 10], |s| and |y| up to ~1e2."""
    g = _gen(7)

    def log_uniform(lo: float, hi: float) -> torch.Tensor:
        return 10.0 ** (lo + (hi - lo) * torch.rand(n, generator=g, dtype=F64))

    u = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0).to(F64) * log_uniform(-3, 2)
    one_plus_uw = log_uniform(-8, 1)
    s = torch.randn(n, generator=g, dtype=F64) * log_uniform(-2, 2)
    y = torch.randn(n, generator=g, dtype=F64) * log_uniform(-2, 2)
    return y, u, (one_plus_uw - 1.0) / u, s, one_plus_uw


def test_scalar_solver_on_random_hard_problems_and_that_the_check_can_fail() -> None:
    y, u, w, s, one_plus_uw = _random_scalar_problems(20000)
    for iterations, should_pass in [(SOLVER_ITERATIONS // 4, False), (SOLVER_ITERATIONS, True)]:
        zeta = solve_tanh_equation(y, u, w, s, one_plus_uw, iterations)
        residual = (zeta + u * torch.tanh(w * zeta + s) - y).abs().max()
        assert (residual < TOLERANCE) == should_pass, (iterations, residual)


def test_planar_float32_reaches_single_precision() -> None:
    layer = _planar(**PLANAR["moderate"]).float()
    x = _points(1000, 2).float()
    with torch.no_grad():
        x_back, _ = layer.inverse(layer(x)[0])
    assert (x_back - x).abs().max() < 1e-5


@pytest.mark.parametrize("make", [lambda: _planar(2, wu=-12.0, u_perp=1.0, b=0.3), lambda: _sylvester(2, 2, 7.0)],
                         ids=["planar", "sylvester"])
def test_float32_log_det_near_singularity(make) -> None:
    """With 1 + wᵀû ≈ 6e-6 (or R_ii R̃_ii ≈ −1 + 3e-6), 1 + c·sech² must not be formed as a float32 difference."""
    layer64 = make()
    layer32 = copy.deepcopy(layer64).float()
    z = _points(2000, 2, scale=0.5, seed=6)
    with torch.no_grad():
        _, ladj64 = layer64.inverse(z)
        _, ladj32 = layer32.inverse(z.float())
    assert ladj64.min() < -8.0  # the test reaches the near-singular region
    assert (ladj32.double() - ladj64).abs().max() < 1e-4


@pytest.mark.parametrize("name", PLANAR)
def test_planar_ladj_matches_autograd_jacobian(name: str) -> None:
    layer = _planar(**PLANAR[name])
    x = _points(6, PLANAR[name]["dim"])
    z, ladj_fwd = layer(x)
    z = z.detach()
    _, ladj_inv = layer.inverse(z)
    ref_fwd = _jacobian_logdets(lambda t: layer(t)[0], x)
    ref_inv = _jacobian_logdets(lambda t: layer.inverse(t)[0], z)
    assert (ladj_fwd - ref_fwd).abs().max() < 1e-8
    assert (ladj_inv - ref_inv).abs().max() < 1e-10
    assert (ladj_fwd + ladj_inv).abs().max() < 1e-10


def _gradcheck_forward(layer: Bijection, x: torch.Tensor) -> bool:
    """gradcheck of forward's (z, ladj) w.r.t. the input and every parameter (finite differences vs autograd)."""
    names = [n for n, _ in layer.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in layer.parameters()]

    def fn(x: torch.Tensor, *ps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return functional_call(layer, dict(zip(names, ps, strict=True)), (x,))

    return torch.autograd.gradcheck(fn, (x.clone().requires_grad_(), *params), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", ["moderate", "near-singular", "1-d"])
def test_planar_gradients_through_the_solver_match_finite_differences(name: str) -> None:
    layer = _planar(**PLANAR[name])
    assert _gradcheck_forward(layer, _points(3, PLANAR[name]["dim"]))


def test_planar_starts_near_identity_and_trainable() -> None:
    layer = build_flow([{"kind": "planar"}], (2,)).layers[0]
    x = _points(100, 2)
    z, ladj = layer(x.float())
    assert (z - x.float()).abs().max() < 0.1 and ladj.abs().max() < 0.05
    assert layer.w.norm() > 0.5
    ladj.sum().backward()
    assert all(p.grad is not None and p.grad.abs().max() > 0 for p in (layer.w, layer.u))


# -- radial --------------------------------------------------------------------------------------------------
# (D, α, β̂): β far above 0; β close to −α (γ = α + β = 1e-13); a sharp centre (α = 1e-6 ≪ γ: where the
# textbook root (−p + √(p² + 4αr_x))/2 cancels); one dimension.
RADIAL = {"expanding": (2, 0.5, 3.0), "collapsing": (2, 1.3, -30.0), "sharp-centre": (3, 1e-6, 10.0),
          "1-d": (1, 2.0, -20.0)}


@pytest.mark.parametrize("name", RADIAL)
def test_radial_round_trip_both_ways(name: str) -> None:
    layer = _radial(*RADIAL[name])
    x = _points(500, RADIAL[name][0])
    with torch.no_grad():
        z, ladj_fwd = layer(x)
        x_back, ladj_inv = layer.inverse(z)
        z2, _ = layer(layer.inverse(x)[0])
    # A sharp centre expands ~γ/α = 1e7-fold in the inverse, so it amplifies the rounding of z by as much.
    tol = 1e-8 if name == "sharp-centre" else 1e-12
    assert (x_back - x).abs().max() < tol and (z2 - x).abs().max() < tol
    assert (ladj_fwd + ladj_inv).abs().max() < 10 * tol


@pytest.mark.parametrize("name", RADIAL)
def test_radial_closed_form_inverse_is_relatively_accurate_down_to_the_centre(name: str) -> None:
    """With z₀ = 0 no digits are lost to absolute rounding, so the radius must come back to within a few
    rounding errors times its condition number, from ‖z‖ = 1e-280 up (the textbook root cancels: errors of
    order one), and the centre must map to itself."""
    dim, alpha, beta_hat = RADIAL[name]
    layer = _radial(dim, alpha, beta_hat)
    with torch.no_grad():
        layer.z0.zero_()
    r = torch.cat([torch.zeros(1, dtype=F64), 10.0 ** torch.linspace(-280, 2, 283, dtype=F64)])
    z = r[:, None] * torch.nn.functional.normalize(_points(len(r), dim), dim=1)
    with torch.no_grad():
        x, ladj_inv = layer.inverse(z)
        z_back, ladj_fwd = layer(x)
    assert (z_back[0] == 0).all() and torch.isfinite(ladj_fwd).all() and torch.isfinite(ladj_inv).all()
    # cond = d log r / d log r_x: how much the relative rounding of x is amplified in r.
    gamma = torch.nn.functional.softplus(torch.tensor(beta_hat, dtype=F64))
    r_x = r[1:] * (gamma + r[1:]) / (alpha + r[1:])
    slope = (r[1:] ** 2 + 2 * alpha * r[1:] + alpha * gamma) / (alpha + r[1:]) ** 2
    cond = (r_x / r[1:]) / slope
    relative = (z_back[1:] - z[1:]).norm(dim=1) / r[1:]
    assert (relative / (1.0 + cond)).max() < 20 * torch.finfo(F64).eps
    assert (ladj_fwd + ladj_inv).abs().max() < 1e-12


@pytest.mark.parametrize("name", RADIAL)
def test_radial_ladj_matches_autograd_jacobian(name: str) -> None:
    dim, alpha, beta_hat = RADIAL[name]
    layer = _radial(dim, alpha, beta_hat)
    z = torch.cat([layer.z0.detach()[None], _points(5, dim)])  # the centre included: Jacobian (γ/α)·I there
    x, ladj_inv = layer.inverse(z)
    x = x.detach()
    _, ladj_fwd = layer(x)
    assert (ladj_inv - _jacobian_logdets(lambda t: layer.inverse(t)[0], z)).abs().max() < 1e-9
    assert (ladj_fwd - _jacobian_logdets(lambda t: layer(t)[0], x)).abs().max() < 1e-9


@pytest.mark.parametrize("name", ["expanding", "collapsing"])
def test_radial_gradients(name: str) -> None:
    dim, alpha, beta_hat = RADIAL[name]
    layer = _radial(dim, alpha, beta_hat)
    assert _gradcheck_forward(layer, _points(3, dim))
    at_centre = layer.z0.detach()[None].clone().requires_grad_()
    z, ladj = layer(at_centre)
    (z.sum() + ladj.sum()).backward()
    assert all(torch.isfinite(p.grad).all() for p in (at_centre, *layer.parameters()))


# -- Householder ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dim,reflections", [(2, 1), (2, 16), (5, 3)])
def test_householder_is_orthogonal_and_inverts(dim: int, reflections: int) -> None:
    layer = Householder(dim, reflections, _gen(0)).double()
    x = _points(200, dim)
    z, ladj = layer(x)
    x_back, ladj_inv = layer.inverse(z)
    assert (x_back - x).abs().max() < 1e-12 and (ladj == 0).all() and (ladj_inv == 0).all()
    assert (z.norm(dim=1) - x.norm(dim=1)).abs().max() < 1e-12
    assert _jacobian_logdets(lambda t: layer(t)[0], x[:4]).abs().max() < 1e-12
    if reflections == 1:  # a single reflection is its own inverse and mirrors v
        v = layer.vectors.detach()[0]
        assert torch.allclose(layer(v[None])[0][0], -v)


# -- Sylvester -----------------------------------------------------------------------------------------------
SYLVESTER = {"moderate": (2, 2, 1.0), "near-singular": (3, 2, 6.0), "wide": (5, 4, 2.0)}


@pytest.mark.parametrize("name", SYLVESTER)
def test_sylvester_round_trip_and_ladj(name: str) -> None:
    dim, reflections, diag = SYLVESTER[name]
    layer = _sylvester(dim, reflections, diag)
    x = torch.cat([_points(300, dim), 50.0 * torch.nn.functional.normalize(_points(50, dim, seed=2), dim=1)])
    with torch.no_grad():
        z, ladj_fwd = layer(x)
        x_back, ladj_inv = layer.inverse(z)
    assert (x_back - x).abs().max() < 100 * TOLERANCE  # residuals of D triangular solves, mixed by R and Q
    assert (ladj_fwd + ladj_inv).abs().max() < 1e-8
    xs = x[:5]
    zs = layer(xs)[0].detach()
    assert (layer(xs)[1] - _jacobian_logdets(lambda t: layer(t)[0], xs)).abs().max() < 1e-8
    assert (layer.inverse(zs)[1] - _jacobian_logdets(lambda t: layer.inverse(t)[0], zs)).abs().max() < 1e-10


def test_sylvester_gradients_through_the_solver_match_finite_differences() -> None:
    assert _gradcheck_forward(_sylvester(3, 2, 1.5), _points(2, 3))


# -- registry ------------------------------------------------------------------------------------------------
def test_registration() -> None:
    planar, radial = LAYERS["planar"], LAYERS["radial"]
    assert (planar.directions.forward, planar.directions.inverse) == ("numerical", "closed")
    assert planar.directions.tolerance == TOLERANCE and planar.directions.fast == "inverse"
    assert (radial.directions.forward, radial.directions.inverse) == ("closed", "closed")
    assert LAYERS["householder"].min_features == 2 and LAYERS["sylvester"].directions.forward == "numerical"
    flow = build_flow([{"kind": k} for k in ("planar", "radial", "householder", "sylvester")], (2,)).double()
    x = _points(64, 2)
    with torch.no_grad():
        z, ladj = flow(x)
        x_back, ladj_back = flow.inverse(z)
    assert (x_back - x).abs().max() < 1e-9 and (ladj + ladj_back).abs().max() < 1e-9
    assert flow.numerical_directions() == [(0, "planar", "forward"), (3, "sylvester", "forward")]


# -- hand-set maps -------------------------------------------------------------------------------------------
def test_hand_set_planar_is_exactly_the_map_written_down() -> None:
    """x = z + u·tanh(wᵀz + b) with the u given (it satisfies wᵀu > −1, so it is the map's û unchanged)."""
    w, u, b = [1.5, -0.5], [-0.2, 0.9], 0.3  # wᵀu = −0.75
    flow = build_flow([{"kind": "planar", "params": {"w": w, "u": u, "b": b, "learnable": False}}], (2,)).double()
    assert not list(flow.parameters()), "a map that is not learnable has nothing to train"
    z = _points(200, 2)
    x, ladj = flow.layers[0].inverse(z)
    wt, ut = torch.tensor(w, dtype=F64), torch.tensor(u, dtype=F64)
    t = z @ wt + b
    assert torch.allclose(x, z + torch.tanh(t)[:, None] * ut, atol=1e-6)
    assert torch.allclose(ladj, torch.log(1 + (wt @ ut) / torch.cosh(t) ** 2), atol=1e-6)
    z_back, _ = flow.layers[0](x)
    assert (z_back - z).abs().max() < 1e-5


def test_hand_set_radial_is_exactly_the_map_written_down() -> None:
    z0, alpha, beta = [0.5, -1.0], 0.7, -0.4
    flow = build_flow([{"kind": "radial", "params": {"z0": z0, "alpha": alpha, "beta": beta, "learnable": False}}],
                      (2,)).double()
    assert not list(flow.parameters())
    z = _points(200, 2)
    x, _ = flow.layers[0].inverse(z)
    d = z - torch.tensor(z0, dtype=F64)
    r = d.norm(dim=-1, keepdim=True)
    assert torch.allclose(x, z + beta * d / (alpha + r), atol=1e-6)


def test_hand_set_values_are_a_learnable_start_when_asked() -> None:
    params = {"w": [1.0, 0.0], "u": [0.0, 2.0], "b": 0.0}
    layer = build_flow([{"kind": "planar", "params": params}], (2,)).layers[0]
    assert torch.allclose(layer._u_hat()[0], torch.tensor([0.0, 2.0]), atol=1e-6)
    x, ladj = layer.inverse(_points(50, 2).float())
    (x.sum() + ladj.sum()).backward()
    assert all(p.grad is not None and p.grad.abs().max() > 0 for p in (layer.w, layer.u))


@pytest.mark.parametrize(("kind", "params", "field"), [
    ("planar", {"w": [1.0, 1.0], "u": [-1.0, -0.5]}, "u"),  # wᵀu = −1.5: not invertible
    ("planar", {"w": [1.0, 0.0], "u": [-1.0, 0.0]}, "u"),  # wᵀu = −1 exactly: the plane folds
    ("planar", {"u": [0.5, 0.5]}, "u"),  # u without w: invertibility unknown
    ("planar", {"w": [0.0, 0.0]}, "w"),
    ("planar", {"w": [1.0, 0.0, 2.0]}, "w"),  # three numbers for 2-D data
    ("planar", {"w": "1, 0"}, "w"),
    ("planar", {"w": [1.0, float("nan")]}, "w"),
    ("radial", {"alpha": 0.5, "beta": -0.5}, "beta"),  # β = −α
    ("radial", {"z0": [1.0]}, "z0"),
])
def test_hand_set_values_that_break_invertibility_or_the_shape_are_refused(kind, params, field) -> None:
    from flowlab.flows import validate_stack

    problems = validate_stack([{"kind": kind, "params": params}], (2,))
    assert len(problems) == 1 and problems[0].param == field


def test_a_not_learnable_stack_trains_without_an_optimizer_and_stays_as_set() -> None:
    from flowlab.targets import build_target
    from flowlab.training.settings import TrainSettings
    from flowlab.training.trainer import Trainer

    layers = [{"kind": "planar", "params": {"w": [1.0, 0.5], "u": [0.5, 1.0], "learnable": False}}]
    t = Trainer(layers, build_target({"kind": "u2"}), TrainSettings(energy_samples=64, eval_every=2))
    before = {k: v.clone() for k, v in t.flow.state_dict().items()}
    for _ in range(3):
        report = t.train_step()
    assert math.isfinite(report.loss)
    assert all(torch.equal(before[k], v) for k, v in t.flow.state_dict().items())
