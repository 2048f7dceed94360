"""The conditioner networks: in-place activations, masked layers that leave out what no unit sees, and the
one-input layer written for the compiler; each against the plain computation."""

from __future__ import annotations

import pytest
import torch

from flowlab.flows.nets import ACTIVATIONS, MADE, Linear, MaskedLinear, mlp


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


def _masked_product(layer: MaskedLinear, x: torch.Tensor) -> torch.Tensor:
    """The textbook masked layer: x (W ⊙ M)ᵀ + b, every input and output in the product."""
    return torch.nn.functional.linear(x, layer.weight * layer.mask, layer.bias)


@pytest.mark.parametrize("mask", [
    torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [1.0, 1.0, 0.0]]),  # unseen input, blind output
    torch.ones(4, 3),  # full: no mask applied
    torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]]),  # nothing to leave out
    torch.zeros(4, 3),  # nothing connected: the bias alone
])
def test_a_masked_layer_that_leaves_out_unconnected_inputs_and_outputs_is_the_masked_product(mask) -> None:
    torch.manual_seed(0)
    layer = MaskedLinear(3, 4, mask).double()
    x = torch.randn(16, 3, dtype=torch.float64, requires_grad=True)
    y = layer(x)
    reference = _masked_product(layer, x)
    torch.testing.assert_close(y, reference, rtol=0, atol=1e-14)
    weights = (torch.randn(16, 4, dtype=torch.float64),)
    got = torch.autograd.grad((y * weights[0]).sum(), [x, layer.weight, layer.bias], allow_unused=True)
    want = torch.autograd.grad((reference * weights[0]).sum(), [x, layer.weight, layer.bias], allow_unused=True)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a if a is not None else torch.zeros_like(b), b, rtol=0, atol=1e-14)
    assert set(layer.state_dict()) == {"weight", "bias", "mask"}  # the saved form is what it always was


@pytest.mark.parametrize(("n_in", "n_out", "elementwise"), [(1, 8, True), (16, 2, True), (16, 1, True),
                                                           (1, 1, True), (4, 8, False)])
def test_thin_linear_layers_under_compile_are_the_matrix_product(n_in: int, n_out: int, elementwise: bool) -> None:
    """One input or at most two outputs: traced by Dynamo, written without a matrix product, the same values and
    gradients as ``F.linear``; other shapes keep the matrix product."""
    torch.manual_seed(0)
    layer = Linear(n_in, n_out).double()
    x = torch.randn(32, n_in, dtype=torch.float64, requires_grad=True)
    ops: list[str] = []

    def record(gm: torch.fx.GraphModule, example_inputs: list) -> torch.fx.GraphModule:
        ops.extend(str(node.target) for node in gm.graph.nodes if node.op == "call_function")
        return gm

    traced = torch.compile(lambda u: layer(u).relu(), backend=record, fullgraph=True)  # traced: is_compiling()
    y = traced(x)
    reference = torch.nn.functional.linear(x, layer.weight, layer.bias).relu()
    torch.testing.assert_close(y, reference, rtol=0, atol=1e-14)
    got = torch.autograd.grad(y.sum(), [x, layer.weight, layer.bias])
    want = torch.autograd.grad(reference.sum(), [x, layer.weight, layer.bias])
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-13)
    uses_product = any("linear" in op or "matmul" in op or "mm" in op for op in ops)
    assert uses_product != elementwise, ops
