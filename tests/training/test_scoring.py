"""Per-image bits/dim for the anomaly demo: the trainer's definition, and out-of-distribution images stand out."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from flowlab.errors import FlowlabError
from flowlab.targets import build_target
from flowlab.training import scoring
from flowlab.training.settings import TrainSettings
from flowlab.training.trainer import Trainer

STACK = [{"kind": "logit", "params": {}}] + [
    {"kind": "affine_coupling", "params": {"mask": "checkerboard", "flip": i % 2 == 1, "hidden": 16}}
    for i in range(4)]


@pytest.fixture(scope="module")
def trained() -> Trainer:
    torch.manual_seed(0)
    settings = TrainSettings(n_train=1297, n_test=300, batch_size=64, eval_every=1000, device="cpu",
                             learning_rate=3e-3)
    trainer = Trainer(STACK, build_target({"kind": "digits"}), settings)
    for _ in range(150):
        trainer.train_step()
    return trainer


def test_levels_round_intensities_to_the_nearest_level() -> None:
    got = scoring.intensities_to_levels(np.array([[0.0, 0.03, 0.5, 0.97, 1.0, 1.2, -0.1]]), 17)
    assert got.tolist() == [[0, 0, 8, 16, 16, 16, 0]]
    with pytest.raises(FlowlabError, match="finite"):
        scoring.intensities_to_levels(np.array([[np.nan]]), 17)


def test_mean_of_per_image_scores_is_the_trainers_test_bpd(trained) -> None:
    test_bpd = trained.evaluate()["test_bpd"]
    # The trainer's own dequantised test images, scored one by one: the same number exactly.
    raw = trained.target.test_images[:300].float()
    u = trained.test_data * trained.target.levels - raw  # the trainer's noise draws
    assert float(u.min()) > -1e-4 and float(u.max()) < 1.0 + 1e-4
    levels = trained.target.levels
    nll = -trained.flow.eval().log_prob(trained.test_data).detach().double()
    trained.flow.train()
    per_image = scoring.bits_per_dim(nll, trained.flow.dim, levels).numpy()
    assert per_image.mean() == pytest.approx(test_bpd, abs=1e-5)
    # Fresh seeded uniform draws (the demo's dequantisation): the same up to the draws' noise, and repeatable.
    a = scoring.per_image_bpd(trained.flow, raw, levels)
    b = scoring.per_image_bpd(trained.flow, raw, levels)
    assert a.shape == (300,) and np.array_equal(a, b)
    assert a.mean() == pytest.approx(test_bpd, abs=0.01)
    assert trained.flow.training  # scoring puts the model back in training mode
    # The cell centre is offered, but it is not what the model was trained on.
    centre = scoring.per_image_bpd(trained.flow, raw, levels, "centre")
    assert np.isfinite(centre).all() and abs(centre.mean() - test_bpd) < 1.0


def test_an_all_on_image_is_unusual_and_a_test_image_is_not(trained) -> None:
    args = (trained.flow, trained.target, trained.settings.n_test, trained.step)
    odd = scoring.score_image(*args, image=np.ones((8, 8)))
    assert odd.bpd > np.median(odd.test_bpd) and odd.unusual and odd.percent_below > 95
    assert "unusual" in odd.text() and f"{odd.bpd:.2f} bits/dim" in odd.text()
    assert odd.source == "your drawing" and odd.noun == "test digits" and odd.step == trained.step
    typical = [scoring.score_image(*args, test_index=i) for i in range(20)]
    assert sum(not s.unusual for s in typical) >= 15  # held-out digits are mostly typical
    first = typical[0]
    assert first.source == "test image 0" and first.image.shape == (8, 8)
    assert first.image.max() <= 1.0 and first.bpd == pytest.approx(first.test_bpd[0], abs=1e-5)
    counts, edges = odd.histogram(20)
    assert counts.sum() == len(odd.test_bpd) and len(edges) == 21
    assert math.isfinite(odd.percent_below)


def test_bad_requests_say_what_is_wrong(trained) -> None:
    args = (trained.flow, trained.target, trained.settings.n_test, trained.step)
    with pytest.raises(FlowlabError, match=r"28×28 .* 8×8"):
        scoring.score_image(*args, image=np.zeros((28, 28)))
    with pytest.raises(ValueError, match="either"):
        scoring.score_image(*args)
    moons = build_target({"kind": "moons"})
    with pytest.raises(FlowlabError, match="image target"):
        scoring.score_image(trained.flow, moons, 100, 0, image=np.zeros((8, 8)))


def _score(bpd: float, test: np.ndarray) -> scoring.ImageScore:
    return scoring.ImageScore(step=1, image=np.zeros((8, 8)), bpd=bpd, test_bpd=test, source="your drawing",
                              noun="test digits")


def test_the_verdict_reads_plainly() -> None:
    test = np.linspace(2.005, 2.995, 100)
    assert _score(2.9, test).text() == "2.90 bits/dim — higher than 90% of test digits: typical"
    assert _score(2.99, test).text().endswith("higher than 99% of test digits: unusual")
    assert "lower than 100% of test digits: more likely than typical" in _score(1.0, test).text()
    assert "no finite score" in _score(math.inf, test).text() and _score(math.inf, test).unusual
    assert "only 3 test images: a rough comparison" in _score(2.5, test[:3]).text()


def test_kept_test_set_scores_give_the_same_result_as_a_fresh_pass() -> None:
    from flowlab.targets import build_target
    from flowlab.training.scoring import score_image, test_set_bpd
    from flowlab.training.settings import TrainSettings
    from flowlab.training.trainer import Trainer

    trainer = Trainer([{"kind": "logit"}, {"kind": "actnorm"}], build_target({"kind": "digits"}),
                      TrainSettings(batch_size=32, n_train=1297, n_test=500, device="cpu"))
    trainer.train_step()
    kept = test_set_bpd(trainer.flow, trainer.target, 500)
    fresh = score_image(trainer.flow, trainer.target, 500, trainer.step, test_index=3)
    reused = score_image(trainer.flow, trainer.target, 500, trainer.step, test_index=3, test_bpd=kept)
    assert np.array_equal(fresh.test_bpd, reused.test_bpd) and fresh.bpd == reused.bpd
    assert reused.test_bpd is not kept  # each result owns its arrays (they cross threads)
