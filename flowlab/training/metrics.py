"""The training record: one row per step, held-out scores every few steps, exportable as CSV."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from flowlab.atomic import atomic_open

# train_loss: reverse KL's loss (nats); train_fm: flow matching's loss (a squared velocity error, not in nats).
COLUMNS = ("step", "train_nll", "train_bpd", "train_loss", "train_fm", "valid_nll", "valid_bpd", "test_nll", "test_bpd",
           "kl_gap", "elbo", "log_z_is", "true_kl", "grad_norm", "learning_rate", "steps_per_s", "time_s")


@dataclass
class MetricsLog:
    """Columnar storage (cheap to append, cheap to plot). Missing values are NaN."""

    columns: dict[str, list[float]] = field(default_factory=lambda: {c: [] for c in COLUMNS})

    @classmethod
    def restored(cls, columns: Mapping[str, Sequence[float]]) -> MetricsLog:
        """A record read back from a checkpoint: a column that flowlab did not have when it was saved is NaN in
        every row (else the columns' lengths would part at the next row); one this flowlab does not know is left
        out."""
        n = len(columns.get("step", ()))
        return cls({c: [float(v) for v in columns[c]] if c in columns else [math.nan] * n for c in COLUMNS})

    def append(self, **row: float | None) -> None:
        unknown = set(row) - set(COLUMNS)
        if unknown:
            raise KeyError(f"unknown metric(s): {sorted(unknown)}")
        for c in COLUMNS:
            v = row.get(c)
            self.columns[c].append(math.nan if v is None else float(v))

    def __len__(self) -> int:
        return len(self.columns["step"])

    def last(self, column: str) -> float:
        """The most recent non-NaN value of a column (NaN if none)."""
        for v in reversed(self.columns[column]):
            if not math.isnan(v):
                return v
        return math.nan

    def at(self, step: int) -> dict[str, float]:
        """The non-NaN values recorded at ``step`` (several rows may share a step: later ones win)."""
        out: dict[str, float] = {}
        for i, s in enumerate(self.columns["step"]):
            if s == step:
                out.update({c: self.columns[c][i] for c in COLUMNS if not math.isnan(self.columns[c][i])})
        return out

    def truncate(self, step: int) -> None:
        """Forget rows after ``step`` (after a roll-back)."""
        keep = sum(1 for s in self.columns["step"] if s <= step)
        for c in COLUMNS:
            del self.columns[c][keep:]

    def write_csv(self, path: str | os.PathLike) -> None:
        """Atomically write every row; columns that are NaN throughout are left out."""
        used = [c for c in COLUMNS if c == "step" or any(not math.isnan(v) for v in self.columns[c])]
        with atomic_open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(used)
            for i in range(len(self)):
                w.writerow(["" if math.isnan(self.columns[c][i]) else
                            (int(self.columns[c][i]) if c == "step" else f"{self.columns[c][i]:.6g}")
                            for c in used])
