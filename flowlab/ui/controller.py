"""The session's life cycle in the window: one training session for the document, restarted when it changes.

A change to the stack, the target or a setting that is not live pauses training at once and restarts it once the
edits stop for :data:`RESTART_DEBOUNCE_MS` (a dragged spin box restarts once); live settings go to the running
session. The session's typed events are routed here: to the views, the status line and the run state. The UI
thread never touches a trainer or a tensor: it sends commands and receives events.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtWidgets import QMessageBox, QWidget

from flowlab.document import Document
from flowlab.errors import FlowlabError
from flowlab.targets import TARGETS
from flowlab.training.checkpoints import weights_path_for
from flowlab.training.messages import (
    ChangeSettings,
    Command,
    Event,
    Failure,
    Pause,
    Play,
    Progress,
    Ready,
    Reset,
    RunningChanged,
    Save,
    Saved,
    Score,
    SetSpeed,
    SetViewOptions,
    SetViews,
    SnapshotReady,
    Step,
)
from flowlab.training.remote import SessionHost
from flowlab.training.session import SessionSpec
from flowlab.training.settings import TrainSettings, live_settings
from flowlab.ui.status import StatusLine
from flowlab.ui.view_docks import ViewDocks
from flowlab.ui.views.base import View, ViewContext
from flowlab.ui.views.curves import held_out_warning
from flowlab.ui.worker import SessionWorker

RESTART_DEBOUNCE_MS = 300  # edits closer together than this (a dragged spin box, repeated undo) restart once
# Failures worth a dialog, by its title; the others (a build, a setting, a score) go to the status bar alone.
FAILURE_DIALOGS = {"step": "Training problem", "views": "Training problem", "save": "Training problem",
                   "diverged": "Training paused", "load": "Saved weights not loaded"}


class SessionController(QObject):
    """Runs one :class:`SessionWorker` for ``doc`` at a time. ``running_changed`` follows training;
    ``valid_changed`` says whether the document can train at all (Play and Step follow it); ``notes_changed``
    carries the session's notes on its plan."""

    running_changed = Signal(bool)
    valid_changed = Signal(bool)
    notes_changed = Signal(str)
    layer_detail = Signal(object)  # a snapshot's LayerDetail (what is inside the selected layer)
    session_ending = Signal()  # a session is about to end (its rows are still drawn)

    def __init__(self, window: QWidget, doc: Document, docks: ViewDocks, status: StatusLine,
                 host: SessionHost | None = None) -> None:
        super().__init__(window)
        self.window, self.doc, self.docks, self.status = window, doc, docks, status
        self.host = host  # the training process sessions run in; None: a thread of this process
        self.session: SessionWorker | None = None
        self.last_ready: Ready | None = None  # the current session's Ready event (None until it is built)
        self.last_progress: Progress | None = None  # the current session's latest Progress event
        self.running = False
        self._settings: TrainSettings | None = None  # what the running session was given or sent
        self._scores: dict[str, list[float]] = {}  # the latest finite value of each metric, for the status line
        self.weights: Path | None = None  # saved weights to resume, once, at the next start
        self.layer: int | None = None  # the stack position of the layer to look inside (the stack's selection)
        self.pause_at: int | None = None  # every Play pauses at this step (a recording's next frame), if set
        self.lesson_pause: int | None = None  # a lesson's step budget: Play pauses there once, then goes on
        self.speed: float | None = None  # steps per second training is paced at (None: as fast as it goes)
        self.restart_timer = QTimer(self)
        self.restart_timer.setSingleShot(True)
        self.restart_timer.setInterval(RESTART_DEBOUNCE_MS)
        self.restart_timer.timeout.connect(self.restart)
        docks.command.connect(self._forward)
        docks.shown_changed.connect(self._shown_changed)

    # -- reading ----------------------------------------------------------------------------------------------
    @property
    def entropy(self) -> float | None:
        """H(p) of the target (the NLL floor), as the session computed it; None for images or unknown."""
        r = self.last_ready
        return None if r is None or r.images else r.entropy

    @property
    def latest(self):
        return self.docks.latest

    def latest_samples(self) -> np.ndarray | None:
        snap = self.docks.latest
        return None if snap is None else (snap.model_samples if snap.model_samples is not None
                                          else snap.image_samples)

    # -- life cycle -------------------------------------------------------------------------------------------
    def start_document(self, path: Path | None, weights: Path | None = None) -> None:
        """The document was replaced: train it now, resuming ``weights`` (a built-in preset's shipped ones), else
        the weights saved beside ``path``, if any."""
        self.weights = weights or (weights_path_for(path) if path is not None else None)
        self.restart()

    def stop(self) -> None:
        """End the session: it frees its model on its own thread; the worker deletes itself once its thread has
        finished (at once, or later if the loop was still busy)."""
        if self.session is not None:
            self.session_ending.emit()
            self.session.event.disconnect(self.on_event)
            self.session.shutdown()
            self.session = None
        self.last_ready = self.last_progress = None
        self._set_running(False)

    def _check(self) -> bool:
        """Play and Step follow the document's validity at once (no waiting for a restart)."""
        problem = self.doc.first_problem()
        self.valid_changed.emit(problem is None)
        self.status.show_problem(problem)
        return problem is None

    def schedule_restart(self, why: str) -> None:
        """Pause now and restart once edits stop: a burst of edits builds one model, for the final state."""
        if self.running:
            self.status.say(f"Training paused: {why}. Press play to train the new model.")
        if self.session is not None:
            self.session.send(Pause())
            self._set_running(False)
        self._check()
        self.restart_timer.start()

    def flush_restart(self) -> None:
        """Restart now if one is pending (before anything that needs the session: play, step, save...)."""
        if self.restart_timer.isActive():
            self.restart()

    def restart(self) -> None:
        """A new session for the document as it stands (fresh weights, or the saved ones once)."""
        self.restart_timer.stop()
        self.stop()
        self._scores = {}
        self.status.show_scores(self._scores)
        self.status.show_compile("off", "")  # the new session's step is eager until it says otherwise
        try:
            bounds = self.doc.built_target().bounds
        except FlowlabError:
            bounds = None
        # The views follow the document at once, and forget the last model's pictures: with no model (a stack
        # that cannot train), nothing keeps showing the old one.
        self.docks.configure(ViewContext(
            shape=tuple(self.doc.shape), bounds=tuple(bounds) if bounds else None,
            layer_names=tuple(e.kind for e in self.doc.stack if e.enabled),
            energy=TARGETS[self.doc.target["kind"]].objective == "energy"))
        if not self._check():
            return
        weights, self.weights = self.weights, None  # saved weights belong to the preset as opened
        self._settings = self.doc.training
        spec = SessionSpec(self.doc.layers(), self.doc.target_config(), self._settings, base=self.doc.base,
                           weights=weights)
        self.session = SessionWorker(spec, parent=self, host=self.host)
        self.session.event.connect(self.on_event)
        self.session.start()
        for view, command in self.docks.session_commands():  # the views' controls as they stand
            self._forward(view, command)
        if self.layer is not None:
            self.session.send(SetViewOptions({"layer": self.layer}))
        if self.speed is not None:
            self.session.send(SetSpeed(self.speed))
        QTimer.singleShot(0, self._shown_changed)

    def training_changed(self) -> None:
        """The document's training settings changed: live ones go to the session, any other restarts it."""
        if self.session is None or self._settings is None:
            self.schedule_restart("a setting changed")
            return
        old, new = self._settings.to_dict(), self.doc.training.to_dict()
        changes = {k: v for k, v in new.items() if old[k] != v}
        if not changes:
            return
        if set(changes) <= live_settings():
            self.session.send(ChangeSettings(changes))
            self._settings = self.doc.training
        else:
            self.schedule_restart(f"{', '.join(sorted(changes))} changed")

    # -- commands ---------------------------------------------------------------------------------------------
    def toggle_play(self) -> None:
        self.flush_restart()
        if self.session is not None:
            self.session.send(Pause() if self.running else Play(until=self._until()))

    def play(self) -> None:
        """Train (up to :attr:`pause_at` or a lesson's :attr:`lesson_pause`, the nearer, when set)."""
        self.flush_restart()
        if self.session is not None:
            self.session.send(Play(until=self._until()))

    def _until(self) -> int | None:
        step = self.last_progress.step if self.last_progress is not None else 0
        ahead = [s for s in (self.pause_at, self.lesson_pause) if s is not None and s > step]
        return min(ahead, default=self.pause_at)

    def set_speed(self, steps_per_s: float | None) -> None:
        """Pace training (None: full speed); slow motion, each step drawn, at 5 steps a second or fewer."""
        self.speed = steps_per_s
        if self.session is not None:
            self.session.send(SetSpeed(steps_per_s))

    def refresh_views(self) -> None:
        """Ask for a full snapshot of the views shown now (it comes after any that is on its way)."""
        self._shown_changed()

    def single_step(self) -> None:
        self.flush_restart()
        if self.session is not None:
            self.session.send(Step())

    def reset_weights(self) -> None:
        """Fresh weights from the seed; the curves start again (keeping the entropy floor)."""
        self.flush_restart()
        if self.session is not None:
            self.session.send(Reset())

    def save_weights_to(self, path: Path) -> bool:
        self.flush_restart()
        if self.session is None:
            return False
        self.session.send(Save(path))
        return True

    @Slot(object)
    def select_layer(self, position: int | None) -> None:
        """Look inside the layer at this stack position (None: none); snapshots then carry its detail."""
        if position != self.layer:
            self.layer = position
            if self.session is not None:
                self.session.send(SetViewOptions({"layer": position}))

    @Slot(object, object)
    def _forward(self, view: View, command: Command) -> None:
        """The one place the views' commands reach the session. A score asked for while no model trains is
        answered at once, to the view that asked."""
        if isinstance(command, Score):
            self.flush_restart()
            if self.session is None or not self.session.alive:
                view.handle_event(Failure("score", "No model is training: fix the stack first."))
                return
        if self.session is not None:
            self.session.send(command)

    @Slot()
    def _shown_changed(self) -> None:
        if self.session is not None:
            self.session.send(SetViews(self.docks.shown_views()))
            self.docks.redraw_all()

    # -- events -----------------------------------------------------------------------------------------------
    @Slot(object)
    def on_event(self, event: Event) -> None:
        """Every event of the current session (a stopped session's late ones are dropped)."""
        if self.sender() is self.session and self.session is not None:
            self.handle(event)

    def handle(self, event: Event) -> None:
        """Route one event by its type: to the views (all of them take every event), the status, the run state."""
        if isinstance(event, SnapshotReady):
            self.docks.show_snapshot(event.snapshot)
            if event.snapshot.layer_detail is not None:
                self.layer_detail.emit(event.snapshot.layer_detail)
            return
        self.docks.route(event)
        if isinstance(event, Ready):
            self.last_ready = event
            self.status.show_device(event.device)
            self.notes_changed.emit("\n".join(event.notes))
            warning = held_out_warning(event.held_out, event.images)
            if warning:
                self.status.say(f"⚠ {warning}", 15000)
            elif event.step > 0:
                self.status.say(f"opened trained: saved weights at step {event.step} (Reset weights trains from "
                                "scratch)", 10000)
        elif isinstance(event, Progress):
            self._progress(event)
        elif isinstance(event, RunningChanged):
            self._set_running(event.running)
        elif isinstance(event, Saved):
            self.status.say(f"saved weights to {event.path}", 5000)
        elif isinstance(event, Failure) and event.kind != "score":  # the scoring view answers those
            self._failed(event)

    def _failed(self, failure: Failure) -> None:
        """The first line in the status bar; the whole story in a dialog where it changes what the user sees
        (refused saved weights: the model trains from fresh ones, and the file is left as it was)."""
        message = failure.message
        if failure.kind == "load":
            self.status.show_refused(message.splitlines()[0])
            message += "\n\nTraining starts from fresh weights; the weights file is left as it is."
        else:
            self.status.say(message.splitlines()[0], 8000)
        if failure.kind in FAILURE_DIALOGS:
            QMessageBox.warning(self.window, FAILURE_DIALOGS[failure.kind], message)

    def _progress(self, p: Progress) -> None:
        self.last_progress = p
        if self.lesson_pause is not None and p.step == self.lesson_pause and not p.running:
            self.status.say(f"Lesson: paused at step {p.step}, as the preset asks; Play goes on", 15000)
            self.lesson_pause = None  # once: the next Play trains on
        self.status.show_step(p.step, p.steps_per_s)
        self.status.show_timings(p.timings)
        self.status.show_compile(p.compile_state, p.compile_note)
        if p.restarted:
            self._scores = {}
        for key, values in p.rows.items():
            finite = [v for v in values if not math.isnan(v)]
            if finite:
                self._scores[key] = [finite[-1]]
        self.status.show_scores(self._scores)

    def _set_running(self, running: bool) -> None:
        if running != self.running:
            self.running = running
            self.running_changed.emit(running)
