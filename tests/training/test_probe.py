"""The probe point: each layer's Jacobian at one point against autograd (torch.func.jacrev) and a central finite
difference, its log|det| against the layer's reported log-det, and log p adding up — for every registered kind
that takes vector data (from the registry), both directions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.func import jacrev

from flowlab.flows import LAYERS, build_flow
from flowlab.training.probe import ProbeError, probe
from tests.flows.cases import Case, randomised_flow, support_sample

KINDS = [kind for kind, spec in LAYERS.items() if "vector" in spec.data]


def _flow(kind: str, dim: int = 2):
    params = {"hidden": 8} if any(p.name == "hidden" for p in LAYERS[kind].params) else {}
    return randomised_flow(Case(kind, (dim,), params), seed=11)


def _point(kind: str, dim: int = 2) -> list[float]:
    return support_sample(LAYERS[kind].support, 1, (dim,), torch.Generator().manual_seed(2))[0].tolist()


def _central_difference(fn, x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    d = x.shape[0]
    cols = []
    for j in range(d):
        e = torch.zeros(d, dtype=x.dtype)
        e[j] = eps
        cols.append((fn(x + e) - fn(x - e)) / (2 * eps))
    return torch.stack(cols, dim=1)


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("kind", KINDS)
def test_jacobian_matches_autograd_and_finite_differences(kind: str, dim: int) -> None:
    if dim < LAYERS[kind].min_features:
        pytest.skip("the kind needs more dimensions")  # pragma: no cover - every vector kind takes 2
    flow = _flow(kind, dim)
    result = probe(flow, _point(kind, dim))
    (step,) = result.steps
    layer = flow.layers[0]
    x = torch.tensor(step.before, dtype=torch.float64)

    def f(v: torch.Tensor) -> torch.Tensor:
        return layer(v.unsqueeze(0))[0].squeeze(0)

    numerical = LAYERS[kind].directions_for(flow.infos[0].params).forward == "numerical"
    with torch.no_grad():
        fd = _central_difference(f, x)
    assert np.allclose(step.jacobian, fd.numpy(), atol=1e-5 if numerical else 1e-7)
    if not numerical:  # autograd through an iterative solver is not the map's derivative
        assert np.allclose(step.jacobian, jacrev(f)(x).detach().numpy(), atol=1e-10)
    assert step.jacobian_log_det == pytest.approx(step.log_det, abs=1e-8)
    assert np.allclose(step.after, f(x).detach().numpy(), atol=1e-10)
    with torch.no_grad():
        assert result.log_prob == pytest.approx(float(flow.log_prob(x.unsqueeze(0))[0]), abs=1e-8)


@pytest.mark.parametrize("kind", KINDS)
def test_both_directions_meet(kind: str) -> None:
    """From z back to x: the same point, the same log p(x); each inverse Jacobian inverts the forward one."""
    flow = _flow(kind)
    there = probe(flow, _point(kind))
    back = probe(flow, there.z, inverse=True)
    tol = max(1e-8, 100 * (LAYERS[kind].directions.tolerance or 0.0))
    assert np.allclose(back.x, there.x, atol=tol)
    assert back.log_prob == pytest.approx(there.log_prob, abs=tol)
    assert back.base_log_prob == pytest.approx(there.base_log_prob, abs=1e-10)
    for fwd, inv in zip(there.steps, reversed(back.steps), strict=True):
        assert np.allclose(inv.jacobian @ fwd.jacobian, np.eye(2), atol=1e-6)
        assert inv.log_det == pytest.approx(-fwd.log_det, abs=tol)
    assert all(np.allclose(a, b, atol=tol) for a, b in zip(there.path, back.path, strict=True))


def test_a_stack_adds_up() -> None:
    """log p_Z(z) + Σ log|det J_k| = log p(x), and the path runs x → z through each layer's output."""
    stack = [{"kind": "actnorm"}, {"kind": "affine_coupling", "params": {"hidden": 8}},
             {"kind": "planar"}, {"kind": "reverse"}, {"kind": "maf", "params": {"hidden": 8}}]
    flow = build_flow(stack, (2,), seed=4).double()
    with torch.no_grad():
        flow(torch.randn(64, 2, dtype=torch.float64) + 1.0)
        for p in flow.parameters():
            p.add_(0.3 * torch.randn_like(p))
    flow.eval()
    r = probe(flow, [0.4, -1.1])
    assert [s.kind for s in r.steps] == [e["kind"] for e in stack]
    assert [s.position for s in r.steps] == list(range(5))
    assert r.base_log_prob + r.log_det_sum == pytest.approx(r.log_prob, abs=1e-12)
    with torch.no_grad():
        x = torch.tensor([[0.4, -1.1]], dtype=torch.float64)
        z, _, states, steps = flow(x, return_intermediates=True)
        assert r.log_prob == pytest.approx(float(flow.log_prob(x)[0]), abs=1e-10)
    assert np.allclose(r.z, z[0].numpy())
    assert all(np.allclose(a, b[0].numpy()) for a, b in zip(r.path, states, strict=True))
    assert [s.log_det for s in r.steps] == pytest.approx([float(s[0]) for s in steps], abs=1e-12)
    assert np.allclose(r.steps[3].jacobian, [[0, 1], [1, 0]])  # the permutation swaps


@pytest.mark.parametrize("flip", [False, True])
def test_a_couplings_zeros_are_where_its_mask_says(flip: bool) -> None:
    """The coordinate a coupling passes through unchanged has a unit row; the other one's derivative wrt the
    passed coordinate is free: one structural zero, above or below the diagonal as the mask flips."""
    stack = [{"kind": "affine_coupling", "params": {"mask": "alternating", "flip": flip, "hidden": 8}}]
    flow = randomised_flow(Case("affine_coupling", (2,), stack[0]["params"]), seed=1)
    step = probe(flow, [0.7, -0.3]).steps[0]
    passed = [i for i in range(2) if math.isclose(step.after[i], step.before[i], abs_tol=0.0)]
    assert len(passed) == 1
    i = passed[0]
    other = 1 - i
    assert step.jacobian[i, i] == 1.0 and step.jacobian[i, other] == 0.0  # exactly: a copy
    assert step.jacobian[other, i] != 0.0
    zeros = step.structural_zeros
    assert zeros[i, other] and not zeros[other, i] and zeros.sum() == 1


def test_autoregressive_jacobians_are_triangular() -> None:
    flow = _flow("maf", 3)
    jac = probe(flow, [0.2, 0.5, -0.4]).steps[0].jacobian
    assert np.allclose(np.triu(jac, 1), 0.0) and not np.allclose(np.tril(jac, -1), 0.0)


@pytest.mark.parametrize(("point", "words"), [([1.0], "1 coordinate"), ([1.0, 2.0, 3.0], "3 coordinate"),
                                               ([float("nan"), 0.0], "finite")])
def test_bad_points_are_refused(point, words) -> None:
    flow = build_flow([{"kind": "actnorm"}], (2,))
    with pytest.raises(ProbeError, match=words):
        probe(flow, point)


def test_images_are_refused() -> None:
    flow = build_flow([{"kind": "actnorm"}], (1, 4, 4))
    with pytest.raises(ProbeError, match="vector data"):
        probe(flow, [0.0] * 16)
