"""Recording a view, or the whole window, over training: File ▸ Record… and ``flowlab record``.

The recorder takes its frames at the steps it plans, not at whatever snapshot arrived: it pauses training, asks
for a fresh snapshot, then for each frame step k sends ``Play(until=k)`` (the controller's ``pause_at``, so that
the user's own Play stops there too), waits until the session has paused at step k and the full snapshot of
step k has come, draws it, grabs the picture and goes on. The frames go to a
:class:`~flowlab.recording.Recording` (Qt-free); a failure to write ends the recording with the reason and
leaves the session training.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QWidget

from flowlab.errors import FlowlabError
from flowlab.recording import Recording, stamp
from flowlab.training.messages import Pause
from flowlab.ui.view_docks import DATA_WORDS
from flowlab.ui.views import table as view_table
from flowlab.ui.views.base import data_kind

POLL_MS = 10


@dataclass(frozen=True)
class RecordOutcome:
    """How a recording ended: the file written (None when none was), frames taken of those planned, why it
    ended early or failed (None: it recorded every frame, or the user stopped it), and what the frames cost."""

    path: Path | None
    frames: int
    planned: int
    error: str | None
    grab_s: float  # seconds spent drawing, grabbing and encoding frames (training waits meanwhile)
    write_s: float  # seconds spent writing the file at the end
    size: tuple[int, int] | None
    steps: tuple[int, ...]  # the steps the frames show

    @property
    def ms_per_frame(self) -> float:
        return 1e3 * self.grab_s / self.frames if self.frames else math.nan


def aligned_steps(every: int, frames: int) -> Callable[[int], list[int]]:
    """The window's plan: ``frames`` frames at multiples of ``every``, from the first one at or after the step
    where training stands."""
    def plan(start: int) -> list[int]:
        first = -(-start // every) * every
        return [first + i * every for i in range(frames)]
    return plan


def check_view(key: str, shape: tuple[int, ...]) -> None:
    """:class:`FlowlabError` unless ``key`` names a view (the one view table) that draws data of ``shape``."""
    row = view_table.find(key)
    if not row.cls.applies_to(shape):
        usable = [r.key for r in view_table.VIEWS if r.cls.applies_to(shape)]
        raise FlowlabError(f"the view '{key}' does not draw {DATA_WORDS[data_kind(shape)]}; these do: "
                           f"{', '.join(usable)}")


def to_rgb(image: QImage) -> np.ndarray:
    """A QImage as an ``(h, w, 3)`` uint8 array (a copy)."""
    img = image.convertToFormat(QImage.Format_RGB888)
    w, h, line = img.width(), img.height(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits(), np.uint8, count=line * h).reshape(h, line)
    return buf[:, : 3 * w].reshape(h, w, 3).copy()


class Recorder(QObject):
    """Records ``view`` (a view table key, or None for the whole window) of ``window`` into ``recording`` at the
    steps ``plan`` gives for the step where training stands once paused. :meth:`start`, then :meth:`stop` (or
    let it finish). ``progressed(frames, planned, step)`` after each frame; ``finished(RecordOutcome)`` once."""

    progressed = Signal(int, int, int)
    finished = Signal(object)

    def __init__(self, window, view: str | None, plan: Callable[[int], Sequence[int]], recording: Recording,
                 caption: bool = True) -> None:
        super().__init__(window)
        self.window, self.view, self.plan, self.recording, self.caption = window, view, plan, recording, caption
        self.controller = window.controller
        self.steps: list[int] = []
        self.frames = 0
        self.grab_s = 0.0
        self.active = False
        self.outcome: RecordOutcome | None = None
        self._session = None
        self._state = "pausing"
        self._stale = None  # the snapshot shown before the recording asked for a fresh one
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._tick)

    # -- control ------------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Pause training and begin; :class:`FlowlabError` when nothing trains or the view cannot draw the data."""
        c = self.controller
        c.flush_restart()
        if c.session is None or not c.session.alive:
            raise FlowlabError("no model is training: fix the stack first")
        if self.view is not None:
            check_view(self.view, tuple(self.window.doc.shape))
            dock = self.window.docks.docks[self.view]
            dock.show()  # a dock the user had closed comes back: what is recorded must be shown to be computed
            dock.raise_()
        self._session = c.session
        c.session.send(Pause())
        self.active = True
        self._state = "pausing"
        self._timer.start()

    def stop(self) -> None:
        """End now, writing the frames taken so far; training goes on as it was going."""
        if self.active:
            self._end(None, resume=True)

    @property
    def widget(self) -> QWidget:
        """What is grabbed: the view's content (its plots) or the whole window."""
        return self.window if self.view is None else self.window.docks.views[self.view].content

    # -- the loop -----------------------------------------------------------------------------------------------
    def _tick(self) -> None:
        c = self.controller
        if c.session is not self._session:
            self._end("the model was rebuilt (the stack, the target or a setting changed)", resume=False)
            return
        p, snap = c.last_progress, c.docks.latest
        if p is None:
            return
        if self._state == "pausing":
            if p.running or c.session.is_running:
                return
            self.steps = list(self.plan(p.step))
            if not self.steps:
                self._end(f"training stands at step {p.step}, past every step the recording was to show",
                          resume=True)
                return
            self._stale = snap
            c.refresh_views()  # a fresh full snapshot, of the views now shown, for the first frame
            self._state = "frames"
            self._go(p.step)
            return
        target = self.steps[self.frames]
        if p.step > target or (self.frames and p.step < self.steps[self.frames - 1]):
            self._end(f"training left the frame steps (at step {p.step}, the next frame was step {target})",
                      resume=True)
            return
        if (p.step == target and not p.running and snap is not None and snap is not self._stale
                and snap.full and snap.step == target):
            self._take(target)

    def _go(self, step: int) -> None:
        """Train to the next frame's step (nothing to do when training stands there)."""
        c = self.controller
        c.pause_at = self.steps[self.frames]
        if step < c.pause_at:
            c.play()

    def _take(self, step: int) -> None:
        start = time.perf_counter()
        try:
            self.window.docks.draw_now()
            rgb = to_rgb(self.widget.grab().toImage())
            if self.caption:
                rgb = stamp(rgb, f"step {step}")
            self.recording.add(rgb)
        except (OSError, FlowlabError) as e:
            self.grab_s += time.perf_counter() - start
            self._end(f"could not write {self.recording.path}: {getattr(e, 'strerror', None) or e}", resume=True)
            return
        self.grab_s += time.perf_counter() - start
        self.frames += 1
        self.progressed.emit(self.frames, len(self.steps), step)
        if self.frames == len(self.steps):
            self._end(None, resume=False)
        else:
            self._go(step)

    def _end(self, error: str | None, resume: bool) -> None:
        """Write what was recorded (none: nothing is written) and say how it went. ``resume``: training goes on
        unless the user had paused it between frames."""
        self._timer.stop()
        self.active = False
        c = self.controller
        held_at_frame = self._state == "frames" and c.last_progress is not None and \
            self.frames < len(self.steps) and c.last_progress.step in self.steps
        was_training = c.running or (c.session is not None and c.session.is_running) or held_at_frame
        c.pause_at = None
        path, write_s = None, 0.0
        if self.frames:
            start = time.perf_counter()
            try:
                path = self.recording.close()
            except (OSError, FlowlabError) as e:
                reason = getattr(e, "strerror", None) or str(e)
                error = f"could not write {self.recording.path}: {reason}" + (f" (after: {error})" if error else "")
            write_s = time.perf_counter() - start
        else:
            self.recording.discard()
        if resume and was_training and c.session is self._session and c.session is not None:
            c.play()  # Play without a stop: training goes on past the recording
        self.outcome = RecordOutcome(path, self.frames, len(self.steps), error, self.grab_s, write_s,
                                     self.recording.size, tuple(self.steps[: self.frames]))
        self.finished.emit(self.outcome)
