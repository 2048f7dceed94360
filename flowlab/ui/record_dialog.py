"""File ▸ Record…: a view or the whole window over training, as an animated GIF or an MP4 (the dialog around
:class:`~flowlab.ui.recorder.Recorder`). It stays open beside the window while it records: a progress bar, Stop
(the frames so far are written), and a failure said in a message box, the session training on."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from flowlab.errors import FlowlabError
from flowlab.recording import MAX_FRAMES, Recording
from flowlab.ui.recorder import Recorder, RecordOutcome, aligned_steps
from flowlab.ui.views import table as view_table

WHOLE_WINDOW = "Whole window"


class RecordDialog(QDialog):
    """Choose what to record, how often and where; Record starts, Stop ends (writing what was recorded)."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.recorder: Recorder | None = None
        self.setWindowTitle("Record training")
        self.what = QComboBox()
        self.every = QSpinBox()
        self.every.setRange(1, 1_000_000)
        self.every.setValue(50)
        self.every.setSuffix(" steps")
        self.frames = QSpinBox()
        self.frames.setRange(1, MAX_FRAMES)
        self.frames.setValue(40)
        self.fps = QDoubleSpinBox()
        self.fps.setRange(1, 50)
        self.fps.setValue(10)
        self.fps.setDecimals(1)
        self.fps.setSuffix(" frames/s")
        self.file = QLineEdit(str(Path.home() / "flowlab.gif"))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        file_row = QHBoxLayout()
        file_row.addWidget(self.file, 1)
        file_row.addWidget(browse)
        form = QFormLayout()
        form.addRow("Record", self.what)
        form.addRow("A frame every", self.every)
        form.addRow("Frames", self.frames)
        form.addRow("Speed", self.fps)
        form.addRow("File (.gif or .mp4)", file_row)
        self.progress = QProgressBar()
        self.progress.setFormat("%v of %m frames")
        self.status = QLabel("Frames are taken at multiples of the step interval; training pauses a moment for each.")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)
        buttons = QDialogButtonBox()
        self.record_button = buttons.addButton("Record", QDialogButtonBox.AcceptRole)
        self.stop_button = buttons.addButton("Stop", QDialogButtonBox.ActionRole)
        self.close_button = buttons.addButton(QDialogButtonBox.Close)
        self.record_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self.close_button.clicked.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(buttons)
        self.fill_views()
        self._show_recording(False)

    def fill_views(self) -> None:
        """The whole window, then every view that can draw the document's data (from the one view table)."""
        current = self.what.currentData()
        self.what.clear()
        self.what.addItem(WHOLE_WINDOW, None)
        shape = tuple(self.window.doc.shape)
        kinds = tuple(e.kind for e in self.window.doc.stack if e.enabled)
        for row in view_table.VIEWS:
            if row.cls.applies_to(shape, kinds):
                self.what.addItem(row.title, row.key)
        index = self.what.findData(current)
        self.what.setCurrentIndex(max(index, 0))

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if self.recorder is None or not self.recorder.active:
            self.fill_views()
        super().showEvent(event)

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Record to", self.file.text(),
                                              "Animated GIF (*.gif);;MP4 video (*.mp4)")
        if path:
            self.file.setText(path)

    def _show_recording(self, on: bool) -> None:
        self.record_button.setEnabled(not on)
        self.stop_button.setEnabled(on)
        for w in (self.what, self.every, self.frames, self.fps, self.file):
            w.setEnabled(not on)

    # -- recording ------------------------------------------------------------------------------------------------
    @Slot()
    def start(self) -> bool:
        """Open the file and start; a file that cannot be written, or a view that cannot be, says why."""
        path = Path(self.file.text().strip()).expanduser()
        try:
            if not self.file.text().strip():
                raise FlowlabError("give a file name ending in .gif or .mp4")
            recording = Recording(path, self.fps.value())
        except (FlowlabError, OSError) as e:
            return self._refused(f"Cannot record to {path}: {getattr(e, 'strerror', None) or e}")
        recorder = Recorder(self.window, self.what.currentData(), aligned_steps(self.every.value(),
                                                                                self.frames.value()), recording)
        try:
            recorder.start()
        except FlowlabError as e:
            recording.discard()
            recorder.deleteLater()
            return self._refused(f"Cannot record: {e}")
        self.recorder = recorder
        recorder.progressed.connect(self._progressed)
        recorder.finished.connect(self._finished)
        self.progress.setRange(0, self.frames.value())
        self.progress.setValue(0)
        self.status.setText(f"Recording {self.what.currentText().lower()} to {path.name}…")
        self._show_recording(True)
        return True

    def _refused(self, message: str) -> bool:
        self.status.setText(message)
        QMessageBox.warning(self, "Cannot record", message)
        return False

    @Slot()
    def stop(self) -> None:
        if self.recorder is not None:
            self.recorder.stop()

    @Slot(int, int, int)
    def _progressed(self, frames: int, planned: int, step: int) -> None:
        self.progress.setRange(0, planned)
        self.progress.setValue(frames)
        self.status.setText(f"Frame {frames} of {planned}, at step {step}")

    @Slot(object)
    def _finished(self, outcome: RecordOutcome) -> None:
        self._show_recording(False)
        if outcome.path is not None:
            text = f"Wrote {outcome.path}: {outcome.frames} frames"
            if outcome.steps:
                text += f" (steps {outcome.steps[0]}–{outcome.steps[-1]})"
            self.status.setText(text + ("." if outcome.error is None else f". Ended early: {outcome.error}"))
            self.window.status.say(f"recorded {outcome.path}", 8000)
        else:
            self.status.setText(outcome.error or "Nothing was recorded.")
        if outcome.error is not None:
            QMessageBox.warning(self, "Recording", f"{outcome.error}\n\nThe model and its training are kept.")
        recorder, self.recorder = self.recorder, None
        if recorder is not None:
            recorder.deleteLater()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self.stop()  # closing while recording writes what was recorded
        super().closeEvent(event)

