"""The layer stack being edited: a plain Python list of ``{"kind", "params", "enabled"}`` behind a thin Qt list
model. Every user edit goes through an undo command (``flowlab.ui.commands``) that calls the mutators here;
drops from the palette or within the list are turned into commands too, so drag-and-drop is undoable.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Callable

from PySide6.QtCore import QAbstractListModel, QByteArray, QMimeData, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QUndoCommand

from flowlab.errors import StackError
from flowlab.flows import LAYERS, stack_shapes, validate_stack

KIND_MIME = "application/x-flowlab-layer-kind"
ROWS_MIME = "application/x-flowlab-layer-rows"

# One colour per family, used by the palette and the stack alike.
FAMILY_COLOURS = {
    "coupling": "#4C78A8", "autoregressive": "#F58518", "spline": "#54A24B", "rezende-mohamed": "#B279A2",
    "permutation": "#9D755D", "linear": "#72B7B2", "normalization": "#E45756", "elementwise": "#BAB0AC",
    "sylvester": "#FF9DA6", "multiscale": "#EECA3B",
}


def family_colour(kind: str) -> QColor:
    spec = LAYERS.get(kind)
    return QColor(FAMILY_COLOURS.get(spec.family if spec else "", "#888888"))


def new_layer(kind: str) -> dict[str, Any]:
    """A stack entry with the registry's defaults."""
    return {"kind": kind, "params": LAYERS[kind].defaults(), "enabled": True}


