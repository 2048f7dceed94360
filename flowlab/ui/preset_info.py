"""The preset's name and description, edited in place; each edit an undo step (typing merges into one)."""

from __future__ import annotations

from PySide6.QtWidgets import QFormLayout, QLineEdit, QPlainTextEdit, QWidget
from superqt import QCollapsible
from superqt.utils import signals_blocked

from flowlab.ui.commands import Editor


class PresetInfo(QWidget):
    """Name (a line) and description (a few lines, folded away until wanted). The document is the truth: the
    widgets show it after every change (an undo included) and send every keystroke to the editor."""

    def __init__(self, editor: Editor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editor = editor
        self.name = QLineEdit()
        self.name.setObjectName("presetName")
        self.name.setPlaceholderText("untitled")
        self.name.setToolTip("The preset's name (the window title, and the file name Save As suggests)")
        self.description = QPlainTextEdit()
        self.description.setObjectName("presetDescription")
        self.description.setPlaceholderText("What this preset shows, for whoever opens it")
        self.description.setMaximumHeight(120)
        self.fold = QCollapsible("Description")
        self.fold.addWidget(self.description)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Name", self.name)
        form.addRow(self.fold)
        self.name.textEdited.connect(lambda text: editor.set_field("name", text, "Rename", merge_key="name"))
        self.description.textChanged.connect(self._description_typed)
        editor.doc.changed.connect(self._document_changed)
        editor.doc.reset.connect(self.show_document)
        self.show_document()

    def _description_typed(self) -> None:
        self.editor.set_field("description", self.description.toPlainText(), "Edit description",
                              merge_key="description")

    def _document_changed(self, field: str) -> None:
        if field in ("name", "description"):
            self.show_document()

    def show_document(self) -> None:
        doc = self.editor.doc
        if self.name.text() != doc.name:
            with signals_blocked(self.name):
                self.name.setText(doc.name)
        if self.description.toPlainText() != doc.description:
            with signals_blocked(self.description):
                self.description.setPlainText(doc.description)
