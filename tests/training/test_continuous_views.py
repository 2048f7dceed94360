"""What the views see inside a continuous layer, against independent references: the paths end where the layer's
forward and inverse go, the arrows are the time derivative of the solver's own path (finite differences), and the
density at a time is the model's at t = 0, the base's at t = 1 and integrates to one in between (a grid sum)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from flowlab.flows import build_flow
from flowlab.training.continuous_views import (
    continuous_index,
    covering_box,
    density_at_time,
    field_at_time,
    trajectories,
)
from flowlab.training.probe import probe
from flowlab.training.views import SnapshotMaker
from tests.flows.cases import Case, randomised_flow
from tests.training.toy import Banana

CNF = Case("cnf", (2,), {"hidden": 8, "steps": 8})


def _flow(layers=None):
    """A float64 flow pushed away from the identity (evaluation mode): a lone cnf, or ``layers``."""
    if layers is None:
        return randomised_flow(CNF, noise=0.6)
    torch.manual_seed(0)
    flow = build_flow(layers, (2,)).double()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(0.4 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return flow.eval()


def _points(n: int, seed: int = 1, scale: float = 1.5) -> torch.Tensor:
    return scale * torch.randn(n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


AROUND = [{"kind": "elementwise_affine"}, {"kind": "cnf", "params": {"hidden": 8, "steps": 4}},
          {"kind": "elementwise_affine"}]


def test_the_paths_end_where_the_layer_sends_the_points() -> None:
    flow = _flow()
    x, z = _points(40), _points(40, seed=2, scale=1.0)
    with torch.no_grad():
        paths = trajectories(flow, 0, x, z)
        assert paths.whole and paths.position == 0 and paths.kind == "cnf"
        np.testing.assert_allclose(paths.forward.states[0], x.float().numpy(), atol=1e-6)
        np.testing.assert_allclose(paths.forward.states[-1], flow(x)[0].float().numpy(), atol=1e-5)
        np.testing.assert_allclose(paths.inverse.states[0], z.float().numpy(), atol=1e-6)
        np.testing.assert_allclose(paths.inverse.states[-1], flow.inverse(z)[0].float().numpy(), atol=1e-5)
    np.testing.assert_allclose(paths.forward.times, np.linspace(0, 1, 9), atol=1e-7)
    np.testing.assert_allclose(paths.inverse.times, np.linspace(1, 0, 9), atol=1e-7)
    assert np.abs(paths.forward.states[-1] - paths.forward.states[0]).max() > 0.1, "a still field proves nothing"


def test_the_paths_through_a_layer_inside_a_stack_are_in_its_own_coordinates() -> None:
    """Between other layers the path starts at the data after the layers before it, and base samples are first
    pulled back through the layers after it."""
    flow = _flow(AROUND)
    x, z = _points(30), _points(30, seed=2, scale=1.0)
    assert continuous_index(flow) == 1 and continuous_index(flow, position=0) == 1
    with torch.no_grad():
        states = flow(x, return_intermediates=True)[2]
        back = flow.inverse(z, return_intermediates=True)[2]
        paths = trajectories(flow, 1, x, z)
    assert not paths.whole and paths.position == 1
    np.testing.assert_allclose(paths.forward.states[0], states[1].float().numpy(), atol=1e-6)
    np.testing.assert_allclose(paths.forward.states[-1], states[2].float().numpy(), atol=1e-5)
    np.testing.assert_allclose(paths.inverse.states[0], back[1].float().numpy(), atol=1e-6)
    np.testing.assert_allclose(paths.inverse.states[-1], back[2].float().numpy(), atol=1e-5)


def test_a_flow_without_a_continuous_layer_has_nothing_inside() -> None:
    flow = randomised_flow(Case("affine_coupling", (2,), {}))
    assert continuous_index(flow) is None


@pytest.mark.parametrize("t", [0.0, 0.3, 0.8])
def test_the_arrows_are_the_time_derivative_of_the_solvers_path(t: float) -> None:
    """v(x, t) against (x(t + δ) − x(t − δ)) / 2δ, both ends by the layer's own solver (one RK4 step each)."""
    flow = _flow()
    field = field_at_time(flow, 0, t, (-2.0, 2.0, -1.5, 1.5), arrows=7, density_res=None)
    assert field.time == t and field.points.shape == (49, 2) and field.velocity.shape == (49, 2)
    assert field.points[:, 0].min() == -2.0 and field.points[:, 1].max() == 1.5
    h = torch.as_tensor(field.points, dtype=torch.float64)
    layer, delta = flow.layers[0], 1e-4
    with torch.no_grad():
        ahead = layer.integrate(h, t, min(1.0, t + delta))[0]
        behind = layer.integrate(h, t, max(0.0, t - delta))[0]
    span = min(1.0, t + delta) - max(0.0, t - delta)
    reference = ((ahead - behind) / span).numpy()
    assert np.abs(reference).max() > 0.1
    np.testing.assert_allclose(field.velocity, reference, atol=2e-4 if 0 < t else 1e-3)


