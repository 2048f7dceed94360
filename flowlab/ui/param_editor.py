"""Editors generated from ``Param`` descriptions (the layer registry, training settings): spin boxes, check
boxes and combo boxes with the registry's ranges and help as tooltips."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import signals_blocked

from flowlab.params import Param

INT_LIMIT = 2**31 - 1


class FloatsEdit(QLineEdit):
    """A short list of numbers typed as "1.5, -0.3" (empty: none set). ``on_change`` gets the list when editing
    ends with text that reads as numbers; other text is marked and sent nowhere (the document keeps its value)."""

    def __init__(self, on_change: Callable[[list[float]], None]) -> None:
        super().__init__()
        self.setPlaceholderText("random (or e.g. 1, -0.5)")
        self.editingFinished.connect(lambda: self._finished(on_change))

    @staticmethod
    def parse(text: str) -> list[float] | None:
        parts = [t for t in text.replace(";", ",").replace(" ", ",").split(",") if t]
        try:
            values = [float(t) for t in parts]
        except ValueError:
            return None
        return values if all(math.isfinite(v) for v in values) else None

    def _finished(self, on_change: Callable[[list[float]], None]) -> None:
        values = self.parse(self.text())
        self.setProperty("invalid", values is None)
        self.setStyleSheet("" if values is not None else "border: 1px solid #D62728;")
        if values is not None:
            on_change(values)

    def show_values(self, values: Any) -> None:
        self.setText(", ".join(f"{float(v):g}" for v in (values or ())))
        self.setStyleSheet("")
        self.setProperty("invalid", False)


def make_editor(p: Param, on_change: Callable[[Any], None]) -> QWidget:
    """One widget for one parameter; ``on_change`` receives the new (typed) value."""
    if p.type == "floats":
        w = FloatsEdit(on_change)
    elif p.type == "bool":
        w = QCheckBox()
        w.toggled.connect(lambda v: on_change(bool(v)))
    elif p.type == "choice":
        w = QComboBox()
        w.addItems(list(p.choices))
        w.currentTextChanged.connect(lambda v: on_change(str(v)))
    elif p.type == "int":
        w = QSpinBox()
        w.setRange(int(max(p.low if p.low is not None else -INT_LIMIT, -INT_LIMIT)),
                   int(min(p.high if p.high is not None else INT_LIMIT, INT_LIMIT)))
        w.setKeyboardTracking(False)
        w.valueChanged.connect(lambda v: on_change(int(v)))
    else:
        w = QDoubleSpinBox()
        low = p.low if p.low is not None else -1e9
        high = p.high if p.high is not None else 1e9
        w.setRange(low, high)
        w.setDecimals(_decimals(p))
        if p.log_scale:
            w.setStepType(QAbstractSpinBox.AdaptiveDecimalStepType)
        else:
            w.setSingleStep(_step(low, high))
        w.setKeyboardTracking(False)
        w.valueChanged.connect(lambda v: on_change(float(v)))
    if isinstance(w, QAbstractSpinBox):
        w.setMinimumWidth(90)  # not as wide as the widest value the range allows: the panels may be narrow
    rng = ""
    if p.type in ("int", "float") and p.low is not None and p.high is not None:
        rng = f" (from {p.low:g} to {p.high:g})"
    w.setToolTip(p.help + rng)
    w.setObjectName(f"param_{p.name}")
    return w


def scrolling(content: QWidget, parent: QWidget | None = None) -> QScrollArea:
    """``content`` in a vertical scroll area as wide as it needs: a tall form fits a short screen."""
    area = QScrollArea(parent)
    area.setWidget(content)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
    bar = area.style().pixelMetric(area.style().PixelMetric.PM_ScrollBarExtent)
    area.setMinimumWidth(content.minimumSizeHint().width() + bar)
    area.setMaximumWidth(content.maximumWidth())
    return area


def _decimals(p: Param) -> int:
    smallest = min(abs(v) for v in (p.default, p.low or 0.0, p.high or 0.0) if v) if any(
        (p.default, p.low, p.high)) else 1.0
    return max(2, min(12, int(-math.floor(math.log10(smallest))) + 3)) if smallest < 1 else 3


def _step(low: float, high: float) -> float:
    span = high - low
    return 10 ** math.floor(math.log10(span / 20)) if span > 0 else 0.1


def set_editor_value(w: QWidget, value: Any) -> None:
    """Show ``value`` without emitting a change (the model changed, not the user)."""
    with signals_blocked(w):
        if isinstance(w, QCheckBox):
            w.setChecked(bool(value))
        elif isinstance(w, QComboBox):
            w.setCurrentText(str(value))
        elif isinstance(w, (QSpinBox, QDoubleSpinBox)):
            w.setValue(value)
        elif isinstance(w, FloatsEdit):
            w.show_values(value)


class ParamForm(QWidget):
    """A form for a list of parameters; ``edited(name, value)`` when the user changes one."""

    edited = Signal(str, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QFormLayout(self)
        self._layout.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        self.editors: dict[str, QWidget] = {}
        self._params: tuple[Param, ...] = ()

    def set_params(self, params: Sequence[Param], values: dict[str, Any]) -> None:
        """Rebuild when the parameter set changes; otherwise only refresh the shown values."""
        params = tuple(params)
        if params != self._params:
            while self._layout.rowCount():
                self._layout.removeRow(0)
            self.editors = {}
            self._params = params
            for p in params:
                editor = make_editor(p, lambda v, name=p.name: self.edited.emit(name, v))
                label = QLabel(p.name.replace("_", " "))
                label.setToolTip(p.help)
                self._layout.addRow(label, editor)
                self.editors[p.name] = editor
        for p in params:
            set_editor_value(self.editors[p.name], values.get(p.name, p.default))

    def clear(self) -> None:
        self.set_params((), {})


class LayerEditor(QWidget):
    """The selected layer's parameters, its help, and the reason it is invalid (if it is); scrolls when the
    dock is shorter than the form."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        content = QWidget()
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scrolling(content))
        box = QVBoxLayout(content)
        self.title = QLabel("Select a layer to edit it")
        self.title.setObjectName("layerTitle")
        self.title.setWordWrap(True)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.help = QLabel("")
        self.help.setWordWrap(True)
        self.problem = QLabel("")
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet("color: #D62728;")
        self.form = ParamForm()
        box.addWidget(self.title)
        box.addWidget(self.help)
        box.addWidget(self.problem)
        box.addWidget(self.form)
        box.addStretch(1)
        self.problem.hide()

    def show_layer(self, row: int | None, entry: dict[str, Any] | None, problem: str | None) -> None:
        from flowlab.flows import LAYERS

        if row is None or entry is None or entry["kind"] not in LAYERS:
            self.title.setText("Select a layer to edit it")
            self.help.setText("")
            self.problem.hide()
            self.form.clear()
            return
        spec = LAYERS[entry["kind"]]
        self.title.setText(f"{row + 1}. {spec.kind}  —  {spec.family}")
        d = spec.directions_for(entry.get("params", {}))  # some depend on the parameters (an IAF spline)
        extra = f"\nDensity: {d.forward}; sampling: {d.inverse}." + (f" {d.note}" if d.note else "")
        self.help.setText(spec.help + extra + (f"\n{spec.reference}" if spec.reference else ""))
        self.problem.setText(f"⚠ {problem}" if problem else "")
        self.problem.setVisible(bool(problem))
        self.form.set_params(spec.params, entry.get("params", {}))
