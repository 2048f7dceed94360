"""Side-by-side runs: 2–8 stacks on one target and seed, each in its own training session, in one window.

The window shows the runs' curves overlaid (one colour per run, the target's entropy once, dashed), a thumbnail
per run in a row, and a table: parameters, steps/s, the time to score and to sample a batch, the best held-out
score and its gap to the floor. Play, Pause, Step and Reset act on every run; the speed box paces them all.

How the CPU is shared: the runs take their training steps one at a time, in turn (round robin,
:class:`~flowlab.training.turns.Turns`), each step with every torch thread this window's process has. They stay
within a step of each other, so the curves compare the stacks at equal steps; together they make about the steps
a second one run alone would. The table's steps/s is each run's own speed while stepping (what it reaches alone).

The runs come from :func:`flowlab.comparison.plan_runs` (the first run's target, data and evaluation settings for
all, as ``flowlab compare``), without the compiled step (one compiling process per run would take the cores the
runs share). A comparison is saved as a comparison preset, its runs' weights beside it.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSplitter,
    QStyle,
    QTableWidget,
    QTableWidgetItem,
    QToolBar,
    QWidget,
)

from flowlab.comparison import COLOURS, MAX_RUNS, Run, plan_runs, run_names, y_range
from flowlab.errors import FlowlabError
from flowlab.presets import Preset
from flowlab.presets.comparison import Comparison, run_weights_path, save_comparison
from flowlab.training import threads
from flowlab.training.messages import Pause, Play, Reset, Save, SetSpeed, Step
from flowlab.training.turns import Turns
from flowlab.ui.comparison_record import ComparisonRecordDialog
from flowlab.ui.comparison_run import ComparisonRun
from flowlab.ui.comparison_thumbs import Thumbnail
from flowlab.ui.lesson import make_speed_box
from flowlab.ui.shortcuts import action

CURVE_STEPS = 500  # held-out scores at least every 500 / 20 = 25 steps: curves that move while a lecture watches
REFRESH_MS = 100  # the curves and the table redraw at most ten times a second
COMPARISON_FILTER = "flowlab comparison (*.json);;All files (*)"
COLUMNS = ("run", "parameters", "step", "steps/s (own)", "score a batch", "sample a batch", "best", "gap to floor")


def _ms(seconds: float | None) -> str:
    return "" if seconds is None or not math.isfinite(seconds) else f"{seconds * 1e3:.2f} ms"


def _num(value: float | None, digits: int = 4) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


class ComparisonWindow(QMainWindow):
    """One comparison: ``comparison``'s runs trained side by side. ``source``: the file it came from (its runs'
    weights beside it open them trained). ``closed`` is emitted once its sessions are stopped."""

    closed = Signal()

    def __init__(self, comparison: Comparison, source: Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WA_DeleteOnClose, False)
        self.setWindowFlag(Qt.Window, True)
        self.name, self.description = comparison.name, comparison.description
        self.source = source
        self.turns = Turns()
        self.specs: list[tuple[str, Preset]] = []  # the runs as given (what Save writes)
        self.runs: list[ComparisonRun] = []
        self.thumbs: list[Thumbnail] = []
        self.speed: float | None = None
        self.shape: tuple[int, ...] | None = None  # the target's, for every run
        self._drawn: dict[int, int] = {}  # id of a run → the version of its record last drawn
        self._record_dialog: ComparisonRecordDialog | None = None
        self._build()
        for key, preset in comparison.runs:
            self.add_run(key, preset, start=False)
        self.modified = source is None  # a comparison made in the window: closing asks before it is lost
        for run in self.runs:
            run.start()
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setInterval(REFRESH_MS)
        self._refresh_timer.timeout.connect(self.refresh)
        self._refresh_timer.start()
        self._update_title()

    # -- building -------------------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.play_action = self._action("Play all", "Ctrl+Space", self.toggle_play, QStyle.SP_MediaPlay,
                                        "Train every run (they take their steps in turn)")
        self.step_action = self._action("Step all", "Ctrl+Right", self.step_all, QStyle.SP_MediaSkipForward,
                                        "One training step for every run")
        self.reset_action = self._action("Reset all", "Ctrl+R", self.reset_all, QStyle.SP_BrowserReload,
                                         "Fresh weights for every run: train them all from scratch, side by side")
        self.save_action = self._action("Save comparison…", QKeySequence.Save, self.save_dialog,
                                        QStyle.SP_DialogSaveButton, "Save the runs' stacks over this target as a "
                                        "comparison preset, each run's weights beside it")
        self.record_action = self._action("Record GIF…", None, self.record_dialog, None,
                                          "Record this window over training as an animated GIF")
        tb = QToolBar("Comparison")
        tb.setObjectName("comparisonToolbar")
        tb.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        self.addToolBar(tb)
        for a in (self.play_action, self.step_action, self.reset_action):
            tb.addAction(a)
        tb.addSeparator()
        self.speed_box = make_speed_box(self, self.set_speed)
        tb.addWidget(self.speed_box)
        tb.addSeparator()
        tb.addAction(self.save_action)
        tb.addAction(self.record_action)

        self.plot = pg.PlotWidget()
        self.plot.setBackground("w")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setLabel("bottom", "step")
        self.plot.getViewBox().enableAutoRange(x=False, y=False)  # set by refresh: the axes follow the runs
        self.legend = self.plot.addLegend(offset=(-10, 10))
        self.curves: list[pg.PlotDataItem] = []
        self.floor_line = pg.InfiniteLine(angle=0, pen=pg.mkPen((90, 90, 90), width=1, style=Qt.DashLine),
                                          label="entropy of the target {value:.3f}",
                                          # under the line, at the right: no curve goes below the floor
                                          labelOpts={"position": 0.98, "color": (90, 90, 90),
                                                     "anchors": [(1, 0), (1, 0)]})
        self.floor_line.setVisible(False)
        self.plot.addItem(self.floor_line)

        self.thumb_row = QWidget()
        self.thumb_layout = QHBoxLayout(self.thumb_row)
        self.thumb_layout.setContentsMargins(4, 4, 4, 4)
        self.thumb_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(self.thumb_row)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)
        scroll.setMinimumHeight(270)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)

        splitter = QSplitter(Qt.Vertical)
        for w in (self.plot, scroll, self.table):
            splitter.addWidget(w)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 0)
        splitter.setStretchFactor(2, 1)
        self.setCentralWidget(splitter)
        self.cpu_label = QLabel()
        self.cpu_label.setWordWrap(True)
        self.statusBar().addPermanentWidget(self.cpu_label, 1)
        self.resize(1100, 850)

    def _action(self, text: str, keys, slot, icon: QStyle.StandardPixmap | None, tip: str) -> QAction:
        return action(self, text, keys, slot, tip, icon)

    # -- runs -----------------------------------------------------------------------------------------------------
    def add_run(self, key: str, preset: Preset, start: bool = True) -> ComparisonRun:
        """Add ``preset``'s stack as a run on the comparison's target (the first run's; the first added sets
        it). :class:`FlowlabError` if the stack cannot train there, or the comparison is full."""
        if len(self.runs) >= MAX_RUNS:
            raise FlowlabError(f"a comparison holds at most {MAX_RUNS} runs")
        # planned beside the first run alone: its target and shared settings are all a new run takes from the others
        planned = plan_runs([*self.specs[:1], (key, preset)], steps=CURVE_STEPS)[-1]
        name = run_names([k for k, _ in self.specs] + [key])[-1]
        planned = Run(name, planned.title, replace(planned.preset, training=planned.preset.training.updated(
            compile=False)))
        if self.shape is None:
            self.shape = tuple(planned.preset.build_target().shape)
        weights = run_weights_path(self.source, name) if self.source is not None else None
        run = ComparisonRun(planned, self.shape, self.turns,
                            weights if weights is not None and weights.exists() else None, parent=self)
        colour = COLOURS[len(self.runs) % len(COLOURS)]
        thumb = Thumbnail(name, colour)
        run.snapshot.connect(thumb.show_snapshot)
        self.thumb_layout.insertWidget(self.thumb_layout.count() - 1, thumb)
        curve = self.plot.plot([], [], pen=pg.mkPen(colour, width=2), name=name, symbol="o", symbolSize=5,
                               symbolPen=None, symbolBrush=pg.mkBrush(colour))
        self.specs.append((key, preset))
        self.runs.append(run)
        self.thumbs.append(thumb)
        self.curves.append(curve)
        self.table.setRowCount(len(self.runs))
        self._fit_table()
        self.modified = True
        if start:
            run.start()
            if self.speed is not None:
                run.send(SetSpeed(self.speed))
        self._update_cpu_note()
        return run

    # -- commands to every run ------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return any(r.running for r in self.runs)

    def toggle_play(self) -> None:
        if self.running:
            self.pause_all()
        else:
            self.play_all()

    def play_all(self, until: int | None = None) -> None:
        for run in self.runs:
            run.send(Play(until=until))
            run.running = True  # until its session says otherwise: the button follows at once
        self._show_running()

    def pause_all(self) -> None:
        for run in self.runs:
            run.send(Pause())
        self._show_running()

    def step_all(self) -> None:
        for run in self.runs:
            run.send(Step())

    def reset_all(self) -> None:
        """Fresh weights from the seed for every run: the curves start again together."""
        for run in self.runs:
            run.send(Reset())

    def set_speed(self, speed: float | None) -> None:
        self.speed = speed
        for run in self.runs:
            run.send(SetSpeed(speed))

    # -- drawing --------------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Redraw the curves, the table and the captions from the runs' records (the timer's tick)."""
        floor = next((r.floor for r in self.runs if r.floor is not None), None)
        shown = []
        for i, (run, curve, thumb) in enumerate(zip(self.runs, self.curves, self.thumbs, strict=True)):
            steps, values = run.curve()
            shown.append(values)
            if self._drawn.get(id(run)) != run.version:  # the record changed since it was drawn
                self._drawn[id(run)] = run.version
                curve.setData(steps, values)
                thumb.set_caption(self._caption(run))
                self._row(i, run, floor)
        if any(shown):
            lo, hi = y_range(shown, floor)
            self.plot.setYRange(lo - 0.06 * (hi - lo), hi, padding=0)  # room under the floor for its label
        if self.runs:
            self.plot.setLabel("left", self.runs[0].measure_label())
            # the steps axis runs from 0 to where training stands: the curves grow to the right as the runs train
            self.plot.setXRange(0, max(10, *(r.step for r in self.runs)) * 1.02, padding=0)
        self.floor_line.setVisible(floor is not None)
        if floor is not None:
            self.floor_line.setValue(floor)
        self._show_running()

    def _caption(self, run: ComparisonRun) -> str:
        if run.failure:
            return f"⚠ {run.failure}"
        if run.ready is None:
            return "building…"
        best = run.best
        return f"step {run.step}" + (f" · best {best:.3f}" if math.isfinite(best) else "")

    def _row(self, i: int, run: ComparisonRun, floor: float | None) -> None:
        timings = run.timings
        best = run.best
        gap = best - floor if floor is not None and math.isfinite(best) else None
        values = (run.name, f"{run.ready.parameters:,}" if run.ready is not None else "", str(run.step),
                  _num(run.own_steps_per_s, 1), _ms(timings.score_s if timings else None),
                  _ms(timings.sample_s if timings else None), _num(best), _num(gap))
        for j, text in enumerate(values):
            item = self.table.item(i, j)
            if item is None:
                item = QTableWidgetItem()
                if j == 0:
                    item.setForeground(pg.mkColor(COLOURS[i % len(COLOURS)]))
                self.table.setItem(i, j, item)
            if item.text() != text:
                item.setText(text)

    def _fit_table(self) -> None:
        """Every run's row in view, without a scroll bar."""
        t = self.table
        t.setFixedHeight(t.horizontalHeader().height() + sum(t.rowHeight(i) for i in range(t.rowCount()))
                         + 2 * t.frameWidth() + 2)

    def _show_running(self) -> None:
        running = self.running
        self.play_action.setText("Pause all" if running else "Play all")
        self.play_action.setIcon(self.style().standardIcon(QStyle.SP_MediaPause if running else
                                                           QStyle.SP_MediaPlay))

    def _update_cpu_note(self) -> None:
        policy = threads.current()
        n = policy.training if policy is not None else None
        each = f"{n} torch thread{'s' if n != 1 else ''}" if n else "every torch thread"
        self.cpu_label.setText(
            f"CPU: the {len(self.runs)} runs take their steps one at a time, in turn (round robin), each step with "
            f"{each}: together about as fast as one run alone. steps/s (own) is each run's speed while stepping.")

    def _update_title(self) -> None:
        where = f" ({self.source.name})" if self.source is not None else ""
        self.setWindowTitle(f"Compare: {self.name}{where} — flowlab")

    # -- saving ---------------------------------------------------------------------------------------------------
    def comparison(self) -> Comparison:
        return Comparison(self.name, self.description, [(run.name, preset) for run, (_, preset) in
                                                        zip(self.runs, self.specs, strict=True)])

    def save_dialog(self) -> bool:
        path, _ = QFileDialog.getSaveFileName(self, "Save comparison", f"{self.name}.json", COMPARISON_FILTER)
        return self.save_to(Path(path)) if path else False

    def save_to(self, path: Path) -> bool:
        """Write the comparison preset, and ask each run's session to save its weights beside it."""
        comparison = self.comparison()
        try:
            save_comparison(comparison, path)
        except (OSError, ValueError) as e:
            QMessageBox.warning(self, "Cannot save comparison", f"{path}: {e}")
            return False
        for run in self.runs:
            run.send(Save(run_weights_path(path, run.name)))
        self.source = Path(path)
        self.modified = False
        self._update_title()
        self.statusBar().showMessage(f"saved {path} and each run's weights beside it", 8000)
        return True

    def record_dialog(self) -> ComparisonRecordDialog:
        """The recording dialog, beside the window (one, kept while the window lives)."""
        if self._record_dialog is None:
            self._record_dialog = ComparisonRecordDialog(self)
        self._record_dialog.show()
        self._record_dialog.raise_()
        return self._record_dialog

    # -- life cycle -----------------------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop every run's session (each frees its model on its own thread)."""
        self._refresh_timer.stop()
        for run in self.runs:
            run.stop()

    def keep_or_discard(self) -> bool:
        """A comparison made or changed here and not saved: Save, Discard or Cancel (False: keep it open)."""
        if not self.modified or not self.runs:
            return True
        answer = QMessageBox.question(
            self, "Unsaved comparison", f"Save the comparison \"{self.name}\" (its runs and their weights)?",
            QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel, QMessageBox.Save)
        if answer == QMessageBox.Save:
            return self.save_dialog()
        return answer == QMessageBox.Discard

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        if not self.keep_or_discard():
            event.ignore()
            return
        self.modified = False  # asked once: a second close (Qt may send one) does not ask again
        if self._record_dialog is not None:
            self._record_dialog.stop()  # a recording under way is written with the frames it has
        self.shutdown()
        super().closeEvent(event)
        self.closed.emit()

