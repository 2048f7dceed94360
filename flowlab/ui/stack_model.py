"""A thin Qt list model over the document's layer stack (``Document.stack``, a psygnal ``EventedList``).

The document owns the layers; this model only adapts the list's events to Qt's begin/end calls (as napari's
``QtListModel`` adapts its ``EventedList``) and answers Qt's questions from the document's derived facts
(problems, shapes). Edits coming from the view — a drop from the palette, a row dragged within the list, a
checkbox — are handed to an ``edits`` object (the window's :class:`~flowlab.ui.commands.Editor`), so they become
undo commands without this module knowing about undo.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from PySide6.QtCore import QAbstractListModel, QByteArray, QMimeData, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor

from flowlab.document import Document, LayerEntry
from flowlab.flows import LAYERS, layer_summary

KIND_MIME = "application/x-flowlab-layer-kind"
ROWS_MIME = "application/x-flowlab-layer-rows"
PROBLEM_COLOUR = "#D62728"

# One colour per family, used by the palette and the stack alike.
FAMILY_COLOURS = {
    "coupling": "#4C78A8", "autoregressive": "#F58518", "spline": "#54A24B", "rezende-mohamed": "#B279A2",
    "permutation": "#9D755D", "linear": "#72B7B2", "normalization": "#E45756", "elementwise": "#BAB0AC",
    "sylvester": "#FF9DA6", "multiscale": "#EECA3B",
}


def family_colour(kind: str) -> QColor:
    spec = LAYERS.get(kind)
    return QColor(FAMILY_COLOURS.get(spec.family if spec else "", "#888888"))


class StackEdits(Protocol):
    """What the model asks for when the user drops or ticks something (implemented by ``commands.Editor``)."""

    def insert_layer(self, row: int, entry: LayerEntry | str) -> None: ...
    def move_layer(self, src: int, dst: int) -> None: ...
    def set_enabled(self, row: int, enabled: bool) -> None: ...


class StackModel(QAbstractListModel):
    """The document's stack as a Qt list model."""

    added = Signal(int)  # a layer dropped from the palette landed at this row (the panel selects it)
    moved_to = Signal(int)  # a dragged row landed here

    ProblemRole = Qt.UserRole + 1
    ShapeRole = Qt.UserRole + 2  # the shape the layer hands on (a tuple), None where it is invalid

    def __init__(self, doc: Document, edits: StackEdits | None = None, parent=None) -> None:
        super().__init__(parent)
        self.doc, self.edits = doc, edits
        self._shown: tuple[dict[int, str], list[Any]] = ({}, [])  # problems and shapes as last shown
        # Bound methods, which psygnal holds weakly: a model that goes away stops listening.
        ev = doc.stack.events
        ev.inserting.connect(self._inserting)
        ev.inserted.connect(self._inserted)
        ev.removing.connect(self._removing)
        ev.removed.connect(self._removed)
        ev.moving.connect(self._moving)
        ev.moved.connect(self._moved)
        ev.changed.connect(self._entry_replaced)
        doc.resetting.connect(self._resetting)
        doc.reset.connect(self._reset)
        doc.derived.connect(self._refresh_rows)

    # -- the document's list events, as Qt's begin/end calls -----------------------------------------------------
    def _inserting(self, row: int) -> None:
        self.beginInsertRows(QModelIndex(), row, row)

    def _inserted(self, *_: Any) -> None:
        self.endInsertRows()

    def _removing(self, row: int) -> None:
        self.beginRemoveRows(QModelIndex(), row, row)

    def _removed(self, *_: Any) -> None:
        self.endRemoveRows()

    def _moving(self, src: int, dst: int) -> None:
        # psygnal's destination, like Qt's, is the index *before which* the item lands, counted before removal.
        self.beginMoveRows(QModelIndex(), src, src, QModelIndex(), dst)

    def _moved(self, *_: Any) -> None:
        self.endMoveRows()

    def _resetting(self) -> None:
        self.beginResetModel()

    def _reset(self) -> None:
        self.endResetModel()

    # -- Qt model API --------------------------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.doc.stack)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.DisplayRole) -> Any:
        row = index.row()
        if not index.isValid() or not 0 <= row < len(self.doc.stack):
            return None
        entry = self.doc.stack[row]
        problem = self.doc.problems.get(row)
        if role == Qt.DisplayRole:
            return self.label(row)
        if role == Qt.ToolTipRole:
            spec = LAYERS.get(entry.kind)
            tip = self.label(row) + "\n\n" + (spec.help if spec else "unknown layer kind")
            out = self._out_shape(row)
            if out is not None:
                tip += "\n\nhands on shape " + "×".join(str(n) for n in out)
            return f"⚠ {problem.reason}\n\n{tip}" if problem else tip
        if role == Qt.DecorationRole:
            return QColor(PROBLEM_COLOUR) if problem else family_colour(entry.kind)
        if role == Qt.ForegroundRole:
            if problem:
                return QColor(PROBLEM_COLOUR)
            return QColor("#888888") if not entry.enabled else None
        if role == Qt.CheckStateRole:
            return Qt.Checked if entry.enabled else Qt.Unchecked
        if role == self.ProblemRole:
            return problem.reason if problem else None
        if role == self.ShapeRole:
            return self._out_shape(row)
        return None

    def _out_shape(self, row: int) -> tuple[int, ...] | None:
        return self.doc.shapes[row] if 0 <= row < len(self.doc.shapes) else None

    def label(self, row: int) -> str:
        """'2. affine_coupling · alternating, 64×2  → 4×4×4  (off)'."""
        entry = self.doc.stack[row]
        label = f"{row + 1}. {entry.kind}{_summary(entry)}{self.doc.shape_note(row)}"
        return label + ("  (off)" if not entry.enabled else "")

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        base = Qt.ItemIsDropEnabled
        if not index.isValid():
            return base
        return base | Qt.ItemIsEnabled | Qt.ItemIsSelectable | Qt.ItemIsDragEnabled | Qt.ItemIsUserCheckable

    def setData(self, index: QModelIndex | QPersistentModelIndex, value: Any,  # noqa: N802 - Qt's name
                role: int = Qt.EditRole) -> bool:
        # The checkbox: handed to the editor (an undoable command), never changed here.
        if role == Qt.CheckStateRole and index.isValid() and self.edits is not None:
            checked = value if isinstance(value, bool) else Qt.CheckState(value) == Qt.Checked
            self.edits.set_enabled(index.row(), checked)
            return True
        return False

    def supportedDropActions(self) -> Qt.DropAction:  # noqa: N802 - Qt's name
        return Qt.MoveAction | Qt.CopyAction

    def supportedDragActions(self) -> Qt.DropAction:  # noqa: N802 - Qt's name
        return Qt.MoveAction

    def mimeTypes(self) -> list[str]:  # noqa: N802 - Qt's name
        return [ROWS_MIME, KIND_MIME]

    def mimeData(self, indexes: list[QModelIndex]) -> QMimeData:  # noqa: N802 - Qt's name
        mime = QMimeData()
        rows = sorted({i.row() for i in indexes if i.isValid()})
        mime.setData(ROWS_MIME, QByteArray(json.dumps(rows).encode()))
        return mime

    def canDropMimeData(self, data: QMimeData, action, row: int, column: int, parent) -> bool:  # noqa: N802
        return data.hasFormat(ROWS_MIME) or data.hasFormat(KIND_MIME)

    def dropMimeData(self, data: QMimeData, action, row: int, column: int, parent) -> bool:  # noqa: N802
        """A palette kind inserts a new layer at ``row``; a row from this list moves there. Both undoable.

        Returns False for a handled move: the editor has moved the row already, and True would make the view
        delete the source row as well."""
        if self.edits is None:
            return False
        if row < 0:
            row = parent.row() if parent.isValid() else len(self.doc.stack)
        if data.hasFormat(KIND_MIME):
            kind = bytes(data.data(KIND_MIME)).decode()
            if kind not in LAYERS:
                return False
            self.edits.insert_layer(row, kind)
            self.added.emit(row)
            return True
        if data.hasFormat(ROWS_MIME):
            rows = json.loads(bytes(data.data(ROWS_MIME)).decode())
            if len(rows) == 1:
                src = rows[0]
                dst = row if row <= src else row - 1  # ``row`` counts the dragged item
                self.edits.move_layer(src, dst)
                self.moved_to.emit(dst)
        return False

    def _entry_replaced(self, row: Any, _old: Any, _new: Any) -> None:
        if isinstance(row, int):
            idx = self.index(row)
            self.dataChanged.emit(idx, idx)

    def _refresh_rows(self) -> None:
        """Repaint the rows whose problem or shape changed (the document derived them anew)."""
        problems = {r: p.reason for r, p in self.doc.problems.items()}
        shapes = list(self.doc.shapes)
        old_problems, old_shapes = self._shown
        rows = set(problems) | set(old_problems) | {r for r, s in enumerate(shapes)
                                                    if r >= len(old_shapes) or old_shapes[r] != s}
        self._shown = (problems, shapes)
        n = len(self.doc.stack)
        for r in sorted(rows):
            if r < n:
                idx = self.index(r)
                self.dataChanged.emit(idx, idx)


def _summary(entry: LayerEntry) -> str:
    """A few key parameters shown beside the kind, e.g. ' · alternating, flip' (the registry's summary)."""
    text = layer_summary(entry.to_dict())
    return f" · {text}" if text else ""
