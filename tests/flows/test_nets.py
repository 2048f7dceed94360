"""The MLP builder's in-place activations: the same network function and gradients, the input left alone."""

from __future__ import annotations

import pytest
import torch

from flowlab.flows.nets import ACTIVATIONS, MADE, mlp


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_in_place_activations_compute_the_same_function_and_gradients(activation) -> None:
    nets = []
    for inplace in (False, True):
        torch.manual_seed(0)
        net = mlp(3, 4, hidden=16, depth=3, activation=activation, inplace=inplace).double()
        with torch.no_grad():
            net[-1].weight.normal_(generator=torch.Generator().manual_seed(1))  # not the zero-initialised output
        nets.append(net)
    assert all(m.inplace for m in nets[1] if type(m) in ACTIVATIONS.values())
    x = torch.randn(32, 3, dtype=torch.float64, requires_grad=True)
    before = x.detach().clone()
    outs, grads = [], []
    for net in nets:
        y = net(x)
        (g,) = torch.autograd.grad(y.square().sum(), x)
        outs.append(y.detach())
        grads.append(g)
    assert torch.equal(x.detach(), before), "an in-place activation must never touch the network's input"
    assert torch.equal(outs[0], outs[1])
    assert torch.allclose(grads[0], grads[1], rtol=1e-12, atol=1e-12)  # ELU's in-place backward rounds differently


def test_made_with_in_place_activations_keeps_its_autoregressive_wiring() -> None:
    torch.manual_seed(0)
    made = MADE(4, 2, hidden=16, depth=2, activation="tanh", inplace=True).double()
    with torch.no_grad():
        made.net[-1].weight.normal_()
    jac = torch.autograd.functional.jacobian(lambda u: made(u)[0], torch.randn(1, 4, dtype=torch.float64))
    dependence = jac[:, :, 0, :].abs().sum(dim=1)  # (output feature i, input feature j), over the parameters
    assert torch.triu(dependence).max() == 0  # output i sees inputs < i only
    assert dependence[torch.ones(4, 4).tril(-1).bool()].min() > 0  # and every one of them
