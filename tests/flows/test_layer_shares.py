"""Each layer's share of log p(x): ``Flow.forward/inverse(return_intermediates=True)`` return every layer's own
log|det J|, and these add up to the flow's, and with log p_Z(z) to log p(x) — for every registered kind that
takes 2-D data (read from the registry), in both directions."""

from __future__ import annotations

import pytest
import torch

from flowlab.flows import LAYERS, build_flow
from tests.flows.cases import Case, randomised_flow, support_sample

KINDS_2D = [kind for kind, spec in LAYERS.items() if "vector" in spec.data]


def _flow(kind: str):
    """The kind twice, around an ActNorm (a second kind, so the shares are not all alike); alone where its data
    lie in an interval that an ActNorm would leave."""
    case = Case(kind, (2,), {"hidden": 8} if any(p.name == "hidden" for p in LAYERS[kind].params) else {})
    if LAYERS[kind].support != "real":
        return randomised_flow(case, seed=3)
    stack = [case.layers[0], {"kind": "actnorm"}, case.layers[0]]
    two = build_flow(stack, (2,), seed=3).double()
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        two.train()
        two(support_sample(LAYERS[kind].support, 256, (2,), gen))
        for p in two.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return two.eval()


def test_every_vector_kind_is_covered() -> None:
    assert len(KINDS_2D) >= 15


@pytest.mark.parametrize("kind", KINDS_2D)
def test_layer_log_dets_add_up_to_log_p(kind: str) -> None:
    flow = _flow(kind)
    x = support_sample(LAYERS[kind].support, 32, (2,), torch.Generator().manual_seed(9))
    z, ladj, states, steps = flow(x, return_intermediates=True)
    assert len(steps) == len(flow.layers) == len(states) - 1
    for layer, h_in, step in zip(flow.layers, states[:-1], steps, strict=True):  # each share is its layer's own
        assert torch.allclose(step, layer(h_in)[1], atol=1e-10)
    assert torch.allclose(torch.stack(steps).sum(0), ladj, atol=1e-10)
    assert torch.allclose(flow.base.log_prob(z) + torch.stack(steps).sum(0), flow.log_prob(x), atol=1e-10)

    # back from z: the shares of the inverse, last layer first, are minus the forward shares
    tol = max(1e-8, LAYERS[kind].directions.tolerance or 0.0)
    x_back, ladj_inv, back_states, back_steps = flow.inverse(z, return_intermediates=True)
    assert torch.allclose(torch.stack(back_steps).sum(0), ladj_inv, atol=1e-10)
    for fwd, bwd in zip(steps, reversed(back_steps), strict=True):
        assert torch.allclose(fwd, -bwd, atol=100 * tol)
    assert torch.allclose(flow.base.log_prob(z) - ladj_inv, flow.log_prob(x_back), atol=100 * tol)
