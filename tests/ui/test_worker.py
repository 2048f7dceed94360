"""The training engine on a QThread, driven as the window drives it."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("PySide6")

from flowlab.training.settings import TrainSettings  # noqa: E402
from flowlab.training.trainer import Trainer  # noqa: E402
from flowlab.ui.worker import TrainingSession  # noqa: E402
from tests.training.toy import Banana  # noqa: E402

STACK = [{"kind": "affine_coupling", "params": {"mask": "alternating", "flip": i % 2 == 1, "hidden": 16}}
         for i in range(4)]


def _factory(**settings):
    base = dict(n_train=2000, n_test=500, batch_size=64, eval_every=20, device="cpu")
    base.update(settings)
    return lambda: Trainer(STACK, Banana(), TrainSettings(**base))


class Recorder:
    def __init__(self, session: TrainingSession) -> None:
        self.progress, self.snapshots, self.errors, self.diverged, self.ready = [], [], [], [], []
        w = session.worker
        w.progress.connect(self.progress.append)
        w.snapshot.connect(self.snapshots.append)
        w.failed.connect(self.errors.append)
        w.diverged.connect(self.diverged.append)
        w.ready.connect(self.ready.append)

    @property
    def step(self) -> int:
        return self.progress[-1].step if self.progress else 0


@pytest.fixture
def session(qtbot):
    sessions = []

    def make(**settings) -> tuple[TrainingSession, Recorder]:
        s = TrainingSession(_factory(**settings))
        rec = Recorder(s)
        sessions.append(s)
        s.start()
        qtbot.waitUntil(lambda: bool(rec.ready), timeout=10000)
        return s, rec

    yield make
    for s in sessions:
        assert s.shutdown(5000)


def test_play_pause_step_and_snapshots(qtbot, session) -> None:
    s, rec = session()
    qtbot.waitUntil(lambda: bool(rec.snapshots), timeout=5000)  # the untrained model is shown at once
    assert rec.snapshots[0].step == 0 and rec.ready[0]["device"].startswith("CPU")
    s.worker.play()
    qtbot.waitUntil(lambda: rec.step >= 30, timeout=10000)
    qtbot.waitUntil(lambda: len(rec.snapshots) >= 3, timeout=10000)
    s.worker.pause()
    qtbot.waitUntil(lambda: rec.progress and not rec.progress[-1].running, timeout=5000)
    qtbot.wait(200)
    paused_at = rec.step
    qtbot.wait(300)
    assert rec.step == paused_at, "training went on after pause"
    s.worker.step_once()
    qtbot.waitUntil(lambda: rec.step == paused_at + 1, timeout=5000)
    qtbot.wait(200)
    assert rec.step == paused_at + 1
    assert rec.snapshots[-1].step == paused_at + 1  # a single step refreshes the views
    # the curves receive every row exactly once
    steps = [x for p in rec.progress for x in p.rows["step"]]
    assert steps == list(range(1, paused_at + 2))
    assert not rec.errors


def test_hyperparameters_apply_live_and_reset_restarts(qtbot, session) -> None:
    s, rec = session()
    s.worker.play()
    qtbot.waitUntil(lambda: rec.step >= 10, timeout=10000)
    s.worker.update_settings(learning_rate=0.0042)
    qtbot.waitUntil(lambda: any(0.0042 in p.rows["learning_rate"] for p in rec.progress), timeout=5000)
    s.worker.pause()
    s.worker.reset()
    qtbot.waitUntil(lambda: rec.snapshots and rec.snapshots[-1].step == 0, timeout=5000)
    assert s.worker.trainer.step == 0
    s.worker.update_settings(seed=3)  # structural: refused with a message, training unharmed
    qtbot.waitUntil(lambda: bool(rec.errors), timeout=5000)
    assert "restarts" in rec.errors[-1]


class PoisonedTrainer(Trainer):
    """A trainer whose loss turns NaN at step 40, as a too-high learning rate would make it."""

    def _loss(self):
        loss = super()._loss()
        return loss * float("nan") if self.step == 40 else loss


def test_divergence_rolls_back_pauses_and_reports(qtbot) -> None:
    s = TrainingSession(lambda: PoisonedTrainer(STACK, Banana(), TrainSettings(device="cpu", batch_size=64)))
    rec = Recorder(s)
    s.start()
    try:
        qtbot.waitUntil(lambda: bool(rec.ready), timeout=10000)
        s.worker.play()
        qtbot.waitUntil(lambda: bool(rec.diverged), timeout=20000)
        assert "step 41" in rec.diverged[0] and "rolled back to step 25" in rec.diverged[0]
        # the report after the roll-back: paused, at the last good step (an earlier report may also say 25)
        qtbot.waitUntil(lambda: not rec.progress[-1].running and rec.progress[-1].step == 25, timeout=5000)
        assert not s.worker.is_running
        s.worker.step_once()  # the user can go on (e.g. after lowering the learning rate)
        qtbot.waitUntil(lambda: rec.step == 26, timeout=5000)
    finally:
        assert s.shutdown(5000)


def test_stop_while_training_ends_the_thread_within_a_second(qtbot, capfd) -> None:
    s = TrainingSession(_factory(batch_size=256))
    rec = Recorder(s)
    s.start()
    try:
        qtbot.waitUntil(lambda: bool(rec.ready), timeout=10000)
        s.worker.play()
        qtbot.waitUntil(lambda: rec.step >= 5, timeout=10000)
        start = time.perf_counter()
        assert s.shutdown(5000)
        assert time.perf_counter() - start < 1.0
        assert s.thread.isFinished()
    finally:
        s.shutdown(5000)
    del s
    assert "Destroyed while thread is still running" not in capfd.readouterr().err


def test_a_stack_that_cannot_be_built_is_reported_not_raised(qtbot) -> None:
    def broken() -> Trainer:
        return Trainer([{"kind": "no_such"}], Banana(), TrainSettings(device="cpu"))

    s = TrainingSession(broken)
    errors = []
    s.worker.failed.connect(errors.append)
    s.start()
    try:
        qtbot.waitUntil(lambda: bool(errors), timeout=5000)
        assert "unknown layer kind" in errors[0]
    finally:
        assert s.shutdown(2000)
