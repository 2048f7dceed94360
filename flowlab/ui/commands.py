"""Undo commands: every user edit of the stack is one of these, and each changes the model, never a widget."""

from __future__ import annotations

import copy
import time
from typing import Any

from PySide6.QtGui import QUndoCommand

from flowlab.ui.stack_model import StackModel


class InsertLayer(QUndoCommand):
    def __init__(self, model: StackModel, row: int, entry: dict[str, Any]) -> None:
        super().__init__(f"Add {entry['kind']}")
        self.model, self.row, self.entry = model, row, copy.deepcopy(entry)

    def redo(self) -> None:
        self.model.insert_layer(self.row, self.entry)

    def undo(self) -> None:
        self.model.remove_layer(self.row)


class RemoveLayer(QUndoCommand):
    def __init__(self, model: StackModel, row: int) -> None:
        self.entry = model.layer(row)
        super().__init__(f"Delete {self.entry['kind']}")
        self.model, self.row = model, row

    def redo(self) -> None:
        self.model.remove_layer(self.row)

    def undo(self) -> None:
        self.model.insert_layer(self.row, self.entry)


class MoveLayer(QUndoCommand):
    def __init__(self, model: StackModel, src: int, dst: int) -> None:
        super().__init__(f"Move {model.layer(src)['kind']}")
        self.model, self.src, self.dst = model, src, dst

    def redo(self) -> None:
        self.model.move_layer(self.src, self.dst)

    def undo(self) -> None:
        self.model.move_layer(self.dst, self.src)


class SetParam(QUndoCommand):
    """A parameter edit; quick successive edits of one parameter (a dragged slider) merge into one undo step."""

    ID = 1001
    MERGE_WINDOW_S = 1.0

    def __init__(self, model: StackModel, row: int, name: str, value: Any) -> None:
        super().__init__(f"Set {name}")
        self.model, self.row, self.name = model, row, name
        self.old = model.layer(row)["params"].get(name)
        self.new = value
        self.when = time.monotonic()

    def id(self) -> int:  # noqa: A003 - Qt's name
        return self.ID

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802
        if (isinstance(other, SetParam) and (other.row, other.name) == (self.row, self.name)
                and other.when - self.when < self.MERGE_WINDOW_S):
            self.new, self.when = other.new, other.when
            return True
        return False

    def redo(self) -> None:
        self.model.set_param(self.row, self.name, self.new)

    def undo(self) -> None:
        self.model.set_param(self.row, self.name, self.old)


class SetEnabled(QUndoCommand):
    def __init__(self, model: StackModel, row: int, enabled: bool) -> None:
        super().__init__(("Enable " if enabled else "Disable ") + model.layer(row)["kind"])
        self.model, self.row, self.enabled = model, row, enabled

    def redo(self) -> None:
        self.model.set_enabled(self.row, self.enabled)

    def undo(self) -> None:
        self.model.set_enabled(self.row, not self.enabled)


class ReplaceStack(QUndoCommand):
    """Load a whole stack (opening a preset, New): undoable like any other edit."""

    def __init__(self, model: StackModel, layers: list[dict[str, Any]], text: str = "Replace stack") -> None:
        super().__init__(text)
        self.model, self.new, self.old = model, copy.deepcopy(layers), model.layers()

    def redo(self) -> None:
        self.model.replace_all(self.new)

    def undo(self) -> None:
        self.model.replace_all(self.old)
