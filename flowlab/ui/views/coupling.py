"""Inside a coupling: "invertible by design", step by step, for the coupling selected in the stack (2-D data).

1 split x = (x₁, x₂) → 2 s(x₁) → 3 t(x₁) → 4 y₂ = x₂·e^s + t, merged with y₁ = x₁. The s and t fields are
drawn over the plane of the layer's input, where they are stripes: functions of x₁ alone. So the map can be
undone from y alone: x₂ = (y₂ − t(y₁))·e^(−s(y₁)).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from flowlab.training.layer_detail import CouplingFields
from flowlab.training.views import Snapshot
from flowlab.ui.structure_view import SIGNED
from flowlab.ui.views.base import DATA_BRUSH, MODEL_BRUSH, View, plot, scatter, set_points
from flowlab.ui.views.readout import num, pixel_at, point_text

HINT = "Select a coupling layer in the stack list to look inside it."
FAINT = pg.mkBrush(60, 60, 60, 60)


class CouplingView(View):
    """The selected coupling's split, its conditioner's s(x₁) and t(x₁), and the merged result."""

    title = "Inside a coupling"
    data_kinds = frozenset({"2d"})

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.message = self.graphics.addLabel(HINT, row=0, col=0, colspan=2)
        self.split = plot(self.graphics, "1 · split x = (x₁, x₂)", row=1, col=0)
        self.s_plot = plot(self.graphics, "2 · log-scale s(x₁)", row=1, col=1)
        self.t_plot = plot(self.graphics, "3 · shift t(x₁)", row=2, col=0)
        self.merge = plot(self.graphics, "4 · y₂ = x₂·eˢ + t", row=2, col=1)
        for p in (self.split, self.s_plot, self.t_plot, self.merge):
            p.setAspectLocked(False)  # four plots share a small dock: fill it (s and t are stripes anyway)
        self.message.setToolTip("A coupling is invertible by design: s and t read only x₁, which passes unchanged, "
                                "so x₂ = (y₂ − t(y₁))·e^(−s(y₁)) undoes it.")
        self.inputs = scatter()
        self.inputs.setBrush(DATA_BRUSH)
        self.split.addItem(self.inputs)
        self.fields: dict[str, pg.ImageItem] = {}
        self.bars: dict[str, pg.ColorBarItem] = {}
        self.overlays: list[pg.ScatterPlotItem] = []
        for name, p in (("s", self.s_plot), ("t", self.t_plot)):
            image = pg.ImageItem(axisOrder="row-major")
            p.addItem(image)
            bar = pg.ColorBarItem(values=(-1, 1), colorMap=SIGNED, interactive=False, width=10)
            bar.setImageItem(image, insert_in=p)
            overlay = scatter()
            overlay.setBrush(FAINT)
            p.addItem(overlay)
            self.fields[name], self.bars[name] = image, bar
            self.overlays.append(overlay)
            p.setXLink(self.split)
            p.setYLink(self.split)
        self.before = scatter()
        self.before.setBrush(FAINT)
        self.after = scatter()
        self.after.setBrush(MODEL_BRUSH)
        self.merge.addItem(self.before)
        self.merge.addItem(self.after)
        self.shown: CouplingFields | None = None

    def update_snapshot(self, snap: Snapshot) -> None:
        detail = snap.layer_detail
        if detail is None:
            self._empty(HINT + " (A disabled layer is not in the model.)")
        elif detail.fields is None:
            # No note: the snapshot was made before the session knew this view is shown.
            self._empty(f"Layer {detail.position + 1} is {detail.kind}. " + (detail.note or "Computing…"))
        else:
            self._draw(detail.fields, f"Layer {detail.position + 1}: {detail.kind}")

    def clear(self) -> None:
        self._empty(HINT)

    def _empty(self, text: str) -> None:
        self.shown = None
        self.message.setText(text)
        for image in self.fields.values():
            image.clear()
        for item in (self.inputs, self.before, self.after, *self.overlays):
            set_points(item, None)

    def _draw(self, f: CouplingFields, text: str) -> None:
        self.shown = f
        c = f.cond
        self.message.setText(f"{text}: x₁ = coordinate {c + 1}, x₂ = coordinate {f.transformed + 1}")
        xmin, xmax, ymin, ymax = f.bounds
        for name, values in (("s", f.s), ("t", f.t)):
            top = max(float(np.abs(values).max()), 1e-6)  # centred at zero: an additive coupling's s ≡ 0 is white
            self.fields[name].setImage(values.astype(np.float32), levels=(-top, top),
                                       rect=(xmin, ymin, xmax - xmin, ymax - ymin))
            self.bars[name].setLevels((-top, top))
        set_points(self.inputs, f.inputs)
        for overlay in self.overlays:
            set_points(overlay, f.inputs)
        set_points(self.before, f.inputs)
        set_points(self.after, f.outputs)
        labels = ("x₁", "x₂") if c == 0 else ("x₂", "x₁")
        for p in (self.split, self.s_plot, self.t_plot):
            p.setLabel("bottom", labels[0])
            p.setLabel("left", labels[1])
        self.merge.setLabel("bottom", labels[0].replace("x", "y"))
        self.merge.setLabel("left", labels[1].replace("x", "y"))
        self.split.setRange(xRange=(xmin, xmax), yRange=(ymin, ymax), padding=0.0)  # s and t plots are linked
        out = f.outputs[np.isfinite(f.outputs).all(axis=1)] if len(f.outputs) else np.zeros((0, 2))
        if len(out):
            lo, hi = np.percentile(out, [0.5, 99.5], axis=0)
            pad = 0.05 * np.maximum(hi - lo, 1e-3)
            self.merge.setRange(xRange=(lo[0] - pad[0], hi[0] + pad[0]), yRange=(lo[1] - pad[1], hi[1] + pad[1]),
                                padding=0.0)

    def readout_at(self, plot: pg.PlotItem, x: float, y: float) -> str | None:
        """The layer's input point (split, s, t) or output point (merge); over s and t, the field's value there."""
        f = self.shown
        if f is None:
            return None
        if plot is self.merge:
            return point_text("y", x, y)
        text = point_text("x", x, y)
        name = "s" if plot is self.s_plot else "t" if plot is self.t_plot else None
        values = None if name is None else getattr(f, name)
        at = None if values is None else pixel_at(f.bounds, values.shape, x, y)
        return text if at is None else f"{text}\n{name}(x₁) = {num(float(values[at]))}"

    def field(self, name: str) -> np.ndarray | None:
        """The ``s`` or ``t`` field drawn (None when nothing is)."""
        image = self.fields[name].image
        return None if image is None else np.asarray(image)
