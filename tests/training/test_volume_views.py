"""The mathematics views' numbers: the volume change over the plane (whole flow and each layer), each layer's share
of log p(x), and the 1-D map read off as a line — each against an independent computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from flowlab.flows import build_flow
from flowlab.training.views import Curve1D, SnapshotMaker, curve_1d, density_grid
from tests.training.toy import Banana, Ring

# A stack of kinds whose log-dets differ in kind: zero (additive), constant (actnorm, lu), varying (affine, planar).
MIXED = [
    {"kind": "affine_coupling", "params": {"mask": "alternating", "hidden": 8}},
    {"kind": "actnorm"},
    {"kind": "additive_coupling", "params": {"mask": "alternating", "flip": True, "hidden": 8}},
    {"kind": "lu_linear"},
    {"kind": "planar"},
    {"kind": "affine_coupling", "params": {"mask": "alternating", "flip": True, "hidden": 8}},
]
BOUNDS = (-3.0, 2.0, -2.5, 3.5)


def _flow(stack=MIXED, shape=(2,), seed: int = 0):
    flow = build_flow(stack, shape, seed=seed).double()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        flow.train()
        flow(torch.randn(256, *shape, generator=gen, dtype=torch.float64))  # ActNorm's data initialisation
        for p in flow.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return flow.eval()


def _grid_points(res: int) -> torch.Tensor:
    xmin, xmax, ymin, ymax = BOUNDS
    xs = torch.linspace(xmin, xmax, res, dtype=torch.float64)
    ys = torch.linspace(ymin, ymax, res, dtype=torch.float64)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)


def test_the_volume_grid_matches_the_flow_and_each_layer_alone() -> None:
    flow = _flow()
    res = 23
    grid = density_grid(flow, BOUNDS, res=res, chunk=100, per_layer=True)  # several chunks, one partial
    assert grid.layer_log_dets.shape == (len(MIXED), res, res)
    pts = _grid_points(res)
    with torch.no_grad():
        ref_logp = flow.log_prob(pts).reshape(res, res).numpy()
        ref_ladj = flow(pts)[1].reshape(res, res).numpy()
        np.testing.assert_allclose(grid.log_det, ref_ladj, atol=1e-5)
        np.testing.assert_allclose(grid.log_density, ref_logp, atol=1e-5)
        h = pts
        for k, layer in enumerate(flow.layers):  # each layer called alone, on its input pushed by hand
            h, own = layer(h)
            np.testing.assert_allclose(grid.layer_log_dets[k], own.reshape(res, res).numpy(), atol=1e-5)
    np.testing.assert_allclose(grid.layer_log_dets.sum(0), grid.log_det, atol=1e-5)
    assert np.abs(grid.layer_log_dets[2]).max() == 0.0  # an additive coupling keeps volume exactly
    for constant in (1, 3):  # actnorm and LU: the same log-det everywhere
        assert np.ptp(grid.layer_log_dets[constant]) < 1e-5 and abs(grid.layer_log_dets[constant][0, 0]) > 1e-3
    for varying in (0, 4, 5):
        assert np.ptp(grid.layer_log_dets[varying]) > 1e-2
    plain = density_grid(flow, BOUNDS, res=res)  # the plain grid is the same, without the layers
    assert plain.layer_log_dets is None
    np.testing.assert_array_equal(plain.log_det, grid.log_det)


def test_the_shares_add_up_to_the_mean_log_density_of_the_data() -> None:
    flow = _flow().float()  # the maker's data are float32
    maker = SnapshotMaker(Banana(), grid_res=8, n_layer_points=400, views=frozenset({"shares"}))
    shares = maker.make(flow, step=0).layer_shares
    with torch.no_grad():
        data = maker.data_view
        ref = flow.log_prob(data).mean().item()
        z, _, states, _ = flow(data, return_intermediates=True)
        base = flow.base.log_prob(z).mean().item()
        own = [layer(h)[1].mean().item() for layer, h in zip(flow.layers, states[:-1], strict=True)]
    assert shares.source == "data" and shares.count == 400
    assert shares.kinds == tuple(layer["kind"] for layer in MIXED)
    assert shares.log_prob == pytest.approx(ref, abs=1e-5)
    assert shares.total == pytest.approx(ref, abs=1e-5)
    assert shares.base_log_prob == pytest.approx(base, abs=1e-5)
    np.testing.assert_allclose(shares.log_dets, own, atol=1e-5)
    assert shares.log_dets[2] == 0.0  # NICE's additive coupling contributes nothing


def test_energies_share_out_the_model_samples_log_density() -> None:
    flow = _flow().float()
    maker = SnapshotMaker(Ring(), n_samples=500, grid_res=8, views=frozenset({"shares"}))
    snap = maker.make(flow, step=0)
    shares = snap.layer_shares
    assert shares.source == "model samples" and shares.count == 500
    with torch.no_grad():
        ref = flow.log_prob(torch.from_numpy(snap.model_samples)).mean().item()
    assert shares.log_prob == pytest.approx(ref, abs=1e-3)  # scored again from x: planar inverts numerically
    assert shares.total == pytest.approx(shares.log_prob, abs=1e-5)
    assert shares.log_dets[2] == 0.0


def test_the_maker_computes_layer_grids_and_shares_only_for_their_views() -> None:
    flow = _flow().float()
    for views, grid_layers, has_shares in ((frozenset({"density"}), False, False),
                                           (frozenset({"volume"}), True, False),
                                           (frozenset({"density", "shares"}), False, True)):
        snap = SnapshotMaker(Banana(), grid_res=8, views=views).make(flow, step=0)
        assert snap.density is not None
        assert (snap.density.layer_log_dets is not None) == grid_layers, views
        assert (snap.layer_shares is not None) == has_shares, views


def _line(lo: float = -4.0, hi: float = 6.0):
    class Line:
        shape, bounds = (1,), (lo, hi)

    return Line()


def test_an_affine_one_d_map_is_read_off_as_a_line() -> None:
    """The lecture's u = 0.75·v + 1: the learnt map from data to latent is f(u) = (u − 1)/0.75 = 4/3·u − 4/3."""
    flow = build_flow([{"kind": "elementwise_affine", "params": {"scale": 0.75, "shift": 1.0}}], (1,))
    c = curve_1d(flow, _line())
    a, b = c.affine()
    assert a == pytest.approx(4 / 3, rel=1e-5) and b == pytest.approx(-4 / 3, rel=1e-5)
    np.testing.assert_allclose(c.slope, 4 / 3, rtol=1e-5)


def test_a_curved_one_d_map_is_not_a_line() -> None:
    flow = _flow([{"kind": "planar"}, {"kind": "planar"}], (1,), seed=2)
    c = curve_1d(flow.float(), _line())
    assert c.affine() is None
    assert np.ptp(c.slope) > 0.05
    straight = Curve1D(c.x, 2.0 * c.x + 0.5 + 1e-6 * np.sin(c.x), c.model_density, c.base_density_at_z,
                       np.full_like(c.x, np.log(2.0)), None)
    assert straight.affine() == pytest.approx((2.0, 0.5), abs=1e-5)  # within tolerance
    bent = Curve1D(c.x, 2.0 * c.x + 0.05 * np.sin(c.x), c.model_density, c.base_density_at_z, c.log_det, None)
    assert bent.affine() is None
