"""Nothing an edit made is lost without asking: every way of replacing the document (New, Open…, a preset from the
menu, a recent file, a dropped file) and quitting asks first, and Cancel keeps the document and its undo history."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QFileDialog, QMessageBox

from flowlab.presets import save_preset


def _menu_action(window, text: str):
    return next(a for a in window.findChildren(type(window.play_action)) if a.text() == text)


def _drop(window, path: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(20, 20), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    window.dropEvent(event)  # the handler Qt calls (offscreen, a sent drop event reaches no widget)


def test_every_way_of_replacing_an_edited_document_asks_and_cancel_keeps_it(qtbot, window, tmp_path,
                                                                            monkeypatch) -> None:
    other = tmp_path / "other.json"
    save_preset(window.doc.to_preset(), other)
    window.files.add_recent(other)
    opened: list[str] = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: opened.append("asked") or (str(other), ""))
    window.editor.set_field("name", "my edits")
    window.editor.set_field("description", "a lecture in the making")
    recent = window.files.recent_menu.actions()[0]
    ways = {"New": _menu_action(window, "&New").trigger, "Open…": _menu_action(window, "&Open…").trigger,
            "a built-in preset": _menu_action(window, "Glow on 8×8 digits (multi-scale)").trigger,
            "a recent file": recent.trigger, "a dropped file": lambda: _drop(window, other),
            "quitting": window.close}
    window.questions.answer = QMessageBox.Cancel
    for way, do in ways.items():
        asked = len(window.questions)
        do()
        assert len(window.questions) == asked + 1 and "my edits" in window.questions[-1], way
        assert window.doc.name == "my edits" and window.doc.description == "a lecture in the making", way
        assert window.undo_stack.count() == 2 and window.undo_stack.index() == 2 and window.isWindowModified(), way
        assert window.isVisible() and window.files.path is None, way
    assert opened == []  # Cancel at the question: no file dialog after it
    window.undo_stack.undo()  # the history is whole: both edits undo
    window.undo_stack.undo()
    assert window.doc.name != "my edits" and not window.isWindowModified()
    window.editor.set_field("name", "my edits")
    window.questions.answer = QMessageBox.Discard  # and Discard does replace it
    _drop(window, other)
    assert window.files.path == other and window.undo_stack.count() == 0 and not window.isWindowModified()
