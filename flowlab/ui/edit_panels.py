"""The editing panels beside the views: the layer stack, the selected layer's parameters, and the preset, target
and training settings. Every user edit becomes an undo command (through the :class:`Editor`); every change of the
document, an undo included, is shown back here. The document is the truth, the widgets only show it."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel, QMessageBox, QStatusBar, QVBoxLayout, QWidget

from flowlab.errors import FlowlabError
from flowlab.targets import TARGETS, Target
from flowlab.training.settings import TRAIN_PARAMS
from flowlab.ui.base_chooser import BaseChooser
from flowlab.ui.commands import Editor
from flowlab.ui.objective_gate import ObjectiveNote
from flowlab.ui.param_editor import LayerEditor, ParamForm, scrolling
from flowlab.ui.preset_info import PresetInfo
from flowlab.ui.stack_panel import StackPanel
from flowlab.ui.structure_view import StructureView
from flowlab.ui.target_loader import TargetLoader
from flowlab.ui.target_panel import TargetPanel

SIDE_WIDTH = 340  # the settings column's widest: long descriptions wrap instead of squeezing the views


class EditPanels(QObject):
    """``stack_panel``, ``layer_editor`` (with the layer's ``structure`` picture below its parameters) and
    ``settings`` (a scrolling column: preset, target, training, notes). ``layer_selected`` carries the stack
    position of the layer shown (or None), whenever it is shown anew."""

    layer_selected = Signal(object)

    def __init__(self, editor: Editor, status: QStatusBar, parent: QWidget) -> None:
        super().__init__(parent)
        self.editor, self.doc, self.status, self.parent_widget = editor, editor.doc, status, parent
        self.stack_panel = StackPanel(editor)
        self.stack_panel.selection_changed.connect(self.show_layer)
        self.layer_editor = LayerEditor()
        self.layer_editor.form.edited.connect(self._layer_param_edited)
        self.structure = StructureView()
        self.layer_editor.layout().addWidget(self.structure)
        self.preset_info = PresetInfo(editor)
        self.target_panel = TargetPanel()
        self.target_panel.combo.currentIndexChanged.connect(self._target_kind_changed)
        self.target_panel.form.edited.connect(self._target_param_edited)
        self.target_panel.config_requested.connect(self.set_target)
        self.loader = TargetLoader(parent)
        self.base_chooser = BaseChooser(editor)
        self.train_form = ParamForm()
        self.train_form.edited.connect(self._training_edited)
        self.objective_note = ObjectiveNote()  # which objectives this stack rules out, and why
        self.notes = QLabel("")
        self.notes.setWordWrap(True)
        self._plan_notes = ""
        column = QWidget()
        box = QVBoxLayout(column)
        for title, widget in (("Preset", self.preset_info), ("Target", self.target_panel),
                              ("Training", self.base_chooser), (None, self.train_form), (None, self.objective_note)):
            if title:
                box.addWidget(QLabel(f"<b>{title}</b>"))
            box.addWidget(widget)
        box.addWidget(self.notes)
        box.addStretch(1)
        column.setMaximumWidth(SIDE_WIDTH)
        self.settings = scrolling(column)  # short screens scroll
        self.doc.changed.connect(self._document_changed)
        self.show_document()

    # -- showing the document ---------------------------------------------------------------------------------
    def show_document(self) -> None:
        """Every panel shows the whole document (after it was replaced)."""
        self.train_form.set_params(TRAIN_PARAMS, self.doc.training.to_dict())
        self._gate_objectives()
        self.target_panel.show_config(self.doc.target_config())
        self.base_chooser.show_base()
        self._plan_notes = ""
        self._opened = (self.doc.target_config(), self.doc.layers())  # what the description was written about
        self._show_notes()
        self.show_layer(self.stack_panel.view.current_row())

    def show_plan_notes(self, notes: str) -> None:
        """What the session says about its plan, under the preset's description."""
        self._plan_notes = notes
        self._show_notes()

    def _show_notes(self) -> None:
        """The preset's description (saying so when the target or the stack it describes has changed since the
        preset was opened: its claims may no longer hold), then the session's notes on its plan."""
        opened_target, opened_layers = self._opened
        changed = [what for what, same in (("target", self.doc.target_config() == opened_target),
                                           ("layer stack", self.doc.layers() == opened_layers)) if not same]
        description = self.doc.description
        if description and changed:
            description = (f"[The {' and the '.join(changed)} changed since this preset was opened "
                           f"({opened_target['kind']} then): what follows was written about the preset as "
                           f"opened.]\n{description}")
        self.notes.setText((description + ("\n\n" if self._plan_notes else "") + self._plan_notes).strip())

    def _document_changed(self, field: str) -> None:
        if field in ("stack", "target"):
            self._show_notes()
        if field == "stack":
            self.show_layer(self.stack_panel.view.current_row())
            self._gate_objectives()
        elif field == "target":
            self.target_panel.show_config(self.doc.target_config())
        elif field == "training":
            self.train_form.set_params(TRAIN_PARAMS, self.doc.training.to_dict())
            self._gate_objectives()
        elif field == "description":
            self._show_notes()

    def _gate_objectives(self) -> None:
        """The objectives this stack cannot train: disabled in the form, and the note says why."""
        self.objective_note.follow(self.train_form.editors.get("objective"), self.doc.layers(),
                                   self.doc.training.objective)

    def show_layer(self, row: int | None) -> None:
        if row is None or row >= len(self.doc.stack):
            self.layer_editor.show_layer(None, None, None)
            self.structure.show_text("")
            self.layer_selected.emit(None)
            return
        problem = self.doc.problems.get(row)
        self.layer_editor.show_layer(row, self.doc.stack[row].to_dict(), problem.reason if problem else None)
        enabled = self.doc.stack[row].enabled and problem is None
        self.structure.show_text("" if enabled else "Not in the model (disabled or invalid): nothing to picture.")
        self.layer_selected.emit(row)

    def show_layer_detail(self, detail) -> None:
        """A snapshot's ``LayerDetail``: its picture, if it is still the selected layer's."""
        row = self.stack_panel.view.current_row()
        if row is not None and row < len(self.doc.stack) and detail.position == row \
                and detail.kind == self.doc.stack[row].kind:
            self.structure.show_detail(detail)

    # -- edits ------------------------------------------------------------------------------------------------
    def _layer_param_edited(self, name: str, value: Any) -> None:
        row = self.stack_panel.view.current_row()
        if row is not None:
            self.editor.set_param(row, name, value)

    def _target_kind_changed(self, _index: int) -> None:
        kind = self.target_panel.combo.currentData()
        if kind and kind != self.doc.target["kind"]:
            self.set_target({"kind": kind, "params": {}, "data": {}}, f"Target {kind}")

    def _target_param_edited(self, name: str, value: Any) -> None:
        config = self.doc.target_config()
        config["params"] = {**config.get("params", {}), name: value}
        if self._usable(config):
            self.editor.set_target_param(name, value)

    def _usable(self, config: dict[str, Any]) -> bool:
        """Build ``config`` first: a target that cannot be built is refused with the reason, nothing changes."""
        try:
            self.doc.built_target(config)
        except FlowlabError as e:
            QMessageBox.warning(self.parent_widget, "Cannot use this target", str(e))
            self.target_panel.show_config(self.doc.target_config())
            return False
        return True

    def set_target(self, config: dict[str, Any], text: str = "Change target") -> None:
        """A whole new target (a kind, a file, a drawing), if it can be built. A target that reads a file is
        built off the window's thread (see :class:`TargetLoader`); it becomes the target once it is read."""
        if TARGETS[config["kind"]].source is not None and config.get("data", {}).get("path"):
            self.loader.load(config, lambda c, target: self._loaded(c, target, text), self._refused)
        elif self._usable(config):
            self.editor.set_target(config, text)

    def _loaded(self, config: dict[str, Any], target: Target, text: str) -> None:
        self.doc.adopt_target(config, target)
        self.editor.set_target(config, text)

    def _refused(self, config: dict[str, Any], message: str) -> None:
        QMessageBox.warning(self.parent_widget, "Cannot use this target", message)
        self.target_panel.show_config(self.doc.target_config())

    def _training_edited(self, name: str, value: Any) -> None:
        try:
            self.editor.set_training(name, value)
        except FlowlabError as e:
            self.status.showMessage(str(e), 6000)
            self.train_form.set_params(TRAIN_PARAMS, self.doc.training.to_dict())
