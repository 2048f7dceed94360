"""The training panel's objective choices, gated by the stack: a choice that cannot train the stack as it stands
(flow matching for anything but one layer with a velocity field) is disabled, and a note under the form says why.
The reasons come from :func:`flowlab.training.objectives.objective_problem`, the same the document checks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import QComboBox, QLabel, QWidget

from flowlab.training.objectives import OBJECTIVES, objective_problem

REFUSED_STYLE = "color: #D62728;"
UNAVAILABLE_STYLE = "color: #666;"


def refused_objectives(layers: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Each objective that cannot train the stack ``layers`` (plain entries), with why."""
    layers = list(layers)
    found = {name: objective_problem(name, layers) for name in OBJECTIVES}
    return {name: why for name, why in found.items() if why is not None}


class ObjectiveNote(QLabel):
    """Says why an objective is unavailable for this stack (grey), or why the chosen one cannot train it (red);
    hidden when every objective can. :meth:`follow` also disables those choices in the form's combo box."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("objectiveNote")
        self.setWordWrap(True)
        self.hide()

    def follow(self, combo: QComboBox | None, layers: Iterable[Mapping[str, Any]], chosen: str) -> None:
        refused = refused_objectives(layers)
        if combo is not None and isinstance(combo.model(), QStandardItemModel):
            model = combo.model()
            for i in range(combo.count()):
                why = refused.get(combo.itemText(i))
                model.item(i).setEnabled(why is None)  # a disabled choice cannot be picked; the current one stays
                combo.setItemData(i, f"unavailable: {why}" if why else None, Qt.ToolTipRole)
        if chosen in refused:
            self.setText(f"⚠ objective '{chosen}' cannot train this stack: {refused[chosen]}")
            self.setStyleSheet(REFUSED_STYLE)
        elif refused:
            self.setText("; ".join(f"{name.replace('_', ' ')} is unavailable: {why}" for name, why in refused.items()))
            self.setStyleSheet(UNAVAILABLE_STYLE)
        else:
            self.setText("")
        self.setVisible(bool(self.text()))
