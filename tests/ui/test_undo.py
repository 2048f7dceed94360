"""Undo for every edit of the document: each kind undoes and redoes to an equal preset; drags merge."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtGui import QUndoStack

from flowlab.document import Document, LayerEntry
from flowlab.presets.builtin import load_builtin
from flowlab.ui import commands
from flowlab.ui.commands import Editor

DRAWN = {"kind": "points", "params": {"jitter": 0.2},
         "data": {"points": [[0.0, 0.0], [1.0, 1.0], [1.0, -1.0], [-1.0, 0.5]]}}

EDITS = {
    "insert a layer": lambda e: e.insert_layer(1, "maf"),
    "duplicate a layer": lambda e: e.insert_layer(1, e.doc.stack[0]),
    "remove a layer": lambda e: e.remove_layer(0),
    "move a layer down": lambda e: e.move_layer(0, 2),
    "move a layer up": lambda e: e.move_layer(3, 0),
    "set a layer parameter": lambda e: e.set_param(1, "hidden", 17),
    "turn a layer off": lambda e: e.set_enabled(2, False),
    "change the target kind": lambda e: e.set_target({"kind": "circles", "params": {}, "data": {}}),
    "set a target parameter": lambda e: e.set_target_param("noise", 0.2),
    "draw the target": lambda e: e.set_target(DRAWN, "Draw target"),
    "set a training setting": lambda e: e.set_training("learning_rate", 0.02),
    "set a structural training setting": lambda e: e.set_training("seed", 7),
    "rename": lambda e: e.set_field("name", "my moons"),
    "describe": lambda e: e.set_field("description", "a lecture demo"),
    "base": lambda e: e.set_field("base", "diagonal"),
    "view settings": lambda e: e.set_field("view", {"shown": ["density"]}),
}


@pytest.fixture
def editor() -> Editor:
    return Editor(Document(load_builtin()), QUndoStack())


@pytest.mark.parametrize("name", sorted(EDITS))
def test_every_edit_undoes_and_redoes_to_an_equal_preset(editor: Editor, name: str) -> None:
    before = editor.doc.to_preset()
    EDITS[name](editor)
    after = editor.doc.to_preset()
    assert after != before and editor.undo_stack.count() == 1 and editor.doc.target_problem is None
    editor.undo_stack.undo()
    assert editor.doc.to_preset() == before
    editor.undo_stack.redo()
    assert editor.doc.to_preset() == after


def test_an_edit_to_the_same_value_pushes_nothing(editor: Editor) -> None:
    editor.set_param(1, "hidden", editor.doc.stack[1].params["hidden"])
    editor.set_training("learning_rate", editor.doc.training.learning_rate)
    editor.set_field("name", editor.doc.name)
    editor.set_enabled(0, True)
    assert editor.undo_stack.count() == 0


def test_a_dragged_value_is_one_undo_step(editor: Editor, monkeypatch) -> None:
    clock = iter(float(t) for t in range(100))
    monkeypatch.setattr(commands.time, "monotonic", lambda: next(clock) * 0.1)  # 0.1 s apart
    lr0, hidden0 = editor.doc.training.learning_rate, editor.doc.stack[1].params["hidden"]
    for lr in (0.002, 0.003, 0.004):
        editor.set_training("learning_rate", lr)
    for h in (20, 21, 22):
        editor.set_param(1, "hidden", h)
    editor.set_param(2, "hidden", 23)  # another row: its own step
    assert editor.undo_stack.count() == 3
    editor.undo_stack.undo()
    editor.undo_stack.undo()
    assert editor.doc.stack[1].params["hidden"] == hidden0 and editor.doc.training.learning_rate == 0.004
    editor.undo_stack.undo()
    assert editor.doc.training.learning_rate == lr0


def test_edits_far_apart_in_time_are_separate_steps(editor: Editor, monkeypatch) -> None:
    clock = iter(float(t) for t in range(100))
    monkeypatch.setattr(commands.time, "monotonic", lambda: next(clock) * 2.0)  # 2 s apart
    editor.set_training("learning_rate", 0.002)
    editor.set_training("learning_rate", 0.003)
    assert editor.undo_stack.count() == 2


def test_invalid_training_value_pushes_nothing(editor: Editor) -> None:
    from flowlab.errors import FlowlabError

    with pytest.raises(FlowlabError):
        editor.set_training("batch_size", 0)
    assert editor.undo_stack.count() == 0


def test_undo_texts_name_the_edit(editor: Editor) -> None:
    editor.insert_layer(0, LayerEntry.new("reverse"))
    editor.set_training("learning_rate", 0.01)
    editor.set_target_param("noise", 0.2)
    texts = [editor.undo_stack.text(i) for i in range(editor.undo_stack.count())]
    assert texts == ["Add reverse", "Set learning_rate", "Set target noise"]


def test_name_and_description_are_edited_in_the_window_with_undo(qtbot, window) -> None:
    info = window.panels.preset_info
    qtbot.keyClicks(info.name, " v2")
    assert window.doc.name.endswith(" v2") and window.windowTitle().startswith(f"flowlab — {window.doc.name}")
    assert window.isWindowModified()
    info.description.setPlainText("my lecture")
    assert window.doc.description == "my lecture" and "my lecture" in window.panels.notes.text()
    window.undo_stack.undo()
    window.undo_stack.undo()
    assert not window.doc.name.endswith(" v2") and info.name.text() == window.doc.name
    assert info.description.toPlainText() == window.doc.description != "my lecture"
    assert not window.isWindowModified()


def test_target_and_training_edits_in_the_window_undo(qtbot, window) -> None:
    panel = window.panels.target_panel
    panel.form.editors["noise"].setValue(0.25)
    assert window.doc.target["params"]["noise"] == 0.25
    lr = window.panels.train_form.editors["learning_rate"]
    lr.setValue(0.005)
    assert window.doc.training.learning_rate == 0.005
    i = panel.combo.findData("circles")
    panel.combo.setCurrentIndex(i)
    assert window.doc.target["kind"] == "circles"
    window.undo_stack.undo()  # back to moons, and the panel shows it
    assert window.doc.target["kind"] == "moons" and panel.combo.currentData() == "moons"
    window.undo_stack.undo()  # the learning rate, shown in its spin box
    assert window.doc.training.learning_rate == 1e-3 and abs(lr.value() - 1e-3) < 1e-12
    window.undo_stack.undo()
    assert window.doc.target["params"].get("noise", None) != 0.25
    assert abs(panel.form.editors["noise"].value() - 0.25) > 1e-9


def test_replacing_an_edited_document_asks_first(qtbot, window, tmp_path, monkeypatch) -> None:
    from PySide6.QtWidgets import QFileDialog, QMessageBox

    window.files.open_builtin("realnvp_checkerboard")
    assert window.questions == []  # nothing edited: no question
    window.editor.set_field("name", "edited")
    window.questions.answer = QMessageBox.Cancel
    assert not window.files.open_builtin("realnvp_moons") and not window.files.new_document()
    assert window.doc.name == "edited" and len(window.questions) == 2 and "not saved" in window.questions[0]
    window.questions.answer = QMessageBox.Save  # saved first (Save As, since it has no file), then replaced
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "kept.json"), ""))
    assert window.files.open_builtin("realnvp_moons")
    assert window.doc.name != "edited" and (tmp_path / "kept.json").exists()
    assert window.files.open_path(tmp_path / "kept.json") and window.doc.name == "edited"
    assert window.files.path == tmp_path / "kept.json" and "kept.json" in window.windowTitle()


def test_closing_an_edited_window_can_be_cancelled(qtbot, window) -> None:
    from PySide6.QtWidgets import QMessageBox

    window.editor.set_field("description", "unsaved")
    window.questions.answer = QMessageBox.Cancel
    assert not window.close() and window.isVisible() and window.controller.session is not None
    window.questions.answer = QMessageBox.Discard
    assert window.close()
