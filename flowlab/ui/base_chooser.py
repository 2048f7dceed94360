"""The base distribution p_Z of the document: a combo box of every name in ``BASES``, each explained in its
tooltip; choosing one is an undoable edit of the document's ``base``."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QWidget
from superqt.utils import signals_blocked

from flowlab.flows import BASES
from flowlab.ui.commands import Editor


class BaseChooser(QWidget):
    """``combo`` shows ``doc.base``; a choice becomes ``Editor.set_field("base", …)``."""

    def __init__(self, editor: Editor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editor, self.doc = editor, editor.doc
        self.combo = QComboBox()
        self.combo.setObjectName("baseChooser")
        for i, (name, cls) in enumerate(BASES.items()):
            self.combo.addItem(name, name)
            self.combo.setItemData(i, cls.help, Qt.ToolTipRole)
        self.combo.currentIndexChanged.connect(self._chosen)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        label = QLabel("base p_Z")
        label.setToolTip("the distribution the flow starts from (latent side): samples are this, pushed through "
                         "the layers")
        form.addRow(label, self.combo)
        self.doc.changed.connect(lambda field: self.show_base() if field == "base" else None)
        self.show_base()

    def show_base(self) -> None:
        """Show the document's base (after an undo, or a new document)."""
        with signals_blocked(self.combo):
            self.combo.setCurrentIndex(self.combo.findData(self.doc.base))
        cls = BASES.get(self.doc.base)
        self.combo.setToolTip(cls.help if cls is not None else "")

    def _chosen(self, index: int) -> None:
        name = self.combo.itemData(index)
        if name and name != self.doc.base:
            self.editor.set_field("base", name, f"Base {name}")
