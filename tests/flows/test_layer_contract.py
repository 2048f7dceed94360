"""The contract every registered layer kind must keep, checked in float64 away from the identity.

* forward and inverse undo each other (numerical directions: to their stated tolerance);
* ladj equals log|det| of the autograd Jacobian (torch.func.jacrev), in both directions;
* forward's ladj is minus inverse's at corresponding points;
* on 2-D data the density integrates to one;
* gradients are finite; batches of 1 and 4096 work and agree with each other;
* CUDA equals CPU (skipped, visibly, without a GPU).
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.func import jacrev

from flowlab.flows import LAYERS
from tests.flows.cases import Case, cases, randomised_flow, support_sample

CASES = cases()
IDS = [c.id for c in CASES]
TOL = 1e-5


def _tolerance(case: Case) -> float:
    stated = LAYERS[case.kind].directions.tolerance
    return max(TOL, stated or 0.0)


def _inputs(case: Case, n: int, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return support_sample(LAYERS[case.kind].support, n, case.shape, gen)


def _block_logdets(fn, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """log|det| of each example's Jacobian block, and the largest entry of the cross-example blocks."""
    b = x.shape[0]
    d = x[0].numel()
    jac = jacrev(fn)(x).reshape(b, d, b, d)
    idx = torch.arange(b)
    blocks = jac[idx, :, idx, :]
    off = jac.clone()
    off[idx, :, idx, :] = 0
    return torch.linalg.slogdet(blocks)[1], off.abs().max()


def test_every_kind_has_cases() -> None:
    tested = {c.kind for c in CASES}
    assert tested == set(LAYERS), f"kinds without a valid test case: {set(LAYERS) - tested}"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_round_trip_both_ways(case: Case) -> None:
    flow = randomised_flow(case)
    x = _inputs(case, 64)
    with torch.no_grad():
        z, _ = flow(x)
        x_back, _ = flow.inverse(z)
        z_fresh = z + 0.1 * torch.randn_like(z)  # latent points that did not come from data
        x2, _ = flow.inverse(z_fresh)
        z_back, _ = flow(x2)
    assert torch.isfinite(z).all()
    assert z.shape == (64, *flow.latent_shape)
    assert (z.reshape(64, -1) - x.reshape(64, -1)).abs().max() > 1e-3, \
        "the randomised layer is still the identity: the test would prove nothing"
    tol = _tolerance(case)
    assert (x_back - x).abs().max() < tol
    assert (z_back - z_fresh).abs().max() < tol


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_ladj_matches_autograd_jacobian(case: Case) -> None:
    flow = randomised_flow(case)
    x = _inputs(case, 6)
    z, ladj_fwd = flow(x)
    x_back, ladj_inv = flow.inverse(z.detach())

    ref_fwd, leak_fwd = _block_logdets(lambda t: flow(t)[0], x)
    ref_inv, leak_inv = _block_logdets(lambda t: flow.inverse(t)[0], z.detach())
    tol = _tolerance(case)
    assert (ladj_fwd - ref_fwd).abs().max() < tol
    assert (ladj_inv - ref_inv).abs().max() < tol
    assert (ladj_fwd + ladj_inv).abs().max() < tol
    assert leak_fwd < 1e-12 and leak_inv < 1e-12, "examples in a batch must not influence each other"


def _grid(support: str, n: int) -> tuple[torch.Tensor, float]:
    if support == "unit_interval":
        lo, hi = -0.5, 1.5  # logit with α > 0 is onto ℝ from a slightly wider interval than (0, 1)
    elif support == "symmetric_interval":
        lo, hi = -1.0, 1.0
    else:
        lo, hi = -12.0, 12.0
    step = (hi - lo) / n
    ticks = lo + step * (torch.arange(n, dtype=torch.float64) + 0.5)  # midpoints: never on the boundary
    gx, gy = torch.meshgrid(ticks, ticks, indexing="xy")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1), step * step


@pytest.mark.parametrize("case", [c for c in CASES if c.shape == (2,)], ids=[c.id for c in CASES if c.shape == (2,)])
def test_density_integrates_to_one_in_2d(case: Case) -> None:
    flow = randomised_flow(case, noise=0.2)
    points, cell = _grid(LAYERS[case.kind].support, 600)
    with torch.no_grad():
        density = torch.exp(flow.log_prob(points))
    density = torch.nan_to_num(density, nan=0.0)  # outside a bounded support log p is undefined: no mass
    mass = density.sum().item() * cell
    assert abs(mass - 1.0) < 0.01


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradients_are_finite_and_reach_parameters(case: Case) -> None:
    flow = randomised_flow(case).train()
    x = _inputs(case, 32).requires_grad_(True)
    loss = -flow.log_prob(x).mean()
    loss.backward()
    assert math.isfinite(loss.item())
    assert x.grad is not None and torch.isfinite(x.grad).all()
    params = [p for p in flow.parameters() if p.requires_grad]
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in params)
    if params:
        assert any(p.grad.abs().max() > 0 for p in params), "no parameter receives a gradient"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_batch_of_one_and_of_4096(case: Case) -> None:
    flow = randomised_flow(case)
    big = _inputs(case, 4096)
    with torch.no_grad():
        z_big, l_big = flow(big)
        z_one, l_one = flow(big[:1])
        x_one, li_one = flow.inverse(z_one)
        x_big, li_big = flow.inverse(z_big)
    assert z_big.shape == (4096, *flow.latent_shape) and l_big.shape == (4096,) and li_big.shape == (4096,)
    assert z_one.shape == (1, *flow.latent_shape) and l_one.shape == (1,) and li_one.shape == (1,)
    assert torch.isfinite(z_big).all() and torch.isfinite(l_big).all()
    tol = _tolerance(case)
    assert (z_one - z_big[:1]).abs().max() < tol and (l_one - l_big[:1]).abs().max() < tol
    assert (x_one - big[:1]).abs().max() < tol and (x_big - big).abs().max() < tol


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine: CUDA-vs-CPU not checked")
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_cuda_equals_cpu(case: Case) -> None:
    flow = randomised_flow(case)
    x = _inputs(case, 256)
    with torch.no_grad():
        z_cpu, l_cpu = flow(x)
        s_cpu, ls_cpu = flow.inverse(z_cpu)
        gpu = flow.to("cuda")
        z_gpu, l_gpu = gpu(x.cuda())
        s_gpu, ls_gpu = gpu.inverse(z_cpu.cuda())
    tol = _tolerance(case)
    assert (z_gpu.cpu() - z_cpu).abs().max() < tol and (l_gpu.cpu() - l_cpu).abs().max() < tol
    assert (s_gpu.cpu() - s_cpu).abs().max() < tol and (ls_gpu.cpu() - ls_cpu).abs().max() < tol
