"""Editing the stack as a user does: drag from the palette, drag to reorder, keys, parameters, undo and redo."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")
# PySide marks the drag-event constructors deprecated; they are still what a real drag delivers.
pytestmark = pytest.mark.filterwarnings("ignore:Function.*QDrag:DeprecationWarning")

from PySide6.QtCore import QMimeData, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QUndoStack  # noqa: E402
from PySide6.QtWidgets import QApplication, QCheckBox, QComboBox, QSpinBox  # noqa: E402

from flowlab.document import Document, LayerEntry  # noqa: E402
from flowlab.flows import LAYERS  # noqa: E402
from flowlab.presets import Preset  # noqa: E402
from flowlab.ui.commands import Editor  # noqa: E402
from flowlab.ui.param_editor import LayerEditor  # noqa: E402
from flowlab.ui.stack_model import ROWS_MIME, StackModel  # noqa: E402
from flowlab.ui.stack_panel import StackPanel  # noqa: E402

MOONS = {"kind": "moons", "params": {}, "data": {}}


def load(doc: Document, kinds: list[str], target: dict = MOONS) -> None:
    doc.load(Preset(name="test", layers=[LayerEntry.new(k).to_dict() for k in kinds], target=target))


@pytest.fixture
def panel(qtbot):
    undo = QUndoStack()
    doc = Document()
    panel = StackPanel(Editor(doc, undo))
    panel.resize(400, 700)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitExposed(panel)
    load(doc, ["actnorm", "affine_coupling", "reverse"])
    panel.undo = undo
    return panel


def kinds(panel: StackPanel) -> list[str]:
    return [e.kind for e in panel.doc.stack]


def _drop(view, mime: QMimeData, row: int) -> None:
    """Deliver a real drop event to the stack view's viewport, above ``row`` (or below the last row)."""
    model = view.model()
    if row < model.rowCount():
        rect = view.visualRect(model.index(row))
        pos = QPointF(rect.center().x(), rect.top() + 2)
    else:
        rect = view.visualRect(model.index(model.rowCount() - 1))
        pos = QPointF(rect.center().x(), rect.bottom() + 10)
    actions = Qt.CopyAction | Qt.MoveAction
    # The same sequence a real drag delivers: enter, move (which places the drop indicator), drop.
    QApplication.sendEvent(view.viewport(), QDragEnterEvent(pos.toPoint(), actions, mime, Qt.LeftButton,
                                                            Qt.NoModifier))
    QApplication.sendEvent(view.viewport(), QDragMoveEvent(pos.toPoint(), actions, mime, Qt.LeftButton,
                                                           Qt.NoModifier))
    QApplication.sendEvent(view.viewport(), QDropEvent(pos, actions, mime, Qt.LeftButton, Qt.NoModifier))


def test_palette_lists_every_registered_kind_with_help(panel) -> None:
    assert sorted(panel.palette.kinds()) == sorted(LAYERS)
    item = panel.palette.item(0)
    kind = item.data(Qt.UserRole)
    assert LAYERS[kind].help in item.toolTip()


def test_drag_from_palette_into_the_stack_at_a_position(panel) -> None:
    items = [panel.palette.item(i) for i in range(panel.palette.count())]
    maf = next(i for i in items if i.data(Qt.UserRole) == "maf")
    mime = panel.palette.mimeData([maf])  # exactly what a drag from the palette carries
    _drop(panel.view, mime, 1)
    assert kinds(panel) == ["actnorm", "maf", "affine_coupling", "reverse"]
    assert dict(panel.doc.stack[1].params) == LAYERS["maf"].defaults()
    panel.undo.undo()
    assert kinds(panel) == ["actnorm", "affine_coupling", "reverse"]
    panel.undo.redo()
    assert kinds(panel) == ["actnorm", "maf", "affine_coupling", "reverse"]


