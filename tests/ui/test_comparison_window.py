"""Side-by-side runs in the window: sessions trained in rounds, their figures, the Compare menu, saving a
comparison with its runs' weights (it opens trained), recording it, closing it."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PIL import Image, ImageChops

from flowlab.flows import build_flow
from flowlab.presets import Preset
from flowlab.presets.builtin import load_builtin
from flowlab.presets.comparison import Comparison, load_comparison, run_weights_path
from flowlab.recording import Recording
from flowlab.training.settings import TrainSettings
from flowlab.ui.comparison_record import ComparisonRecorder
from flowlab.ui.comparison_window import COLUMNS, ComparisonWindow
from tests.training.toy import MOONS
from tests.training.toy import SMALL_SETTINGS as SMALL
from tests.training.toy import SMALL_STACK as AFFINE

ADDITIVE = [{"kind": "additive_coupling", "params": {"mask": "alternating", "flip": i % 2 == 1, "hidden": 16}}
            for i in range(4)]
SETTINGS = TrainSettings(**{**SMALL, "eval_every": 5})


def _preset(name: str, layers) -> Preset:
    return Preset(name=name, layers=[dict(layer) for layer in layers], target=dict(MOONS), training=SETTINGS)


def _open(qtbot, runs, source=None) -> ComparisonWindow:
    w = ComparisonWindow(Comparison("test", "", runs), source)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: all(r.ready is not None for r in w.runs), timeout=30000)
    return w


def _train_to(qtbot, w: ComparisonWindow, step: int) -> None:
    w.play_all(until=step)
    qtbot.waitUntil(lambda: all(r.step == step and not r.running and t.shown_step == step
                                for r, t in zip(w.runs, w.thumbs, strict=True)), timeout=60000)
    w.refresh()


def _cell(w: ComparisonWindow, row: int, column: str) -> str:
    return w.table.item(row, COLUMNS.index(column)).text()


def test_runs_train_side_by_side_and_the_table_states_each_runs_own_figures(qtbot) -> None:
    w = _open(qtbot, [("affine", _preset("affine", AFFINE)), ("additive", _preset("additive", ADDITIVE))])
    _train_to(qtbot, w, 30)
    entropy = w.runs[0].ready.entropy
    for i, (run, layers) in enumerate(zip(w.runs, (AFFINE, ADDITIVE), strict=True)):
        params = sum(p.numel() for p in build_flow(layers, (2,)).parameters())
        assert _cell(w, i, "parameters") == f"{params:,}"
        assert _cell(w, i, "step") == "30"
        test = [v for v in run.columns["test_nll"] if math.isfinite(v)]
        assert len(test) >= 6  # every 5 steps
        assert _cell(w, i, "best") == f"{min(test):.4f}"
        assert _cell(w, i, "gap to floor") == f"{min(test) - entropy:.4f}"
        assert float(_cell(w, i, "steps/s (own)")) > 0
        assert _cell(w, i, "score a batch").endswith(" ms")
        xs, ys = w.curves[i].getData()
        assert list(ys) == test and xs[-1] <= 30
    assert w.floor_line.isVisible() and w.floor_line.value() == pytest.approx(entropy)
    assert w.runs[0].columns["test_nll"] != w.runs[1].columns["test_nll"]  # other stacks: other curves
    w.close()
    assert all(r.worker is None for r in w.runs)


def test_the_same_stack_and_seed_twice_give_the_same_curve(qtbot) -> None:
    w = _open(qtbot, [("a", _preset("a", AFFINE)), ("a", _preset("a", AFFINE))])
    assert [r.name for r in w.runs] == ["a", "a_2"]
    _train_to(qtbot, w, 20)
    a, b = (np.array(r.columns["train_nll"]) for r in w.runs)
    assert len(a) == 20 and np.array_equal(a, b, equal_nan=True)
    w.close()


def test_compare_this_stack_then_add_the_edited_one_as_the_next_run(qtbot, window) -> None:
    first = window.doc.to_preset()
    cw = window.comparisons.compare_current()
    qtbot.addWidget(cw)
    assert [p.layers for _, p in cw.specs] == [first.layers]
    assert window.files.open_builtin("nice_moons")  # the user's next stack, on another preset
    window.comparisons.add_current()
    assert len(cw.runs) == 2 and cw.specs[1][1].layers == load_builtin("nice_moons").layers
    # every run fits the first run's target, whatever its own preset's was
    assert cw.runs[1].run.preset.target == cw.runs[0].run.preset.target
    qtbot.waitUntil(lambda: all(r.ready is not None for r in cw.runs), timeout=30000)
    window.close()  # the comparison's sessions end with the main window
    assert all(r.worker is None for r in cw.runs)


def test_a_saved_comparison_opens_trained_from_its_runs_weights(qtbot, tmp_path) -> None:
    w = _open(qtbot, [("affine", _preset("affine", AFFINE)), ("additive", _preset("additive", ADDITIVE))])
    _train_to(qtbot, w, 15)
    path = tmp_path / "pair.json"
    assert w.save_to(path)
    qtbot.waitUntil(lambda: all(run_weights_path(path, r.name).exists() for r in w.runs), timeout=20000)
    w.close()
    saved = load_comparison(path)
    assert [k for k, _ in saved.runs] == ["affine", "additive"]
    assert [[(layer["kind"], layer["params"]) for layer in p.layers] for _, p in saved.runs] == [
        [(layer["kind"], layer["params"]) for layer in stack] for stack in (AFFINE, ADDITIVE)]
    again = _open(qtbot, saved.runs, source=path)
    assert [r.failure for r in again.runs] == [None, None]
    assert [r.ready.step for r in again.runs] == [15, 15]
    again.close()


def test_a_recording_has_the_frames_asked_for_and_they_change_as_the_runs_train(qtbot, tmp_path) -> None:
    w = _open(qtbot, [("affine", _preset("affine", AFFINE)), ("additive", _preset("additive", ADDITIVE))])
    out = tmp_path / "side_by_side.gif"
    recorder = ComparisonRecorder(w, Recording(out), frames=3, every=10, from_scratch=True)
    ended = []
    recorder.finished.connect(lambda path, error: ended.append((path, error)))
    recorder.start()
    qtbot.waitUntil(lambda: bool(ended), timeout=90000)
    assert ended == [(out, None)]
    assert [r.step for r in w.runs] == [20, 20]  # frames at steps 0, 10 and 20
    with Image.open(out) as gif:
        assert gif.n_frames == 3
        frames = []
        for i in range(3):
            gif.seek(i)
            frames.append(gif.convert("RGB"))
    assert all(ImageChops.difference(a, b).getbbox() is not None for a, b in zip(frames, frames[1:], strict=False))
    w.close()


def test_opening_a_comparison_file_opens_its_window_and_keeps_the_document(qtbot, window, tmp_path) -> None:
    from flowlab.presets.comparison import save_comparison

    path = tmp_path / "pair.json"
    save_comparison(Comparison("pair", "", [("affine", _preset("affine", AFFINE)),
                                            ("additive", _preset("additive", ADDITIVE))]), path)
    name, depth = window.doc.name, window.undo_stack.count()
    assert window.files.open_path(path)
    (cw,) = window.comparisons.windows
    qtbot.addWidget(cw)
    assert [r.name for r in cw.runs] == ["affine", "additive"] and cw.source == path
    assert window.doc.name == name and window.undo_stack.count() == depth
    cw.close()
    assert window.comparisons.windows == []


def test_closing_an_unsaved_comparison_asks_and_cancel_keeps_it_training(qtbot, questions) -> None:
    from PySide6.QtWidgets import QMessageBox

    w = _open(qtbot, [("affine", _preset("affine", AFFINE))])
    questions.answer = QMessageBox.Cancel
    assert not w.close()
    assert len(questions) == 1 and w.runs[0].worker is not None and w.isVisible()
    questions.answer = QMessageBox.Discard
    assert w.close()
    assert w.runs[0].worker is None
