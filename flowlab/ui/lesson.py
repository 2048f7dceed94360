"""Lesson mode: what a preset's ``view`` block asks of the window beyond the views in front — the only views
shown, side panels hidden, editing locked, a step at which Play pauses once, and a speed (slow motion, each step
drawn, at :data:`~flowlab.training.messages.SLOW_MOTION_STEPS_PER_S` or fewer steps a second). The toolbar's speed
box and View ▸ Lock editing are the same controls by hand; View ▸ Save layout as lesson writes the window as it
stands back into the preset's ``view`` block (one undo step)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox, QDockWidget, QWidget

from flowlab.presets.preset import LESSON_PANELS
from flowlab.training.messages import SLOW_MOTION_STEPS_PER_S
from flowlab.ui.commands import Editor
from flowlab.ui.controller import SessionController
from flowlab.ui.view_docks import ViewDocks

SPEEDS: tuple[float | None, ...] = (None, 100.0, 20.0, 5.0, 1.0)  # the speed box's choices (None: full speed)


def speed_text(speed: float | None) -> str:
    if speed is None:
        return "full speed"
    slow = " · every step drawn" if speed <= SLOW_MOTION_STEPS_PER_S else ""
    return f"{speed:g} step{'' if speed == 1 else 's'}/s{slow}"


def make_speed_box(parent: QWidget, changed: Callable[[float | None], None]) -> QComboBox:
    """The speed box: :data:`SPEEDS` by name; ``changed(steps_per_s)`` when another is chosen."""
    box = QComboBox(parent)
    box.setObjectName("speed")
    box.setToolTip("How fast training runs: slow motion draws every step")
    for speed in SPEEDS:
        box.addItem(speed_text(speed), speed)
    box.currentIndexChanged.connect(lambda i: changed(box.itemData(i)))
    return box


class Lesson(QObject):
    """The lesson controls of one window. ``panels`` maps :data:`LESSON_PANELS` names to the side docks;
    ``editors`` are the widgets locking disables (the layer list and palette, the parameter editor, the target
    and training panel)."""

    def __init__(self, parent: QWidget, controller: SessionController, docks: ViewDocks, editor: Editor,
                 panels: Mapping[str, QDockWidget], editors: tuple[QWidget, ...]) -> None:
        super().__init__(parent)
        assert tuple(panels) == LESSON_PANELS, "one name per side panel, as presets use them"
        self.controller, self.docks, self.editor = controller, docks, editor
        self.panels = dict(panels)
        self.editors = editors
        self.hidden: set[str] = set()  # side panels this lesson hid (given back by the next document)
        self.speed_box = make_speed_box(parent, controller.set_speed)
        self.lock_action = QAction("&Lock editing (lesson)", parent)
        self.lock_action.setCheckable(True)
        self.lock_action.setToolTip("The layers and the target and training panel cannot be changed")
        self.lock_action.toggled.connect(self._lock)
        self.save_action = QAction("Save layout as &lesson", parent)
        self.save_action.setToolTip("The views shown, hidden panels, lock, speed and step budget into the preset "
                                    "(saved with it)")
        self.save_action.triggered.connect(lambda _=False: self.save_layout())

    # -- applying a preset's lesson ---------------------------------------------------------------------------------
    def apply(self, view: Mapping[str, Any]) -> list[str]:
        """Set the window as ``view`` asks (a document without a lesson gets the window back as it was before
        the last lesson). Returns the names in ``shown`` that are no view, for the caller to say."""
        shown = view.get("shown")
        unknown = [k for k in shown or () if k not in self.docks.docks]
        self.docks.set_lesson_views(None if shown is None else frozenset(shown))
        for name in self.hidden:
            self.panels[name].show()
        self.hidden = set(view.get("hidden_panels", ()))
        for name in self.hidden:
            self.panels[name].hide()
        self.lock_action.setChecked(bool(view.get("locked", False)))
        self.controller.lesson_pause = view.get("pause_at")
        self.set_speed(view.get("speed"))
        return unknown

    def set_speed(self, speed: float | None) -> None:
        """Choose ``speed`` in the speed box (a speed not among its choices is added)."""
        i = self.speed_box.findData(speed)
        if i < 0:
            self.speed_box.addItem(speed_text(speed), speed)
            i = self.speed_box.count() - 1
        self.speed_box.setCurrentIndex(i)
        self.controller.set_speed(speed)  # also when the box already showed it: a new session hears it

    def _lock(self, on: bool) -> None:
        for widget in self.editors:
            widget.setEnabled(not on)
        if on:
            self.controller.status.say("Lesson: editing is locked (View ▸ Lock editing unlocks it)", 8000)

    # -- writing the window back into the preset ------------------------------------------------------------------
    def layout_as_view(self, view: Mapping[str, Any]) -> dict[str, Any]:
        """``view`` with the lesson as the window shows it now (keys at their defaults are left out)."""
        out = {k: v for k, v in view.items() if k not in ("shown", "hidden_panels", "locked", "speed")}
        out["shown"] = [k for k in self.docks.docks if k not in self.docks.closed]
        hidden = [name for name, dock in self.panels.items() if dock.isHidden()]
        if hidden:
            out["hidden_panels"] = hidden
        if self.lock_action.isChecked():
            out["locked"] = True
        if self.controller.speed is not None:
            out["speed"] = self.controller.speed
        return out

    def save_layout(self) -> None:
        """View ▸ Save layout as lesson: one undo step; File ▸ Save keeps it."""
        view = self.layout_as_view(self.editor.doc.view)
        self.editor.set_field("view", view, "Save layout as lesson")
        self.controller.status.say("The layout is in the preset's lesson: save the preset to keep it", 8000)
