"""``Flow.push``: the views' chunked, no-grad pass equals the flow's own methods; old weights still load."""

from __future__ import annotations

import pytest
import torch

from flowlab.flows import LAYERS, build_flow
from tests.flows.cases import cases, randomised_flow, support_sample

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
