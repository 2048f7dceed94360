"""The session on a QThread or in a training process, driven as the window drives it: commands in, one ``event``
signal out. The tests that take ``started`` run both ways."""

from __future__ import annotations

import csv
import json
import threading
import time
import weakref
from contextlib import contextmanager

import pytest

pytest.importorskip("PySide6")

import shiboken6
from PySide6.QtCore import QObject, Qt, Slot

from flowlab.training import session as session_module
from flowlab.training.messages import (
    ChangeSettings,
    Failure,
    Finished,
    Pause,
    Play,
    Progress,
    Ready,
    Reset,
    SnapshotReady,
    Step,
)
from flowlab.training.remote import SessionHost
from flowlab.training.session import SessionSpec
from flowlab.training.settings import TrainSettings
from flowlab.ui.worker import SessionWorker
from tests.training.toy import MOONS, EventLog
from tests.training.toy import SMALL_SETTINGS as SMALL
from tests.training.toy import SMALL_STACK as STACK


def _spec(**settings) -> SessionSpec:
    return SessionSpec(STACK, MOONS, TrainSettings(**{**SMALL, **settings}))


class Recorder(QObject, EventLog):
    """A receiver on the UI thread, as the window is: a ``@Slot(object)`` fed by a queued connection."""

    def __init__(self, worker: SessionWorker) -> None:
        super().__init__()
        self.events: list = []
        worker.event.connect(self.on_event)

    @Slot(object)
    def on_event(self, event) -> None:
        assert threading.current_thread() is threading.main_thread()
        self.events.append(event)

    def rows(self, column: str) -> list[float]:
        out: list[float] = []
        for p in self.of(Progress):
            out = (out if not p.restarted else []) + list(p.rows[column])
        return out


@pytest.fixture(scope="module")
def host():
    """One training process for this module's tests (it takes seconds to start)."""
    h = SessionHost()
    yield h
    h.close()


@contextmanager
def _starting(qtbot, host: SessionHost | None):
    """``make(spec)`` starts a worker (in ``host``'s process, or on a QThread here); all are shut down after."""
    workers: list[SessionWorker] = []

    def make(spec: SessionSpec) -> tuple[SessionWorker, Recorder]:
        w = SessionWorker(spec, host=host)
        rec = Recorder(w)
        workers.append(w)
        w.start()
        qtbot.waitUntil(lambda: bool(rec.of(Ready) or rec.of(Finished)), timeout=30000)
        return w, rec

    yield make
    for w in workers:
        if shiboken6.isValid(w):
            assert w.shutdown(5000)


@pytest.fixture(params=["thread", "process"])
def started(request, qtbot):
    """Start a worker for a spec: on a QThread here, or in the module's training process."""
    with _starting(qtbot, request.getfixturevalue("host") if request.param == "process" else None) as make:
        yield make


@pytest.fixture
def started_here(qtbot):
    """As ``started``, on a QThread of this process only (for tests that patch the trainer here)."""
    with _starting(qtbot, None) as make:
        yield make


def test_play_pause_step_and_snapshots(qtbot, started) -> None:
    w, rec = started(_spec())
    qtbot.waitUntil(lambda: bool(rec.of(SnapshotReady)), timeout=5000)  # the untrained model is shown at once
    assert rec.of(SnapshotReady)[0].snapshot.step == 0 and rec.of(Ready)[0].device.startswith("CPU")
    w.send(Play())
    qtbot.waitUntil(lambda: rec.step >= 30, timeout=10000)
    qtbot.waitUntil(lambda: len(rec.of(SnapshotReady)) >= 3, timeout=10000)
    w.send(Pause())
    qtbot.waitUntil(lambda: not rec.of(Progress)[-1].running, timeout=5000)
    assert not w.is_running
    qtbot.wait(200)
    paused_at = rec.step
    qtbot.wait(300)
    assert rec.step == paused_at, "training went on after pause"
    w.send(Step())
    qtbot.waitUntil(lambda: rec.step == paused_at + 1, timeout=5000)
    qtbot.waitUntil(lambda: rec.of(SnapshotReady)[-1].snapshot.step == paused_at + 1, timeout=5000)
    assert rec.rows("step") == list(range(1, paused_at + 2))  # the curves receive every row exactly once
    assert not rec.of(Failure)


def test_hyperparameters_apply_live_and_reset_restarts(qtbot, started) -> None:
    w, rec = started(_spec())
    w.send(Play())
    qtbot.waitUntil(lambda: rec.step >= 10, timeout=10000)
    w.send(ChangeSettings({"learning_rate": 0.0042}))
    qtbot.waitUntil(lambda: 0.0042 in rec.rows("learning_rate"), timeout=5000)
    w.send(Pause())
    w.send(Reset())
    qtbot.waitUntil(lambda: rec.of(SnapshotReady)[-1].snapshot.step == 0 and rec.of(Progress)[-1].step == 0,
                    timeout=5000)
    w.send(ChangeSettings({"seed": 3}))  # not live: refused with a message, training unharmed
    qtbot.waitUntil(lambda: bool(rec.of(Failure)), timeout=5000)
    assert rec.of(Failure)[-1].kind == "settings" and "restarts" in rec.of(Failure)[-1].message


