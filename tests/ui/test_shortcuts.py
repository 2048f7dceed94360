"""Every key the README and the tooltips promise does what it says, on the platform's own key bindings, and no key
is held by two actions (Qt then runs neither: "Ambiguous shortcut overload").

The offscreen platform uses the generic bindings; X11's differ where it matters (Redo *is* Ctrl+Shift+Z, Delete
includes Ctrl+D). ``test_the_keys_work_on_x11`` runs this module again on a real X server (Xvfb) when one is at
hand; ``test_no_key_is_held_twice_on_x11_bindings`` checks X11's table everywhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt, QtMsgType, qInstallMessageHandler
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication

from flowlab.ui.shortcuts import key_owners, sequences

from .conftest import open_window

# QKeySequence.keyBindings on the xcb platform (Qt 6.11, no desktop theme), for the keys this window uses.
X11_BINDINGS = {QKeySequence.Undo: ["Ctrl+Z", "F14", "Undo"], QKeySequence.Redo: ["Ctrl+Shift+Z", "Redo"],
                QKeySequence.Delete: ["Del", "Ctrl+D"], QKeySequence.New: ["Ctrl+N", "New"],
                QKeySequence.Open: ["Ctrl+O", "Open"], QKeySequence.Save: ["Ctrl+S", "Save"],
                QKeySequence.SaveAs: ["Ctrl+Shift+S", "Shift+Save"], QKeySequence.Quit: ["Ctrl+Q", "Exit"]}


@pytest.fixture
def qt_messages():
    """Qt's own warnings while the test runs (an ambiguous shortcut is only ever said there)."""
    said: list[str] = []
    previous = qInstallMessageHandler(lambda kind, _ctx, text: said.append(text)
                                      if kind != QtMsgType.QtDebugMsg else None)
    yield said
    qInstallMessageHandler(previous)


def _shared(owners: dict[str, list[str]]) -> dict[str, list[str]]:
    return {key: who for key, who in owners.items() if len(who) > 1}


def test_sequences_expand_standard_keys_once_and_leave_out_taken_keys(monkeypatch) -> None:
    monkeypatch.setattr(QKeySequence, "keyBindings",
                        lambda key: [QKeySequence(k) for k in X11_BINDINGS.get(key, [])])
    assert [s.toString() for s in sequences(QKeySequence.Redo, "Ctrl+Shift+Z")] == ["Ctrl+Shift+Z", "Redo"]
    assert [s.toString() for s in sequences(QKeySequence.Delete, taken=["Ctrl+D"])] == ["Del"]


def test_no_key_is_held_twice(qtbot, warnings, questions) -> None:
    w = open_window(qtbot)
    shared = _shared(key_owners(w))
    w.close()
    assert not shared


def test_no_key_is_held_twice_on_x11_bindings(qtbot, warnings, questions, monkeypatch) -> None:
    monkeypatch.setattr(QKeySequence, "keyBindings",
                        lambda key: [QKeySequence(k) for k in X11_BINDINGS.get(key, [])])
    w = open_window(qtbot)
    owners = key_owners(w)
    w.close()
    assert not _shared(owners)
    assert owners["Ctrl+Shift+Z"] == ["&Redo"] and owners["Ctrl+D"] == ["stack_duplicate"]
    assert owners["Del"] == ["stack_delete"] and owners["Ctrl+Q"] == ["&Quit"]


def _press(qtbot, widget, key, modifiers=Qt.NoModifier) -> None:
    widget.setFocus()
    qtbot.keyClick(widget, key, modifiers)


def test_every_promised_key_does_what_it_says(qtbot, warnings, questions, qt_messages) -> None:
    w = open_window(qtbot)
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=5000)
    panel, c = w.panels.stack_panel, w.controller
    kinds = lambda: [e.kind for e in w.doc.stack]  # noqa: E731
    before = kinds()

    # The stack (tooltips of its buttons, README "Keys on the stack").
    panel.view.setCurrentIndex(panel.model.index(1))
    _press(qtbot, panel.view, Qt.Key_D, Qt.ControlModifier)
    assert kinds() == before[:2] + before[1:], "Ctrl+D duplicates"
    _press(qtbot, panel.view, Qt.Key_Space)
    assert w.doc.stack[2].enabled is False, "Space turns the (selected) copy off"
    _press(qtbot, panel.view, Qt.Key_Up, Qt.AltModifier)
    assert w.doc.stack[1].enabled is False and panel.view.current_row() == 1, "Alt+Up moves it up"
    _press(qtbot, panel.view, Qt.Key_Down, Qt.AltModifier)
    assert w.doc.stack[2].enabled is False and panel.view.current_row() == 2, "Alt+Down moves it down"
    _press(qtbot, panel.view, Qt.Key_Delete)
    assert kinds() == before, "Del deletes"
    panel.palette.setCurrentRow(0)
    _press(qtbot, panel.palette, Qt.Key_Return)
    assert len(kinds()) == len(before) + 1, "Enter on the palette adds its layer"

    # Undo and redo (README: Ctrl+Z / Ctrl+Shift+Z), from anywhere in the window.
    _press(qtbot, panel.view, Qt.Key_Z, Qt.ControlModifier)
    assert kinds() == before, "Ctrl+Z undoes"
    _press(qtbot, panel.view, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)
    assert len(kinds()) == len(before) + 1, "Ctrl+Shift+Z redoes"
    _press(qtbot, panel.view, Qt.Key_Z, Qt.ControlModifier)

    # The toolbar (its tooltips: Ctrl+Space, Ctrl+Right, Ctrl+R).
    qtbot.waitUntil(lambda: c.session is not None and c.last_ready is not None, timeout=20000)
    _press(qtbot, panel.view, Qt.Key_Space, Qt.ControlModifier)
    qtbot.waitUntil(lambda: c.running, timeout=10000)
    _press(qtbot, panel.view, Qt.Key_Space, Qt.ControlModifier)
    qtbot.waitUntil(lambda: not c.running, timeout=10000)
    qtbot.waitUntil(lambda: c.last_progress is not None, timeout=10000)
    step = c.last_progress.step
    _press(qtbot, panel.view, Qt.Key_Right, Qt.ControlModifier)
    qtbot.waitUntil(lambda: c.last_progress.step == step + 1, timeout=10000)
    _press(qtbot, panel.view, Qt.Key_R, Qt.ControlModifier)
    qtbot.waitUntil(lambda: c.last_progress.step == 0, timeout=10000)

    # F11: presentation mode, and back.
    _press(qtbot, panel.view, Qt.Key_F11)
    assert w.presentation_action.isChecked()
    _press(qtbot, panel.view, Qt.Key_F11)
    assert not w.presentation_action.isChecked()
    w.close()
    assert not [m for m in qt_messages if "mbiguous" in m]


@pytest.mark.skipif(shutil.which("xvfb-run") is None or os.environ.get("QT_QPA_PLATFORM") == "xcb",
                    reason="needs Xvfb (and runs from the offscreen run only)")
def test_the_keys_work_on_x11() -> None:
    """The tests above again, in a window on an X server, where Qt uses X11's key bindings."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "PYTHONPATH": str(root)}
    run = subprocess.run(["xvfb-run", "-a", sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                          str(Path(__file__)), "-k", "not on_x11"],
                         cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "3 passed" in run.stdout
