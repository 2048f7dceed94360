"""The Qt-free training session: commands between steps, events out, stop, freeing the model on its own thread."""

from __future__ import annotations

import math
import threading
import time
import weakref

import pytest

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
    RunningChanged,
    Save,
    Saved,
    SetViewOptions,
    SnapshotReady,
    Step,
    Stop,
)
from flowlab.training.probe import ProbeRefused, ProbeResult
from flowlab.training.session import Session, SessionSpec
from flowlab.training.settings import TRAIN_PARAMS, TrainSettings, live_settings
from flowlab.training.views import ProbeAt
from tests.training.toy import MOONS, EventLog, record_model_deaths
from tests.training.toy import SMALL_SETTINGS as SMALL
from tests.training.toy import SMALL_STACK as STACK


class Running(EventLog):
    """A session on a thread of its own, its events recorded (``emit`` is called on that thread)."""

    def __init__(self, **spec) -> None:
        spec.setdefault("settings", TrainSettings(**SMALL))
        self.events: list = []
        self.emit_threads: set[str] = set()
        self.session = Session(SessionSpec(STACK, MOONS, **spec), self._record)
        self.thread = threading.Thread(target=self.session.run, name="test-session")
        self.thread.start()

    def _record(self, event) -> None:
        self.emit_threads.add(threading.current_thread().name)
        self.events.append(event)

    def wait(self, condition, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.005)

    def rows(self, column: str) -> list[float]:
        """Every row the session reported, as a receiver rebuilds them (restarts start over)."""
        out: list[float] = []
        for p in self.of(Progress):
            if p.restarted:
                out = []
            out += p.rows[column]
        return out

    def stop(self) -> None:
        self.session.send(Stop())
        self.thread.join(10)
        assert not self.thread.is_alive()


@pytest.fixture
def running():
    made: list[Running] = []

    def make(**spec) -> Running:
        r = Running(**spec)
        made.append(r)
        r.wait(lambda: r.of(Ready) or r.of(Finished))
        return r

    yield make
    for r in made:
        r.stop()


def test_ready_carries_the_entropy_computed_on_the_session_thread(running) -> None:
    r = running(snapshots=False)
    (ready,) = r.of(Ready)
    assert ready.device.startswith("CPU") and ready.objective == "mle" and not ready.images and ready.step == 0
    from flowlab.targets import build_target

    assert ready.entropy == pytest.approx(build_target(MOONS).entropy().value, abs=0.05)
    assert r.emit_threads == {"test-session"}


def test_play_pause_and_steps_between_commands(running) -> None:
    r = running()
    r.wait(lambda: r.of(SnapshotReady))  # the untrained model is shown at once
    assert r.of(SnapshotReady)[0].snapshot.step == 0
    r.session.send(Play())
    r.wait(lambda: r.step >= 30)
    r.session.send(Pause())
    r.wait(lambda: not r.of(Progress)[-1].running)
    paused_at = r.step
    time.sleep(0.3)
    assert r.step == paused_at, "training went on after pause"
    assert r.of(RunningChanged)[-1] == RunningChanged(False)
    r.session.send(Step(2))
    r.wait(lambda: r.step == paused_at + 2)
    time.sleep(0.2)
    assert r.step == paused_at + 2
    r.wait(lambda: r.of(SnapshotReady)[-1].snapshot.step == paused_at + 2)  # the views show where it stopped
    assert r.rows("step") == list(range(1, paused_at + 3))  # every row exactly once
    assert not r.of(Failure)


def test_play_until_pauses_at_that_step_and_shows_it_in_a_full_snapshot(running) -> None:
    """What a recording's frames rely on: Play(until=k) stops at exactly step k, and the next snapshot is a full
    one of step k (none left over from an earlier step); Play(until=k) at step k already trains nothing."""
    r = running()
    r.wait(lambda: r.of(SnapshotReady))
    for until in (7, 19):
        r.session.send(Play(until=until))
        r.wait(lambda until=until: r.step == until and not r.of(Progress)[-1].running)
        r.wait(lambda until=until: any(s.snapshot.step == until and s.snapshot.full for s in r.of(SnapshotReady)))
    time.sleep(0.3)
    assert r.step == 19 and r.rows("step") == list(range(1, 20))
    assert r.of(RunningChanged)[-1] == RunningChanged(False) and not r.session.running
    changes = len(r.of(RunningChanged))
    r.session.send(Play(until=19))
    r.wait(lambda: len(r.of(RunningChanged)) > changes)
    time.sleep(0.2)
    assert r.step == 19 and r.of(RunningChanged)[-1] == RunningChanged(False)
    r.session.send(Play())  # a plain Play forgets the earlier stop
    r.wait(lambda: r.step > 30)
    assert not r.of(Failure)


