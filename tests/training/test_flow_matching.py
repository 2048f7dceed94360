"""Flow matching: the straight-path objective recovers the known marginal field, minibatch OT pairs optimally,
a trained continuous flow is a normalised density, and the objective refuses stacks it cannot train, saying why."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from flowlab.document import Document
from flowlab.errors import FlowlabError
from flowlab.flows import build_flow
from flowlab.presets import Preset
from flowlab.training.objectives import flow_matching_loss, flow_matching_problem, ot_pairing
from flowlab.training.settings import TrainSettings
from flowlab.training.trainer import Trainer
from tests.training.toy import Banana, Ring, StandardGaussian

MU = torch.tensor([1.5, -1.0])
S = 0.5


def straight_path_field(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """E[x₁ − x₀ | x_t = x] for x₀ ~ N(μ, s²I) (data, t = 0), x₁ ~ N(0, I) (base, t = 1) independent and
    x_t = (1 − t)x₀ + t x₁: jointly Gaussian, so −μ + Cov(x₁ − x₀, x_t) / Var(x_t) · (x − E x_t), with
    Cov = t − (1 − t)s² and Var = (1 − t)²s² + t² per coordinate."""
    t = t[:, None]
    gain = (t - (1.0 - t) * S**2) / ((1.0 - t) ** 2 * S**2 + t**2)
    return -MU + gain * (x - (1.0 - t) * MU)


def test_flow_matching_recovers_the_straight_path_marginal_field_between_gaussians() -> None:
    torch.manual_seed(0)
    flow = build_flow([{"kind": "cnf", "params": {"hidden": 32}}], (2,))
    opt = torch.optim.Adam(flow.parameters(), 1e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 1500, 1e-4)
    gen = torch.Generator().manual_seed(1)
    for _ in range(1500):
        loss = flow_matching_loss(flow, MU + S * torch.randn(1024, 2, generator=gen), gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    probe_gen = torch.Generator().manual_seed(2)
    for t_value in (0.3, 0.5, 0.7):
        t = torch.full((400,), t_value)
        spread = math.sqrt((1 - t_value) ** 2 * S**2 + t_value**2)
        x = (1 - t_value) * MU + spread * torch.randn(400, 2, generator=probe_gen)  # where x_t has its mass
        with torch.no_grad():
            learned = flow.layers[0].velocity(x, t)
        truth = straight_path_field(x, t)
        error = (learned - truth).norm(dim=1).mean()
        ignoring_x = (-MU - truth).norm(dim=1).mean()  # the mean velocity, right on average but not per point
        # Measured: 0.067, 0.033, 0.030 (the field that ignores x: 0.34, 0.84, 1.12).
        assert error < 0.12 and error < 0.3 * ignoring_x, (t_value, float(error), float(ignoring_x))


def test_ot_pairing_is_the_cheapest_permutation() -> None:
    gen = torch.Generator().manual_seed(3)
    x0, x1 = torch.randn(6, 2, generator=gen), torch.randn(6, 2, generator=gen)
    paired = ot_pairing(x0, x1)
    cost = (x0 - paired).square().sum()
    best = min((x0 - x1[list(p)]).square().sum() for p in itertools.permutations(range(6)))
    assert torch.isclose(cost, best, atol=1e-6)
    assert sorted(map(tuple, paired.tolist())) == sorted(map(tuple, x1.tolist())), "a reordering, nothing else"
    assert cost < (x0 - x1).square().sum() or torch.equal(paired, x1)


def test_ot_pairing_shortens_the_paths_to_about_the_wasserstein_distance() -> None:
    """Between N(μ, s²I) and N(0, I) in 2-D: independent pairs are E‖x₀ − x₁‖² = ‖μ‖² + 2s² + 2 = 5.75 apart on
    average; the optimal coupling W₂² = ‖μ‖² + 2(1 − s)² = 3.75 (a minibatch's plan does a little better on its
    own sample)."""
    gen = torch.Generator().manual_seed(4)
    x0 = MU + S * torch.randn(512, 2, generator=gen)
    x1 = torch.randn(512, 2, generator=gen)
    independent = float((x0 - x1).square().sum(1).mean())
    paired = float((x0 - ot_pairing(x0, x1)).square().sum(1).mean())
    assert abs(independent - 5.75) < 0.5
    assert 3.0 < paired < 3.9, paired


def test_a_flow_matched_2d_cnf_is_a_normalised_density() -> None:
    """Trained a few hundred steps (fast: no ODE), the exact log-likelihood integrates to one on a grid."""
    settings = TrainSettings(objective="flow_matching", learning_rate=3e-3, batch_size=512,
                             n_train=5000, n_test=1000, eval_every=300)
    trainer = Trainer([{"kind": "cnf", "params": {"hidden": 32}}], Banana(), settings)
    for _ in range(300):
        report = trainer.train_step()
    assert math.isfinite(report.loss) and trainer.metrics.last("train_fm") == report.loss
    assert math.isnan(trainer.metrics.last("train_nll")), "the flow-matching loss is not an NLL"
    assert report.evaluation["test_nll"] < 2.5, "it should have learnt something (N(0, I) scores about 3.3)"
    flow = trainer.flow.double().eval()
    n, lo, hi = 200, -8.0, 8.0
    step = (hi - lo) / n
    ticks = lo + step * (torch.arange(n, dtype=torch.float64) + 0.5)
    gx, gy = torch.meshgrid(ticks, ticks, indexing="xy")
    with torch.no_grad():
        _, _, log_p = flow.push(torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1))
    assert abs(float(log_p.exp().sum()) * step * step - 1.0) < 0.02  # measured 1 − 2e-16


@pytest.mark.parametrize("layers,words", [
    ([{"kind": "affine_coupling"}], "'affine_coupling' has no velocity field"),
    ([{"kind": "cnf"}, {"kind": "affine_coupling"}], "this stack has 2 layers (cnf, affine_coupling)"),
    ([], "this stack has no layers"),
])
def test_flow_matching_refuses_other_stacks_and_says_why(layers, words) -> None:
    problem = flow_matching_problem(layers)
    assert problem is not None and words in problem and "one 'cnf' layer alone" in problem
    settings = TrainSettings(objective="flow_matching")
    with pytest.raises(FlowlabError, match="flow matching fits a single velocity field"):
        Trainer(layers, StandardGaussian(), settings)


def test_flow_matching_takes_a_lone_cnf_and_ignores_disabled_layers() -> None:
    assert flow_matching_problem([{"kind": "cnf"}]) is None
    assert flow_matching_problem([{"kind": "actnorm", "enabled": False}, {"kind": "cnf"}]) is None
    trainer = Trainer([{"kind": "cnf", "params": {"hidden": 8}}], StandardGaussian(),
                      TrainSettings(objective="flow_matching", n_train=100, n_test=50, batch_size=32))
    assert trainer.plan.objective == "flow_matching"
    assert any("without solving the ODE" in note for note in trainer.plan.notes)


def test_flow_matching_needs_data() -> None:
    with pytest.raises(FlowlabError, match="no data for flow matching"):
        Trainer([{"kind": "cnf", "params": {"hidden": 8}}], Ring(), TrainSettings(objective="flow_matching"))


def test_the_document_says_why_flow_matching_cannot_train_its_stack() -> None:
    doc = Document(Preset(name="p", layers=[{"kind": "affine_coupling", "params": {"mask": "alternating"}}],
                          target={"kind": "moons", "params": {}, "data": {}}))
    assert doc.valid
    doc.set("training", doc.training.updated(objective="flow_matching"))
    assert not doc.valid and "has no velocity field" in doc.first_problem()
    doc.stack[0] = doc.stack[0].new("cnf")
    assert doc.valid and doc.first_problem() is None


def test_a_flow_matching_run_builds_no_compiled_likelihood_step() -> None:
    """Only the MLE loss compiles: a flow-matched field never starts a build it could not use."""
    from flowlab.training.settings import TrainSettings
    from flowlab.training.trainer import Trainer
    from tests.training.toy import Banana

    t = Trainer([{"kind": "cnf", "params": {}}], Banana(), TrainSettings(objective="flow_matching", compile=True,
                                                                         n_train=256, n_test=64, device="cpu"))
    assert t.compiled is None and t.compile_state[0] == "off"
    assert not t.maybe_start_compile(None)
