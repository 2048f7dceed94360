"""The base chooser (an undoable document edit that a new session uses), the editor of hand-set vectors, and the
status line's scoring/sampling times."""

from __future__ import annotations

from flowlab.flows import BASES, LAYERS, Uniform
from flowlab.training.messages import DirectionTimes, Progress
from flowlab.ui.param_editor import FloatsEdit, ParamForm


def test_the_base_chooser_edits_the_document_undoably_and_the_next_session_uses_it(window, qtbot) -> None:
    combo = window.panels.base_chooser.combo
    assert [combo.itemData(i) for i in range(combo.count())] == list(BASES)
    assert window.doc.base == "standard" and combo.currentData() == "standard"
    combo.setCurrentIndex(combo.findData("uniform"))
    assert window.doc.base == "uniform"
    # The new session is built on the uniform base: its plan warns that data outside the box has zero density.
    qtbot.waitUntil(lambda: window.controller.last_ready is not None
                    and any(Uniform.support_note in n for n in window.controller.last_ready.notes), timeout=20000)
    window.undo_stack.undo()
    assert window.doc.base == "standard" and combo.currentData() == "standard"
    qtbot.waitUntil(lambda: window.controller.last_ready is not None
                    and not any(Uniform.support_note in n for n in window.controller.last_ready.notes), timeout=20000)
    window.undo_stack.redo()
    assert window.doc.base == "uniform" and combo.currentData() == "uniform"


def test_a_list_of_numbers_is_typed_as_text_and_sent_as_a_list(qtbot) -> None:
    form = ParamForm()
    qtbot.addWidget(form)
    form.set_params(LAYERS["planar"].params, {"w": [1.0, -0.5]})
    edit = form.editors["w"]
    assert isinstance(edit, FloatsEdit) and edit.text() == "1, -0.5"
    got = []
    form.edited.connect(lambda name, value: got.append((name, value)))
    edit.setText("2, 0.25")
    edit.editingFinished.emit()
    assert got == [("w", [2.0, 0.25])]
    edit.setText("2, x")
    edit.editingFinished.emit()
    assert len(got) == 1 and edit.property("invalid")
    edit.setText("")
    edit.editingFinished.emit()
    assert got[-1] == ("w", []) and not edit.property("invalid")


def test_hand_set_vectors_edit_the_selected_layer(window, qtbot) -> None:
    window.editor.insert_layer(0, "planar")
    panel = window.panels.stack_panel
    panel.view.setCurrentIndex(panel.model.index(0))
    edit = window.panels.layer_editor.form.editors["u"]
    edit.setText("0.5, 0.5")
    edit.editingFinished.emit()
    # u without w is refused by the registry's check: the document holds it and says why
    assert window.doc.layers()[0]["params"]["u"] == [0.5, 0.5]
    assert 0 in window.doc.problems and window.doc.problems[0].param == "u"


def test_the_status_line_shows_how_long_scoring_and_sampling_take(window) -> None:
    label = window.status.speed
    window.controller.handle(Progress(5, 10.0, {}, "cpu", True, timings=DirectionTimes(256, 0.001, 0.048)))
    assert "1 ms" in label.text() and "48 ms" in label.text() and "48" in label.toolTip()
    window.controller.handle(Progress(6, 10.0, {}, "cpu", True, timings=None))
    assert label.text() == ""
