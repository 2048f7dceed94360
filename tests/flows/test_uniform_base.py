"""The uniform base: its density against torch's, an honest support (−∞ outside, no NaN), samples inside, and
every base drawn by the views as the model draws it."""

from __future__ import annotations

import math

import pytest
import torch

from flowlab.flows import BASES, Uniform, build_flow
from flowlab.training.settings import TrainSettings
from flowlab.training.trainer import Diverged, Trainer
from flowlab.training.views import SnapshotMaker
from tests.training.toy import Banana

A = Uniform.half_width


def test_log_prob_matches_torch_inside_and_is_minus_infinity_outside() -> None:
    base = Uniform((3,)).double()
    z = (2.0 * torch.rand(200, 3, dtype=torch.float64) - 1.0) * A * 1.5
    ref = torch.distributions.Uniform(-A * torch.ones(3, dtype=torch.float64), A * torch.ones(3, dtype=torch.float64),
                                      validate_args=False).log_prob(z).sum(1)
    got = base.log_prob(z)
    inside = (z.abs() <= A).all(1)
    assert 0 < int(inside.sum()) < 200, "the test must see both sides of the support"
    assert torch.allclose(got[inside], ref[inside]) and torch.allclose(got[inside], torch.tensor(-3 * math.log(2 * A),
                                                                                                 dtype=torch.float64))
    assert torch.all(got[~inside] == -math.inf) and not torch.isnan(got).any()


def test_samples_lie_inside_with_unit_variance_and_follow_the_generator() -> None:
    base = Uniform((2,))
    s = base.sample(40000, generator=torch.Generator().manual_seed(0))
    assert s.abs().max() <= A and torch.allclose(s.var(0), torch.ones(2), atol=0.03)
    again = base.sample(40000, generator=torch.Generator().manual_seed(0))
    assert torch.equal(s, again)
    assert base.sample(1000, temperature=0.5).abs().max() <= 0.5 * A


def test_a_flow_on_a_uniform_base_scores_outside_points_minus_infinity_and_samples_with_finite_density() -> None:
    flow = build_flow([{"kind": "planar", "params": {"w": [1.0, 0.0], "u": [0.5, 0.5], "learnable": False}}], (2,),
                      base="uniform").double()
    with torch.no_grad():
        x, log_q = flow.sample_and_log_prob(500)
        assert torch.isfinite(log_q).all()
        assert torch.allclose(flow.log_prob(x), log_q, atol=1e-6)
        far = torch.tensor([[10.0, 10.0], [0.0, 0.0]], dtype=torch.float64)
        lp = flow.log_prob(far)
    assert lp[0] == -math.inf and math.isfinite(lp[1])


def test_maximum_likelihood_on_a_uniform_base_says_why_it_stops() -> None:
    """Data outside the box: the plan warns, and the first step pauses with the reason (not a bare 'inf')."""
    settings = TrainSettings(batch_size=64, n_train=256, n_test=64, eval_every=1000)
    t = Trainer([{"kind": "elementwise_affine"}], Banana(), settings, base="uniform")
    assert any(Uniform.support_note in note for note in t.plan.notes)
    with pytest.raises(Diverged) as info:
        t.train_step()
    assert Uniform.support_note in str(info.value)
    normal = Trainer([{"kind": "elementwise_affine"}], Banana(), settings)
    assert Uniform.support_note not in " ".join(normal.plan.notes)


@pytest.mark.parametrize("base", sorted(BASES))
def test_the_views_draw_model_samples_from_the_models_own_base(base: str) -> None:
    flow = build_flow([], (2,), base=base)
    with torch.no_grad():
        for p in flow.base.parameters():  # a diagonal base far from N(0, I)
            p.fill_(0.5)
    snap = SnapshotMaker(Banana(), n_samples=4000, grid_res=8, views=frozenset({"samples"})).make(flow, 0)
    ref = flow.base.sample(4000, generator=torch.Generator().manual_seed(7)).detach().numpy()
    samples = snap.model_samples
    assert abs(samples.mean() - ref.mean()) < 0.1 and abs(samples.std() - ref.std()) < 0.1
    if base == "uniform":
        assert abs(samples).max() <= A