def test_live_settings_apply_by_the_schema_flag_and_others_are_refused(running) -> None:
    assert live_settings() == {p.name for p in TRAIN_PARAMS if p.live}
    assert {"learning_rate", "batch_size"} <= live_settings() and not {"seed", "device"} & live_settings()
    r = running(snapshots=False)
    r.session.send(ChangeSettings({"learning_rate": 0.0042}))
    r.session.send(Step(1))
    r.wait(lambda: r.step == 1)
    assert r.rows("learning_rate") == [pytest.approx(0.0042)]
    for name in sorted(p.name for p in TRAIN_PARAMS if not p.live):
        r.session.send(ChangeSettings({name: next(p for p in TRAIN_PARAMS if p.name == name).default}))
    r.wait(lambda: len(r.of(Failure)) == len(TRAIN_PARAMS) - len(live_settings()))
    assert all(f.kind == "settings" and "restarts" in f.message for f in r.of(Failure))
    r.session.send(Step(1))  # training unharmed
    r.wait(lambda: r.step == 2)


def test_a_live_setting_or_a_save_asks_for_no_new_pictures_and_a_reset_does(running, tmp_path) -> None:
    """A dragged learning-rate spin box sends a change every few milliseconds: the weights are the same, so no
    snapshot is computed for it (one per change slowed training by a third); fresh weights are shown at once."""
    r = running()
    r.wait(lambda: bool(r.of(SnapshotReady)))
    time.sleep(0.3)
    before = len(r.of(SnapshotReady))
    for rate in (1e-3, 2e-3, 3e-3):
        r.session.send(ChangeSettings({"learning_rate": rate}))
    r.session.send(Save(tmp_path / "w.pt"))
    r.wait(lambda: bool(r.of(Saved)))
    time.sleep(0.3)
    assert len(r.of(SnapshotReady)) == before
    r.session.send(Reset())
    r.wait(lambda: len(r.of(SnapshotReady)) > before)


def test_reset_starts_the_record_over(running) -> None:
    r = running(snapshots=False)
    r.session.send(Step(5))
    r.wait(lambda: r.step == 5)
    r.session.send(Reset())
    r.session.send(Step(1))
    r.wait(lambda: r.of(Progress)[-1].step == 1 and len(r.of(Progress)) > 2)
    assert any(p.restarted for p in r.of(Progress))
    assert r.rows("step") == [1.0]


def test_save_then_resume_continues_the_same_curve(running, tmp_path) -> None:
    path = tmp_path / "w.pt"
    a = running(snapshots=False)
    a.session.send(Step(12))
    a.wait(lambda: a.step == 12)
    a.session.send(Save(path))
    a.wait(lambda: a.of(Saved))
    assert a.of(Saved)[0].path == path
    a.session.send(Step(8))
    a.wait(lambda: a.step == 20)
    b = running(snapshots=False, weights=path)
    assert b.of(Ready)[0].step == 12
    b.session.send(Step(8))
    b.wait(lambda: b.step == 20)
    assert b.rows("train_nll") == a.rows("train_nll")  # the resumed record first, then the same steps


def test_unreadable_weights_give_fresh_ones_and_say_why(running, tmp_path) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"junk")
    r = running(snapshots=False, weights=junk)
    (failure,) = r.of(Failure)
    assert failure.kind == "load" and "cannot read" in failure.message
    assert r.of(Ready)[0].step == 0 and any("not loaded" in n for n in r.of(Ready)[0].notes)


def test_a_stack_that_cannot_be_built_is_reported_then_finished() -> None:
    events: list = []
    Session(SessionSpec([{"kind": "no_such"}], MOONS, TrainSettings(**SMALL)), events.append).run()
    assert isinstance(events[0], Failure) and events[0].kind == "build" and "unknown layer kind" in events[0].message
    assert isinstance(events[-1], Finished)


def test_max_steps_ends_the_run_and_finish_sees_the_trainer_before_it_is_freed() -> None:
    events: list = []
    seen: list = []
    spec = SessionSpec(STACK, MOONS, TrainSettings(**SMALL), snapshots=False, max_steps=7,
                       finish=lambda t: seen.append(weakref.ref(t.flow)) or {"step": t.step})
    s = Session(spec, events.append)
    s.send(Play())
    s.run()
    assert events[-1] == Finished(7, {"step": 7})
    assert seen and seen[0]() is None  # freed before run() returned


def test_stop_returns_within_a_second_and_the_model_dies_on_the_session_thread(monkeypatch) -> None:
    died = record_model_deaths(monkeypatch)
    r = Running(settings=TrainSettings(**{**SMALL, "batch_size": 256}))
    r.wait(lambda: r.of(Ready))
    r.session.send(Play())
    r.wait(lambda: r.step >= 5)
    start = time.perf_counter()
    r.session.send(Stop())
    r.thread.join(5)
    assert time.perf_counter() - start < 1.0 and not r.thread.is_alive()
    finished = r.of(Finished)
    assert finished and finished[0].step >= 5 and r.events[-1] is finished[0]
    assert died == ["test-session"]  # freed on its own thread, before Finished


