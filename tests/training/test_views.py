"""View data: correct numbers, fresh NumPy copies, and a snapshot rate that follows its time budget."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from flowlab.flows import build_flow
from flowlab.training.views import SnapshotMaker, curve_1d, density_grid, layer_states, model_samples, warped_grid
from tests.training.toy import Banana, Ring

REALNVP = [{"kind": "affine_coupling", "params": {"mask": "alternating", "flip": i % 2 == 1, "hidden": 16}}
           for i in range(4)]


def _perturbed(stack, shape=(2,)):
    flow = build_flow(stack, shape)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=gen))
    return flow.eval()


def test_density_grid_integrates_to_one_and_matches_log_prob() -> None:
    flow = _perturbed(REALNVP)
    grid = density_grid(flow, (-8, 8, -8, 8), res=300)
    cell = (16 / 299) ** 2
    assert grid.log_density.shape == (300, 300) and grid.log_density.dtype == np.float32
    assert grid.density.sum() * cell == pytest.approx(1.0, abs=0.02)
    # row index is y, column index is x
    x, y = -8 + 16 * 40 / 299, -8 + 16 * 250 / 299
    ref = flow.log_prob(torch.tensor([[x, y]])).item()
    assert grid.log_density[250, 40] == pytest.approx(ref, abs=1e-4)


def test_warped_grid_of_identity_is_the_grid_and_inverse_undoes_forward() -> None:
    ident = build_flow([], (2,))
    w = warped_grid(ident, (-2, 2, -1, 1), inverse=False, n_lines=5, n_points=7)
    assert len(w.lines) == 10 and w.lines[0].shape == (7, 2)
    assert np.allclose(w.lines[0][:, 0], -2) and np.allclose(w.lines[0][[0, -1], 1], [-1, 1])
    flow = _perturbed(REALNVP)
    fwd = warped_grid(flow, (-2, 2, -2, 2), inverse=False)
    back = flow.inverse(torch.from_numpy(np.concatenate(fwd.lines)))[0].detach().numpy()
    src = warped_grid(ident, (-2, 2, -2, 2), inverse=False)
    assert np.allclose(back, np.concatenate(src.lines), atol=1e-4)


def test_layer_states_follow_the_stack_in_both_directions() -> None:
    flow = _perturbed(REALNVP)
    pts = torch.randn(50, 2)
    fwd = layer_states(flow, pts, inverse=False)
    inv = layer_states(flow, flow(pts)[0].detach(), inverse=True)
    assert len(fwd) == len(inv) == 5
    assert np.allclose(fwd[0], pts.numpy()) and np.allclose(inv[-1], pts.numpy(), atol=1e-5)
    for a, b in zip(fwd, reversed(inv), strict=True):
        assert np.allclose(a, b, atol=1e-5)


def test_snapshot_arrays_are_copies_that_do_not_change_with_training() -> None:
    flow = _perturbed(REALNVP)
    maker = SnapshotMaker(Banana(), n_samples=300, grid_res=32)
    snap = maker.make(flow, step=7)
    before = snap.density.log_density.copy(), snap.model_samples.copy(), snap.latent_of_data.copy()
    with torch.no_grad():
        for p in flow.parameters():
            p.mul_(-3.0)
    maker.make(flow, step=8)
    assert snap.step == 7
    assert np.array_equal(snap.density.log_density, before[0])
    assert np.array_equal(snap.model_samples, before[1]) and np.array_equal(snap.latent_of_data, before[2])
    for arr in (snap.model_samples, snap.data_samples, snap.latent_of_data, *snap.layers_forward):
        assert isinstance(arr, np.ndarray) and arr.flags.owndata
    assert len(snap.layers_forward) == len(snap.layers_inverse) == 5
    assert len(snap.warp_forward.lines) == len(snap.warp_inverse.lines) == 34


def test_snapshots_for_energies_have_no_data_views() -> None:
    snap = SnapshotMaker(Ring(), n_samples=200, grid_res=16).make(_perturbed(REALNVP), step=0)
    assert snap.data_samples is None and snap.latent_of_data is None and snap.layers_forward is None
    assert snap.model_samples.shape == (200, 2) and snap.density is not None


def test_snapshot_rate_adapts_to_the_budget(monkeypatch) -> None:
    maker = SnapshotMaker(Banana(), budget=0.2, min_interval=0.05, n_samples=100, grid_res=16)
    clock = iter([100.0, 100.5, 100.5])  # start, end (cost 0.5 s), then "now" for the due time
    monkeypatch.setattr("flowlab.training.views.time.perf_counter", lambda: next(clock))
    maker.make(_perturbed(REALNVP), 0)
    # cost 0.5 s at a 20 % budget: the next snapshot waits 0.5 · 0.8 / 0.2 = 2 s of training
    assert not maker.due(102.4) and maker.due(102.6)


def test_one_dimensional_curve_is_the_change_of_variables_picture() -> None:
    flow = _perturbed([{"kind": "maf", "params": {"hidden": 8}}, {"kind": "elementwise_affine"}], (1,))

    class Line:
        shape, bounds = (1,), (-3.0, 3.0)

    c = curve_1d(flow, Line())  # no density known: true_density is None
    assert c.true_density is None
    z = flow(torch.from_numpy(c.x)[:, None])[0].detach().numpy()[:, 0]
    assert np.allclose(c.z, z, atol=1e-5)
    base = np.exp(-0.5 * c.z ** 2) / np.sqrt(2 * np.pi)
    assert np.allclose(c.model_density, base * np.exp(c.log_det), rtol=1e-4)


def test_image_snapshots_reconstruct_and_interpolate_between_the_chosen_images() -> None:
    from flowlab.training.views import interpolate
    from tests.training.toy import UniformImages

    stack = [{"kind": "logit", "params": {"alpha": 0.05}},
             {"kind": "affine_coupling", "params": {"mask": "checkerboard", "hidden": 8}},
             {"kind": "affine_coupling", "params": {"mask": "checkerboard", "flip": True, "hidden": 8}}]
    flow = _perturbed(stack, (1, 2, 2))
    maker = SnapshotMaker(UniformImages(), n_samples=64, n_layer_points=16)
    maker.temperature = 0.7
    snap = maker.make(flow, 3)
    assert snap.image_samples.shape == (64, 1, 2, 2) and snap.temperature == 0.7
    originals, back = snap.image_reconstructions
    assert np.allclose(originals, back, atol=1e-4)  # invertibility, shown
    xa, xb = (torch.rand(1, 2, 2) * 0.8 + 0.1 for _ in range(2))
    for spherical in (False, True):
        path = interpolate(flow, xa, xb, steps=6, spherical=spherical)
        assert path.shape == (6, 1, 2, 2)
        assert torch.allclose(path[0], xa, atol=1e-4) and torch.allclose(path[-1], xb, atol=1e-4)
    assert not torch.allclose(interpolate(flow, xa, xb, 6, False)[2], interpolate(flow, xa, xb, 6, True)[2])


def test_energy_targets_send_their_true_density_once() -> None:
    from flowlab.targets import build_target
    from flowlab.training.views import target_density_grid

    u1 = build_target({"kind": "u1"})
    g = target_density_grid(u1, (-4.0, 4.0, -4.0, 4.0), 200)
    cell = (8 / 199) ** 2
    assert g.density.sum() * cell == pytest.approx(1.0, abs=0.03)

    ix, iy = round((2.0 + 4) / 8 * 199), round((0.5 + 4) / 8 * 199)
    near = torch.tensor([[-4 + 8 * ix / 199, -4 + 8 * iy / 199]], dtype=torch.float64)
    assert g.log_density[iy, ix] == pytest.approx(float(u1.log_prob(near)), abs=1e-4)
    maker = SnapshotMaker(u1, n_samples=100, grid_res=16)
    flow = _perturbed(REALNVP)
    first, second = maker.make(flow, 0), maker.make(flow, 1)
    assert first.target_density is not None and second.target_density is None


# -- the views go through Flow.push (chunked, no autograd, in place where a layer offers it) -----------------------

def _grid_points(bounds, res, dtype=torch.float32):
    xs = torch.linspace(bounds[0], bounds[1], res, dtype=dtype)
    ys = torch.linspace(bounds[2], bounds[3], res, dtype=dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)


def _stack(first_flip: bool, kind: str = "affine_coupling", **params):
    return [{"kind": kind, "params": {"mask": "alternating", "flip": (i % 2 == 1) != first_flip, "hidden": 16,
                                      **params}} for i in range(4)]


STACKS = {
    "realnvp, first conditioned on x": _stack(False),
    "realnvp, first conditioned on y": _stack(True),
    "nice (additive)": _stack(False, "additive_coupling"),
    "tanh, depth 3, max_log_scale 1": _stack(True, activation="tanh", depth=3, max_log_scale=1.0),
    "silu and elu, depth 1": _stack(False, activation="silu", depth=1)[:2] + _stack(False, activation="elu")[2:],
    "actnorm first": [{"kind": "actnorm"}, *_stack(False)],
    "splines": _stack(False, "spline_coupling", bins=4),
    "maf, reverse, maf": [{"kind": "maf", "params": {"hidden": 8}}, {"kind": "reverse"},
                          {"kind": "maf", "params": {"hidden": 8}}],
}


@pytest.mark.parametrize("name", list(STACKS))
def test_density_grid_equals_log_prob(name) -> None:
    flow = _perturbed(STACKS[name])
    bounds, res = (-3.0, 2.0, -2.5, 4.0), 37  # not square, odd size: rows are y, columns are x
    grid = density_grid(flow, bounds, res=res, chunk=300)  # chunks that do not divide the grid
    with torch.no_grad():
        pts = _grid_points(bounds, res)
        z, ladj = flow(pts)
        ref = flow.base.log_prob(z) + ladj
    np.testing.assert_allclose(grid.log_density.reshape(-1), ref.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(grid.log_det.reshape(-1), ladj.numpy(), rtol=1e-5, atol=1e-5)
    # in float64 the two agree to rounding (the grid is handed out as float32)
    flow64 = flow.double()
    grid64 = density_grid(flow64, bounds, res=res, chunk=300)
    with torch.no_grad():
        ref64 = flow64.log_prob(_grid_points(bounds, res, torch.float64))
    np.testing.assert_allclose(grid64.log_density.reshape(-1), ref64.float().numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", list(STACKS))
def test_samples_and_warped_grids_equal_the_flow(name) -> None:
    flow = _perturbed(STACKS[name])
    samples = model_samples(flow, 500, temperature=0.8, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        ref = flow.sample(500, temperature=0.8, generator=torch.Generator().manual_seed(5))
    assert torch.allclose(samples, ref, rtol=1e-5, atol=1e-5)
    for inverse in (False, True):
        w = warped_grid(flow, (-2, 2, -2, 2), inverse=inverse, n_lines=3, n_points=5)
        src = torch.from_numpy(np.concatenate(warped_grid(build_flow([], (2,)), (-2, 2, -2, 2), inverse=False,
                                                          n_lines=3, n_points=5).lines))
        with torch.no_grad():
            want = (flow.inverse(src) if inverse else flow(src))[0]
        np.testing.assert_allclose(np.concatenate(w.lines), want.numpy(), rtol=1e-5, atol=1e-5)


def test_hooks_run_in_the_views_as_in_the_flow() -> None:
    """A hook that changes a network's output changes the views exactly as it changes the flow: none is skipped."""
    flow = _perturbed(REALNVP)
    pts = _grid_points((-2, 2, -2, 2), 8)
    plain = density_grid(flow, (-2, 2, -2, 2), res=8).log_density.reshape(-1)
    calls = []

    def silence(module, args, output):  # the third coupling's network says "no change": that layer is the identity
        calls.append(1)
        return torch.zeros_like(output)

    handle = flow.layers[2].net[-1].register_forward_hook(silence)
    layer_calls = []
    handle2 = flow.layers[1].register_forward_hook(lambda *a: layer_calls.append(1))
    hooked = density_grid(flow, (-2, 2, -2, 2), res=8, chunk=16).log_density.reshape(-1)
    assert len(calls) == len(layer_calls) == 4  # once per chunk of 16 of the 64 points
    with torch.no_grad():
        ref = flow.log_prob(pts).numpy()
    np.testing.assert_allclose(hooked, ref, rtol=1e-5, atol=1e-5)
    assert np.abs(hooked - plain).max() > 1e-3, "the hook must change the result"
    handle.remove()
    handle2.remove()


def test_snapshot_samples_and_grid_match_the_flow() -> None:
    flow = _perturbed(REALNVP)
    maker = SnapshotMaker(Banana(), n_samples=300, grid_res=16, views=frozenset({"density", "samples"}))
    snap = maker.make(flow, step=0)
    gen = torch.Generator().manual_seed(1234)  # the maker's generator for sample draws
    with torch.no_grad():
        ref = flow.inverse(torch.randn((300, 2), generator=gen))[0]
    np.testing.assert_allclose(snap.model_samples, ref.numpy(), rtol=1e-5, atol=1e-5)
    bounds = snap.density.bounds
    with torch.no_grad():
        ref_grid = flow.log_prob(_grid_points(bounds, 16))
    np.testing.assert_allclose(snap.density.log_density.reshape(-1), ref_grid.numpy(), rtol=1e-5, atol=1e-5)
