"""One run of a side-by-side comparison: its training session, and what the comparison window shows of it.

The session runs on a thread of the window's process (not the training process the main window uses): the runs of
one comparison share a :class:`~flowlab.training.turns.Turns`, an object in memory, and take their steps in turn.
A run keeps its record of the compared measure (test NLL, bits/dim or −ELBO, as :func:`measure_column` picks), its
latest snapshot (for the thumbnail) and the figures of the table; the UI thread reads them, the session's thread
never touches them.
"""

from __future__ import annotations

import math
from collections import deque
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from flowlab.comparison import MEASURES, Run, measure_column
from flowlab.training.messages import (
    Command,
    Event,
    Failure,
    Progress,
    Ready,
    RunningChanged,
    SetViews,
    SnapshotReady,
)
from flowlab.training.session import SessionSpec
from flowlab.training.turns import Turns
from flowlab.ui.worker import SessionWorker

RECORDED = ("step", "train_nll", "test_nll", "test_bpd", "elbo")  # the columns a comparison keeps
RATE_WINDOW = 20  # progress reports the run's own steps/s is measured over (about two seconds)


def thumbnail_views(shape: tuple[int, ...]) -> frozenset[str]:
    """What a run's snapshots compute for its thumbnail: the density on 2-D data, the curve on 1-D data,
    samples otherwise (images always come as samples)."""
    if shape == (2,):
        return frozenset({"density"})
    if shape == (1,):
        return frozenset({"curve_1d"})
    return frozenset({"samples"})


class ComparisonRun(QObject):
    """A run's session and record. ``changed`` follows every event; ``snapshot`` carries the thumbnail's data."""

    changed = Signal()
    snapshot = Signal(object)

    def __init__(self, run: Run, shape: tuple[int, ...], turns: Turns, weights: Path | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.run = run
        self.name = run.name
        self.shape = shape  # the target's
        self.turns = turns
        self.weights = weights
        self.worker: SessionWorker | None = None
        self.ready: Ready | None = None
        self.step = 0
        self.running = False
        self.failure: str | None = None
        self.columns: dict[str, list[float]] = {k: [] for k in RECORDED}
        self.timings = None  # the latest DirectionTimes: time to score and to sample a batch
        self._rates: deque[tuple[int, float]] = deque(maxlen=RATE_WINDOW)  # (step, busy seconds)
        self.version = 0  # counts the events that changed what the window shows of the run
        self._curve: tuple[list[float], list[float]] | None = None  # the measure's curve, until the record changes

    # -- the session ----------------------------------------------------------------------------------------------
    def start(self) -> None:
        """A fresh session (weights as shipped or saved, once; fresh ones after that)."""
        self.stop()
        self.ready, self.failure, self.step, self.timings = None, None, 0, None
        self.columns, self._curve = {k: [] for k in RECORDED}, None
        self.version += 1
        self._rates.clear()
        p = self.run.preset
        spec = SessionSpec(p.layers, p.target, p.training, base=p.base, weights=self.weights, turns=self.turns)
        self.weights = None
        self.worker = SessionWorker(spec, parent=self)
        self.worker.event.connect(self._on_event)
        self.worker.start()
        self.worker.send(SetViews(thumbnail_views(self.shape)))

    def send(self, command: Command) -> None:
        if self.worker is not None:
            self.worker.send(command)

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.event.disconnect(self._on_event)
            self.worker.shutdown()
            self.worker = None
        self.running = False

    # -- what the window reads ------------------------------------------------------------------------------------
    @property
    def measure(self) -> str:
        return measure_column(self.columns)

    def curve(self) -> tuple[list[float], list[float]]:
        """(steps, values) of the compared measure, finite values only (worked out once per record change)."""
        if self._curve is None:
            name = self.measure
            values = [-v for v in self.columns["elbo"]] if name == "neg_elbo" else self.columns[name]
            pairs = [(s, v) for s, v in zip(self.columns["step"], values, strict=False) if math.isfinite(v)]
            self._curve = ([s for s, _ in pairs], [v for _, v in pairs])
        return self._curve

    @property
    def best(self) -> float:
        return min(self.curve()[1], default=math.nan)

    @property
    def floor(self) -> float | None:
        """The measure's floor: the target's entropy for test NLL (None where unknown)."""
        if self.ready is None or self.measure != "test_nll":
            return None
        return self.ready.entropy

    @property
    def own_steps_per_s(self) -> float:
        """Steps per second of the run's own stepping (its turns only): what it would reach alone."""
        if len(self._rates) < 2:
            return math.nan
        (s0, b0), (s1, b1) = self._rates[0], self._rates[-1]
        return (s1 - s0) / (b1 - b0) if b1 > b0 and s1 > s0 else math.nan

    def measure_label(self) -> str:
        return next(label for name, label, _ in MEASURES if name == self.measure)

    # -- events ---------------------------------------------------------------------------------------------------
    @Slot(object)
    def _on_event(self, event: Event) -> None:
        if self.sender() is not self.worker:
            return  # a stopped session's late events
        if isinstance(event, SnapshotReady):
            self.snapshot.emit(event.snapshot)
            return
        if isinstance(event, Ready):
            self.ready = event
        elif isinstance(event, Progress):
            self._progress(event)
        elif isinstance(event, RunningChanged):
            self.running = event.running
        elif isinstance(event, Failure) and event.kind not in ("views", "score"):
            self.failure = event.message.splitlines()[0]
        self.version += 1
        self.changed.emit()

    def _progress(self, p: Progress) -> None:
        if p.restarted:
            self.columns = {k: [] for k in RECORDED}
            self._rates.clear()
        n = len(p.rows.get("step", []))
        for k in RECORDED:
            self.columns[k].extend(p.rows.get(k, [math.nan] * n))
        self._curve = None
        if self._rates and p.step < self._rates[-1][0]:
            self._rates.clear()
        self._rates.append((p.step, p.busy_s))
        self.step = p.step
        self.running = p.running
        if p.timings is not None:
            self.timings = p.timings
