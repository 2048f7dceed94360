"""The status bar's three short texts (device, step, scores) and how the latest scores read."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QFontMetricsF, QPainter, QPaintEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QStatusBar, QWidget

from flowlab.training.compiled import EAGER_NOTE
from flowlab.training.messages import DirectionTimes


class ElidedLabel(QLabel):
    """A one-line label that may shrink: short of room its text ends in "…", and the tooltip holds the whole
    (``text()`` stays the whole text). ``max_chars`` caps the width it asks for (a long GPU name)."""

    def __init__(self, max_chars: int | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.max_chars = max_chars
        self.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Preferred)

    def set_text(self, text: str, tooltip: str | None = None) -> None:
        self.setText(text)
        self.setToolTip(tooltip if tooltip is not None else text)

    def _width_for(self, text: str) -> int:
        m = self.contentsMargins()  # + a few pixels: elidedText measures in fractions, advances are rounded
        return math.ceil(QFontMetricsF(self.font()).horizontalAdvance(text)) + m.left() + m.right() + 4

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        width = self._width_for(self.text()) if self.text() else 0
        if self.max_chars is not None:
            width = min(width, self.fontMetrics().averageCharWidth() * self.max_chars)
        return QSize(width, super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        width = min(self._width_for(self.text()), self._width_for("xxxx…")) if self.text() else 0
        return QSize(width, super().minimumSizeHint().height())

    def shown_text(self) -> str:
        """The text as drawn at the current width."""
        return self.fontMetrics().elidedText(self.text(), Qt.ElideRight, self.contentsRect().width())

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.drawText(self.contentsRect(), int(Qt.AlignLeft | Qt.AlignVCenter), self.shown_text())


class StatusLine:
    """Device, step and scores as permanent widgets of ``bar``: short texts that elide rather than widen the
    window (a 1024 px screen), each with its whole story in the tooltip; room is left on the left for the bar's
    passing messages."""

    def __init__(self, bar: QStatusBar) -> None:
        self.bar = bar
        self.device = ElidedLabel(max_chars=24)
        self.step = ElidedLabel(max_chars=40)
        self.scores = ElidedLabel()
        self.speed = ElidedLabel(max_chars=34)
        self.speed.setObjectName("directionTimes")
        self.compile = ElidedLabel(max_chars=32)
        self.compile.setObjectName("compileState")
        for w in (self.device, self.compile, self.step, self.speed, self.scores):
            bar.addPermanentWidget(w)

    def say(self, text: str, ms: int = 6000) -> None:
        """A passing message."""
        self.bar.showMessage(text, ms)

    def show_refused(self, reason: str) -> None:
        """Saved weights were refused: said until the next passing message, not for a few seconds only."""
        self.bar.showMessage(f"⚠ {reason} (training from fresh weights)")

    def show_device(self, device: str) -> None:
        self.device.set_text(device, f"training on {device}")

    def show_step(self, step: int, steps_per_s: float) -> None:
        rate = f" · {steps_per_s:.0f} steps/s" if steps_per_s else ""
        self.step.set_text(f"step {step}{rate}", f"step {step}" + (
            f", {steps_per_s:.1f} training steps per second" if steps_per_s else ""))

    def show_problem(self, problem: str | None) -> None:
        """The first reason the document cannot train (in place of the step), or nothing."""
        if problem:
            self.step.set_text(f"⚠ {problem}")
        elif self.step.text().startswith("⚠"):
            self.step.set_text("")

    def show_timings(self, times: DirectionTimes | None) -> None:
        """How long one batch takes to score and to sample (MAF vs IAF), or nothing before it is measured."""
        if times is None:
            self.speed.set_text("", "")
        else:
            self.speed.set_text(*timings_text(times))

    def show_compile(self, state: str, note: str) -> None:
        """Where the compiled training step stands (``Progress.compile_state`` and its note, in the tooltip)."""
        self.compile.set_text(compile_text(state, note), note)

    def show_scores(self, columns: Mapping[str, Sequence[float]]) -> None:
        self.scores.set_text(*scores_text(columns))


def _last(values: Sequence[float]) -> float:
    for v in reversed(values):
        if not math.isnan(v):
            return v
    return math.nan


def _num(value: float) -> str:
    """A score for the status line: three decimals, or three significant digits once it has exploded."""
    return f"{value:.3f}" if abs(value) < 1e5 else f"{value:.3g}"


def scores_text(cols: Mapping[str, Sequence[float]]) -> tuple[str, str]:
    """The latest scores, short for the status bar (``NLL train 3.144 · test 3.115 · gap 1.436``) and whole for
    its tooltip (one line each, with units)."""
    v = {key: _last(cols.get(key, [])) for key in ("train_nll", "train_bpd", "train_loss", "test_nll", "test_bpd",
                                                   "kl_gap", "true_kl")}
    have = {key for key, value in v.items() if not math.isnan(value)}
    short: list[str] = []
    full: list[str] = []
    if have & {"train_bpd", "test_bpd"}:  # images: bits/dim is the headline, NLL in nats in the tooltip
        for split in ("train", "test"):
            if f"{split}_bpd" in have:
                short.append(f"{split} {_num(v[f'{split}_bpd'])}")
                full.append(f"{split}: {_num(v[f'{split}_bpd'])} bits/dim"
                            + (f" (NLL {_num(v[f'{split}_nll'])} nats)" if f"{split}_nll" in have else ""))
        short[0] = f"bits/dim {short[0]}"
    elif have & {"train_nll", "test_nll"}:
        for split in ("train", "test"):
            if f"{split}_nll" in have:
                short.append(f"{split} {_num(v[f'{split}_nll'])}")
                full.append(f"{split} negative log-likelihood: {_num(v[f'{split}_nll'])} nats")
        short[0] = f"NLL {short[0]}"
    if "kl_gap" in have:
        short.append(f"gap {_num(v['kl_gap'])}")
        full.append(f"gap to the target's entropy (test NLL − H(p), 0 is a perfect fit): {_num(v['kl_gap'])} nats")
    if "train_loss" in have:
        short.append(f"loss {_num(v['train_loss'])}")
        full.append(f"reverse KL loss (training): {_num(v['train_loss'])} nats")
    if "true_kl" in have:
        short.append(f"KL(q‖p) {_num(v['true_kl'])}")
        full.append(f"true KL(q‖p), with the exact log Z: {_num(v['true_kl'])} nats")
    return " · ".join(short), "\n".join(full)


def compile_text(state: str, note: str) -> str:
    """The status line's word on the compiled step: nothing while it is off or not yet asked for, "compiling in
    the background…", "compiled step in use", or "eager (compile failed: why)"."""
    if state == "compiling":
        return "compiling in the background…"
    if state == "compiled":
        return "compiled step in use"
    if state == "failed":
        return f"eager (compile failed: {note.removeprefix(EAGER_NOTE) or 'no reason given'})"
    return ""


def _ms(seconds: float) -> str:
    ms = 1000.0 * seconds
    return f"{ms:.2g} ms" if ms < 10 else f"{ms:.0f} ms"


def timings_text(t: DirectionTimes) -> tuple[str, str]:
    """``score 1.0 ms · sample 49 ms`` for the status bar; for the tooltip, what each is and which is faster."""
    short = f"score {_ms(t.score_s)} · sample {_ms(t.sample_s)}"
    slow, fast = (("sampling", "scoring") if t.sample_s >= t.score_s else ("scoring", "sampling"))
    ratio = max(t.score_s, t.sample_s) / max(min(t.score_s, t.sample_s), 1e-12)
    full = (f"one batch of {t.batch}, measured while training:\n"
            f"scoring (data → latent, log p(x)): {_ms(t.score_s)}\n"
            f"sampling (latent → data): {_ms(t.sample_s)}\n"
            f"{slow} takes {ratio:.1f}× as long as {fast}")
    return short, full
