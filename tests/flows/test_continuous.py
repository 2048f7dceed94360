"""The `cnf` layer's own maths, against independent references (the registry-driven contract covers the rest):
the divergence against the trace of autograd's Jacobian, Hutchinson's estimate against it, RK4's order, and the
log-det the layer returns against the one of the augmented ODE."""

from __future__ import annotations

import pytest
import torch
from torch.func import jacrev

from flowlab.flows import LAYERS, build_flow
from flowlab.flows.layers.continuous import SLOPES, VelocityField, rk4_augmented
from tests.flows.cases import Case, randomised_flow


def _field(dim: int, activation: str = "tanh", seed: int = 0) -> VelocityField:
    """A float64 field far from zero (the real one starts at v = 0)."""
    torch.manual_seed(seed)
    field = VelocityField(dim, 16, 2, activation).double()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in field.parameters():
            p.add_(0.5 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return field


def _points(n: int, dim: int, seed: int = 1) -> torch.Tensor:
    return 1.5 * torch.randn(n, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _autograd_jacobians(field: VelocityField, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return torch.stack([jacrev(lambda v, s=s: field(v.unsqueeze(0), s)[0])(xi) for xi, s in zip(x, t, strict=True)])


@pytest.mark.parametrize("activation", sorted(SLOPES))
@pytest.mark.parametrize("dim", [1, 2])
def test_exact_divergence_is_the_trace_of_the_autograd_jacobian(dim: int, activation: str) -> None:
    field = _field(dim, activation)
    x = _points(32, dim)
    t = torch.rand(32, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    jac = _autograd_jacobians(field, x, t)
    div = field.divergence(x, t)
    assert jac.abs().max() > 0.1, "a field this flat would prove nothing"
    assert torch.allclose(div, torch.diagonal(jac, dim1=1, dim2=2).sum(dim=1), atol=1e-12, rtol=0)


@pytest.mark.parametrize("activation", sorted(SLOPES))
def test_jacobian_products_match_autograd_in_3d(activation: str) -> None:
    field = _field(3, activation)
    x = _points(8, 3)
    t = torch.full((8,), 0.3, dtype=torch.float64)
    tangents = torch.randn(2, 8, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    v, products = field.jvp(x, t, tangents)
    jac = _autograd_jacobians(field, x, t)
    assert torch.allclose(v, field(x, t), atol=1e-14)
    assert torch.allclose(products, torch.einsum("bij,kbj->kbi", jac, tangents), atol=1e-12, rtol=0)


def test_hutchinson_is_unbiased_in_3d() -> None:
    """The mean of many probes' εᵀJε at the same points approaches tr J; each single probe does not."""
    field = _field(3)
    x = _points(16, 3)
    exact = field.divergence(x, 0.4)
    torch.manual_seed(5)
    draws = torch.stack([field.hutchinson(x, 0.4)[1] for _ in range(4000)])
    mean, stderr = draws.mean(dim=0), draws.std(dim=0) / 4000 ** 0.5
    assert (draws.std(dim=0) > 1e-3).all(), "the estimate should be random"
    assert ((mean - exact).abs() < 5 * stderr + 1e-12).all()
    assert (mean - exact).abs().max() < 0.1


def test_rk4_is_fourth_order() -> None:
    """Halving the step divides the round-trip error by about 2⁴ (at least 10 asked, so not first order)."""
    errors = []
    for steps in (2, 4, 8):
        flow = randomised_flow(Case("cnf", (2,), {"hidden": 8, "steps": steps}), noise=0.6)
        x = _points(64, 2)
        with torch.no_grad():
            back, _ = flow.inverse(flow(x)[0])
        errors.append(float((back - x).abs().max()))
    assert errors[0] > 1e-7, "the field is too gentle to measure the order"
    assert errors[0] / errors[1] > 10 and errors[1] / errors[2] > 10, errors


def test_the_log_det_is_the_discrete_maps_and_the_augmented_ode_is_off_by_order_h4() -> None:
    """The layer's log-det is log|det| of the step maps (rounding level against autograd, contract-tested); the
    augmented ODE with the exact divergence (FFJORD's) differs from it by O(h⁴): measured, and shrinking."""
    gaps = []
    for steps in (8, 16):
        flow = randomised_flow(Case("cnf", (2,), {"hidden": 8, "steps": steps}), noise=0.6)
        layer = flow.layers[0]
        x = _points(16, 2)
        with torch.no_grad():
            _, ladj = layer(x)
            _, augmented = rk4_augmented(layer.field, x, 0.0, 1.0, steps,
                                         layer.field.with_divergence)
        gaps.append(float((ladj - augmented).abs().max()))
    assert 1e-9 < gaps[1] < 1e-4 and gaps[0] / gaps[1] > 10, gaps  # measured 5.1e-4 and 2.6e-5


def test_training_on_3d_data_estimates_the_log_det_without_bias() -> None:
    spec = LAYERS["cnf"]
    assert spec.estimates_ladj((3,)) and not spec.estimates_ladj((2,))
    flow = randomised_flow(Case("cnf", (3,), {"hidden": 8}))
    x = _points(8, 3)
    with torch.no_grad():
        exact = flow(x)[1]
        flow.train()
        torch.manual_seed(6)
        draws = torch.stack([flow(x)[1] for _ in range(2000)])
    assert (draws.std(dim=0) > 1e-3).all()
    stderr = draws.std(dim=0) / 2000 ** 0.5
    # The estimate's mean is the augmented ODE's log-det, O(h⁴) (~1e-7 here) from the exact one.
    assert ((draws.mean(dim=0) - exact).abs() < 5 * stderr + 1e-5).all()


def test_a_new_layer_is_the_identity_and_relu_is_refused() -> None:
    flow = build_flow([{"kind": "cnf"}], (2,))
    x = torch.randn(5, 2)
    z, ladj = flow(x)
    assert torch.equal(z, x) and torch.equal(ladj, torch.zeros(5))
    from flowlab.flows import validate_stack

    (problem,) = validate_stack([{"kind": "cnf", "params": {"activation": "relu"}}], (2,))
    assert problem.param == "activation"


def test_the_path_visits_the_solvers_own_states_and_integrate_splits_at_its_times() -> None:
    """``path`` ends where ``forward`` / ``inverse`` end, and integrating from one of the solver's times on
    repeats forward's remaining steps: the log-dets of the two parts add up to forward's (the chain rule)."""
    flow = randomised_flow(Case("cnf", (2,), {"hidden": 8, "steps": 8}), noise=0.6)
    layer = flow.layers[0]
    x = _points(50, 2)
    with torch.no_grad():
        z, ladj = layer(x)
        back, _ = layer.inverse(z)
        times, states = layer.path(x, 0.0, 1.0)
        back_times, back_states = layer.path(z, 1.0, 0.0)
        middle, first = layer.integrate(x, 0.0, 0.375)
        end, rest = layer.integrate(middle, 0.375, 1.0)
    assert torch.allclose(times, torch.linspace(0, 1, 9, dtype=torch.float64), atol=1e-15)
    assert torch.equal(states[0], x) and torch.allclose(states[-1], z, atol=1e-13, rtol=0)
    assert torch.allclose(back_times, torch.linspace(1, 0, 9, dtype=torch.float64), atol=1e-15)
    assert torch.allclose(back_states[-1], back, atol=1e-13, rtol=0)
    assert (z - x).abs().max() > 0.1, "a field this weak would prove nothing"
    assert torch.allclose(states[3], middle, atol=1e-13, rtol=0), "t = 3/8 is the solver's third state"
    assert torch.allclose(end, z, atol=1e-13, rtol=0)
    assert torch.allclose(first + rest, ladj, atol=1e-12, rtol=0)
    assert layer.steps_between(0.375, 1.0) == 5 and layer.steps_between(0.9, 1.0) == 1
