"""What a layer shows of itself (``structure``), checked against what the layer does: a mask against the identity
rows of the autograd Jacobian, a MADE's connectivity against the Jacobian's zero pattern, a matrix against the
layer's action on the unit vectors, squeeze's fold against the formula in its docstring. Registry-driven."""

from __future__ import annotations

import pytest
import torch
from torch.func import jacrev

from flowlab.flows import LAYERS, build_flow
from flowlab.flows.structure import Picture, ShowsStructure
from tests.flows.cases import Case, cases, randomised_flow

SHOWING = [c for c in cases() if isinstance(build_flow(c.layers, c.shape).layers[0], ShowsStructure)]
IDS = [c.id for c in SHOWING]


def _layer_and_pictures(case: Case) -> tuple[torch.nn.Module, dict[str, Picture]]:
    layer = randomised_flow(case).layers[0]
    with torch.no_grad():
        pictures = {p.name: p for p in layer.structure(case.shape)}
    return layer, pictures


def _jacobian(fn, x: torch.Tensor) -> torch.Tensor:
    """The ``(D, D)`` Jacobian of one example (flattened) of a batched map ``fn(x) -> (y, ladj)``."""
    shape = x.shape
    return jacrev(lambda v: fn(v.reshape(1, *shape))[0].reshape(-1))(x.reshape(-1))


def _points(case: Case, n: int = 6) -> torch.Tensor:
    # Small values: inside every spline's bound, so a transformed feature is really transformed.
    return 0.5 * torch.randn((n, *case.shape), generator=torch.Generator().manual_seed(3), dtype=torch.float64)


def test_the_layers_that_show_something_are_the_expected_families() -> None:
    families = {LAYERS[c.kind].family for c in SHOWING}
    assert {"coupling", "autoregressive", "spline", "linear", "permutation", "multiscale"} <= families
    assert not any(LAYERS[c.kind].family in ("rezende-mohamed", "elementwise") for c in SHOWING)


@pytest.mark.parametrize("case", SHOWING, ids=IDS)
def test_pictures_are_finite_arrays_with_captions(case: Case) -> None:
    _, pictures = _layer_and_pictures(case)
    assert pictures
    for p in pictures.values():
        assert p.values.ndim in (2, 3) and p.values.size and torch.isfinite(torch.from_numpy(p.values)).all()
        assert p.caption


@pytest.mark.parametrize("case", [c for c in SHOWING if "mask" in _layer_and_pictures(c)[1]],
                         ids=lambda c: c.id)
def test_a_mask_marks_exactly_the_outputs_that_pass_unchanged(case: Case) -> None:
    """mask = 1: the Jacobian's row is a unit row (the output is its input); mask = 0: it is not, somewhere."""
    layer, pictures = _layer_and_pictures(case)
    mask = torch.from_numpy(pictures["mask"].values).reshape(-1).bool()
    d = mask.numel()
    assert d == torch.Size(case.shape).numel() and mask.any() and not mask.all()
    eye = torch.eye(d, dtype=torch.float64)
    moved = torch.zeros(d, dtype=torch.bool)
    for x in _points(case):
        jac = _jacobian(layer.forward, x)
        identity_rows = (jac - eye).abs().amax(dim=1) < 1e-12
        assert identity_rows[mask].all()
        moved |= ~identity_rows
    assert torch.equal(moved, ~mask)


@pytest.mark.parametrize("case", [c for c in SHOWING if LAYERS[c.kind].family in ("autoregressive", "spline")
                                  and c.shape[0] > 1 and "MADE connectivity" in _layer_and_pictures(c)[1]]
                         + [Case("maf", (5,), {"hidden": 2})], ids=lambda c: c.id)
def test_made_connectivity_is_strictly_triangular_and_the_jacobians_zero_pattern(case: Case) -> None:
    """In the one-pass direction, output i depends on input j ≠ i exactly where the connectivity says, and on its
    own input always. (tanh: a ReLU network may have a path switched off at every point tried.)"""
    layer, pictures = _layer_and_pictures(Case(case.kind, case.shape, {**case.params, "activation": "tanh"}))
    conn = torch.from_numpy(pictures["MADE connectivity"].values).double()
    d = case.shape[0]
    assert conn.shape == (d, d) and torch.equal(conn, torch.tril(conn, -1)) and set(conn.unique().tolist()) <= {0, 1}
    fast = LAYERS[case.kind].directions_for(case.params).fast
    one_pass = layer.inverse if fast == "inverse" else layer.forward
    seen = torch.zeros(d, d, dtype=torch.bool)
    for x in _points(case, 8):
        jac = _jacobian(one_pass, x)
        assert (jac.diagonal().abs() > 0).all()
        seen |= jac.abs() > 1e-12
    seen.fill_diagonal_(False)
    assert torch.equal(seen, conn.bool())


def test_a_small_made_is_not_a_full_triangle() -> None:
    """With 2 hidden units per layer over 5 inputs, inputs 4 and 5 reach nothing: the picture shows it."""
    _, pictures = _layer_and_pictures(Case("maf", (5,), {"hidden": 2}))
    conn = pictures["MADE connectivity"].values
    assert conn[:, 3:].sum() == 0 and conn[1, 0] == 1


@pytest.mark.parametrize("case", [c for c in SHOWING if any(p.signed for p in _layer_and_pictures(c)[1].values())],
                         ids=lambda c: c.id)
def test_a_matrix_is_the_layers_action_on_the_unit_vectors(case: Case) -> None:
    """Column j of W is the layer's output for the unit vector e_j (on images: a 1 in channel j at every pixel)."""
    layer, pictures = _layer_and_pictures(case)
    (matrix,) = [torch.from_numpy(p.values).double() for p in pictures.values() if p.signed]
    n = case.shape[0]
    units = torch.eye(n, dtype=torch.float64)
    if len(case.shape) == 3:
        units = units[:, :, None, None].expand(n, *case.shape).contiguous()
    with torch.no_grad():
        out = layer.forward(units)[0]
    columns = out if len(case.shape) == 1 else out[:, :, 0, 0]
    assert torch.allclose(matrix, columns.T, atol=1e-6)
    if len(case.shape) == 3:  # the same mixing at every pixel
        assert torch.allclose(out, columns[:, :, None, None].expand_as(out), atol=1e-6)


@pytest.mark.parametrize("shape", [(1, 4, 4), (3, 2, 6)])
def test_squeeze_shows_which_channel_each_pixel_goes_to(shape: tuple[int, int, int]) -> None:
    """Channel 4c + 2i + j holds pixel (2h + i, 2w + j) of channel c."""
    layer = build_flow([{"kind": "squeeze"}], shape).layers[0]
    (fold,) = layer.structure(shape)
    c, h, w = shape
    expected = (4 * torch.arange(c)[:, None, None] + 2 * (torch.arange(h)[None, :, None] % 2)
                + torch.arange(w)[None, None, :] % 2)
    assert fold.values.shape == shape
    assert torch.equal(torch.from_numpy(fold.values).long(), expected)
    x = torch.randn(1, *shape)
    y = layer.forward(x)[0][0]
    for ch in range(4 * c):  # and the layer really puts those pixels there
        assert torch.equal(y[ch].reshape(-1).sort().values, x[0][torch.from_numpy(fold.values) == ch].sort().values)
