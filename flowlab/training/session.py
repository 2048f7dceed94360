"""THE training loop: one session trains one model, built from plain data, driven by typed commands.

``Session(spec, emit)``: :meth:`Session.send` takes commands (``flowlab.training.messages``) from any thread and
only queues them under a lock; :meth:`Session.run` is the loop, run on the thread that owns the model (the
window's worker runs it on a QThread, ``flowlab train`` on the calling thread). Between steps it applies the
commands; it reports through ``emit`` (called on its own thread) with immutable events. Stop is a flag checked
every step. At the end the session frees its model on its own thread, then emits :class:`Finished`: torch objects
torn down on another thread (the UI's, by the cyclic garbage collector) once deadlocked against the next session.
"""

from __future__ import annotations

import gc
import os
import time
import traceback
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from threading import Condition
from typing import TYPE_CHECKING, Any

import numpy as np

from flowlab.targets import build_target
from flowlab.training import threads
from flowlab.training.background_views import BackgroundViews, background_maker
from flowlab.training.checkpoints import load_checkpoint, save_checkpoint
from flowlab.training.messages import (
    SLOW_MOTION_STEPS_PER_S,
    ChangeSettings,
    Command,
    Event,
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
    Score,
    Scored,
    SetSpeed,
    SetViewOptions,
    SetViews,
    SnapshotReady,
    Step,
    Stop,
)
from flowlab.training.scoring import score_image, test_set_bpd
from flowlab.training.settings import TrainSettings
from flowlab.training.timing import DirectionTimer
from flowlab.training.trainer import Diverged, Trainer
from flowlab.training.turns import Turn, Turns
from flowlab.training.views import VIEW_OPTIONS, SnapshotMaker

if TYPE_CHECKING:
    from flowlab.training.distributed import Replicas

PROGRESS_INTERVAL_S = 0.1  # 10 reports a second: the curves and the status line need no more


@dataclass(frozen=True)
class SessionSpec:
    """What to train, as plain data (a preset's parts, never a Preset: the session sits below presets).

    ``weights``: a checkpoint to resume when the file exists (unreadable: fresh weights and a ``load`` failure).
    ``snapshots``: compute view snapshots. ``max_steps``: end the run at this step (headless).
    ``turns``: sessions sharing one :class:`~flowlab.training.turns.Turns` step one at a time, in turn (side-by-side
    runs; the object is shared in memory, so such sessions run on threads of one process).
    ``finish``: called on the session's thread with the trainer after the loop, before the model is freed;
    what it returns becomes :attr:`Finished.summary` (``flowlab train`` writes its files there).
    ``replicas``: this process's part in training one model across processes (``flowlab.training.distributed``),
    handed to the trainer; None for one process."""

    layers: Sequence[Mapping[str, Any]]
    target: Mapping[str, Any]
    settings: TrainSettings
    base: str = "standard"
    weights: Path | None = None
    snapshots: bool = True
    max_steps: int | None = None
    finish: Callable[[Trainer], Mapping[str, Any]] | None = None
    turns: Turns | None = None  # take each step in turn with the other sessions of these Turns (in-process only)
    replicas: Replicas | None = None