def test_the_density_at_a_time_is_the_models_then_the_bases_and_normalised_between() -> None:
    flow = _flow()
    x = _points(64)
    with torch.no_grad():
        at_start = density_at_time(flow, 0, 0.0, x)
        at_end = density_at_time(flow, 0, 1.0, x)
        model = flow.log_prob(x)
    normal = -0.5 * (x**2).sum(1) - math.log(2 * math.pi)
    assert torch.allclose(at_start, model, atol=1e-10) and torch.allclose(at_end, normal, atol=1e-12)
    assert (model - normal).abs().max() > 0.1
    n, lo, hi = 220, -9.0, 9.0
    step = (hi - lo) / n
    ticks = lo + step * (torch.arange(n, dtype=torch.float64) + 0.5)
    gx, gy = torch.meshgrid(ticks, ticks, indexing="xy")
    grid = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)
    for t in (0.375, 0.6):
        with torch.no_grad():
            mass = float(density_at_time(flow, 0, t, grid).exp().sum()) * step * step
        assert abs(mass - 1.0) < 0.02, (t, mass)


def test_the_density_at_the_start_of_a_layer_in_a_stack_is_that_of_its_inputs() -> None:
    """log p(x) = log p_0(f_0(x)) + log|det J_0(x)|: the change of variables through the layer before it."""
    flow = _flow(AROUND)
    x = _points(50)
    with torch.no_grad():
        h, ladj0 = flow.layers[0](x)
        np.testing.assert_allclose(density_at_time(flow, 1, 0.0, h) + ladj0, flow.log_prob(x), atol=1e-10)


def test_the_box_holds_the_middle_of_every_state() -> None:
    flow = _flow()
    with torch.no_grad():
        paths = trajectories(flow, 0, _points(200), _points(200, seed=3, scale=1.0))
    xmin, xmax, ymin, ymax = covering_box([paths.forward, paths.inverse])
    states = np.concatenate([paths.forward.states, paths.inverse.states]).reshape(-1, 2)
    inside = ((states[:, 0] >= xmin) & (states[:, 0] <= xmax) & (states[:, 1] >= ymin) & (states[:, 1] <= ymax))
    assert inside.mean() >= 0.96
    assert xmax - xmin < 4 * (np.percentile(states[:, 0], 99) - np.percentile(states[:, 0], 1))


def test_snapshots_carry_the_views_inside_a_continuous_layer_and_follow_the_time() -> None:
    flow = _flow().float()
    maker = SnapshotMaker(Banana(), n_samples=200, grid_res=16, n_layer_points=100,
                          views=frozenset({"trajectories", "velocity", "layers"}))
    maker.time = 0.25
    snap = maker.make(flow, step=0, full=True)
    assert snap.trajectories is not None and snap.trajectories.forward.states.shape == (9, 100, 2)
    assert snap.field_at_time is not None and snap.field_at_time.time == 0.25
    assert snap.field_at_time.log_density.shape == (64, 64)
    assert np.isfinite(snap.field_at_time.log_density).all()
    fwd, inv = snap.inside_forward, snap.inside_inverse
    assert len(fwd) == len(inv) == 1 and not fwd[0].inverse and inv[0].inverse
    np.testing.assert_allclose(fwd[0].states[-1], snap.layers_forward[1], atol=1e-5)
    np.testing.assert_allclose(inv[0].states[-1], snap.layers_inverse[1], atol=1e-5)
    maker.time = 0.75  # between slow snapshots: only the field is recomputed, at the new time
    snap = maker.make(flow, step=1)
    assert snap.field_at_time is not None and snap.field_at_time.time == 0.75 and snap.trajectories is None
    assert maker.make(flow, step=2).field_at_time is not None  # a slow snapshot: new weights, a new field


def test_snapshots_of_a_flow_without_a_continuous_layer_carry_nothing_inside() -> None:
    flow = randomised_flow(Case("affine_coupling", (2,), {})).float()
    maker = SnapshotMaker(Banana(), n_samples=100, grid_res=16, n_layer_points=50,
                          views=frozenset({"trajectories", "velocity", "layers"}))
    snap = maker.make(flow, step=0, full=True)
    assert snap.trajectories is None and snap.field_at_time is None
    assert snap.inside_forward == () and snap.layers_forward is not None


def test_the_probe_follows_the_point_inside_a_continuous_layer() -> None:
    flow = _flow(AROUND)
    for inverse in (False, True):
        result = probe(flow, (0.4, -0.3), inverse=inverse)
        inside = [s.inside for s in result.steps]
        assert [i is not None for i in inside] == [False, True, False]
        step = next(s for s in result.steps if s.inside is not None)
        times, states = step.inside
        np.testing.assert_allclose(times, np.linspace(1, 0, 5) if inverse else np.linspace(0, 1, 5), atol=1e-12)
        np.testing.assert_allclose(states[0], step.before, atol=1e-12)
        np.testing.assert_allclose(states[-1], step.after, atol=1e-10)
