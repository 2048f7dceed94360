"""Parameters and gradients in one flat tensor each: the same training as one tensor at a time, views that survive
being broken, and optimiser state saved either way."""

from __future__ import annotations

import copy

import pytest
import torch

from flowlab.flows import build_flow
from flowlab.training import flat_params as flat_module
from flowlab.training.flat_params import ALIGN, FlatParameters
from flowlab.training.settings import TrainSettings
from flowlab.training.trainer import Trainer
from tests.training.toy import Banana

STACK = [{"kind": "affine_coupling", "params": {"mask": "alternating", "flip": i % 2 == 1, "hidden": 16}}
         for i in range(2)] + [{"kind": "maf", "params": {"hidden": 16}}, {"kind": "reverse"},
                               {"kind": "actnorm"}]
# a tight clip so that clipping happens, and weight decay, so the decoupled decay is compared too
SETTINGS = dict(n_train=2000, n_test=500, batch_size=128, eval_every=10, device="cpu", grad_clip=0.5,
                weight_decay=1e-3)


def _one_at_a_time(monkeypatch) -> None:
    def refuse(self, params):
        raise ValueError("off for this comparison")

    monkeypatch.setattr(flat_module.FlatParameters, "__init__", refuse)


def test_parameters_become_aligned_views_of_one_tensor_with_their_values_kept() -> None:
    torch.manual_seed(0)
    flow = build_flow(STACK, (2,))
    before = copy.deepcopy(flow.state_dict())
    flat = FlatParameters(flow.parameters())
    for p in flow.parameters():
        assert p.untyped_storage().data_ptr() == flat.param.untyped_storage().data_ptr()
        assert p.grad is not None
        assert p.grad.untyped_storage().data_ptr() == flat.param.grad.untyped_storage().data_ptr()
    assert all(offset % ALIGN == 0 for offset in flat.offsets)
    for key, value in flow.state_dict().items():
        assert torch.equal(value, before[key]), key
    with torch.no_grad():
        flat.param.add_(1.0)  # a step on the flat tensor is a step on every parameter
    for name, p in flow.named_parameters():
        assert torch.equal(p.detach(), before[name] + 1.0), name


def test_the_same_training_as_one_tensor_at_a_time(monkeypatch) -> None:
    flat = Trainer(STACK, Banana(), TrainSettings(seed=1, **SETTINGS))
    assert flat.flat is not None
    flat_reports = [flat.train_step() for _ in range(30)]
    with monkeypatch.context() as m:
        _one_at_a_time(m)
        plain = Trainer(STACK, Banana(), TrainSettings(seed=1, **SETTINGS))
        assert plain.flat is None
        plain_reports = [plain.train_step() for _ in range(30)]
    assert any(r.grad_norm > 0.5 for r in plain_reports), "the clip should have acted"
    assert [r.loss for r in flat_reports] == pytest.approx([r.loss for r in plain_reports], rel=1e-5, abs=1e-6)
    assert [r.grad_norm for r in flat_reports] == pytest.approx([r.grad_norm for r in plain_reports], rel=1e-4)
    for (name, a), b in zip(flat.flow.state_dict().items(), plain.flow.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6, msg=name)


def test_clipping_is_torchs_clip_grad_norm() -> None:
    torch.manual_seed(0)
    flow = build_flow(STACK, (2,))
    twin = copy.deepcopy(flow)
    flat = FlatParameters(flow.parameters())
    x = torch.randn(64, 2)
    flat.zero_grad()
    (-flow.log_prob(x).mean() * 50).backward()
    (-twin.log_prob(x).mean() * 50).backward()
    expected = float(torch.nn.utils.clip_grad_norm_(list(twin.parameters()), 1.0))
    assert flat.clip_grad_norm(1.0) == pytest.approx(expected, rel=1e-5)
    assert expected > 1.0
    for a, b in zip(flow.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-7)


def test_broken_views_are_put_back_with_values_and_gradients_kept() -> None:
    torch.manual_seed(0)
    flow = build_flow(STACK, (2,))
    flat = FlatParameters(flow.parameters())
    first, second = list(flow.parameters())[:2]
    new_value = torch.randn_like(first)
    first.data = new_value.clone()  # storage replaced
    second.grad = None  # as zero_grad(set_to_none=True) leaves it
    flat.attach()
    assert torch.equal(first.detach(), new_value)
    assert first.untyped_storage().data_ptr() == flat.param.untyped_storage().data_ptr()
    assert second.grad is not None and float(second.grad.abs().sum()) == 0.0
    (-flow.log_prob(torch.randn(32, 2)).mean()).backward()
    assert float(flat.param.grad.abs().sum()) > 0, "the backward pass must land in the flat gradient"


def test_a_checkpoint_with_optimiser_state_one_tensor_at_a_time_resumes_the_same_curve(monkeypatch) -> None:
    with monkeypatch.context() as m:
        _one_at_a_time(m)
        old = Trainer(STACK, Banana(), TrainSettings(seed=2, **SETTINGS))
        for _ in range(20):
            old.train_step()
        saved = copy.deepcopy(old.checkpoint())
        assert len(saved["optimizer"]["param_groups"][0]["params"]) > 1  # one entry per parameter
        expected = [old.train_step().loss for _ in range(10)]
    resumed = Trainer(STACK, Banana(), TrainSettings(seed=2, **SETTINGS))
    assert resumed.flat is not None
    resumed.load_checkpoint(saved)
    assert [resumed.train_step().loss for _ in range(10)] == pytest.approx(expected, rel=1e-5, abs=1e-6)
    # … and its own checkpoint (one flat tensor) resumes too
    again = Trainer(STACK, Banana(), TrainSettings(seed=2, **SETTINGS))
    again.load_checkpoint(copy.deepcopy(resumed.checkpoint()))
    assert again.step == resumed.step
    assert again.train_step().loss == pytest.approx(resumed.train_step().loss, rel=1e-6)
