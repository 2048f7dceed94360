"""The probe panel: one point followed through every layer — where it goes, each layer's Jacobian there (its
structural zeros shaded: a coupling's or an autoregressive layer's triangle, a permutation's swap), log|det J|,
and log p_Z(z) + Σ log|det J| = log p(x) adding up. The point is placed by a click in a 2-D view or typed here."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLineEdit, QTextBrowser, QToolButton, QWidget

from flowlab.errors import FlowlabError
from flowlab.inspection import as_text, parse_point
from flowlab.training.probe import ProbeRefused, ProbeResult, ProbeStep
from flowlab.training.views import ProbeAt, Snapshot
from flowlab.ui.export import export_text
from flowlab.ui.views.base import View
from flowlab.ui.views.probe_marks import matches

HELP = ("Click a point in the density, samples, latent-space or warped-grid view (or type one above) to follow it "
        "through every layer: where it goes, each layer's Jacobian J there, log|det J|, and how log p(x) adds up. "
        "Drag the yellow marker to move it.")
ZERO_STYLE = "color:#8a8a8a;background:#dde8f3"  # a structural zero of J


def _vec(v: np.ndarray) -> str:
    return "(" + ", ".join(f"{x:.3f}" for x in v) + ")"


def _matrix(step: ProbeStep) -> str:
    zeros = step.structural_zeros
    rows = []
    for i, row in enumerate(step.jacobian):
        cells = "".join(f'<td align="right" style="{ZERO_STYLE if zeros[i, j] else ""}">&nbsp;{v:.3f}&nbsp;</td>'
                        for j, v in enumerate(row))
        rows.append(f"<tr>{cells}</tr>")
    return f'<table cellspacing="0" cellpadding="1" style="border:1px solid #999">{"".join(rows)}</table>'


def _inside(inside: tuple[np.ndarray, np.ndarray], most: int = 5) -> str:
    """The point inside a continuous layer at a few of its solver's times: "inside: t = 0 (…) → 0.5 (…) → 1 (…)"."""
    times, states = inside
    picks = np.unique(np.linspace(0, len(times) - 1, min(most, len(times))).round().astype(int))
    return "inside: " + " → ".join(f"t = {times[i]:.3g} {_vec(states[i])}" for i in picks)


def result_html(result: ProbeResult) -> str:
    """The panel's table for ``result``: a row per layer in the order visited, then the sum."""
    way = "latent → data: undoing the layers, last first" if result.inverse else "data → latent"
    head = (f"<p><b>x</b> = {_vec(result.x)} &nbsp;→&nbsp; <b>z</b> = {_vec(result.z)} &nbsp; "
            f"<span style='color:#555'>({way})</span></p>")
    rows = ["<tr><th>#</th><th align='left'>layer</th><th align='left'>point after it</th>"
            "<th align='right'>log|det J|</th><th align='left'>J = ∂out/∂in (shaded: zero by structure)</th></tr>"]
    for s in result.steps:
        rows.append(f"<tr><td>{s.position + 1}</td><td>{html.escape(s.kind)}</td><td>{_vec(s.after)}</td>"
                    f"<td align='right'>{s.log_det:.4f}</td><td>{_matrix(s)}</td></tr>")
        if s.inside is not None:
            rows.append(f"<tr><td></td><td colspan='4' style='color:#555'>{_inside(s.inside)}</td></tr>")
    sign = "−" if result.inverse else "+"
    total = (f"<p>log p<sub>Z</sub>(z) {sign} Σ log|det J| = {result.base_log_prob:.4f} {sign} "
             f"({result.log_det_sum:.4f}) = <b>log p(x) = {result.log_prob:.4f}</b></p>")
    return head + f"<table cellspacing='0' cellpadding='3'>{''.join(rows)}</table>" + total


class ProbeView(View):
    """The probe point's numbers (see the module docstring)."""

    title = "Probe point"
    data_kinds = frozenset({"1d", "2d", "nd"})

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.graphics.hide()  # a table, not a plot: exports draw the text, "Copy" gives it as plain text
        row = QHBoxLayout()
        self.entry = QLineEdit()
        self.entry.setObjectName("probeEntry")
        self.entry.setPlaceholderText("a point, e.g. 0.5, -1")
        self.entry.setToolTip("Type a point and press Enter, or click one in a view")
        self.entry.setMinimumWidth(60)  # the panel shares a small screen's bottom row
        self.space = QComboBox()
        self.space.addItems(["from x", "from z"])
        self.space.setToolTip("Follow the point from data space to the latent, or from the latent back to data")
        self.clear_button = QToolButton()  # tool buttons: the panel shares a small screen's bottom row
        self.clear_button.setText("Clear")
        self.copy_button = QToolButton()
        self.copy_button.setText("Copy")
        self.copy_button.setToolTip("Copy the numbers as text (as `flowlab inspect` prints them)")
        for w in (self.entry, self.space, self.clear_button, self.copy_button):
            row.addWidget(w, 1 if w is self.entry else 0)
        row.addSpacing(self.export_button.sizeHint().width())  # the export button floats in the top right corner
        self.box.addLayout(row)
        self.text = QTextBrowser()
        self.text.setObjectName("probeText")
        self.box.addWidget(self.text, 1)
        self.entry.returnPressed.connect(self._typed)
        self.space.activated.connect(lambda _: self._typed() if self.entry.text().strip() else None)
        self.clear_button.clicked.connect(lambda: self.probe_requested.emit(None))
        self.copy_button.clicked.connect(self.copy)
        self.at: ProbeAt | None = None
        self.result: ProbeResult | ProbeRefused | None = None
        self._render()

    def update_snapshot(self, snap: Snapshot) -> None:
        """The probe arrives through :meth:`show_probe` (the window matches answers to the point)."""

    def clear(self) -> None:
        self.result = None
        self._render()

    def _typed(self) -> None:
        try:
            point = parse_point(self.entry.text())
        except FlowlabError as e:
            self.text.setHtml(f"<p style='color:#a00'>{html.escape(str(e).replace('--at ', ''))}</p>")
            return
        self.probe_requested.emit(ProbeAt(tuple(point), inverse=self.space.currentIndex() == 1))

    def show_probe(self, at: ProbeAt | None, result: object) -> None:
        self.at = at
        self.result = result if matches(at, result) else None
        if at is not None and not self.entry.hasFocus():
            self.entry.setText(", ".join(f"{v:.4g}" for v in at.point))
            self.space.setCurrentIndex(1 if at.inverse else 0)
        self._render()

    def _render(self) -> None:
        self.copy_button.setEnabled(isinstance(self.result, ProbeResult))
        self.clear_button.setEnabled(self.at is not None)
        if self.at is None:
            self.text.setHtml(f"<p style='color:#555'>{html.escape(HELP)}</p>")
        elif isinstance(self.result, ProbeRefused):
            self.text.setHtml(f"<p style='color:#a00'>{html.escape(self.result.message)}</p>")
        elif isinstance(self.result, ProbeResult):
            self.text.setHtml(result_html(self.result))
        else:
            self.text.setHtml("<p style='color:#555'>Following the point through the layers…</p>")

    @property
    def content(self) -> QWidget:
        return self.text

    def export_to(self, path: Path, fmt: str) -> Path:
        return export_text(self.text.document(), self.text.viewport().width(), path, fmt)

    def plain_text(self) -> str:
        """The numbers as `flowlab inspect` prints them ("" without a result)."""
        if not isinstance(self.result, ProbeResult):
            return ""
        return as_text("probe point", self.result)

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.plain_text())
