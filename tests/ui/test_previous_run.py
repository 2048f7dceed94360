"""The previous run of a document stays, faded, in the curves view for comparison: after an edit restarts the
session, and after the window is closed and opened again."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from flowlab.ui.previous_run import MAX_ROWS, document_key, load_run, save_run, thinned
from flowlab.ui.views import CurvesView
from tests.ui.conftest import open_window

NAN = math.nan


def test_a_run_is_kept_per_document_thinned_and_read_back(tmp_path: Path) -> None:
    n = 3 * MAX_ROWS
    columns = {"step": list(range(n)), "train_nll": [3.0 - i / n for i in range(n)],
               "test_nll": [2.0 if i % 1000 == 0 else NAN for i in range(n)], "grad_norm": [1.0] * n}
    save_run("name:moons", columns, tmp_path)
    back = load_run("name:moons", tmp_path)
    assert set(back) == {"step", "train_nll", "test_nll"}  # what the curves draw, not the whole record
    assert MAX_ROWS <= len(back["step"]) <= MAX_ROWS + 10 and back["step"][-1] == n - 1
    kept_tests = [s for s, v in zip(back["step"], back["test_nll"], strict=True) if not math.isnan(v)]
    assert kept_tests == [0, 1000, 2000, 3000, 4000, 5000]  # every held-out score is kept
    assert load_run("name:another", tmp_path) is None


def test_a_broken_or_foreign_cache_file_is_no_run(tmp_path: Path) -> None:
    path = save_run("name:moons", {"step": [1, 2], "train_nll": [2.0, 1.0]}, tmp_path)
    path.write_text("{not json", encoding="utf-8")
    assert load_run("name:moons", tmp_path) is None
    path.write_text(json.dumps({"key": "name:other", "columns": {"step": [1]}}), encoding="utf-8")
    assert load_run("name:moons", tmp_path) is None


def test_documents_are_told_apart_by_file_else_by_name(tmp_path: Path) -> None:
    assert document_key(tmp_path / "a.json", "x") != document_key(tmp_path / "b.json", "x")
    assert document_key(None, "moons") != document_key(None, "digits")
    assert thinned({"step": []}) == {"step": []}


def test_the_previous_run_is_drawn_faded_named_and_can_be_hidden(qtbot) -> None:
    view = CurvesView()
    qtbot.addWidget(view)
    view.reset(entropy=1.0)
    view.set_previous({"step": [0, 10, 20], "train_nll": [3.0, 2.0, 1.5], "test_nll": [NAN, 2.1, 1.6],
                       "train_bpd": [9.0, 8.0, 7.0]})
    assert view.previous_shown() and list(view.previous_train.getData()[1]) == [3.0, 2.0, 1.5]
    assert list(view.previous_test.getData()[0]) == [10, 20]
    assert view.previous_train.opts["pen"].color().alpha() < 255  # faded
    assert "previous run" in [label.text for _, label in view.plot.legend.items]
    view.previous_action.setChecked(False)  # the plot's right-click menu
    assert not view.previous_shown() and "previous run" not in [label.text for _, label in view.plot.legend.items]
    view.previous_action.setChecked(True)
    view.reset(bits=True)  # the curves in bits/dim: the previous run's too
    assert view.previous_shown() and list(view.previous_train.getData()[1]) == [9.0, 8.0, 7.0]
    assert view.previous_action in view.plot.vb.menu.actions()


def _train(qtbot, w, steps: int) -> None:
    curves = w.docks.views["curves"]
    qtbot.waitUntil(lambda: w.controller.last_ready is not None, timeout=60000)
    w.controller.toggle_play()
    qtbot.waitUntil(lambda: len(curves.columns.get("step", [])) >= steps, timeout=60000)
    w.controller.toggle_play()
    qtbot.waitUntil(lambda: not w.controller.running, timeout=5000)


def test_an_edit_and_a_restart_of_the_app_keep_the_last_run_for_comparison(qtbot, window) -> None:
    curves = window.docks.views["curves"]
    assert not curves.previous_shown()  # a fresh cache: no run yet
    _train(qtbot, window, 5)
    trained = list(curves.columns["train_nll"])
    window.editor.set_training("seed", 1)  # not live: a new session, a new run
    qtbot.waitUntil(lambda: not curves.columns.get("step"), timeout=10000)
    assert curves.previous_shown() and list(curves.previous_train.getData()[1]) == trained
    _train(qtbot, window, 3)
    second = [v for v in curves.columns["train_nll"] if not math.isnan(v)]
    window.undo_stack.setClean()
    window.close()

    again = open_window(qtbot)  # the app started again on the same document
    later = again.docks.views["curves"]
    assert later.previous_shown() and list(later.previous_train.getData()[1]) == second
    again.files.new_document()  # another document has no previous run
    assert not later.previous_shown()
    again.close()


def test_a_render_neither_shows_nor_keeps_the_users_runs(qtbot, monkeypatch) -> None:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from flowlab.presets.builtin import load_builtin
    from flowlab.ui.main_window import MainWindow
    from flowlab.ui.previous_run import runs_dir

    preset = load_builtin()
    save_run(document_key(None, preset.name), {"step": [0, 1], "train_nll": [3.0, 2.0]})
    before = sorted(p.read_bytes() for p in runs_dir().iterdir())
    QApplication.instance().setOrganizationName("flowlab-tests")
    QSettings().clear()
    w = MainWindow(preset, keep_runs=False)  # as `flowlab render` and `flowlab record` make it
    qtbot.addWidget(w)
    curves = w.docks.views["curves"]
    assert not curves.previous_shown()
    curves.add_rows({"step": [0, 1, 2], "train_nll": [3.0, 2.5, 2.0]})
    w.controller.stop()  # the run ends: nothing kept
    assert sorted(p.read_bytes() for p in runs_dir().iterdir()) == before
    w.close()
