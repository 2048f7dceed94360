"""Undo commands: every user edit of the document is one of these, and each changes the document, never a widget.

Stack edits have a command each; every other field (name, description, target, training settings, view settings)
goes through the one generic :class:`SetField`, as orange-canvas-core's ``SetAttrCommand``. Quick successive edits
of the same thing (a dragged slider or spin box) merge into one undo step. :class:`Editor` is the one place the
window, the stack panel and the stack model make edits through.
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from typing import Any

from PySide6.QtGui import QUndoCommand, QUndoStack

from flowlab.document import Document, LayerEntry

MERGE_WINDOW_S = 1.0  # edits of one thing closer together than this are one undo step


class _Mergeable(QUndoCommand):
    """A command that absorbs a following command with the same ``merge_key`` within :data:`MERGE_WINDOW_S`."""

    ID = 1001

    def __init__(self, text: str, merge_key: Hashable | None) -> None:
        super().__init__(text)
        self.merge_key = merge_key
        self.when = time.monotonic()

    def id(self) -> int:
        return self.ID if self.merge_key is not None else -1

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 - Qt's name
        if (type(other) is type(self) and self.merge_key is not None and other.merge_key == self.merge_key
                and other.when - self.when < MERGE_WINDOW_S):
            self._absorb(other)
            self.when = other.when
            return True
        return False

    def _absorb(self, other: Any) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class InsertLayer(QUndoCommand):
    def __init__(self, doc: Document, row: int, entry: LayerEntry) -> None:
        super().__init__(f"Add {entry.kind}")
        self.doc, self.row, self.entry = doc, row, entry

    def redo(self) -> None:
        self.doc.stack.insert(self.row, self.entry)

    def undo(self) -> None:
        del self.doc.stack[self.row]


class RemoveLayer(QUndoCommand):
    def __init__(self, doc: Document, row: int) -> None:
        self.doc, self.row, self.entry = doc, row, doc.stack[row]
        super().__init__(f"Delete {self.entry.kind}")

    def redo(self) -> None:
        del self.doc.stack[self.row]

    def undo(self) -> None:
        self.doc.stack.insert(self.row, self.entry)


def _move(doc: Document, src: int, dst: int) -> None:
    """Move the entry at ``src`` so that it ends at index ``dst`` (psygnal counts the target before removal)."""
    if src != dst:
        doc.stack.move(src, dst + 1 if dst > src else dst)


class MoveLayer(QUndoCommand):
    def __init__(self, doc: Document, src: int, dst: int) -> None:
        super().__init__(f"Move {doc.stack[src].kind}")
        self.doc, self.src, self.dst = doc, src, dst

    def redo(self) -> None:
        _move(self.doc, self.src, self.dst)

    def undo(self) -> None:
        _move(self.doc, self.dst, self.src)


class SetLayer(_Mergeable):
    """Replace one stack entry (a parameter edit, turning a layer on or off)."""

    def __init__(self, doc: Document, row: int, entry: LayerEntry, text: str,
                 merge_key: Hashable | None = None) -> None:
        super().__init__(text, merge_key)
        self.doc, self.row, self.old, self.new = doc, row, doc.stack[row], entry

    def _absorb(self, other: SetLayer) -> None:
        self.new = other.new

    def redo(self) -> None:
        self.doc.stack[self.row] = self.new

    def undo(self) -> None:
        self.doc.stack[self.row] = self.old


class SetField(_Mergeable):
    """Set one field of the document (``Document.FIELDS``): the generic command for the long tail of edits."""

    def __init__(self, doc: Document, name: str, value: Any, text: str, merge_key: Hashable | None = None) -> None:
        super().__init__(text, merge_key)
        self.doc, self.name, self.old, self.new = doc, name, doc.get(name), value

    def _absorb(self, other: SetField) -> None:
        self.new = other.new

    def redo(self) -> None:
        self.doc.set(self.name, self.new)

    def undo(self) -> None:
        self.doc.set(self.name, self.old)


class Editor:
    """Every edit of a document, as an undo command pushed on ``undo_stack``. Rows are stack indices."""

    def __init__(self, doc: Document, undo_stack: QUndoStack) -> None:
        self.doc, self.undo_stack = doc, undo_stack

    # -- the stack ------------------------------------------------------------------------------------------------
    def insert_layer(self, row: int, entry: LayerEntry | str) -> None:
        """Insert a layer (an entry, or a kind with the registry's defaults) at ``row``."""
        entry = LayerEntry.new(entry) if isinstance(entry, str) else entry
        self.undo_stack.push(InsertLayer(self.doc, row, entry))

    def remove_layer(self, row: int) -> None:
        self.undo_stack.push(RemoveLayer(self.doc, row))

    def move_layer(self, src: int, dst: int) -> None:
        if src != dst:
            self.undo_stack.push(MoveLayer(self.doc, src, dst))

    def set_param(self, row: int, name: str, value: Any) -> None:
        entry = self.doc.stack[row]
        if entry.params.get(name) != value:
            self.undo_stack.push(SetLayer(self.doc, row, entry.with_param(name, value), f"Set {name}",
                                          merge_key=("param", row, name)))

    def set_enabled(self, row: int, enabled: bool) -> None:
        entry = self.doc.stack[row]
        if entry.enabled != enabled:
            self.undo_stack.push(SetLayer(self.doc, row, entry.with_enabled(enabled),
                                          ("Enable " if enabled else "Disable ") + entry.kind))

    # -- other fields ---------------------------------------------------------------------------------------------
    def set_field(self, name: str, value: Any, text: str | None = None, merge_key: Hashable | None = None) -> None:
        """Set a document field (validated by the document); nothing is pushed when the value is unchanged."""
        if self.doc.get(name) == value:
            return
        self.undo_stack.push(SetField(self.doc, name, value, text or f"Set {name}", merge_key))

    def set_training(self, name: str, value: Any) -> None:
        """One training setting; raises :class:`~flowlab.errors.FlowlabError` (nothing pushed) when invalid."""
        settings = self.doc.training.updated(**{name: value})
        self.set_field("training", settings, f"Set {name}", merge_key=("training", name))

    def set_target(self, config: dict[str, Any], text: str = "Change target") -> None:
        self.set_field("target", config, text)

    def set_target_param(self, name: str, value: Any) -> None:
        config = self.doc.get("target")
        config["params"] = {**config.get("params", {}), name: value}
        self.set_field("target", config, f"Set target {name}", merge_key=("target", config["kind"], name))
