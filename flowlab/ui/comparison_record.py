"""Comparison ▸ Record GIF…: the comparison window over training, a frame every N steps, as a GIF or MP4.

As File ▸ Record… does for one run (:mod:`flowlab.ui.recorder`), frames are taken at planned steps: every run is
sent ``Play(until=k)``; once each has paused at step k (or stands past it) and its thumbnail shows that step, the
window's curves, thumbnails and table are redrawn and grabbed, and all go on to the next k. "From scratch" resets
every run's weights first, the lecture's "watch them learn side by side". A failed write says why; the runs keep
their weights and go on as they were.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from flowlab.errors import FlowlabError
from flowlab.recording import Recording, stamp
from flowlab.training.messages import Pause, Play
from flowlab.ui.recorder import POLL_MS, to_rgb


class ComparisonRecorder(QObject):
    """Frames of ``window`` (a ComparisonWindow) at steps ``every`` apart, ``frames`` of them, into ``recording``.
    ``progressed(frames, planned)`` after each; ``finished(path or None, error or None)`` once."""

    progressed = Signal(int, int)
    finished = Signal(object, object)

    def __init__(self, window, recording: Recording, frames: int, every: int, from_scratch: bool) -> None:
        super().__init__(window)
        self.window, self.recording = window, recording
        self.planned, self.every, self.from_scratch = frames, every, from_scratch
        self.taken = 0
        self.target: int | None = None  # the step the next frame shows
        self.active = False
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        if not self.window.runs:
            raise FlowlabError("the comparison has no run to record")
        self.window.pause_all()
        if self.from_scratch:
            self.window.reset_all()
        self.active = True
        self._timer.start()

    def stop(self) -> None:
        """End now, writing the frames taken so far."""
        if self.active:
            self._end(None)

    def _settled(self, step: int | None) -> bool:
        """Every run paused (at ``step`` or past it, when given) with its thumbnail showing where it stands."""
        for run, thumb in zip(self.window.runs, self.window.thumbs, strict=True):
            if run.failure:
                raise FlowlabError(f"{run.name}: {run.failure}")
            if run.running or run.ready is None or thumb.shown_step != run.step:
                return False
            if step is not None and run.step < step:
                return False
        return True

    def _tick(self) -> None:
        try:
            if self.target is None:  # waiting for the pause (and the reset) to land
                if not self._settled(None) or (self.from_scratch and any(r.step for r in self.window.runs)):
                    return
                start = max(r.step for r in self.window.runs)
                self.target = -(-start // self.every) * self.every
                self._go()
                return
            if not self._settled(self.target):
                return
            self.window.refresh()
            rgb = to_rgb(self.window.centralWidget().grab().toImage())
            self.recording.add(stamp(rgb, f"step {self.target}"))
            self.taken += 1
            self.progressed.emit(self.taken, self.planned)
            if self.taken >= self.planned:
                self._end(None)
                return
            self.target += self.every
            self._go()
        except (FlowlabError, OSError) as e:
            self._end(str(e))

    def _go(self) -> None:
        for run in self.window.runs:
            run.send(Play(until=self.target))

    def _end(self, error: str | None) -> None:
        self._timer.stop()
        self.active = False
        for run in self.window.runs:
            run.send(Pause())
        path = None
        try:
            if self.taken:
                path = self.recording.close()
            else:
                self.recording.discard()
                error = error or "no frame was recorded"
        except (FlowlabError, OSError) as e:
            error = f"could not write {self.recording.path}: {e}"
        self.finished.emit(path, error)


class ComparisonRecordDialog(QDialog):
    """The file, the number of frames and the steps between them, from scratch or not; a progress bar."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.setWindowTitle("Record the comparison")
        self.recorder: ComparisonRecorder | None = None
        self.path = QLineEdit(str(Path.home() / f"{window.name}.gif"))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        self.frames = QSpinBox(minimum=2, maximum=2000, value=30)
        self.every = QSpinBox(minimum=1, maximum=100_000, value=25, suffix=" steps")
        self.scratch = QCheckBox("Train from scratch (reset every run's weights first)")
        self.scratch.setChecked(True)
        form = QFormLayout()
        form.addRow("File (.gif or .mp4)", self._wrap(row))
        form.addRow("Frames", self.frames)
        form.addRow("A frame every", self.every)
        form.addRow("", self.scratch)
        self.progress = QProgressBar()
        self.result = QLabel()
        self.result.setWordWrap(True)
        self.buttons = QDialogButtonBox()
        self.start_button = self.buttons.addButton("Record", QDialogButtonBox.AcceptRole)
        self.stop_button = self.buttons.addButton("Stop", QDialogButtonBox.DestructiveRole)
        self.stop_button.setEnabled(False)
        close = self.buttons.addButton(QDialogButtonBox.Close)
        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        close.clicked.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.result)
        layout.addWidget(self.buttons)

    @staticmethod
    def _wrap(layout) -> QWidget:
        w = QWidget()
        layout.setContentsMargins(0, 0, 0, 0)
        w.setLayout(layout)
        return w

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Record to", self.path.text(), "GIF (*.gif);;MP4 (*.mp4)")
        if path:
            self.path.setText(path)

    def start(self) -> bool:
        try:
            recording = Recording(self.path.text())
        except (FlowlabError, OSError) as e:
            self.result.setText(f"⚠ {e}")
            return False
        self.recorder = ComparisonRecorder(self.window, recording, self.frames.value(), self.every.value(),
                                           self.scratch.isChecked())
        self.recorder.progressed.connect(self._progressed)
        self.recorder.finished.connect(self._finished)
        self.progress.setRange(0, self.frames.value())
        self.progress.setValue(0)
        self.result.setText("recording…")
        try:
            self.recorder.start()
        except FlowlabError as e:
            recording.discard()
            self.result.setText(f"⚠ {e}")
            return False
        self.start_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        return True

    def stop(self) -> None:
        if self.recorder is not None:
            self.recorder.stop()

    def _progressed(self, taken: int, planned: int) -> None:
        self.progress.setValue(taken)

    def _finished(self, path: Path | None, error: str | None) -> None:
        self.start_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        taken = self.recorder.taken if self.recorder is not None else 0
        if error:
            self.result.setText(f"⚠ {error}" + (f" ({taken} frames written to {path})" if path else ""))
        else:
            self.result.setText(f"wrote {taken} frames to {path}")

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self.stop()
        super().closeEvent(event)
