"""``Flow.push``: the views' chunked, no-grad pass, in place where a layer offers it, equals the flow's own methods."""

from __future__ import annotations

import pytest
import torch

from flowlab.flows import LAYERS, build_flow
from flowlab.flows.schemes import Coupling
from tests.flows.cases import Case, cases, randomised_flow, support_sample

CASES = cases()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_push_equals_forward_inverse_and_log_prob(case) -> None:
    flow = randomised_flow(case)
    gen = torch.Generator().manual_seed(2)
    x = support_sample(LAYERS[case.kind].support, 50, case.shape, gen)
    before = x.clone()
    with torch.no_grad():
        z, ladj = flow(x)
        logp = flow.log_prob(x)
        z_fresh = z + 0.1 * torch.randn(z.shape, generator=gen, dtype=z.dtype)
        x2, ladj2 = flow.inverse(z_fresh)
        logq = flow.base.log_prob(z_fresh) - ladj2
    for chunk in (7, 8192):  # chunks that do not divide the batch, and one chunk
        y, step, lp = flow.push(x, chunk=chunk)
        assert torch.equal(x, before), "push must not change its input"
        assert y.shape == z.shape
        assert torch.allclose(y, z, atol=1e-12) and torch.allclose(step, ladj, atol=1e-12)
        assert torch.allclose(lp, logp, atol=1e-12, equal_nan=True)
        y2, step2, lq = flow.push(z_fresh, inverse=True, chunk=chunk)
        assert torch.allclose(y2, x2, atol=1e-12, equal_nan=True) and torch.allclose(step2, ladj2, atol=1e-12)
        assert torch.allclose(lq, logq, atol=1e-12, equal_nan=True)
        assert not y.requires_grad and not y2.requires_grad


def test_sample_through_push_is_sample() -> None:
    flow = randomised_flow(next(c for c in CASES if c.kind == "affine_coupling" and c.shape == (5,)))
    z = flow.base.sample(300, 0.7, torch.Generator().manual_seed(3))
    x, _, logq = flow.push(z, inverse=True, chunk=64)
    with torch.no_grad():
        ref, ref_logq = flow.sample_and_log_prob(300, 0.7, torch.Generator().manual_seed(3))
    assert torch.equal(x, ref) and torch.allclose(logq, ref_logq, atol=1e-12)


@pytest.mark.parametrize("shape,params", [
    ((5,), {"mask": "alternating", "flip": True}),  # an index split (no slices)
    ((5,), {"mask": "half"}),                         # two slices
    ((4, 3, 3), {"mask": "channel", "flip": True}),  # image channels
])
def test_couplings_in_place_overwrite_their_input_with_the_result(shape, params) -> None:
    flow = randomised_flow(Case("affine_coupling", shape, {"hidden": 8, **params}))
    layer = flow.layers[0]
    assert isinstance(layer, Coupling) and layer.in_place
    x = torch.randn(20, *shape, dtype=torch.float64)
    with torch.no_grad():
        for direction in ("forward", "inverse"):
            ref, ref_ladj = getattr(layer, direction)(x)
            h = x.clone()
            out, ladj = getattr(layer, direction)(h, inplace=True)
            assert out is h and torch.equal(out, ref) and torch.equal(ladj, ref_ladj)


def test_weights_saved_with_the_split_indices_still_load() -> None:
    """Earlier versions saved the couplings' split indices (derived from the parameters) with the weights."""
    stack = [{"kind": "affine_coupling", "params": {"mask": "alternating"}},
             {"kind": "spline_coupling", "params": {"flip": True}}]
    torch.manual_seed(0)
    flow = build_flow(stack, (3,))
    state = flow.state_dict()
    old = dict(state)
    for i, names in enumerate((("cond", "trans", "unsplit"), ("cond_idx", "trans_idx", "merge_idx"))):
        for name in names:
            old[f"layers.{i}.{name}"] = torch.arange(3)
    assert not any(k.endswith(("cond", "trans", "unsplit")) for k in state), "split indices are not weights"
    torch.manual_seed(1)
    again = build_flow(stack, (3,))
    again.load_state_dict(old, strict=True)
    x = torch.randn(10, 3)
    assert torch.equal(again(x)[0], flow(x)[0])