def test_schedules_follow_the_formula_and_apply_live() -> None:
    from flowlab.training.trainer import Trainer

    n = 20
    t = Trainer(STACK, session_module.build_target(MOONS), TrainSettings(schedule="cosine", schedule_steps=n, **SMALL))
    rates = [t.train_step().learning_rate for _ in range(n + 5)]
    cosine = [1e-3 * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(k, n) / n))) for k in range(n + 5)]
    assert rates == pytest.approx(cosine, rel=1e-6)
    t.update_settings(schedule="exponential", learning_rate=2e-3)  # live: the new schedule at the current step
    assert t.learning_rate == pytest.approx(2e-3 * 0.01, rel=1e-6)
    t.update_settings(schedule_steps=100)
    rates = [t.train_step().learning_rate for _ in range(3)]
    expected = [2e-3 * 0.01 ** (k / 100) for k in range(n + 5, n + 8)]
    assert rates == pytest.approx(expected, rel=1e-6)
    t.update_settings(schedule="none")
    assert t.train_step().learning_rate == pytest.approx(2e-3)


def test_unknown_image_options_are_refused_by_the_sender() -> None:
    s = Session(SessionSpec(STACK, MOONS, TrainSettings(**SMALL)), lambda e: None)
    with pytest.raises(ValueError, match="brightness"):
        s.send(SetViewOptions({"brightness": 2}))


def test_a_probe_point_is_followed_in_every_snapshot_and_refused_with_a_reason(running) -> None:
    """A paused session answers a probe at once (a full snapshot), while training each snapshot carries it, and
    a point it cannot follow comes back as a refusal that says why, not as a failed snapshot."""
    r = running()
    r.wait(lambda: r.of(SnapshotReady))
    r.session.send(SetViewOptions({"probe": ProbeAt((0.5, -0.25))}))
    r.wait(lambda: any(isinstance(e.snapshot.probe, ProbeResult) for e in r.of(SnapshotReady)))
    result = next(e.snapshot.probe for e in r.of(SnapshotReady) if e.snapshot.probe is not None)
    assert result.start == (0.5, -0.25) and not result.inverse
    assert len(result.steps) == len(STACK)
    assert result.base_log_prob + result.log_det_sum == pytest.approx(result.log_prob)
    r.session.send(SetViewOptions({"probe": ProbeAt((1.0, 2.0, 3.0), inverse=True)}))
    r.wait(lambda: isinstance(r.of(SnapshotReady)[-1].snapshot.probe, ProbeRefused))
    assert "3 coordinate" in r.of(SnapshotReady)[-1].snapshot.probe.message
    r.session.send(SetViewOptions({"probe": None}))
    count = len(r.of(SnapshotReady))
    r.wait(lambda: len(r.of(SnapshotReady)) > count)
    assert r.of(SnapshotReady)[-1].snapshot.probe is None
    assert not r.of(Failure)


def test_a_paced_session_takes_no_more_steps_than_its_speed_and_goes_full_speed_again(running) -> None:
    from flowlab.training.messages import SetSpeed

    r = running(snapshots=False)
    r.session.send(SetSpeed(20.0))
    r.session.send(Play())
    r.wait(lambda: r.step >= 1)
    start, first = time.monotonic(), r.step
    time.sleep(1.0)
    steps, elapsed = r.step - first, time.monotonic() - start
    assert 2 <= steps <= 20 * elapsed + 2, steps  # paced: never ahead of 20 a second
    r.session.send(SetSpeed(None))
    r.wait(lambda: r.step >= first + steps + 100)  # unpaced, a hundred steps come quickly
    with pytest.raises(ValueError, match="positive"):
        SetSpeed(0.0)
    with pytest.raises(ValueError, match="positive"):
        SetSpeed(float("nan"))


def test_slow_motion_shows_every_step(running) -> None:
    """At SLOW_MOTION_STEPS_PER_S or slower each step's views are computed (a full snapshot per step)."""
    from flowlab.training.messages import SLOW_MOTION_STEPS_PER_S, SetSpeed

    r = running()
    r.wait(lambda: r.of(SnapshotReady))
    r.session.send(SetSpeed(min(2.0, SLOW_MOTION_STEPS_PER_S)))
    r.session.send(Play())
    r.wait(lambda: r.step >= 3, timeout=30)
    r.session.send(Pause())
    r.wait(lambda: not r.of(Progress)[-1].running)
    last = r.step
    r.wait(lambda: r.of(SnapshotReady)[-1].snapshot.step == last)
    shown = {e.snapshot.step for e in r.of(SnapshotReady)}
    assert set(range(0, last + 1)) <= shown, (sorted(shown), last)