class Session:
    """One model's training; see the module docstring. ``train_step`` is called from :meth:`run` only."""

    def __init__(self, spec: SessionSpec, emit: Callable[[Event], None]) -> None:
        self.spec = spec
        self._emit = emit
        self._cond = Condition()
        self._running = False
        self._stop = False
        self._pending_steps = 0
        self._until: int | None = None  # Play(until=…): pause when the step count reaches this
        self._pace_s: float | None = None  # SetSpeed: seconds between running steps (None: no pause between)
        self._next_step_t = 0.0  # when a paced run may take its next step (time.perf_counter)
        self._commands: list[Command] = []
        self._views_ready = False  # the view thread has finished snapshots to deliver
        self._test_scores: tuple[weakref.ref, int, np.ndarray] | None = None  # (flow, step, test bits/dim)
        self._sent_rows = 0
        self._restarted = False
        self.view_time_s = 0.0  # time the training thread spent on views (copies or snapshots)
        self._timer = DirectionTimer()  # scoring vs sampling one batch, now and then (MAF vs IAF)
        self._turn = Turn(spec.turns)  # times the steps (and takes them in turn with others, when shared)

    # -- commands, from any thread ------------------------------------------------------------------------------
    def send(self, command: Command) -> None:
        """Queue ``command``; it applies between steps. Play, Pause, Step and Stop take effect at the next step."""
        if isinstance(command, SetViewOptions) and set(command.options) - VIEW_OPTIONS:
            raise ValueError(f"unknown view option(s): {sorted(set(command.options) - VIEW_OPTIONS)}")
        if isinstance(command, Score) and command.image is not None:  # the caller may go on drawing into it
            command = replace(command, image=np.array(command.image, dtype=np.float32))
        with self._cond:
            if isinstance(command, Play):
                self._running = True
                self._until = command.until
            elif isinstance(command, Pause):
                self._running = False
            elif isinstance(command, Step):
                self._running = False
                self._pending_steps += command.count
            elif isinstance(command, Stop):
                self._stop = True
            elif isinstance(command, SetSpeed):  # applies between steps, from the loop's next look at it
                self._pace_s = None if command.steps_per_s is None else 1.0 / command.steps_per_s
            else:
                self._commands.append(command)
            self._cond.notify_all()

    @property
    def running(self) -> bool:
        """Whether training is (asked to be) running."""
        return self._running

    def _pause(self) -> None:
        with self._cond:
            self._running = False

    # -- the loop, on the session's thread ----------------------------------------------------------------------
    def run(self) -> None:
        """Build, train until stopped (or ``max_steps``), free the model, emit :class:`Finished`. Never raises."""
        threads.enter_training_thread()
        try:
            trainer = self._build()
        except Exception as e:
            self._emit(Failure("build", str(e)))
            self._emit(Finished(0))
            return
        summary: Mapping[str, Any] = {}
        try:
            self._loop(trainer)
        except Exception as e:
            self._emit(Failure("step", f"the training loop failed: {e}\n{traceback.format_exc(limit=3)}"))
        step = trainer.step
        trainer.close()  # a compiling process ends with the session
        if self.spec.finish is not None:
            try:
                summary = dict(self.spec.finish(trainer))
            except Exception as e:
                self._emit(Failure("save", str(e)))
        # Free the model here, on the thread that used it, before anyone is told the session is over.
        del trainer
        self._test_scores = None
        gc.collect()
        self._emit(RunningChanged(False))
        self._emit(Finished(step, summary))

    def _build(self) -> Trainer:
        spec = self.spec
        trainer = Trainer(spec.layers, build_target(spec.target), spec.settings, base=spec.base,
                          replicas=spec.replicas)
        notes = list(trainer.plan.notes)
        if spec.weights is not None and Path(spec.weights).exists():
            try:
                load_checkpoint(trainer, spec.weights)
            except Exception as e:
                trainer.reset_weights()  # nothing half-loaded survives
                message = f"Saved weights not loaded: {e}"
                notes.append(message)
                self._emit(Failure("load", message))
        self._emit(Ready(trainer.device_name, trainer.plan.objective, tuple(notes), trainer.target_entropy(),
                         trainer.is_images, trainer.step,
                         None if trainer.test_data is None else int(trainer.test_data.shape[0]),
                         bits=trainer.levels is not None,
                         parameters=sum(p.numel() for p in trainer.flow.parameters() if p.requires_grad)))
        return trainer

    def _loop(self, trainer: Trainer) -> None:
        maker = SnapshotMaker(trainer.target) if self.spec.snapshots else None
        views = None
        if maker is not None and (os.cpu_count() or 1) >= 2:
            # A spare core computes the views from copies of the weights; training only pays for the copy.
            views = BackgroundViews(background_maker(maker), trainer.flow, self._wake_for_views)
        try:
            self._steps(trainer, maker, views)
        finally:
            self._turn.playing(False)  # the other runs of a comparison do not wait for this one
            if views is not None:
                views.close()

    def _wake_for_views(self) -> None:
        with self._cond:
            self._views_ready = True
            self._cond.notify_all()

    def _steps(self, trainer: Trainer, maker: SnapshotMaker | None, views: BackgroundViews | None) -> None:
        last_progress = 0.0
        want_snapshot = True
        was_running = False
        max_steps = self.spec.max_steps
        while max_steps is None or trainer.step < max_steps:
            if was_running and not self._running:  # say "paused" before going to sleep, not after waking
                self._emit(RunningChanged(False))
                was_running = False
                self._turn.playing(False)  # side-by-side runs: the others go on without this one
                self._emit_progress(trainer)
                want_snapshot = True  # the views show exactly where training stopped
            with self._cond:
                while not (self._stop or self._running or self._pending_steps or self._commands or want_snapshot
                           or self._views_ready):
                    self._cond.wait()
                self._views_ready = False
                if self._stop:
                    break
                arrived = self._running and self._until is not None and trainer.step >= self._until
                if arrived:  # Play(until=…) at or past that step already: nothing to train
                    self._running = False
                commands, self._commands = self._commands, []
                single = self._pending_steps > 0 and not self._running
                if single:
                    self._pending_steps -= 1
                elif self._running:
                    self._pending_steps = 0
                running = self._running
            if arrived and not was_running:  # a sender that took Play for "running" learns otherwise
                self._emit(RunningChanged(False))
            if running != was_running:
                self._emit(RunningChanged(running))
                was_running = running
                self._turn.playing(running)
            for command in commands:
                want_snapshot = self._apply(command, trainer, maker, views) or want_snapshot
            pace = self._pace_s
            paced = running and not single and pace is not None and time.perf_counter() < self._next_step_t
            slow_motion = pace is not None and pace >= 1.0 / SLOW_MOTION_STEPS_PER_S
            if (running or single) and not paced:
                if pace is not None:
                    self._next_step_t = time.perf_counter() + pace
                try:
                    with self._turn.step():
                        trainer.train_step()
                    want_snapshot = want_snapshot or (slow_motion and running)  # each step drawn
                    if self._until is not None and trainer.step >= self._until:
                        self._pause()  # Play(until=…) reached: paused like Pause, the views show this step
                    self._timer.maybe_measure(trainer.flow, trainer.test_data, time.perf_counter())
                    if running:
                        trainer.maybe_start_compile(None if max_steps is None else max_steps - trainer.step)
                except Diverged as e:
                    self._pause()
                    self._emit(Failure("diverged", str(e), e.step, e.rolled_back_to))
                    want_snapshot = True
                except Exception as e:
                    self._pause()
                    self._emit(Failure("step", f"training step failed: {e}\n{traceback.format_exc(limit=3)}"))
                    want_snapshot = True
            now = time.perf_counter()
            if now - last_progress >= PROGRESS_INTERVAL_S or not (running and self._running):
                self._emit_progress(trainer)
                last_progress = now
            if maker is not None:
                self._views(trainer, maker, views, now, full=want_snapshot or single, due=running)
            want_snapshot = False
            if paced:  # wait for the next step's time, or for a command, whichever comes first
                with self._cond:
                    if not (self._stop or self._commands or self._views_ready or self._pending_steps):
                        self._cond.wait(max(0.0, self._next_step_t - time.perf_counter()))
        self._emit_progress(trainer)

    def _apply(self, command: Command, trainer: Trainer, maker: SnapshotMaker | None,
               views: BackgroundViews | None) -> bool:
        """Apply one queued command; True when the views should show the result (new weights, or other views):
        a live setting or a save leaves the pictures as they are (a dragged spin box asked for a snapshot a
        change and slowed training by a third)."""
        if isinstance(command, Reset):
            trainer.reset_weights()
            self._restarted = True
        elif isinstance(command, ChangeSettings):
            try:
                trainer.update_settings(**command.changes)
            except Exception as e:
                self._emit(Failure("settings", str(e)))
            return False
        elif isinstance(command, Score):
            self._score(trainer, command)
            return False
        elif isinstance(command, Save):
            try:
                save_checkpoint(trainer, command.path)
            except Exception as e:
                self._emit(Failure("save", f"could not save the weights to {command.path}: {e}"))
            else:
                self._emit(Saved(Path(command.path)))
            return False
        elif isinstance(command, (SetViews, SetViewOptions)) and maker is not None:
            change = _maker_change(command)
            if views is not None:
                views.configure(change)
            else:
                change(maker)
        return True

    def _views(self, trainer: Trainer, maker: SnapshotMaker, views: BackgroundViews | None, now: float,
               full: bool, due: bool) -> None:
        if views is not None:
            for item in views.take_finished():  # delivered from this thread (see BackgroundViews)
                self._emit(Failure("views", item) if isinstance(item, str) else SnapshotReady(item))
        ready = views.wants_weights(now) if views is not None else maker.due(now)
        if not (full or (due and ready)):
            return
        start = time.perf_counter()
        try:
            if views is not None:
                views.offer(trainer.flow, trainer.step, full=full)
            else:
                self._emit(SnapshotReady(maker.make(trainer.flow, trainer.step, full=full)))
        except Exception as e:
            self._emit(Failure("views", f"could not compute the views: {e}"))
        self.view_time_s += time.perf_counter() - start

    def _score(self, trainer: Trainer, command: Score) -> None:
        try:
            # The test set's scores only change with the weights: several drawings scored while training is
            # paused share one pass over the test set. (A weak reference: a reset makes a new flow.)
            kept = self._test_scores
            if kept is None or kept[0]() is not trainer.flow or kept[1] != trainer.step:
                kept = (weakref.ref(trainer.flow), trainer.step,
                        test_set_bpd(trainer.flow, trainer.target, trainer.settings.n_test))
                self._test_scores = kept
            result = score_image(trainer.flow, trainer.target, trainer.settings.n_test, trainer.step,
                                 command.image, command.test_index, test_bpd=kept[2])
        except Exception as e:
            self._emit(Failure("score", str(e)))
        else:
            self._emit(Scored(result))

    def _emit_progress(self, trainer: Trainer) -> None:
        cols = trainer.metrics.columns
        n = len(trainer.metrics)
        restarted = self._restarted or n < self._sent_rows  # a reset, or a roll-back truncated the record
        start = 0 if restarted else self._sent_rows
        rows = {k: v[start:n] for k, v in cols.items()}
        compile_state, compile_note = trainer.compile_state
        self._emit(Progress(trainer.step, trainer.steps_per_s, rows, trainer.device_name, self._running,
                            restarted, self._timer.latest, self.view_time_s, compile_state, compile_note,
                            self._turn.busy_s))
        self._sent_rows, self._restarted = n, False


def _maker_change(command: SetViews | SetViewOptions) -> Callable[[SnapshotMaker], None]:
    """A change to the snapshot maker, applied wherever the maker lives (this thread or the view thread)."""
    def change(maker: SnapshotMaker) -> None:
        if isinstance(command, SetViews):
            maker.set_views(command.views)
        else:
            for key, value in command.options.items():
                setattr(maker, key, value)
    return change
