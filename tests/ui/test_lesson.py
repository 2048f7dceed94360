"""Lesson mode, driven through the real window: a preset's lesson shows only its views, hides its panels, locks
editing, pauses Play once at its step budget and paces training; the next document gets the window back; the
window's own layout can be saved into the preset as a lesson (one undo step)."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from flowlab.presets import preset_from_dict
from flowlab.presets.builtin import load_builtin
from flowlab.ui.lesson import SPEEDS

LESSON = {"shown": ["density", "curves"], "hidden_panels": ["layer_parameters"], "locked": True, "pause_at": 7,
          "speed": 100.0}


def _lesson_preset(view=LESSON):
    doc = load_builtin("realnvp_moons").to_dict()
    doc["view"] = dict(view)
    doc["name"] = "a lesson"
    return preset_from_dict(doc)


def _shown(window) -> set[str]:
    return {k for k, dock in window.docks.docks.items() if not dock.isHidden()}


def test_a_lesson_sets_the_window_pauses_once_at_its_budget_and_the_next_document_undoes_it(qtbot, window) -> None:
    c = window.controller
    before = _shown(window)
    assert {"density", "curves", "samples"} <= before
    window.apply_preset(_lesson_preset())
    qtbot.waitUntil(lambda: c.last_ready is not None and c.last_ready.step == 0, timeout=30000)
    assert _shown(window) == {"density", "curves"}
    layers, params, settings = window.side_docks
    assert params.isHidden() and not layers.isHidden()
    assert not window.panels.stack_panel.isEnabled() and not window.panels.settings.isEnabled()
    assert window.lesson.lock_action.isChecked()
    assert c.speed == 100.0 and window.lesson.speed_box.currentData() == 100.0
    c.play()
    qtbot.waitUntil(lambda: c.last_progress is not None and c.last_progress.step == 7 and not c.running,
                    timeout=30000)
    qtbot.wait(300)
    assert c.last_progress.step == 7, "the lesson's budget pauses training there"
    assert "Lesson: paused at step 7" in window.statusBar().currentMessage()
    c.play()  # the budget is spent: Play goes on
    qtbot.waitUntil(lambda: c.last_progress.step > 9, timeout=30000)
    c.toggle_play()
    window.files.open_builtin("nice_moons")  # no lesson: the window as it was
    qtbot.waitUntil(lambda: _shown(window) == before, timeout=10000)
    assert not params.isHidden() and window.panels.stack_panel.isEnabled()
    assert not window.lesson.lock_action.isChecked() and c.speed is None and c.lesson_pause is None


def test_unlocking_by_hand_gives_the_panels_back(qtbot, window) -> None:
    window.apply_preset(_lesson_preset({"locked": True}))
    assert not window.panels.layer_editor.isEnabled()
    window.lesson.lock_action.trigger()
    assert window.panels.layer_editor.isEnabled() and window.panels.stack_panel.isEnabled()


def test_the_speed_box_paces_training(qtbot, window) -> None:
    """Choosing 1 step/s in the toolbar: a second of play takes about one step, not hundreds."""
    import time

    c = window.controller
    qtbot.waitUntil(lambda: c.last_ready is not None, timeout=30000)
    box = window.lesson.speed_box
    box.setCurrentIndex(box.findData(1.0))
    assert c.speed == 1.0 and SPEEDS[-1] == 1.0 and "every step drawn" in box.currentText()
    start = c.last_progress.step if c.last_progress else 0
    c.play()
    t0 = time.monotonic()
    qtbot.wait(1500)
    c.toggle_play()
    qtbot.waitUntil(lambda: not c.running, timeout=5000)
    assert c.last_progress.step - start <= (time.monotonic() - t0) * 1.0 + 2
    box.setCurrentIndex(box.findData(None))
    assert c.speed is None


def test_the_layout_is_saved_into_the_preset_as_a_lesson_in_one_undo_step(qtbot, window) -> None:
    window.docks.docks["samples"].toggleViewAction().trigger()  # the user closes a view
    window.side_docks[1].toggleViewAction().trigger()  # and the layer parameters panel
    window.lesson.lock_action.setChecked(True)
    window.lesson.set_speed(5.0)
    before = dict(window.doc.view)
    window.lesson.save_action.trigger()
    view = window.current_preset().view
    assert "samples" not in view["shown"] and "density" in view["shown"]
    assert view["hidden_panels"] == ["layer_parameters"] and view["locked"] is True and view["speed"] == 5.0
    again = preset_from_dict(window.current_preset().to_dict())  # what a save writes reads back the same
    assert again.view == view
    window.undo_stack.undo()
    assert dict(window.doc.view) == before
