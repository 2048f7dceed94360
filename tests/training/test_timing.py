"""Scoring vs sampling one batch, timed: MAF is fast to score and slow to sample on 64 dimensions, IAF the other
way round, and a session reports the figures in its Progress events."""

from __future__ import annotations

import torch

from flowlab.flows import build_flow
from flowlab.training.messages import Play, Progress
from flowlab.training.session import Session, SessionSpec
from flowlab.training.settings import TrainSettings
from flowlab.training.timing import DirectionTimer, time_directions
from tests.training.toy import MOONS, SMALL_SETTINGS, SMALL_STACK

FACTOR = 5.0  # one pass against 64: the measured ratio is far larger (see the MAF/IAF digits presets)


def _best_of(kind: str, repeats: int = 3):
    torch.manual_seed(0)
    flow = build_flow([{"kind": kind, "params": {"hidden": 32}}, {"kind": "reverse"},
                       {"kind": kind, "params": {"hidden": 32}}], (64,))
    data = torch.randn(256, 64)
    runs = [time_directions(flow, data) for _ in range(repeats)]
    return min(r.score_s for r in runs), min(r.sample_s for r in runs), runs[0].batch


def test_maf_samples_slowly_and_scores_fast_on_64_dimensions() -> None:
    score, sample, batch = _best_of("maf")
    assert batch == 256 and sample > FACTOR * score, (score, sample)


def test_iaf_scores_slowly_and_samples_fast_on_64_dimensions() -> None:
    score, sample, _ = _best_of("iaf")
    assert score > FACTOR * sample, (score, sample)


def test_timing_leaves_the_model_as_it_was() -> None:
    flow = build_flow([{"kind": "batchnorm"}], (2,))
    flow.train()
    before = {k: v.clone() for k, v in flow.state_dict().items()}
    time_directions(flow, torch.randn(64, 2) * 3 + 1)
    assert flow.training and all(torch.equal(before[k], v) for k, v in flow.state_dict().items())


def test_the_timer_measures_only_when_due() -> None:
    flow = build_flow([{"kind": "maf", "params": {"hidden": 8}}], (2,))
    timer = DirectionTimer(every_s=100.0, batch=32)
    assert timer.maybe_measure(flow, None, now=0.0) and timer.latest.batch == 32  # no data: the model's samples
    first = timer.latest
    assert not timer.maybe_measure(flow, None, now=1.0) and timer.latest is first


def test_a_session_reports_the_times_in_its_progress() -> None:
    events: list = []
    spec = SessionSpec(SMALL_STACK, MOONS, TrainSettings(**SMALL_SETTINGS), snapshots=False, max_steps=5)
    session = Session(spec, events.append)
    session.send(Play())
    session.run()
    timed = [e.timings for e in events if isinstance(e, Progress) and e.timings is not None]
    assert timed and timed[-1].score_s > 0 and timed[-1].sample_s > 0 and timed[-1].batch == 256
