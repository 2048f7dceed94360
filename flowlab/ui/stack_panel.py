"""The layer palette and the stack list, with drag-and-drop and keyboard equivalents for every edit."""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QMimeData, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QGridLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from flowlab.flows import LAYERS
from flowlab.ui.commands import Editor
from flowlab.ui.shortcuts import sequences
from flowlab.ui.stack_model import KIND_MIME, StackModel, family_colour


class Palette(QListWidget):
    """Every kind in the registry, grouped by family; drag one into the stack, or press Enter to append it."""

    add_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragOnly)
        self.setObjectName("palette")
        for kind, spec in sorted(LAYERS.items(), key=lambda kv: (kv[1].family, kv[0])):
            item = QListWidgetItem(f"{kind}")
            item.setData(Qt.UserRole, kind)
            item.setData(Qt.DecorationRole, family_colour(kind))
            d = spec.directions
            item.setToolTip(f"{spec.help}\n\nfamily: {spec.family}; density {d.forward}, sampling {d.inverse}")
            self.addItem(item)
        self.itemActivated.connect(lambda it: self.add_requested.emit(it.data(Qt.UserRole)))

    def mimeTypes(self) -> list[str]:  # noqa: N802 - Qt's name
        return [KIND_MIME]

    def mimeData(self, items: list[QListWidgetItem]) -> QMimeData:  # noqa: N802 - Qt's name
        mime = QMimeData()
        if items:
            mime.setData(KIND_MIME, QByteArray(items[0].data(Qt.UserRole).encode()))
        return mime

    def kinds(self) -> list[str]:
        return [self.item(i).data(Qt.UserRole) for i in range(self.count())]


class StackView(QListView):
    """The stack: drop palette items at a position, drag rows to reorder."""

    def __init__(self, model: StackModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setModel(model)
        self.setObjectName("stack")
        self.setDragEnabled(True)
        self.setAcceptDrops(True)
        self.setDropIndicatorShown(True)
        self.setDragDropMode(QAbstractItemView.DragDrop)
        self.setDefaultDropAction(Qt.MoveAction)
        self.setSelectionMode(QAbstractItemView.SingleSelection)
        # A narrow panel elides the middle of a row (its number, kind and shape stay) instead of scrolling sideways;
        # the tooltip has the whole line.
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setTextElideMode(Qt.ElideMiddle)

    def current_row(self) -> int | None:
        idx = self.currentIndex()
        return idx.row() if idx.isValid() else None


class StackPanel(QWidget):
    """Palette above, stack below, and buttons; every edit goes through ``editor`` (an undo command)."""

    selection_changed = Signal(object)  # row or None

    def __init__(self, editor: Editor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editor, self.doc = editor, editor.doc
        self.model = StackModel(editor.doc, editor, parent=self)
        self.palette = Palette()
        self.palette.add_requested.connect(self.append_kind)
        self.view = StackView(self.model)
        # A layer dropped from the palette (or a row dragged) is selected once the view has settled the drop.
        for landed in (self.model.added, self.model.moved_to):
            landed.connect(lambda row: QTimer.singleShot(0, lambda: self._select(row)))
        self.view.selectionModel().currentChanged.connect(lambda cur, _prev: self.selection_changed.emit(
            cur.row() if cur.isValid() else None))
        # Two rows of tool buttons (as wide as their text), so the panel fits beside the views on a small screen.
        buttons = QGridLayout()
        buttons.setSpacing(2)
        self.buttons: dict[str, QAbstractButton] = {}
        for name, tip, slot, cell in (("↑", "Move up (Alt+Up)", self.move_up, (0, 0, 1, 1)),
                                      ("↓", "Move down (Alt+Down)", self.move_down, (0, 1, 1, 1)),
                                      ("On/Off", "Enable or disable (Space)", self.toggle_enabled, (0, 2, 1, 1)),
                                      ("Duplicate", "Duplicate (Ctrl+D)", self.duplicate, (1, 0, 1, 2)),
                                      ("Delete", "Delete (Del)", self.delete, (1, 2, 1, 1))):
            b = QToolButton()
            b.setText(name)
            b.setToolTip(tip)
            b.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
            b.clicked.connect(slot)
            buttons.addWidget(b, *cell)
            self.buttons[name] = b
        box = QVBoxLayout(self)
        box.setContentsMargins(4, 4, 4, 4)
        for text, widget, stretch in (("Layers (drag into the stack, or Enter)", self.palette, 2),
                                      ("Stack (data → latent, top to bottom)", self.view, 3)):
            label = QLabel(text)
            label.setWordWrap(True)  # wraps on a narrow panel instead of setting its width
            box.addWidget(label)
            box.addWidget(widget, stretch)
        box.addLayout(buttons)
        # Delete takes the platform's delete keys but Ctrl+D, which X11 counts among them: duplicate owns it.
        own = (("duplicate", ("Ctrl+D",), self.duplicate), ("toggle", ("Space",), self.toggle_enabled),
               ("up", ("Alt+Up",), self.move_up), ("down", ("Alt+Down",), self.move_down))
        delete = sequences(QKeySequence.Delete, taken=[k for _, keys, _ in own for k in keys])
        for name, keys, slot in (("delete", delete, self.delete), *((n, sequences(*k), f) for n, k, f in own)):
            sc = QShortcut(self.view)
            sc.setObjectName(f"stack_{name}")
            sc.setKeys(keys)
            sc.setContext(Qt.WidgetShortcut)
            sc.activated.connect(slot)

    # -- edits (each one an undo command) -------------------------------------------------------------------------
    def append_kind(self, kind: str) -> None:
        row = self.view.current_row()
        at = len(self.doc.stack) if row is None else row + 1
        self.editor.insert_layer(at, kind)
        self._select(at)

    def delete(self) -> None:
        row = self.view.current_row()
        if row is not None:
            self.editor.remove_layer(row)
            if len(self.doc.stack):
                self._select(min(row, len(self.doc.stack) - 1))

    def duplicate(self) -> None:
        row = self.view.current_row()
        if row is not None:
            self.editor.insert_layer(row + 1, self.doc.stack[row])
            self._select(row + 1)

    def toggle_enabled(self) -> None:
        row = self.view.current_row()
        if row is not None:
            self.editor.set_enabled(row, not self.doc.stack[row].enabled)

    def move_up(self) -> None:
        row = self.view.current_row()
        if row is not None and row > 0:
            self.editor.move_layer(row, row - 1)
            self._select(row - 1)

    def move_down(self) -> None:
        row = self.view.current_row()
        if row is not None and row < len(self.doc.stack) - 1:
            self.editor.move_layer(row, row + 1)
            self._select(row + 1)

    def _select(self, row: int) -> None:
        """Select ``row`` and show it (its parameters appear in the layer editor)."""
        if 0 <= row < self.model.rowCount():
            index = self.model.index(row)
            self.view.setCurrentIndex(index)
            self.view.scrollTo(index)

    def set_editable(self, editable: bool, reason: str = "") -> None:
        """Structural edits are refused while training runs (the window pauses first or says why)."""
        for b in self.buttons.values():
            b.setEnabled(editable)
        self.view.setDragDropMode(QAbstractItemView.DragDrop if editable else QAbstractItemView.NoDragDrop)
        self.palette.setDragEnabled(editable)
        self.view.setToolTip("" if editable else reason)