class StackModel(QAbstractListModel):
    """The stack as a Qt list model. ``problems`` marks invalid layers (before training starts)."""

    ProblemRole = Qt.UserRole + 1
    ShapeRole = Qt.UserRole + 2  # the shape the layer hands on (a tuple), None where it is invalid
    changed = Signal()  # any change to the stack (structure, parameters, enabled)

    def __init__(self, shape: tuple[int, ...] = (2,), parent=None) -> None:
        super().__init__(parent)
        self._layers: list[dict[str, Any]] = []
        self._shape = tuple(shape)
        self._problems: dict[int, StackError] = {}
        self._shapes: list[tuple[int, ...] | None] = []
        self.push_command: Callable[[QUndoCommand], None] | None = None  # set by the window (the undo stack)

    # -- reading -------------------------------------------------------------------------------------------------
    def layers(self) -> list[dict[str, Any]]:
        """A deep copy, safe to hand to the training thread."""
        return copy.deepcopy(self._layers)

    def layer(self, row: int) -> dict[str, Any]:
        return copy.deepcopy(self._layers[row])

    def problem(self, row: int) -> StackError | None:
        return self._problems.get(row)

    def out_shape(self, row: int) -> tuple[int, ...] | None:
        """The shape layer ``row`` hands on (``flowlab.flows.stack_shapes``), None where it is invalid."""
        return self._shapes[row] if 0 <= row < len(self._shapes) else None

    def shape_note(self, row: int) -> str:
        """' → 4×4×4' beside a layer: always on images (where layers reshape), on vectors only where the
        dimension changes; nothing where the layer is invalid (its reason is shown instead)."""
        out = self.out_shape(row)
        before = next((s for s in reversed(self._shapes[:row]) if s is not None), self._shape)
        if out is None or (len(out) == 1 and out == before):
            return ""
        return "  → " + "×".join(str(n) for n in out)

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    def set_shape(self, shape: tuple[int, ...]) -> None:
        self._shape = tuple(shape)
        self._revalidate()

    # -- Qt model API --------------------------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._layers)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._layers):
            return None
        entry = self._layers[index.row()]
        problem = self._problems.get(index.row())
        if role == Qt.DisplayRole:
            return self._label(index.row())
        if role == Qt.ToolTipRole:
            spec = LAYERS.get(entry["kind"])
            tip = self._label(index.row()) + "\n\n" + (spec.help if spec else "unknown layer kind")
            out = self.out_shape(index.row())
            if out is not None:
                tip += "\n\nhands on shape " + "×".join(str(n) for n in out)
            return f"⚠ {problem.reason}\n\n{tip}" if problem else tip
        if role == Qt.DecorationRole:
            return QColor("#D62728") if problem else family_colour(entry["kind"])
        if role == Qt.ForegroundRole:
            if problem:
                return QColor("#D62728")
            return QColor("#888888") if not entry.get("enabled", True) else None
        if role == Qt.CheckStateRole:
            return Qt.Checked if entry.get("enabled", True) else Qt.Unchecked
        if role == self.ProblemRole:
            return problem.reason if problem else None
        if role == self.ShapeRole:
            return self.out_shape(index.row())
        return None

    def _label(self, row: int) -> str:
        entry = self._layers[row]
        label = f"{row + 1}. {entry['kind']}{_summary(entry)}{self.shape_note(row)}"
        return label + ("  (off)" if not entry.get("enabled", True) else "")

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        base = Qt.ItemIsDropEnabled
        if not index.isValid():
            return base
        return base | Qt.ItemIsEnabled | Qt.ItemIsSelectable | Qt.ItemIsDragEnabled | Qt.ItemIsUserCheckable

    def setData(self, index: QModelIndex | QPersistentModelIndex, value: Any, role: int = Qt.EditRole) -> bool:
        # The checkbox: turned into an undoable command, never changed directly.
        if role == Qt.CheckStateRole and index.isValid() and self.push_command is not None:
            from flowlab.ui.commands import SetEnabled

            checked = Qt.CheckState(value) == Qt.Checked if not isinstance(value, bool) else value
            self.push_command(SetEnabled(self, index.row(), checked))
            return True
        return False

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.MoveAction | Qt.CopyAction

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.MoveAction

    def mimeTypes(self) -> list[str]:
        return [ROWS_MIME, KIND_MIME]

    def mimeData(self, indexes: list[QModelIndex]) -> QMimeData:
        mime = QMimeData()
        rows = sorted({i.row() for i in indexes if i.isValid()})
        mime.setData(ROWS_MIME, QByteArray(json.dumps(rows).encode()))
        return mime

    def canDropMimeData(self, data: QMimeData, action, row: int, column: int, parent) -> bool:  # noqa: ANN001
        return data.hasFormat(ROWS_MIME) or data.hasFormat(KIND_MIME)

    def dropMimeData(self, data: QMimeData, action, row: int, column: int, parent) -> bool:  # noqa: ANN001
        """A palette kind inserts a new layer at ``row``; rows from this list move there. Both undoable."""
        from flowlab.ui.commands import InsertLayer, MoveLayer

        if self.push_command is None:
            return False
        if row < 0:
            row = parent.row() if parent.isValid() else len(self._layers)
        if data.hasFormat(KIND_MIME):
            kind = bytes(data.data(KIND_MIME)).decode()
            if kind not in LAYERS:
                return False
            self.push_command(InsertLayer(self, row, new_layer(kind)))
            return True
        if data.hasFormat(ROWS_MIME):
            rows = json.loads(bytes(data.data(ROWS_MIME)).decode())
            if len(rows) != 1:
                return False
            src = rows[0]
            dst = row if row <= src else row - 1  # ``row`` counts the dragged item itself
            if dst != src:
                self.push_command(MoveLayer(self, src, dst))
            # Returning False keeps the view from deleting the source row: the command already moved it.
            return False
        return False

    # -- mutators (called by undo commands only) ----------------------------------------------------------------
    def insert_layer(self, row: int, entry: dict[str, Any]) -> None:
        self.beginInsertRows(QModelIndex(), row, row)
        self._layers.insert(row, copy.deepcopy(entry))
        self.endInsertRows()
        self._revalidate()

    def remove_layer(self, row: int) -> dict[str, Any]:
        self.beginRemoveRows(QModelIndex(), row, row)
        entry = self._layers.pop(row)
        self.endRemoveRows()
        self._revalidate()
        return entry

    def move_layer(self, src: int, dst: int) -> None:
        if src == dst:
            return
        # Qt's destination is the row *before which* the item lands, counted before removal.
        self.beginMoveRows(QModelIndex(), src, src, QModelIndex(), dst + 1 if dst > src else dst)
        self._layers.insert(dst, self._layers.pop(src))
        self.endMoveRows()
        self._revalidate()

    def set_param(self, row: int, name: str, value: Any) -> None:
        self._layers[row]["params"][name] = value
        self._row_changed(row)

    def set_enabled(self, row: int, enabled: bool) -> None:
        self._layers[row]["enabled"] = enabled
        self._row_changed(row)

    def replace_all(self, layers: list[dict[str, Any]]) -> None:
        self.beginResetModel()
        self._layers = [{"kind": e["kind"], "params": dict(e.get("params", {})),
                         "enabled": e.get("enabled", True)} for e in copy.deepcopy(layers)]
        self.endResetModel()
        self._revalidate()

    def _row_changed(self, row: int) -> None:
        self._revalidate()
        idx = self.index(row)
        self.dataChanged.emit(idx, idx)

    def _revalidate(self) -> None:
        problems = {p.position: p for p in validate_stack(self._layers, self._shape) if p.position is not None}
        shapes = stack_shapes(self._layers, self._shape)
        old_shapes = self._shapes
        rows = set(problems) | set(self._problems) | {r for r, s in enumerate(shapes)
                                                      if r >= len(old_shapes) or old_shapes[r] != s}
        self._problems, self._shapes = problems, shapes
        for r in rows:
            if r < len(self._layers):
                idx = self.index(r)
                self.dataChanged.emit(idx, idx)
        self.changed.emit()


def _summary(entry: dict[str, Any]) -> str:
    """A few key parameters shown beside the kind, e.g. ' · alternating, flip'."""
    p = entry.get("params", {})
    bits = []
    if "mask" in p:
        bits.append(str(p["mask"]))
    if p.get("flip"):
        bits.append("flip")
    if "bins" in p:
        bits.append(f"{p['bins']} bins")
    if "hidden" in p:
        bits.append(f"{p['hidden']}×{p.get('depth', '')}")
    return f" · {', '.join(bits)}" if bits else ""