class PoisonedTrainer(session_module.Trainer):
    """A trainer whose loss turns NaN at step 40, as a too-high learning rate would make it."""

    def _loss(self):
        loss = super()._loss()
        return loss * float("nan") if self.step == 40 else loss


def test_divergence_rolls_back_pauses_and_reports(qtbot, started_here, monkeypatch) -> None:
    monkeypatch.setattr(session_module, "Trainer", PoisonedTrainer)
    w, rec = started_here(_spec())
    w.send(Play())
    qtbot.waitUntil(lambda: bool(rec.of(Failure)), timeout=20000)
    failure = rec.of(Failure)[0]
    assert failure.kind == "diverged"
    assert "step 41" in failure.message and "rolled back to step 25" in failure.message
    assert (failure.step, failure.rolled_back_to) == (41, 25)  # typed, for the curves' mark
    # the report after the roll-back: paused, at the last good step (an earlier report may also say 25)
    qtbot.waitUntil(lambda: not rec.of(Progress)[-1].running and rec.step == 25, timeout=5000)
    assert not w.is_running
    w.send(Step())  # the user can go on (e.g. after lowering the learning rate)
    qtbot.waitUntil(lambda: rec.step == 26, timeout=5000)


def test_stop_while_training_ends_the_thread_within_a_second_and_frees_the_model_there(qtbot, capfd,
                                                                                       monkeypatch) -> None:
    died: list[int] = []

    class Recording(session_module.Trainer):
        def __init__(self, *a, **k) -> None:
            super().__init__(*a, **k)
            weakref.finalize(self.flow, lambda: died.append(threading.get_ident()))

    monkeypatch.setattr(session_module, "Trainer", Recording)
    w = SessionWorker(_spec(batch_size=256))
    rec = Recorder(w)
    loop_threads: set[int] = set()
    w.event.connect(lambda _e: loop_threads.add(threading.get_ident()), Qt.DirectConnection)
    w.start()
    qtbot.waitUntil(lambda: bool(rec.of(Ready)), timeout=10000)
    w.send(Play())
    qtbot.waitUntil(lambda: rec.step >= 5, timeout=10000)
    thread = w.thread
    start = time.perf_counter()
    assert w.shutdown(5000)
    assert time.perf_counter() - start < 1.0
    assert thread.isFinished()
    assert len(loop_threads) == 1 and threading.get_ident() not in loop_threads
    assert died == list(loop_threads)  # the model died on the session's thread, before it ended
    qtbot.waitUntil(lambda: not shiboken6.isValid(w), timeout=2000)  # and the worker deleted itself
    assert "Destroyed while thread is still running" not in capfd.readouterr().err


def test_a_timed_out_shutdown_never_deletes_a_running_thread(qtbot, capfd, monkeypatch) -> None:
    release = threading.Event()

    class Slow(session_module.Trainer):
        def train_step(self):
            release.wait(10)  # a step that takes long (a big model, a slow device)
            return super().train_step()

    monkeypatch.setattr(session_module, "Trainer", Slow)
    w = SessionWorker(_spec())
    rec = Recorder(w)
    w.start()
    qtbot.waitUntil(lambda: bool(rec.of(Ready)), timeout=10000)
    w.send(Step())
    qtbot.wait(100)
    assert not w.shutdown(50)
    qtbot.wait(200)  # the event loop runs: a deleteLater would have struck here
    assert shiboken6.isValid(w) and w.thread.isRunning()
    release.set()
    qtbot.waitUntil(lambda: not shiboken6.isValid(w), timeout=10000)  # deleted once its loop has ended
    assert "Destroyed while thread is still running" not in capfd.readouterr().err


def test_a_stack_that_cannot_be_built_is_reported_not_raised(qtbot, started) -> None:
    w, rec = started(SessionSpec([{"kind": "no_such"}], MOONS, TrainSettings(**SMALL)))
    qtbot.waitUntil(lambda: bool(rec.of(Finished)), timeout=5000)
    assert rec.of(Failure)[0].kind == "build" and "unknown layer kind" in rec.of(Failure)[0].message


def test_the_window_worker_and_flowlab_train_give_the_same_metrics(qtbot, started, tmp_path) -> None:
    """One seeded run, two ways: the CLI's synchronous session and the window's worker (views on)."""
    from flowlab.headless import train_preset
    from flowlab.presets import load_preset

    doc = {"schema_version": 1, "name": "tiny", "layers": STACK, "target": MOONS,
           "training": {**SMALL, "seed": 5}}
    (tmp_path / "tiny.json").write_text(json.dumps(doc))
    preset = load_preset(tmp_path / "tiny.json")
    train_preset(preset, 40, tmp_path / "cli")
    cli = [row for row in csv.DictReader((tmp_path / "cli" / "metrics.csv").open())][:40]

    w, rec = started(SessionSpec(preset.layers, preset.target, preset.training))
    w.send(Step(40))
    qtbot.waitUntil(lambda: rec.step == 40, timeout=30000)
    for column in ("train_nll", "test_nll", "valid_nll", "kl_gap", "grad_norm", "learning_rate"):
        ours = rec.rows(column)
        theirs = [float(row[column]) if row[column] else float("nan") for row in cli]
        assert ours == pytest.approx(theirs, rel=1e-5, nan_ok=True), column
