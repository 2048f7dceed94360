"""Inside one coupling: the s and t fields equal what the layer computes, and the snapshot maker delivers the
selected layer's detail (by stack position) only when asked."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from flowlab.flows import LAYERS, build_flow
from flowlab.training.layer_detail import coupling_fields, field_kinds, layer_detail
from flowlab.training.views import SnapshotMaker
from tests.training.toy import Banana, Ring

STACK = [{"kind": "affine_coupling", "params": {"hidden": 16}},
         {"kind": "reverse"},
         {"kind": "maf", "params": {"hidden": 16}, "enabled": False},
         {"kind": "additive_coupling", "params": {"hidden": 16, "flip": True}},
         {"kind": "spline_coupling", "params": {"hidden": 16}}]


def _trained_looking(layers=STACK):
    """A flow away from its identity start (random last layers), in float64."""
    torch.manual_seed(0)
    flow = build_flow(layers, (2,)).double()
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return flow.eval()


@pytest.mark.parametrize("position", [0, 3])
def test_the_fields_are_the_layers_scale_and_shift(position: int) -> None:
    """At points whose x₁ is a grid column's, the layer's forward gives x₂·exp(s) + t with the grid's s and t,
    and keeps x₁; s and t do not change along x₂."""
    flow = _trained_looking()
    index = next(i for i, info in enumerate(flow.infos) if info.position == position)
    data = Banana().sample(500, torch.Generator().manual_seed(1)).double()
    with torch.no_grad():
        f = coupling_fields(flow, index, data, (-4.0, 4.0, -4.0, 4.0), res=32)
    assert f is not None and f.s.shape == f.t.shape == (32, 32)
    c, k = f.cond, f.transformed
    xmin, xmax, ymin, ymax = f.bounds
    axis = np.linspace(xmin, xmax, 32) if c == 0 else np.linspace(ymin, ymax, 32)
    along_cond = f.s[0, :] if c == 0 else f.s[:, 0]  # s as a function of x₁
    assert np.ptp(f.s, axis=c).max() < 1e-6 and np.ptp(f.t, axis=c).max() < 1e-6  # constant along x₂
    if flow.infos[index].kind == "additive_coupling":
        assert np.abs(f.s).max() == 0.0  # NICE: volume preserving
    else:
        assert np.ptp(along_cond) > 1e-3  # a real field, not a constant
    gen = torch.Generator().manual_seed(2)
    for j in (0, 13, 31):
        x = torch.zeros(5, 2, dtype=torch.float64)
        x[:, c] = float(axis[j])
        x[:, k] = torch.randn(5, generator=gen, dtype=torch.float64)
        s = float(f.s[0, j] if c == 0 else f.s[j, 0])
        t = float(f.t[0, j] if c == 0 else f.t[j, 0])
        with torch.no_grad():
            y = flow.layers[index](x)[0]
        assert torch.allclose(y[:, c], x[:, c])
        assert torch.allclose(y[:, k], x[:, k] * np.exp(s) + t, atol=1e-5)


def test_the_points_are_the_data_before_and_after_the_layer() -> None:
    flow = _trained_looking()
    data = Banana().sample(300, torch.Generator().manual_seed(1)).double()
    with torch.no_grad():
        states = flow(data, return_intermediates=True)[2]
        f = coupling_fields(flow, 2, data, (-4.0, 4.0, -4.0, 4.0))  # index 2 = stack position 3
    assert np.allclose(f.inputs, states[2].numpy(), atol=1e-5)
    assert np.allclose(f.outputs, states[3].numpy(), atol=1e-5)
    xmin, xmax, ymin, ymax = f.bounds  # the grid covers where the layer's inputs are
    inside = ((f.inputs[:, 0] >= xmin) & (f.inputs[:, 0] <= xmax) & (f.inputs[:, 1] >= ymin)
              & (f.inputs[:, 1] <= ymax))
    assert inside.mean() > 0.97


def test_only_affine_and_additive_couplings_have_fields() -> None:
    kinds = field_kinds()
    assert {"affine_coupling", "additive_coupling"} <= set(kinds)
    assert "spline_coupling" not in kinds and "maf" not in kinds
    assert all(LAYERS[k].family == "coupling" for k in kinds)
    flow = _trained_looking()
    with torch.no_grad():
        spline = layer_detail(flow, 4, torch.zeros(3, 2, dtype=torch.float64), fields=True)
        lu = layer_detail(flow, 1, fields=True)
    assert spline.fields is None and "affine_coupling" in spline.note and spline.pictures[0].name == "mask"
    assert lu.fields is None and lu.kind == "reverse"


def test_detail_by_stack_position_none_for_a_disabled_layer() -> None:
    flow = _trained_looking()
    with torch.no_grad():
        assert layer_detail(flow, 2) is None  # the disabled MAF is not built
        detail = layer_detail(flow, 3)
    assert (detail.position, detail.kind, detail.fields) == (3, "additive_coupling", None)
    assert detail.pictures[0].values.tolist() == [[0.0, 1.0]]  # flipped: feature 2 conditions


def test_the_snapshot_maker_fills_layer_detail_when_a_layer_is_selected() -> None:
    flow = build_flow(STACK, (2,))
    maker = SnapshotMaker(Banana(), grid_res=16, n_samples=50, n_layer_points=50)
    assert maker.make(flow, 0, full=True).layer_detail is None  # nothing selected
    maker.layer = 0
    snap = maker.make(flow, 1, full=True)
    assert snap.layer_detail.position == 0 and snap.layer_detail.fields is not None  # the coupling view is shown
    assert snap.layer_detail.fields.inputs.shape == (50, 2)
    maker.set_views(frozenset({"density"}))
    snap = maker.make(flow, 2, full=True)
    assert snap.layer_detail.fields is None and snap.layer_detail.pictures  # the panel's picture only


def test_energy_targets_use_model_samples() -> None:
    flow = build_flow(STACK, (2,))
    maker = SnapshotMaker(Ring(), grid_res=16, n_samples=50, n_layer_points=40)
    maker.layer = 3
    f = maker.make(flow, 0, full=True).layer_detail.fields
    assert f is not None and f.inputs.shape == (40, 2) and np.isfinite(f.outputs).all()


def test_image_layers_show_their_pictures_per_scale() -> None:
    from tests.training.toy import UniformImages

    class Larger(UniformImages):
        shape = (1, 4, 4)

    layers = [{"kind": "squeeze"}, {"kind": "affine_coupling", "params": {"mask": "checkerboard", "hidden": 4}},
              {"kind": "lu_linear"}]
    flow = build_flow(layers, (1, 4, 4))
    maker = SnapshotMaker(Larger())
    shapes = []
    for position in range(3):
        maker.layer = position
        (picture,) = maker.make(flow, 0, full=True).layer_detail.pictures
        shapes.append(picture.values.shape)
    assert shapes == [(1, 4, 4), (4, 2, 2), (4, 4)]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_on_cuda_the_detail_equals_the_cpu_one() -> None:
    layers = [*STACK, {"kind": "lu_linear"}, {"kind": "householder"}, {"kind": "maf", "params": {"hidden": 16}}]
    flow = _trained_looking(layers)
    data = Banana().sample(200, torch.Generator().manual_seed(1)).double()
    on_gpu = _trained_looking(layers).cuda()
    with torch.no_grad():
        for position in (0, 3, 5, 6, 7):
            cpu = layer_detail(flow, position, data, fields=True)
            gpu = layer_detail(on_gpu, position, data.cuda(), fields=True)
            for a, b in zip(cpu.pictures, gpu.pictures, strict=True):
                assert np.allclose(a.values, b.values, atol=1e-5)
            assert (cpu.fields is None) == (gpu.fields is None)
            if cpu.fields is not None:
                assert np.allclose(cpu.fields.s, gpu.fields.s, atol=1e-5)
                assert np.allclose(cpu.fields.outputs, gpu.fields.outputs, atol=1e-5)
