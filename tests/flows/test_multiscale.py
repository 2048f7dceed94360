"""Multi-scale image flows: squeeze and factor-out compose, invert, and keep the change of variables exact."""

from __future__ import annotations

import math

import pytest
import torch
from torch.func import jacrev

from flowlab.flows import build_flow, stack_shapes, validate_stack
from flowlab.flows.layers.multiscale import squeeze, unsqueeze


def glow_step(flip: bool, hidden: int = 8, conditioner: str = "resnet") -> list[dict]:
    return [{"kind": "actnorm"}, {"kind": "lu_linear"},
            {"kind": "affine_coupling", "params": {"mask": "channel", "flip": flip, "hidden": hidden, "depth": 1,
                                                   "conditioner": conditioner}}]


def multiscale_stack(hidden: int = 8, learned_prior: bool = True) -> list[dict]:
    """Glow on (1, 8, 8): squeeze → 2 steps → factor out → squeeze → 2 steps."""
    return ([{"kind": "squeeze"}] + glow_step(False, hidden) + glow_step(True, hidden)
            + [{"kind": "factor_out", "params": {"learned_prior": learned_prior, "hidden": hidden}},
               {"kind": "squeeze"}] + glow_step(False, hidden) + glow_step(True, hidden))


def randomised(layers: list[dict], shape: tuple[int, ...], seed: int = 0):
    torch.manual_seed(seed)
    flow = build_flow(layers, shape, seed=seed).double()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        flow.train()
        flow(torch.randn(64, *shape, dtype=torch.float64, generator=gen) * 2 + 0.5)  # ActNorm's initialisation
        for p in flow.parameters():
            p.add_(0.2 * torch.randn(p.shape, dtype=p.dtype, generator=gen))
    return flow.eval()


def test_squeeze_is_a_permutation_that_keeps_2x2_blocks_together() -> None:
    x = torch.arange(2 * 4 * 4, dtype=torch.float64).reshape(1, 2, 4, 4)
    s = squeeze(x)
    assert s.shape == (1, 8, 2, 2)
    # Channel 4c + 2i + j at (h, w) holds pixel (2h + i, 2w + j) of channel c.
    for c in range(2):
        for i in range(2):
            for j in range(2):
                assert torch.equal(s[0, 4 * c + 2 * i + j], x[0, c, i::2, j::2])
    assert torch.equal(unsqueeze(s), x)


def test_shapes_compose_and_a_bad_stack_is_refused_where_it_breaks() -> None:
    shapes = stack_shapes(multiscale_stack(), (1, 8, 8))
    assert shapes[0] == (4, 4, 4) and shapes[6] == (4, 4, 4)
    assert shapes[7] == (2, 4, 4), "factor-out keeps half of the channels"
    assert shapes[8] == (8, 2, 2) and shapes[-1] == (8, 2, 2)
    too_many = [{"kind": "squeeze"}] * 4
    problems = validate_stack(too_many, (1, 8, 8))
    assert len(problems) == 1 and problems[0].position == 3 and "even height" in str(problems[0])
    one_channel = validate_stack([{"kind": "factor_out"}], (1, 8, 8))
    assert one_channel and "squeeze first" in str(one_channel[0])


@pytest.mark.parametrize("learned_prior", [True, False])
def test_multiscale_flow_round_trips_and_latent_has_every_dimension(learned_prior: bool) -> None:
    flow = randomised(multiscale_stack(learned_prior=learned_prior), (1, 8, 8))
    assert flow.latent_shape == (64,)
    x = torch.randn(32, 1, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        z, ladj = flow(x)
        x_back, ladj_back = flow.inverse(z)
        s, log_q = flow.sample_and_log_prob(16)
    assert z.shape == (32, 64)
    assert (x_back - x).abs().max() < 1e-8
    assert (ladj + ladj_back).abs().max() < 1e-8
    assert s.shape == (16, 1, 8, 8)
    with torch.no_grad():
        assert (flow.log_prob(s) - log_q).abs().max() < 1e-6  # samples reach ~1e3: relative 1e-9


def test_multiscale_ladj_matches_the_autograd_jacobian_both_ways() -> None:
    flow = randomised(multiscale_stack(), (1, 8, 8), seed=3)
    x = torch.randn(3, 1, 8, 8, dtype=torch.float64)
    z, ladj = flow(x)
    _, ladj_inv = flow.inverse(z.detach())
    for i in range(3):
        jf = jacrev(lambda t: flow(t.reshape(1, 1, 8, 8))[0].reshape(-1))(x[i].reshape(-1))
        ji = jacrev(lambda t: flow.inverse(t.reshape(1, 64))[0].reshape(-1))(z[i].detach())
        assert abs(torch.linalg.slogdet(jf)[1] - ladj[i]) < 1e-9
        assert abs(torch.linalg.slogdet(ji)[1] - ladj_inv[i]) < 1e-9


def test_factored_channels_really_leave() -> None:
    """Changing the factored-out part of z changes x but not the later layers' running tensor."""
    flow = randomised(multiscale_stack(), (1, 8, 8), seed=1)
    x = torch.randn(4, 1, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        z, _, states, _ = flow(x, return_intermediates=True)
    assert states[-1].shape == (4, 8, 2, 2)
    # z = [32 factored dims (2×4×4), 32 final dims (8×2×2)]; the final block is the last running tensor.
    assert torch.equal(z[:, 32:], states[-1].reshape(4, -1))


def test_a_tiny_multiscale_model_learns_digits_below_a_stated_bound() -> None:
    """Glow-style, 2 scales, on 8×8 digits: 150 steps take test bits/dim well under uniform's log2(17) = 4.09."""
    from flowlab.targets import build_target
    from flowlab.training.settings import TrainSettings
    from flowlab.training.trainer import Trainer

    layers = [{"kind": "logit", "params": {"alpha": 0.05}}] + multiscale_stack(hidden=16)
    target = build_target({"kind": "digits", "params": {}})
    settings = TrainSettings(learning_rate=2e-3, batch_size=64, eval_every=50, n_train=1297, n_test=500,
                             device="cpu")
    torch.manual_seed(0)
    trainer = Trainer(layers, target, settings)
    for _ in range(150):
        trainer.train_step()
    bpd = trainer.evaluate()["test_bpd"]
    assert math.isfinite(bpd) and bpd < 3.0
