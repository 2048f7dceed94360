"""The change-of-variables slide for 1-D flows: base density, the map and its slope, the model density, and the
learned map in words."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QWidget

from flowlab.training.views import Curve1D, Snapshot
from flowlab.ui.views.base import View
from flowlab.ui.views.readout import nearest, num

FEW_POINTS = 5  # where a curved map's values are printed
MAP_COLOUR = QColor(84, 162, 75)
SLOPE_COLOUR = QColor(150, 60, 160)


def number(v: float) -> str:
    return f"{v:.3f}".replace("-", "−")


def map_text(c: Curve1D) -> tuple[str, str]:
    """Two lines that say the learned map, the way a lecture writes it. An affine map (within tolerance):
    ``z = f(x) = a·x + b`` (data → latent, |df/dx| = |a|) and the sampling direction x = f⁻¹(z) = z/a − b/a with
    its factor |dx/dz| = 1/|a| — the lecture's u = 0.75·v + 1 reads 0.750 one way and 1.333 the other. A curved
    map: the range of |df/dx| and f at a few points."""
    fit = c.affine()
    if fit is not None and fit[0] != 0.0:
        a, b = fit
        sign = "−" if b < 0 else "+"
        back_sign = "−" if -b / a < 0 else "+"
        return (f"z = f(x) = {number(a)}·x {sign} {number(abs(b))}   (data → latent: |df/dx| = {number(abs(a))})",
                f"x = f⁻¹(z) = {number(1 / a)}·z {back_sign} {number(abs(b / a))}   "
                f"(latent → data, sampling: |dx/dz| = {number(1 / abs(a))})")
    slope = c.slope[np.isfinite(c.slope)]
    first = (f"z = f(x) is not affine: |df/dx| from {number(float(slope.min()))} to {number(float(slope.max()))}"
             if slope.size else "z = f(x) is not finite here")
    at = np.linspace(c.x[0], c.x[-1], FEW_POINTS + 2)[1:-1]
    values = np.interp(at, c.x, c.z)
    return first, "   ".join(f"f({number(x)}) = {number(z)}" for x, z in zip(at, values, strict=True))


class OneDView(View):
    """The change-of-variables slide: base density, the map f and its slope |df/dx|, the resulting density, and
    the learned map printed below (p(x) = p_Z(f(x))·|df/dx|)."""

    title = "Change of variables (1-D)"
    data_kinds = frozenset({"1d"})

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.dens = self.graphics.addPlot(row=0, col=0, title="densities: p(x) = p_Z(f(x))·|df/dx|")
        self.dens.addLegend()
        self.model = self.dens.plot(name="model p(x)", pen=pg.mkPen(230, 97, 1, width=2))
        self.true = self.dens.plot(name="target", pen=pg.mkPen(80, 80, 80, width=1, style=Qt.DashLine))
        self.base = self.dens.plot(name="p_Z(f(x))", pen=pg.mkPen(76, 120, 168, width=1))
        # the title names the two curves in their colours (a legend would sit on the curves in a short plot)
        self.map_plot = self.graphics.addPlot(row=1, col=0, title=(
            f"the map <span style='color:{MAP_COLOUR.name()}'>z = f(x)</span> and its slope "
            f"<span style='color:{SLOPE_COLOUR.name()}'>|df/dx|</span> (dashed)"))
        self.map = self.map_plot.plot(name="z = f(x)", pen=pg.mkPen(MAP_COLOUR, width=2))
        self.slope = self.map_plot.plot(name="|df/dx|", pen=pg.mkPen(SLOPE_COLOUR, width=2, style=Qt.DashLine))
        self.map_plot.setXLink(self.dens)
        self.formula = pg.LabelItem("", justify="left", color=(40, 40, 40))
        self.graphics.addItem(self.formula, row=2, col=0)
        self.curve: Curve1D | None = None  # the curves drawn

    def clear(self) -> None:
        self.curve = None
        for item in (self.model, self.base, self.true, self.map, self.slope):
            item.setData([], [])
        self.formula.setText("")

    def update_snapshot(self, snap: Snapshot) -> None:
        c = snap.curve_1d
        if c is None:
            return
        self.curve = c
        self.model.setData(c.x, c.model_density)
        self.base.setData(c.x, c.base_density_at_z)
        self.true.setData(c.x, c.true_density if c.true_density is not None else np.zeros(0))
        self.map.setData(c.x, c.z)
        self.slope.setData(c.x, c.slope)
        self.formula.setText("<br>".join(map_text(c)))

    def readout_at(self, plot: pg.PlotItem, x: float, y: float) -> str | None:
        """At the curves' point nearest the cursor's x: the densities (top plot), or the map and its slope."""
        c = self.curve
        i = None if c is None or not c.x[0] <= x <= c.x[-1] else nearest(c.x, x)
        if i is None:
            return None
        lines = [f"x = {num(float(c.x[i]))}"]
        if plot is self.dens:
            lines += [f"p(x) = {num(float(c.model_density[i]))}", f"p_Z(f(x)) = {num(float(c.base_density_at_z[i]))}"]
            if c.true_density is not None:
                lines.append(f"target = {num(float(c.true_density[i]))}")
        else:
            lines += [f"z = f(x) = {num(float(c.z[i]))}", f"|df/dx| = {num(math.exp(min(float(c.log_det[i]), 700.0)))}"]
        return "\n".join(lines)

    def formula_lines(self) -> list[str]:
        """The learned map as printed under the figure."""
        return self.formula.text.split("<br>") if self.formula.text else []
