"""The training curves: train, validation and test scores, the entropy floor and the step early stopping keeps."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from flowlab.training.messages import Event, Failure, Progress, Ready
from flowlab.training.metrics import MetricsLog
from flowlab.training.views import Snapshot
from flowlab.ui.export import ExportError, with_suffix
from flowlab.ui.views.base import View, ViewContext
from flowlab.ui.views.readout import nearest, num
from flowlab.words import count

# What the three lines are, as the legend names them: negative log-likelihoods (or bits/dim), or under reverse KL
# the training loss and the true KL(q‖p) (no validation line: early stopping keeps by the true KL).
LEGENDS = {False: ("train", "test", "validation"), True: ("reverse KL loss (training)", "true KL(q‖p)", None)}
PREVIOUS = "previous run"
MIN_HELD_OUT = 10  # held-out scores averaged over fewer test points than this say little (three drawn images: one)


def held_out_warning(held_out: int | None, images: bool) -> str:
    """What to say when the test set is too small for its scores to mean much ('' when it is not)."""
    if held_out is None or held_out >= MIN_HELD_OUT:
        return ""
    return (f"test score on only {count(held_out, 'image' if images else 'point')}: it says little "
            f"(add more {'images' if images else 'points'}); the axis follows the training curve")


class CurvesView(View):
    """Train, validation and test negative log-likelihood (or bits/dim), the target's entropy as the floor, and a
    mark at the step whose weights early stopping keeps."""

    title = "Log-likelihood"
    readout_corner = (1.0, 0.0)  # top right: the steep start of training is at the top left

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = self.graphics.addPlot(title="negative log-likelihood (nats)")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        # The legend in a row of its own under the plot: inside, some corner always held a curve (a trained
        # Glow's flat bits/dim curves ran under the bottom left one), the "kept" label or the entropy's.
        self.plot.legend = pg.LegendItem(colCount=len(LEGENDS[False]) + 1, verSpacing=-6)
        self.graphics.addItem(self.plot.legend, row=1, col=0)
        self.plot.setLabel("bottom", "step")
        # The previous run of this document, faded, for comparison (drawn under the current run's lines).
        self.previous_train = self.plot.plot(pen=pg.mkPen(230, 97, 1, 70, width=1))
        self.previous_test = self.plot.plot(pen=pg.mkPen(76, 120, 168, 90, width=1))
        self.previous: dict[str, list[float]] | None = None
        self.previous_action = QAction("Show the previous run", self)
        self.previous_action.setCheckable(True)
        self.previous_action.setChecked(True)
        self.previous_action.setToolTip("The last run of this document, faded, for comparison")
        self.previous_action.toggled.connect(lambda _: self._draw_previous())
        self.train = self.plot.plot(pen=pg.mkPen(230, 97, 1, width=1))
        self.test = self.plot.plot(pen=pg.mkPen(76, 120, 168, width=2), symbol="o", symbolSize=4,
                                   symbolBrush=(76, 120, 168))
        self.valid = self.plot.plot(pen=pg.mkPen(84, 162, 75, width=1, style=Qt.DashLine))
        self.floor = pg.InfiniteLine(angle=0, pen=pg.mkPen(80, 80, 80, style=Qt.DashLine),
                                     label="entropy of the target",
                                     # its right end at the plot's right edge: clipped by no dock width
                                     labelOpts={"position": 0.98, "anchors": [(1, 0), (1, 1)], "color": (80, 80, 80)})
        self.floor.setVisible(False)
        self.plot.addItem(self.floor)
        # Where the weights early stopping keeps were seen (best validation score, else best test score).
        self.best = pg.InfiniteLine(angle=90, pen=pg.mkPen(84, 162, 75, width=1, style=Qt.DotLine),
                                    label="kept", labelOpts={"position": 0.95, "color": (84, 162, 75)})
        self.best.setVisible(False)
        self.plot.addItem(self.best)
        # Where training diverged (a NaN/Inf caught, the weights rolled back): the record stops before it.
        self.diverged = pg.InfiniteLine(angle=90, pen=pg.mkPen(214, 39, 40, width=1, style=Qt.DashLine),
                                        label="", labelOpts={"position": 0.8, "color": (214, 39, 40)})
        self.diverged.setVisible(False)
        self.plot.addItem(self.diverged, ignoreBounds=True)
        self._keep_mark = False  # the next restarted record is the roll-back itself: the mark stays
        self.warning = self.graphics.addLabel("", row=2, col=0, color="#D62728", size="9pt")
        self.warning.setVisible(False)
        self.held_out: int | None = None  # test points behind the test score, once the session says
        for item in (self.train, self.test, self.valid):
            item.setDownsampling(auto=True, method="peak")
            item.setClipToView(True)
        self.columns: dict[str, list[float]] = {}
        self.bits = False
        self.energy = False  # fitted by reverse KL: the loss and the true KL(q‖p), not NLLs
        self._best_step: float | None = None
        for text, slot, key in (("Save curves as CSV…", self.export_csv_dialog, "csv"),):
            self.add_export_action(text, slot, key)
        menu = self.plot.vb.menu  # the plot's right-click menu
        menu.addSeparator()
        menu.addAction(self.previous_action)
        menu.addAction(self.export_actions["csv"])
        self._legend()

    def reset(self, entropy: float | None = None, bits: bool = False, energy: bool = False) -> None:
        self.columns = {}
        self.bits = bits
        self.energy = energy
        self._best_step = None
        self.plot.setTitle("bits per dimension" if bits else
                           ("reverse KL loss and true KL(q‖p) (nats)" if energy else
                            "negative log-likelihood (nats)"))
        self.schedule_corner_check()  # a longer title may reach under the export button
        self.floor.setVisible(entropy is not None and not bits and not energy)  # H(p) bounds NLLs, not KLs
        if entropy is not None:
            self.floor.setValue(entropy)
        for item in (self.train, self.test, self.valid):
            item.setData([], [])
        self.best.setVisible(False)
        self.plot.vb.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)  # no rows: not the last record's axes
        self.plot.enableAutoRange()
        self._draw_previous()

    def _legend(self) -> None:
        """Name the lines drawn: the current run's, and the previous run's while it is shown."""
        legend = self.plot.legend
        legend.clear()
        for item, name in zip((self.train, self.test, self.valid), LEGENDS[self.energy], strict=True):
            if name is not None:
                legend.addItem(item, name)
        if self.previous_train.isVisible() and self.previous_train.xData is not None \
                and len(self.previous_train.xData):
            legend.addItem(self.previous_train, "previous run")

    def set_objective(self, objective: str) -> None:
        """Follow the objective the trainer settled on ('mle' or 'reverse_kl'), keeping the rows seen so far."""
        self._show_as(self.bits, objective == "reverse_kl")

    def _show_as(self, bits: bool, energy: bool) -> None:
        """Draw the rows seen so far in bits/dim or not, as NLLs or as reverse KL's figures."""
        if (bits, energy) != (self.bits, self.energy):
            columns = self.columns
            self.reset(self.entropy(), bits, energy)
            self.add_rows(columns)

    def best_step(self) -> float | None:
        """The step whose held-out score early stopping keeps (None before the first evaluation)."""
        return self._best_step

    def add_rows(self, rows: Mapping[str, list[float]]) -> None:
        for k, v in rows.items():
            self.columns.setdefault(k, []).extend(v)
        steps = np.asarray(self.columns.get("step", []), dtype=float)
        if not len(steps):
            return
        train_key, test_key = self._keys(self.columns)
        train = np.asarray(self.columns.get(train_key, []), dtype=float)
        ok = np.isfinite(train)
        self.train.setData(steps[ok], train[ok])
        test = np.asarray(self.columns.get(test_key, []), dtype=float)
        ok = np.isfinite(test)
        self.test.setData(steps[ok], test[ok])
        valid = np.asarray(self.columns.get("valid_bpd" if self.bits else "valid_nll", []), dtype=float)
        if len(valid) != len(steps) or self.energy:  # reverse KL keeps by the true KL: no validation NLL
            valid = np.full_like(steps, np.nan)
        ok = np.isfinite(valid)
        self.valid.setData(steps[ok], valid[ok])
        self._frame_y(train, test, valid, *self._previous_values())
        chooser, where = (valid, ok) if ok.any() else (test, np.isfinite(test))
        self._best_step = float(steps[where][np.argmin(chooser[where])]) if where.any() else None
        self.best.setVisible(self._best_step is not None)
        if self._best_step is not None:
            self.best.setValue(self._best_step)

    def _keys(self, columns: Mapping[str, list[float]]) -> tuple[str, str]:
        """The columns the train and test lines draw, as the curves are now (NLL, bits/dim or KL)."""
        if self.bits:
            return "train_bpd", "test_bpd"
        train = "train_nll" if not math.isnan(_last(columns.get("train_nll", []))) else "train_loss"
        return train, "true_kl" if self.energy else "test_nll"

    def _frame_y(self, *lines: np.ndarray) -> None:
        """Autorange, unless some values exploded: then the axis ends at :func:`robust_top`. ``lines``: train,
        test and validation, then any more that are drawn (the previous run's)."""
        shown = [self.train, self.valid] + ([] if self.warning.isVisible() else [self.test])
        items = (self.train, self.test, self.valid) + (None,) * (len(lines) - 3)
        values = np.concatenate([v for v, item in zip(lines, items, strict=True)
                                 if (item is None or item in shown) and len(v)] or [np.zeros(0)])
        top = robust_top(values)
        if top is None:
            if not self.plot.vb.autoRangeEnabled()[1]:
                self.plot.enableAutoRange(axis="y")
            return
        bottom = float(np.nanmin(values))
        self.plot.setYRange(bottom, top, padding=0.05)

    def update_snapshot(self, snap: Snapshot) -> None:
        pass  # the curves come from the session's Progress events, not from snapshots

    # -- the previous run ---------------------------------------------------------------------------------------
    def set_previous(self, columns: Mapping[str, list[float]] | None) -> None:
        """The previous run of this document (its record's columns; None: none), drawn faded beside this one."""
        self.previous = None if columns is None else {k: list(v) for k, v in columns.items()}
        self._draw_previous()

    def previous_shown(self) -> bool:
        return self.previous_train.isVisible() and self.previous_train.xData is not None \
            and len(self.previous_train.xData) > 0

    def _draw_previous(self) -> None:
        cols = self.previous if self.previous_action.isChecked() else None
        steps = np.asarray(cols.get("step", []) if cols else [], dtype=float)
        for item, key in zip((self.previous_train, self.previous_test), self._keys(cols or {}), strict=True):
            values = np.asarray(cols.get(key, []) if cols else [], dtype=float)
            if len(values) != len(steps):
                values = np.full_like(steps, np.nan)
            ok = np.isfinite(values)
            item.setData(steps[ok], values[ok])
            item.setVisible(bool(ok.any()))
        self._legend()

    def _previous_values(self) -> tuple[np.ndarray, ...]:
        return tuple(np.asarray(item.yData) for item in (self.previous_train, self.previous_test)
                     if item.isVisible() and item.yData is not None)

    # -- reading and exporting ----------------------------------------------------------------------------------
    def readout_at(self, plot: pg.PlotItem, x: float, y: float) -> str | None:
        """The logged step nearest the cursor and each line's value there (a held-out score at its own nearest
        evaluation, with its step when that is another one)."""
        names = dict(zip((self.train, self.test, self.valid), LEGENDS[self.energy], strict=True))
        names[self.previous_train] = PREVIOUS
        lines: list[str] = []
        step: float | None = None
        for item in (self.train, self.test, self.valid, self.previous_train):
            xs = item.xData
            i = None if xs is None or not item.isVisible() or names[item] is None else nearest(xs, x)
            if i is None:
                continue
            if step is None:
                step = float(xs[i])
                lines.append(f"step {step:.0f}")
            at = "" if float(xs[i]) == step else f" (step {xs[i]:.0f})"
            lines.append(f"{names[item]} {num(float(item.yData[i]))}{at}")
        return "\n".join(lines) or None

    def export_csv(self, path: str | Path) -> Path:
        """The record the curves draw, as CSV: a header row naming each column, one row per logged step, written
        atomically (a failure leaves any old file as it was). :class:`ExportError` says why it could not be."""
        path = Path(path)
        if not self.columns.get("step"):
            raise ExportError("There are no curves yet: train a few steps first.")
        try:
            MetricsLog.restored(self.columns).write_csv(path)
        except OSError as e:
            raise ExportError(f"{path}: {e.strerror or e}") from e
        return path

    def export_csv_dialog(self) -> bool:
        """Ask for a file and write the curves there; a failure says why."""
        if not self.columns.get("step"):
            QMessageBox.warning(self, "Nothing to export", "There are no curves yet: train a few steps first.")
            return False
        path, _ = QFileDialog.getSaveFileName(self, "Save the curves as CSV", "curves.csv", "CSV (*.csv)")
        if not path:
            return False
        try:
            self.export_csv(with_suffix(path, "csv"))
        except ExportError as e:
            QMessageBox.warning(self, "Cannot export the curves", str(e))
            return False
        return True

    def entropy(self) -> float | None:
        """The entropy floor shown (None when there is none)."""
        return self.floor.value() if self.floor.isVisible() else None

    # -- the protocol -------------------------------------------------------------------------------------------
    def configure(self, ctx: ViewContext) -> None:
        """A new target: bits/dim for images, the loss and the true KL for energies; no floor until ``Ready``."""
        self.reset(None, bits=ctx.images, energy=ctx.energy)
        self.set_held_out(None)

    def clear(self) -> None:
        """Forget the rows (fresh weights), keeping what the curves are (NLL, bits/dim or KL) and the floor."""
        self.reset(self.entropy(), bits=self.bits, energy=self.energy)
        self.diverged.setVisible(False)

    def handle_event(self, event: Event) -> None:
        """``Ready``: the objective the session settled on and the target's entropy (the NLL floor, not shown for
        images, whose scores are in bits/dim). ``Progress``: new rows; rows that start again (a reset, a
        roll-back) replace the record."""
        if isinstance(event, Failure) and event.kind == "diverged" and event.step is not None:
            self.mark_divergence(event.step, event.rolled_back_to)
        elif isinstance(event, Ready):
            self._show_as(event.bits or event.images, self.energy)  # images as flat vectors: points, in bits/dim
            self.set_objective(event.objective)
            self.set_held_out(event.held_out, event.images)
            if event.entropy is not None and not event.images:
                self.floor.setValue(event.entropy)
                self.floor.setVisible(not self.energy)
        elif isinstance(event, Progress):
            self.add_progress(event.rows, restarted=event.restarted)

    def mark_divergence(self, step: int, rolled_back_to: int | None) -> None:
        """A dashed red line where training diverged, saying where the weights went back to; the curves end at
        the rolled-back step and the axis leaves out values that exploded before it."""
        self.diverged.setValue(step)
        back = f" → rolled back to step {rolled_back_to}" if rolled_back_to is not None else ""
        self.diverged.label.setFormat(f"diverged at step {step}{back}")
        self.diverged.setVisible(True)
        self._keep_mark = True

    def divergence(self) -> float | None:
        """The step marked as diverged (None when none is)."""
        return self.diverged.value() if self.diverged.isVisible() else None

    def set_held_out(self, held_out: int | None, images: bool = False) -> None:
        """Too few test points: say so under the plot, and let the y axis follow the training curve alone (one
        test image's 6586 bits/dim would flatten everything else)."""
        self.held_out = held_out
        text = held_out_warning(held_out, images)
        self.warning.setText(text)
        self.warning.setVisible(bool(text))
        # The view box autoranges over its ``addedItems`` (an item added with ignoreBounds is left out of it).
        bounded = self.plot.vb.addedItems
        if text and self.test in bounded:
            bounded.remove(self.test)
        elif not text and self.test not in bounded:
            bounded.append(self.test)
        self.plot.vb.updateAutoRange()

    def add_progress(self, rows: Mapping[str, list[float]], restarted: bool = False) -> None:
        """Rows from the session; a record that restarted (flagged, or whose first step is not after the last one
        shown) replaces the rows shown so far."""
        first, last = rows.get("step"), self.columns.get("step")
        if restarted or (first and last and first[0] <= last[-1]):
            keep = self._keep_mark and self.diverged.isVisible()  # a roll-back keeps the divergence mark; a
            self.clear()  # reset or a new record does not
            self.diverged.setVisible(keep)
        self._keep_mark = False
        self.add_rows(rows)


def robust_top(values: np.ndarray) -> float | None:
    """The top of the y axis when some values exploded (a divergence before the roll-back point): the largest
    value within 100 scales of the median (scale: the larger of the interquartile range, |median| and 1), when
    any value lies beyond that; None when none does (then the axis autoranges). An early, steep fall stays."""
    values = values[np.isfinite(values)]
    if len(values) < 3:
        return None
    q25, med, q75 = np.percentile(values, [25, 50, 75])
    limit = med + 100.0 * max(q75 - q25, abs(med), 1.0)
    if values.max() <= limit:
        return None
    return float(values[values <= limit].max())


def _last(values: list[float]) -> float:
    for v in reversed(values):
        if not math.isnan(v):
            return v
    return math.nan
