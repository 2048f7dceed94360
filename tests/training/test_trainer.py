"""The engine: reproducibility, live settings, NaN roll-back, checkpoints, evaluation and objectives."""

from __future__ import annotations

import io
import math

import pytest
import torch

from flowlab.errors import FlowlabError
from flowlab.flows import build_flow
from flowlab.training.objectives import plan
from flowlab.training.settings import TRAIN_PARAMS, TrainSettings
from flowlab.training.trainer import GOOD_STATE_EVERY, Diverged, Trainer
from tests.training.toy import Banana, Ring, StandardGaussian, UniformImages

REALNVP = [{"kind": "affine_coupling", "params": {"mask": "alternating", "flip": i % 2 == 1, "hidden": 32}}
           for i in range(4)]
SMALL = dict(n_train=2000, n_test=1000, batch_size=128, eval_every=10, device="cpu")


def _run(trainer: Trainer, steps: int) -> list[float]:
    return [trainer.train_step().loss for _ in range(steps)]


def test_same_seed_same_curve_and_another_seed_another() -> None:
    a = _run(Trainer(REALNVP, Banana(), TrainSettings(seed=3, **SMALL)), 15)
    b = _run(Trainer(REALNVP, Banana(), TrainSettings(seed=3, **SMALL)), 15)
    c = _run(Trainer(REALNVP, Banana(), TrainSettings(seed=4, **SMALL)), 15)
    assert a == b
    assert a != c


def test_training_lowers_the_held_out_nll_towards_the_entropy() -> None:
    t = Trainer(REALNVP, Banana(), TrainSettings(learning_rate=3e-3, **SMALL))
    first = t.evaluate()
    _run(t, 150)
    last = t.evaluate()
    assert last["test_nll"] < first["test_nll"] - 0.3
    assert last["kl_gap"] == pytest.approx(last["test_nll"] - Banana().entropy().value)
    assert last["kl_gap"] < 0.15


def test_identity_flow_on_a_standard_gaussian_has_no_gap() -> None:
    t = Trainer([], StandardGaussian(), TrainSettings(n_test=20000, device="cpu"))
    ev = t.evaluate()
    assert ev["test_nll"] == pytest.approx(math.log(2 * math.pi * math.e), abs=0.03)
    assert abs(ev["kl_gap"]) < 0.03


def test_bits_per_dim_of_identity_flow_on_uniform_images_is_exact() -> None:
    t = Trainer([], UniformImages(), TrainSettings(n_train=10, n_test=4000, device="cpu"))
    ev = t.evaluate()
    x = t.test_data.reshape(len(t.test_data), -1).double()
    nll = (0.5 * x * x + 0.5 * math.log(2 * math.pi)).sum(1).mean().item()  # N(0, 1) per pixel
    d = 4
    assert ev["test_nll"] == pytest.approx(nll, rel=1e-5)
    assert ev["test_bpd"] == pytest.approx((nll + d * math.log(4)) / (d * math.log(2)), rel=1e-5)


def test_learning_rate_and_batch_size_apply_live_structural_changes_are_refused() -> None:
    t = Trainer(REALNVP, Banana(), TrainSettings(**SMALL))
    t.train_step()
    t.update_settings(learning_rate=0.0123, batch_size=7)
    report = t.train_step()
    assert report.learning_rate == pytest.approx(0.0123)
    assert t.optimizer.param_groups[0]["lr"] == pytest.approx(0.0123)
    with pytest.raises(FlowlabError, match="seed"):
        t.update_settings(seed=5)
    with pytest.raises(FlowlabError, match="learning_rate"):
        t.update_settings(learning_rate=-1.0)


def test_cosine_schedule_decays_the_rate() -> None:
    t = Trainer(REALNVP, Banana(), TrainSettings(schedule="cosine", schedule_steps=20, **SMALL))
    rates = [t.train_step().learning_rate for _ in range(25)]
    assert rates[0] == pytest.approx(1e-3)
    assert rates[20] == pytest.approx(1e-5) and rates[24] == pytest.approx(1e-5)
    assert all(a >= b for a, b in zip(rates, rates[1:], strict=False))