def test_drag_within_the_stack_reorders(panel) -> None:
    mime = panel.model.mimeData([panel.model.index(0)])
    assert mime.hasFormat(ROWS_MIME)
    _drop(panel.view, mime, 3)  # drag the first layer below the last
    assert kinds(panel) == ["affine_coupling", "reverse", "actnorm"]
    mime = panel.model.mimeData([panel.model.index(2)])
    _drop(panel.view, mime, 0)  # and back to the top
    assert kinds(panel) == ["actnorm", "affine_coupling", "reverse"]
    panel.undo.undo()
    panel.undo.undo()
    assert kinds(panel) == ["actnorm", "affine_coupling", "reverse"]
    assert panel.undo.count() == 2


def test_keyboard_equivalents(panel, qtbot) -> None:
    panel.view.setFocus()
    panel.view.setCurrentIndex(panel.model.index(1))
    qtbot.keyClick(panel.view, Qt.Key_D, Qt.ControlModifier)  # duplicate
    assert kinds(panel) == ["actnorm", "affine_coupling", "affine_coupling", "reverse"]
    qtbot.keyClick(panel.view, Qt.Key_Space)  # disable the copy (now selected)
    assert panel.doc.stack[2].enabled is False
    qtbot.keyClick(panel.view, Qt.Key_Up, Qt.AltModifier)  # move it up
    assert panel.doc.stack[1].enabled is False
    qtbot.keyClick(panel.view, Qt.Key_Delete)
    assert kinds(panel) == ["actnorm", "affine_coupling", "reverse"]
    assert all(e.enabled for e in panel.doc.stack)
    panel.palette.setFocus()
    panel.palette.setCurrentRow(0)
    qtbot.keyClick(panel.palette, Qt.Key_Return)  # Enter on a palette item inserts it below the selection
    assert len(kinds(panel)) == 4
    for _ in range(5):
        panel.undo.undo()
    assert kinds(panel) == ["actnorm", "affine_coupling", "reverse"]


def test_checkbox_toggles_enabled_through_undo(panel) -> None:
    idx = panel.model.index(0)
    assert panel.model.setData(idx, Qt.Unchecked.value, Qt.CheckStateRole)
    assert panel.doc.stack[0].enabled is False
    panel.undo.undo()
    assert panel.doc.stack[0].enabled is True


def test_parameter_editor_edits_through_undo(panel, qtbot) -> None:
    editor = LayerEditor()
    qtbot.addWidget(editor)

    def show(row: int) -> None:
        problem = panel.doc.problems.get(row)
        editor.show_layer(row, panel.doc.stack[row].to_dict(), problem.reason if problem else None)

    editor.form.edited.connect(lambda name, value: panel.editor.set_param(1, name, value))
    panel.doc.changed.connect(lambda _field: show(1))
    show(1)
    hidden = editor.form.editors["hidden"]
    assert isinstance(hidden, QSpinBox) and hidden.maximum() == LAYERS["affine_coupling"].param("hidden").high
    hidden.setValue(33)
    assert panel.doc.stack[1].params["hidden"] == 33
    mask = editor.form.editors["mask"]
    assert isinstance(mask, QComboBox)
    mask.setCurrentText("checkerboard")  # invalid on vectors: marked on the layer, before any training
    assert panel.doc.problems.get(1) is not None and "for images" in panel.doc.problems.get(1).reason
    assert "for images" in editor.problem.text() and not editor.problem.isHidden()
    assert "for images" in panel.model.data(panel.model.index(1), Qt.ToolTipRole)
    flip = editor.form.editors["flip"]
    assert isinstance(flip, QCheckBox)
    panel.undo.undo()  # mask back to half: the mark goes, the editor follows the model
    assert panel.doc.problems.get(1) is None and mask.currentText() == "half" and editor.problem.isHidden()
    panel.undo.undo()
    assert panel.doc.stack[1].params["hidden"] == LAYERS["affine_coupling"].defaults()["hidden"]
    assert hidden.value() == LAYERS["affine_coupling"].defaults()["hidden"]
    panel.undo.redo()
    assert hidden.value() == 33


def test_structural_edits_can_be_locked(panel) -> None:
    panel.set_editable(False, "training is running")
    assert not panel.buttons["Delete"].isEnabled()
    assert panel.view.dragDropMode() == panel.view.DragDropMode.NoDragDrop




