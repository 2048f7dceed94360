"""The Qt adapter around the training engine: a worker object living on a QThread.

Control calls (:meth:`TrainingWorker.play`, ``pause``, ``step_once``, ``stop``, ``reset``, ``update_settings``)
are made from the UI thread and only set flags or queue commands under a lock; the worker applies them between
steps. A queued slot would never run while the worker loop is busy, so stop is a flag checked every step. The
model lives in the worker: the UI thread never touches training tensors; it receives immutable snapshots.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
import time
import traceback
import weakref
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from PySide6.QtCore import QObject, QThread, Signal, Slot

from flowlab.training.background_views import BackgroundViews, background_maker
from flowlab.training.checkpoints import save_checkpoint
from flowlab.training.scoring import score_image, test_set_bpd
from flowlab.training.trainer import Diverged, Trainer
from flowlab.training.views import SnapshotMaker

PROGRESS_INTERVAL_S = 0.05


@dataclass(frozen=True)
class Progress:
    """What the status bar and the curves need: new metric rows since the last report, and rates."""

    step: int
    steps_per_s: float
    rows: dict[str, list[float]]
    device: str
    running: bool


class TrainingWorker(QObject):
    """Runs a :class:`Trainer` built (by ``factory``) on the worker thread."""

    ready = Signal(object)  # dict: device, notes, plan
    progress = Signal(object)  # Progress
    snapshot = Signal(object)  # flowlab.training.views.Snapshot
    diverged = Signal(str)
    failed = Signal(str)
    running_changed = Signal(bool)
    saved = Signal(str)  # a checkpoint was written (path)
    scored = Signal(object)  # flowlab.training.scoring.ImageScore
    score_failed = Signal(str)
    finished = Signal()

    def __init__(self, factory: Callable[[], Trainer], snapshots: bool = True) -> None:
        super().__init__()
        self._factory = factory
        self._snapshots = snapshots
        self._cond = threading.Condition()
        self._running = False
        self._stop = False
        self._pending_steps = 0
        self._commands: list[tuple[str, Any]] = []
        self._views_ready = False  # the view thread has finished snapshots to deliver
        self.trainer: Trainer | None = None  # owned by the worker thread
        self._test_scores: tuple[weakref.ref, int, np.ndarray] | None = None  # (flow, step, test bits/dim)
        self.view_time_s = 0.0  # time the training thread spent on views (copies or snapshots)

    # -- control, from any thread ---------------------------------------------------------------------------------
    def _signal(self, **changes: Any) -> None:
        with self._cond:
            for k, v in changes.items():
                setattr(self, k, v)
            self._cond.notify_all()

    def play(self) -> None:
        self._signal(_running=True)

    def pause(self) -> None:
        self._signal(_running=False)

    def step_once(self) -> None:
        with self._cond:
            self._pending_steps += 1
            self._cond.notify_all()

    def stop(self) -> None:
        self._signal(_stop=True)

    def _queue(self, name: str, arg: Any = None) -> None:
        with self._cond:
            self._commands.append((name, arg))
            self._cond.notify_all()

    def reset(self) -> None:
        """Fresh weights from the seed (applied between steps)."""
        self._queue("reset")

    def update_settings(self, **changes: Any) -> None:
        """Hyperparameters that apply live (learning rate, batch size, ...), between steps."""
        self._queue("settings", changes)

    def set_views(self, views: frozenset[str]) -> None:
        """Which views the window shows: only those are computed."""
        self._queue("views", frozenset(views))

    def set_image_options(self, **options: Any) -> None:
        """Image views: ``temperature``, ``pair`` (two data indices to interpolate), ``spherical``."""
        unknown = set(options) - {"temperature", "pair", "spherical"}
        if unknown:
            raise ValueError(f"unknown image option(s): {sorted(unknown)}")
        self._queue("images", dict(options))

    def save_weights(self, path: str | os.PathLike) -> None:
        """Write a checkpoint (weights, ActNorm state, optimizer, step, record) from the worker thread."""
        self._queue("save", Path(path))

    def score(self, image: np.ndarray | None = None, test_index: int | None = None) -> None:
        """Bits/dim of a drawing (intensities in [0, 1]) or of test image ``test_index`` against the test set,
        computed between steps with the current weights; answered by ``scored`` or ``score_failed``."""
        if (image is None) == (test_index is None):
            raise ValueError("give either an image or a test_index")
        self._queue("score", (None if image is None else np.array(image, dtype=np.float32), test_index))

    def request_snapshot(self) -> None:
        self._queue("snapshot")

    @property
    def is_running(self) -> bool:
        return self._running

    # -- the loop, on the worker thread ---------------------------------------------------------------------------
    @Slot()
    def run(self) -> None:
        # Leave a core to the UI thread: an OpenMP team as wide as the machine, beside Qt's event loop,
        # oversubscribes it (measured on 2 cores: 45 steps/s with 2 threads here against 122 with 1).
        torch.set_num_threads(max(1, (os.cpu_count() or 2) - 1))
        try:
            self.trainer = self._factory()
        except Exception as e:  # noqa: BLE001 - any failure to build is reported to the user, not raised
            self.failed.emit(str(e))
            self.finished.emit()
            return
        trainer = self.trainer
        maker = SnapshotMaker(trainer.target) if self._snapshots else None
        views = None
        if maker is not None and (os.cpu_count() or 1) >= 2:
            # A spare core computes the views from copies of the weights; training only pays for the copy.
            views = BackgroundViews(background_maker(maker), trainer.flow, lambda: self._signal(_views_ready=True))
        self.ready.emit({"device": trainer.device_name, "notes": list(trainer.plan.notes),
                         "objective": trainer.plan.objective})
        sent_rows = 0
        last_progress = 0.0
        want_snapshot = True
        was_running = False
        while True:
            if was_running and not self._running:  # say "paused" before going to sleep, not after waking
                self.running_changed.emit(False)
                was_running = False
                sent_rows = self._emit_progress(trainer, sent_rows)
                want_snapshot = True  # the views show exactly where training stopped
            with self._cond:
                while not (self._stop or self._running or self._pending_steps or self._commands or want_snapshot
                           or self._views_ready):
                    self._cond.wait()
                self._views_ready = False
                if self._stop:
                    break
                commands, self._commands = self._commands, []
                single = self._pending_steps > 0 and not self._running
                if single:
                    self._pending_steps -= 1
                elif self._running:
                    self._pending_steps = 0
                running = self._running
            if running != was_running:
                self.running_changed.emit(running)
                was_running = running
            for name, arg in commands:
                try:
                    if name == "reset":
                        trainer.reset_weights()
                        sent_rows = 0
                    elif name == "settings":
                        trainer.update_settings(**arg)
                    elif name == "score":
                        self._score(trainer, *arg)
                    elif name == "save":
                        save_checkpoint(trainer, arg)
                        self.saved.emit(str(arg))
                    elif name in ("views", "images") and maker is not None:
                        change = _maker_change(name, arg)
                        if views is not None:
                            views.configure(change)
                        else:
                            change(maker)
                except Exception as e:  # noqa: BLE001 - a refused change is reported, training goes on
                    self.failed.emit(str(e))
            want_snapshot = want_snapshot or any(name != "score" for name, _ in commands)
            if running or single:
                try:
                    trainer.train_step()
                except Diverged as e:
                    self._signal(_running=False)
                    self.diverged.emit(str(e))
                    want_snapshot = True
                except Exception as e:  # noqa: BLE001 - report, pause, keep the session alive
                    self._signal(_running=False)
                    self.failed.emit(f"training step failed: {e}\n{traceback.format_exc(limit=3)}")
                    want_snapshot = True
            now = time.perf_counter()
            paused_now = not (running and self._running)
            if now - last_progress >= PROGRESS_INTERVAL_S or paused_now:
                sent_rows = self._emit_progress(trainer, sent_rows)
                last_progress = now
            if views is not None:
                for item in views.take_finished():  # delivered from this thread (see BackgroundViews)
                    if isinstance(item, str):
                        self.failed.emit(item)
                    else:
                        self.snapshot.emit(item)
            if maker is not None:
                due = views.wants_weights(now) if views is not None else maker.due(now)
                if want_snapshot or single or (running and due):
                    start = time.perf_counter()
                    try:
                        if views is not None:
                            views.offer(trainer.flow, trainer.step, full=want_snapshot or single)
                        else:
                            self.snapshot.emit(maker.make(trainer.flow, trainer.step,
                                                          full=want_snapshot or single))
                    except Exception as e:  # noqa: BLE001 - a view failing must not stop training
                        self.failed.emit(f"could not compute the views: {e}")
                    self.view_time_s += time.perf_counter() - start
            want_snapshot = False
        if views is not None:
            views.close()
        self._emit_progress(trainer, sent_rows)
        self.running_changed.emit(False)
        self.finished.emit()

    def _score(self, trainer: Trainer, image: np.ndarray | None, test_index: int | None) -> None:
        try:
            # The test set's scores only change with the weights: several drawings scored while training is
            # paused share one pass over the test set. (A weak reference: a reset makes a new flow.)
            kept = self._test_scores
            if kept is None or kept[0]() is not trainer.flow or kept[1] != trainer.step:
                kept = (weakref.ref(trainer.flow), trainer.step,
                        test_set_bpd(trainer.flow, trainer.target, trainer.settings.n_test))
                self._test_scores = kept
            result = score_image(trainer.flow, trainer.target, trainer.settings.n_test, trainer.step, image,
                                 test_index, test_bpd=kept[2])
        except Exception as e:  # noqa: BLE001 - told to the scoring panel; training goes on
            self.score_failed.emit(str(e))
        else:
            self.scored.emit(result)

    def _emit_progress(self, trainer: Trainer, sent_rows: int) -> int:
        cols = trainer.metrics.columns
        n = len(trainer.metrics)
        if n < sent_rows:  # the record was truncated (roll-back or reset): resend from the start
            sent_rows = 0
        rows = {k: v[sent_rows:n] for k, v in cols.items()}
        self.progress.emit(Progress(trainer.step, trainer.steps_per_s, rows, trainer.device_name, self._running))
        return n


def _maker_change(name: str, arg: Any) -> Callable[[SnapshotMaker], None]:
    """A change to the snapshot maker, applied wherever the maker lives (this thread or the view thread)."""
    def change(maker: SnapshotMaker) -> None:
        if name == "views":
            maker.set_views(arg)
        else:
            for key, value in arg.items():
                setattr(maker, key, value)
    return change


class TrainingSession(QObject):
    """Owns the QThread and the worker; ``shutdown`` stops the loop and joins the thread (never terminate())."""

    def __init__(self, factory: Callable[[], Trainer], parent: QObject | None = None,
                 snapshots: bool = True) -> None:
        super().__init__(parent)
        self.thread = QThread(self)
        self.thread.setObjectName("flowlab-training")
        self.worker = TrainingWorker(factory, snapshots)
        self.worker.moveToThread(self.thread)
        self.thread.started.connect(self.worker.run)
        self.worker.finished.connect(self.thread.quit)

    def start(self) -> None:
        self.thread.start()

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Ask the loop to stop and wait for the thread; True if it ended in time."""
        self.worker.stop()
        self.thread.quit()
        return self.thread.wait(timeout_ms)
