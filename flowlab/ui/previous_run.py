"""The previous run of a document, kept for comparison: when a session ends (an edit restarts it, another document
is opened, the window closes) the curves it drew are written to a small file keyed by the document, and the
curves view shows them faded beside the next run — after a restart of the app too.

The files live in ``<cache>/runs/`` (``flowlab.training.compiled.cache_dir``: ``$FLOWLAB_CACHE_DIR`` or
``~/.cache/flowlab``), one JSON file per document, written atomically; a file that cannot be read is ignored (it is
a cache: nothing the user made is lost with it).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Slot

from flowlab.atomic import atomic_open
from flowlab.training.compiled import cache_dir
from flowlab.ui.views.curves import CurvesView

# What the curves draw (the rest of the record is not needed to draw a run again).
KEPT_COLUMNS = ("step", "train_nll", "train_bpd", "train_loss", "valid_nll", "valid_bpd", "test_nll", "test_bpd",
                "true_kl")
HELD_OUT = ("valid_nll", "valid_bpd", "test_nll", "test_bpd", "true_kl")
MAX_ROWS = 2000  # training rows kept (every k-th); every held-out evaluation is kept besides
MIN_ROWS = 2  # a session that ended before logging this many rows (an edit while paused) is no run to compare


def runs_dir() -> Path:
    return cache_dir() / "runs"


def document_key(path: Path | None, name: str) -> str:
    """Which document a run belongs to: its file when it has one, else its name (a built-in preset, untitled)."""
    return f"file:{Path(path).resolve()}" if path is not None else f"name:{name}"


def _file_for(key: str, folder: Path) -> Path:
    return folder / f"{hashlib.sha1(key.encode()).hexdigest()[:16]}.json"


def thinned(columns: Mapping[str, Sequence[float]], max_rows: int = MAX_ROWS) -> dict[str, list[float]]:
    """The drawn columns of a record, at most about ``max_rows`` training rows (evenly spaced, the last one kept)
    and every row with a held-out score."""
    n = len(columns.get("step", ()))
    keep = np.zeros(n, dtype=bool)
    keep[:: max(1, math.ceil(n / max_rows))] = True
    if n:
        keep[-1] = True
    kept = {c: np.asarray(columns[c], dtype=float) for c in KEPT_COLUMNS if c in columns and len(columns[c]) == n}
    for c in HELD_OUT:
        if c in kept:
            keep |= np.isfinite(kept[c])
    return {c: v[keep].tolist() for c, v in kept.items()}


def save_run(key: str, columns: Mapping[str, Sequence[float]], folder: Path | None = None) -> Path:
    """Write a run's curves for the document ``key`` (atomically; NaN as null). OSError when it cannot be."""
    folder = folder or runs_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = _file_for(key, folder)
    data = {c: [None if math.isnan(v) else v for v in values] for c, values in thinned(columns).items()}
    with atomic_open(path, "w", encoding="utf-8") as f:
        json.dump({"key": key, "columns": data}, f)
    return path


def load_run(key: str, folder: Path | None = None) -> dict[str, list[float]] | None:
    """The last run kept for the document ``key``, or None (none kept, or a file that cannot be read)."""
    path = _file_for(key, folder or runs_dir())
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("key") != key:
            return None
        return {c: [math.nan if v is None else float(v) for v in values] for c, values in data["columns"].items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


class PreviousRun(QObject):
    """Keeps each document's last run and shows it in ``curves``: :meth:`run_ended` (the session is about to end,
    its rows still drawn) stores it under the document's key, :meth:`document_opened` shows the one kept for the
    document now open. ``key`` says which document is open. Not ``enabled`` (a render, a recording): neither
    kept nor shown, so that what is drawn depends on the preset alone."""

    def __init__(self, curves: CurvesView, key: Callable[[], str], parent: QObject | None = None,
                 enabled: bool = True) -> None:
        super().__init__(parent)
        self.curves, self.key, self.enabled = curves, key, enabled

    @Slot()
    def run_ended(self) -> None:
        columns = self.curves.columns
        if not self.enabled or len(columns.get("step", ())) < MIN_ROWS:
            return
        self.curves.set_previous(thinned(columns))
        try:
            save_run(self.key(), columns)
        except OSError:
            pass  # a cache: the comparison is lost after a restart, nothing else

    def document_opened(self) -> None:
        self.curves.set_previous(load_run(self.key()) if self.enabled else None)