def _halver(monkeypatch) -> str:
    """A stand-in reshaping layer (squeeze-like on images, halving on vectors), so the test does not depend on
    which reshaping kinds the registry has today: the editor only reads ``stack_shapes``."""
    import dataclasses

    from flowlab.flows.registry import ParamProblem

    def out_shape(shape, params):
        return (shape[0] * 4, shape[1] // 2, shape[2] // 2) if len(shape) == 3 else (shape[0] // 2,)

    def check(shape, params):
        if len(shape) == 3 and shape[1] % 2:
            raise ParamProblem(None, "needs an even height")

    spec = dataclasses.replace(LAYERS["actnorm"], kind="test_halver", out_shape=out_shape, check=check,
                               data=frozenset({"vector", "image"}))
    monkeypatch.setitem(LAYERS, "test_halver", spec)
    return "test_halver"


def test_stack_shows_the_shape_each_layer_hands_on(panel, monkeypatch) -> None:
    halver = _halver(monkeypatch)

    def label(row: int) -> str:
        return panel.view.model().data(panel.model.index(row), Qt.DisplayRole)

    load(panel.doc, ["actnorm", "lu_linear", "reverse"])
    assert not any("→" in label(r) for r in range(3))  # 2-D data, no shape changes: no clutter
    panel.view.setCurrentIndex(panel.model.index(0))
    panel.append_kind(halver)  # a vector layer that changes the dimension: its shape shows
    assert label(1).endswith("→ 1") and "→" not in label(2)
    panel.editor.set_target({"kind": "digits", "params": {}, "data": {}})  # images: every row shows its shape
    assert [panel.model.data(panel.model.index(r), StackModel.ShapeRole) for r in range(4)] == [
        (1, 8, 8), (4, 4, 4), (4, 4, 4), (4, 4, 4)]
    assert label(0).endswith("→ 1×8×8") and label(1).endswith("→ 4×4×4") and label(3).endswith("→ 4×4×4")
    panel.append_kind(halver)  # after row 1: 4×4×4 → 16×2×2, then the rest follow
    assert label(2).endswith("→ 16×2×2") and label(4).endswith("→ 16×2×2")
    panel.view.setCurrentIndex(panel.model.index(2))
    panel.append_kind(halver)  # 16×2×2 → 64×1×1
    panel.append_kind(halver)  # odd height: invalid, no shape, and the rows after it keep the last good one
    assert panel.doc.problems.get(4) is not None and "→" not in label(4)
    assert label(5).endswith("→ 64×1×1")
    assert "hands on shape 64×1×1" in panel.model.data(panel.model.index(5), Qt.ToolTipRole)
    panel.undo.undo()
    panel.undo.undo()
    assert label(3).endswith("→ 16×2×2") and panel.model.rowCount() == 5 and len(panel.doc.stack) == 5
    panel.view.setCurrentIndex(panel.model.index(1))
    panel.toggle_enabled()  # a disabled layer hands on what it receives
    assert label(1).endswith("→ 1×8×8  (off)") and label(2).endswith("→ 4×4×4")


def test_a_layer_added_by_drag_or_enter_is_selected(panel, qtbot) -> None:
    panel.view.setCurrentIndex(panel.model.index(0))
    mime = panel.palette.mimeData([panel.palette.item(0)])
    _drop(panel.view, mime, 2)  # dropped above row 2
    qtbot.waitUntil(lambda: panel.view.current_row() == 2, timeout=2000)
    assert panel.doc.stack[2].kind == panel.palette.kinds()[0]
    panel.view.selectionModel().clearCurrentIndex()
    panel.palette.setFocus()
    panel.palette.setCurrentRow(1)
    qtbot.keyClick(panel.palette, Qt.Key_Return)  # no layer selected: appended, and selected
    last = len(panel.doc.stack) - 1
    assert panel.doc.stack[last].kind == panel.palette.kinds()[1]
    qtbot.waitUntil(lambda: panel.view.current_row() == last, timeout=2000)
    assert panel.view.selectionModel().isSelected(panel.model.index(last))