def test_a_nan_rolls_back_to_the_last_good_weights_and_says_why() -> None:
    t = Trainer(REALNVP, Banana(), TrainSettings(**SMALL))
    _run(t, GOOD_STATE_EVERY + 5)
    with torch.no_grad():
        next(t.flow.parameters()).fill_(float("nan"))
    with pytest.raises(Diverged) as info:
        t.train_step()
    assert info.value.rolled_back_to == GOOD_STATE_EVERY
    assert "NaN" in str(info.value) or "nan" in str(info.value)
    assert t.step == GOOD_STATE_EVERY and len(t.metrics) == GOOD_STATE_EVERY
    assert all(torch.isfinite(p).all() for p in t.flow.parameters())
    t.train_step()  # and training can go on from there
    assert t.step == GOOD_STATE_EVERY + 1


def test_a_roll_back_restores_the_weights_and_optimizer_state_of_the_good_step_exactly() -> None:
    """The copy kept every GOOD_STATE_EVERY steps is a copy (not a view of weights that trained on): after a
    roll-back the next step is the one an uninterrupted twin takes from that step."""
    t, twin = (Trainer(REALNVP, Banana(), TrainSettings(**SMALL)) for _ in range(2))
    _run(t, GOOD_STATE_EVERY + 7)
    _run(twin, GOOD_STATE_EVERY)
    with torch.no_grad():
        next(t.flow.parameters()).fill_(float("nan"))
    with pytest.raises(Diverged):
        t.train_step()
    for a, b in zip(t.flow.state_dict().values(), twin.flow.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    t._gen.set_state(twin._gen.get_state())  # the same next batch (the batch stream is not part of the roll-back)
    assert t.train_step().loss == twin.train_step().loss
    for a, b in zip(t.flow.parameters(), twin.flow.parameters(), strict=True):
        assert torch.equal(a, b)  # Adam's moments came back too: the same update


def test_a_step_trains_every_module_whatever_was_switched_to_eval() -> None:
    t = Trainer(REALNVP, Banana(), TrainSettings(**SMALL))
    t.train_step()
    list(t.flow.modules())[-1].eval()  # e.g. a view or a score left one module in eval mode
    t.train_step()
    assert all(m.training for m in t.flow.modules())
    t.reset_weights()  # a new flow: the check follows it
    t.flow.eval()
    t.train_step()
    assert all(m.training for m in t.flow.modules())


def test_checkpoint_resume_continues_the_same_curve() -> None:
    settings = TrainSettings(**SMALL)
    t = Trainer(REALNVP, Banana(), settings)
    _run(t, 12)
    buf = io.BytesIO()
    torch.save(t.checkpoint(), buf)
    expected = _run(t, 8)
    buf.seek(0)
    resumed = Trainer(REALNVP, Banana(), settings)
    resumed.load_checkpoint(torch.load(buf, weights_only=True))
    assert resumed.step == 12 and len(resumed.metrics) == 12
    assert _run(resumed, 8) == expected


def test_checkpoint_of_another_stack_is_refused() -> None:
    t = Trainer(REALNVP, Banana(), TrainSettings(**SMALL))
    other = Trainer(REALNVP[:2], Banana(), TrainSettings(**SMALL))
    with pytest.raises(FlowlabError, match="different layer stack"):
        other.load_checkpoint(t.checkpoint())


def test_keep_best_picks_on_the_validation_split_and_restores_those_weights() -> None:
    t = Trainer(REALNVP, Banana(), TrainSettings(learning_rate=3e-3, **SMALL))
    assert t.valid_data is not None and t.valid_data.shape[0] == round(SMALL["n_train"] * 0.1)
    assert t.train_data.shape[0] + t.valid_data.shape[0] == SMALL["n_train"]
    _run(t, 60)
    best_score, best_step, _ = t.best
    valid = t.metrics.columns["valid_nll"]
    assert best_step % 10 == 0 and best_score == min(v for v in valid if not math.isnan(v))
    test_at_best = t.metrics.at(best_step)["test_nll"]
    assert t.restore_best() == best_step
    again = t.evaluate()
    assert again["valid_nll"] == pytest.approx(best_score, abs=1e-5)
    assert again["test_nll"] == pytest.approx(test_at_best, abs=1e-5)


def test_without_a_validation_split_keep_best_picks_on_the_test_set() -> None:
    t = Trainer(REALNVP, Banana(), TrainSettings(learning_rate=3e-3, valid_fraction=0.0, **SMALL))
    assert t.valid_data is None
    _run(t, 60)
    best_score, best_step, _ = t.best
    assert best_score == min(v for v in t.metrics.columns["test_nll"] if not math.isnan(v))
    assert "valid_nll" not in t.evaluate()


def test_reverse_kl_fits_an_energy_and_reports_true_kl() -> None:
    stack = [{"kind": "affine_coupling", "params": {"mask": "alternating", "flip": i % 2 == 1, "hidden": 32}}
             for i in range(4)]
    t = Trainer(stack, Ring(), TrainSettings(learning_rate=3e-3, energy_samples=256, eval_every=50, device="cpu"))
    before = t.evaluate()
    _run(t, 300)
    after = t.evaluate()
    log_z = Ring().log_normalizer()
    assert after["true_kl"] < before["true_kl"] - 0.5
    assert after["true_kl"] >= -0.02  # a KL is never negative (up to Monte Carlo error)
    assert after["elbo"] <= log_z + 0.02  # the ELBO is a lower bound
    assert after["log_z_is"] == pytest.approx(log_z, abs=0.1)


def test_plan_says_what_a_stack_costs() -> None:
    t = Trainer([{"kind": "planar"}, {"kind": "iaf"}], Banana(), TrainSettings(**SMALL))
    notes = " ".join(t.plan.notes)
    assert "numerical inverse" in notes and "once per dimension" in notes and t.plan.objective == "mle"
    t = Trainer([{"kind": "maf"}, {"kind": "actnorm"}], Ring(), TrainSettings(device="cpu"))
    notes = " ".join(t.plan.notes)
    assert t.plan.objective == "reverse_kl" and "once per dimension" in notes and "never sees data" in notes
    with pytest.raises(FlowlabError, match=r"shape \(3,\)"):
        plan(build_flow([], (3,)), Banana())


def test_unavailable_device_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(FlowlabError, match="CUDA"):
        Trainer([], Banana(), TrainSettings(device="cuda"))


def test_settings_registry_and_dataclass_agree() -> None:
    assert [p.name for p in TRAIN_PARAMS] == list(TrainSettings().to_dict())
    assert all(p.default == getattr(TrainSettings(), p.name) for p in TRAIN_PARAMS)
    with pytest.raises(FlowlabError, match="batch_size"):
        TrainSettings.from_dict({"batch_size": 0})


def test_checkpoint_files_are_atomic_and_refuse_another_stack(tmp_path) -> None:
    from flowlab.training.checkpoints import load_checkpoint, save_checkpoint, weights_path_for

    assert weights_path_for(tmp_path / "a.json") == tmp_path / "a.weights.pt"
    t = Trainer(REALNVP, Banana(), TrainSettings(**SMALL))
    _run(t, 3)
    path = tmp_path / "a.weights.pt"
    save_checkpoint(t, path)
    assert [p.name for p in tmp_path.iterdir()] == ["a.weights.pt"]
    again = Trainer(REALNVP, Banana(), TrainSettings(**SMALL))
    load_checkpoint(again, path)
    assert again.step == 3
    with pytest.raises(FlowlabError, match="different layer stack"):
        load_checkpoint(Trainer(REALNVP[:1], Banana(), TrainSettings(**SMALL)), path)
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(FlowlabError, match="cannot read"):
        load_checkpoint(again, tmp_path / "junk.pt")


def test_image_training_records_train_validation_and_test_bits_per_dim() -> None:
    t = Trainer([], UniformImages(), TrainSettings(n_train=40, n_test=100, eval_every=2, batch_size=8,
                                                   device="cpu"))
    report = t.train_step()
    t.train_step()
    row = t.metrics.at(2)
    assert row["train_bpd"] == pytest.approx((t.metrics.at(2)["train_nll"] + 4 * math.log(4)) / (4 * math.log(2)))
    assert {"valid_bpd", "test_bpd"} <= set(row) and report.step == 1


def test_reverse_kl_on_a_toy_target_fits_its_density_and_still_reports_test_nll() -> None:
    from flowlab.targets import build_target

    stack = [{"kind": "affine_coupling", "params": {"mask": "alternating", "flip": i % 2 == 1, "hidden": 32}}
             for i in range(4)]
    target = build_target({"kind": "8gaussians"})
    t = Trainer(stack, target, TrainSettings(objective="reverse_kl", learning_rate=3e-3, energy_samples=256,
                                             n_train=2000, n_test=1000, eval_every=50, device="cpu"))
    assert t.plan.objective == "reverse_kl" and any("mode-seeking" in n for n in t.plan.notes)
    before = t.evaluate()
    _run(t, 200)
    after = t.evaluate()
    assert {"true_kl", "elbo", "test_nll"} <= set(after)
    assert after["true_kl"] < before["true_kl"] - 0.5 and after["true_kl"] >= -0.02
    assert after["elbo"] <= 0.02  # log Z = 0 for a normalised density: the ELBO bounds it from below
    assert t.best is not None and t.best[0] == min(v for v in t.metrics.columns["true_kl"] if not math.isnan(v))


def test_objectives_that_cannot_serve_a_target_are_refused_with_the_reason() -> None:
    from flowlab.targets import build_target

    stack = [{"kind": "affine_coupling", "params": {"mask": "alternating"}}]
    with pytest.raises(FlowlabError, match="flat or zero"):
        Trainer(stack, build_target({"kind": "checkerboard"}), TrainSettings(objective="reverse_kl", device="cpu"))
    with pytest.raises(FlowlabError, match="no data to fit by maximum likelihood"):
        Trainer(stack, build_target({"kind": "u1"}), TrainSettings(objective="mle", device="cpu"))
    drawn = build_target({"kind": "points", "data": {"points": [[0, 0], [1, 1], [0.5, 0.2]]}})
    if drawn.has_density:  # a KDE over drawn points has one: then reverse KL is allowed
        Trainer(stack, drawn, TrainSettings(objective="reverse_kl", n_train=100, n_test=20, device="cpu"))


def test_settings_are_built_from_the_schema_and_checked_when_made() -> None:
    import dataclasses
    import pickle

    assert [f.name for f in dataclasses.fields(TrainSettings)] == [p.name for p in TRAIN_PARAMS]
    with pytest.raises(FlowlabError, match="batch_size"):
        TrainSettings(batch_size=0)
    made = TrainSettings(learning_rate=1)
    assert made.learning_rate == 1.0 and isinstance(made.learning_rate, float)
    assert pickle.loads(pickle.dumps(made)) == made and made.updated(seed=2).seed == 2


def test_images_handed_on_as_flat_vectors_are_scored_in_bits_per_dim_too() -> None:
    """The flattened digits are the same 17-level pixels: their scores read in bits/dim, like the image presets'."""
    from flowlab.targets import build_target

    target = build_target({"kind": "digits", "params": {"flatten": True}})
    assert len(target.shape) == 1 and target.shape[0] == 64
    t = Trainer([{"kind": "logit", "params": {}}], target, TrainSettings(n_test=200, eval_every=1, batch_size=16,
                                                                          device="cpu"))
    assert not t.is_images and t.levels == 17
    t.train_step()
    row = t.metrics.at(1)
    for split in ("train", "test"):
        nll = row[f"{split}_nll"]
        assert row[f"{split}_bpd"] == pytest.approx((nll + 64 * math.log(17)) / (64 * math.log(2)), rel=1e-9)


def test_a_checkpoint_from_before_a_metric_existed_resumes_with_even_columns() -> None:
    """Weights saved by an older flowlab (its record lacks a column added since, here ``train_fm``) resume, and
    every column keeps one value per row as training goes on (the curves index them together)."""
    t = Trainer(REALNVP, Banana(), TrainSettings(**SMALL))
    _run(t, 3)
    state = t.checkpoint()
    state["metrics"] = {k: v for k, v in state["metrics"].items() if k != "train_fm"}
    state["metrics"]["from_the_future"] = [1.0] * len(state["metrics"]["step"])
    again = Trainer(REALNVP, Banana(), TrainSettings(**SMALL))
    again.load_checkpoint(state)
    _run(again, 2)
    lengths = {len(v) for v in again.metrics.columns.values()}
    assert lengths == {len(again.metrics)} and len(again.metrics) == 5
    assert "from_the_future" not in again.metrics.columns
