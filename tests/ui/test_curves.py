"""The log-likelihood view: train, validation and test curves, and the mark at the weights early stopping keeps."""

from __future__ import annotations

import math

import pytest

from flowlab.training.messages import Ready
from flowlab.ui.views import CurvesView, ViewContext

NAN = math.nan


def test_bits_curves_show_train_validation_test_and_the_kept_step(qtbot) -> None:
    view = CurvesView()
    qtbot.addWidget(view)
    view.reset(bits=True)
    view.add_rows({"step": [1, 2, 3, 4], "train_bpd": [3.0, 2.8, 2.6, 2.4],
                   "valid_bpd": [NAN, 2.5, NAN, 2.6], "test_bpd": [NAN, 2.55, NAN, 2.5]})
    assert list(view.train.getData()[1]) == [3.0, 2.8, 2.6, 2.4]
    assert list(view.valid.getData()[0]) == [2, 4] and list(view.test.getData()[0]) == [2, 4]
    # Validation picks step 2 even though the test score is better at step 4: the test set is not peeked at.
    assert view.best_step() == 2 and view.best.isVisible() and view.best.value() == 2
    view.add_rows({"step": [5], "train_bpd": [2.3], "valid_bpd": [2.4], "test_bpd": [2.45]})
    assert view.best_step() == 5
    view.reset(bits=True)
    assert view.best_step() is None and not view.best.isVisible() and len(view.valid.getData()[0] or []) == 0


def test_without_validation_the_best_test_step_is_marked(qtbot) -> None:
    view = CurvesView()
    qtbot.addWidget(view)
    view.reset(entropy=1.0)
    view.add_rows({"step": [10, 20, 30], "train_nll": [2.0, 1.5, 1.2], "test_nll": [2.1, 1.4, 1.6]})
    assert view.best_step() == 20 and view.floor.isVisible()
    assert view.floor.value() == 1.0


def test_switching_to_reverse_kl_plots_the_loss_and_the_true_kl(qtbot) -> None:
    view = CurvesView()
    qtbot.addWidget(view)
    view.reset(entropy=2.0)
    rows = {"step": [1, 2], "train_loss": [0.5, 0.4], "valid_nll": [NAN, 9e5], "test_nll": [NAN, 8e5],
            "true_kl": [NAN, 0.8]}
    view.add_rows(rows)
    view.set_objective("reverse_kl")
    assert view.energy and "true KL" in view.plot.titleLabel.text
    assert list(view.test.getData()[1]) == [0.8] and list(view.train.getData()[1]) == [0.5, 0.4]
    assert len(view.valid.getData()[0] or []) == 0 and view.best_step() == 2



def _widths(view: CurvesView) -> dict[str, float]:
    """The widths the curves are drawn with (the drawn curve's pen, not only the item's option)."""
    return {name: getattr(view, name).curve.opts["pen"].widthF() for name in ("train", "test", "valid")}


def test_presentation_mode_on_then_off_restores_every_line_width(qtbot) -> None:
    from flowlab.ui import views

    view = CurvesView()
    qtbot.addWidget(view)
    view.reset(bits=True)
    rows = {"step": [1, 2], "train_bpd": [3.0, 2.8], "valid_bpd": [2.9, 2.7], "test_bpd": [2.95, 2.75]}
    view.add_rows(rows)
    before = _widths(view)
    assert before == {"train": 1, "test": 2, "valid": 1}
    try:
        views.set_presentation(True)
        view.apply_style()
        on = _widths(view)
        assert all(on[name] > before[name] for name in before)
        view.add_rows({"step": [3], "train_bpd": [2.7], "valid_bpd": [2.6], "test_bpd": [2.65]})
        assert _widths(view) == on  # new data keeps the lecture-hall widths
    finally:
        views.set_presentation(False)
        view.apply_style()
    assert _widths(view) == before
    view.add_rows({"step": [4], "train_bpd": [2.6], "valid_bpd": [2.5], "test_bpd": [2.55]})
    assert _widths(view) == before


def _legend(view: CurvesView) -> list[str]:
    return [label.text for _sample, label in view.plot.legend.items]


def test_the_legend_names_what_is_drawn_and_the_floor_is_only_under_nlls(qtbot) -> None:
    """Under reverse KL the lines are the loss and KL(q‖p), not train/test NLLs, and a target's entropy bounds an
    NLL, not a KL: no floor there (the 8-Gaussians lesson read the loss reaching it as a good fit)."""
    from flowlab.training.messages import Ready

    view = CurvesView()
    qtbot.addWidget(view)
    view.reset(entropy=2.0)
    assert _legend(view) == ["train", "test", "validation"] and view.floor.isVisible()
    view.handle_event(Ready("CPU", "reverse_kl", (), 2.08, False))
    assert _legend(view) == ["reverse KL loss (training)", "true KL(q‖p)"] and not view.floor.isVisible()
    view.clear()  # a reset of the weights keeps what the curves are
    assert _legend(view) == ["reverse KL loss (training)", "true KL(q‖p)"] and not view.floor.isVisible()
    view.handle_event(Ready("CPU", "mle", (), 2.08, False))
    assert _legend(view) == ["train", "test", "validation"]
    assert view.floor.isVisible() and view.floor.value() == 2.08


def test_a_tiny_test_set_is_said_and_does_not_flatten_the_training_curve(qtbot) -> None:
    from flowlab.training.messages import Progress, Ready

    view = CurvesView()
    qtbot.addWidget(view)
    view.resize(500, 300)
    view.show()
    view.configure(ViewContext(shape=(1, 8, 8)))
    view.handle_event(Ready("cpu", "mle", (), None, True, 0, held_out=1))  # three drawn images: one to test
    rows = {"step": [0, 10, 20, 30], "train_nll": [900.0, 600.0, 400.0, 300.0],
            "train_bpd": [5.0, 4.0, 3.0, 2.5], "test_bpd": [float("nan"), 6586.0, float("nan"), 6000.0]}
    view.handle_event(Progress(30, 10.0, rows, "cpu", True))
    assert view.warning.isVisible() and "only 1 image" in view.warning.text
    view.plot.vb.autoRange()
    low, high = view.plot.vb.viewRange()[1]
    assert high < 100, "the y axis follows the training curve, not the lone test point"
    assert view.test.xData is not None and len(view.test.xData) == 2  # the test points are still drawn
    view.handle_event(Ready("cpu", "mle", (), None, True, 0, held_out=500))
    assert not view.warning.isVisible()
    view.plot.vb.autoRange()
    assert view.plot.vb.viewRange()[1][1] > 6000


def test_the_legend_stays_clear_of_the_kept_and_entropy_labels(qtbot) -> None:
    view = CurvesView()
    qtbot.addWidget(view)
    view.resize(420, 260)
    view.show()
    view.reset(entropy=2.0)
    steps = list(range(0, 2000, 100))
    view.add_rows({"step": steps, "train_nll": [2.0 + 3.0 / (1 + s / 100) for s in steps],
                   "test_nll": [2.1 + 3.0 / (1 + s / 100) for s in steps],
                   "valid_nll": [2.1 + 3.0 / (1 + s / 100) - (0.1 if s == 1900 else 0) for s in steps]})
    qtbot.wait(50)
    view.plot.vb.autoRange()
    qtbot.wait(50)
    legend = view.plot.legend.sceneBoundingRect()
    for line in (view.best, view.floor):
        assert line.isVisible()
        assert not legend.intersects(line.label.sceneBoundingRect()), line.label.toPlainText()


def test_a_session_scored_in_bits_turns_the_points_curves_into_bits_per_dim(qtbot) -> None:
    """Flattened digits are points (no picture views), yet their scores are bits/dim: the session says so."""
    view = CurvesView()
    qtbot.addWidget(view)
    view.configure(ViewContext(shape=(64,)))
    assert not view.bits
    view.handle_event(Ready("cpu", "mle", (), None, False, 0, held_out=200, bits=True))
    assert view.bits and view.plot.titleLabel.text == "bits per dimension"
    view.add_rows({"step": [1], "train_nll": [-60.0], "train_bpd": [2.76], "test_nll": [-59.0], "test_bpd": [2.78]})
    assert list(view.train.getData()[1]) == [2.76]


def test_the_curves_export_as_csv_one_header_row_and_one_row_per_logged_step(qtbot, tmp_path, monkeypatch) -> None:
    import csv

    from flowlab.ui.export import ExportError

    view = CurvesView()
    qtbot.addWidget(view)
    view.reset(entropy=1.0)
    with pytest.raises(ExportError, match="no curves yet"):
        view.export_csv(tmp_path / "none.csv")
    assert not (tmp_path / "none.csv").exists()
    view.add_progress({"step": [1, 2], "train_nll": [3.0, 2.5], "test_nll": [NAN, 2.6], "grad_norm": [1.0, 0.5]})
    view.add_progress({"step": [3], "train_nll": [2.25], "test_nll": [NAN], "grad_norm": [0.25]})
    path = view.export_csv(tmp_path / "curves.csv")
    rows = list(csv.reader(path.open()))
    assert rows == [["step", "train_nll", "test_nll", "grad_norm"], ["1", "3", "", "1"], ["2", "2.5", "2.6", "0.5"],
                    ["3", "2.25", "", "0.25"]]
    with pytest.raises(ExportError, match="missing"):
        view.export_csv(tmp_path / "missing" / "curves.csv")  # says why: the folder is not there
    def full_disk(_fd: int) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr("os.fsync", full_disk)
        with pytest.raises(ExportError, match="No space left on device"):
            view.export_csv(path)
    assert list(csv.reader(path.open())) == rows  # atomic: the old file is left whole
    assert [p.name for p in tmp_path.iterdir()] == ["curves.csv"]  # and no temporary file


def test_file_export_curves_asks_for_a_file_and_a_failure_says_why(qtbot, window, tmp_path, monkeypatch) -> None:
    from PySide6.QtWidgets import QFileDialog

    action = next(a for menu in window.menuBar().findChildren(type(window.menuBar().addMenu("x")))
                  for a in menu.actions() if a.text() == "Export &curves as CSV…")
    curves = window.docks.views["curves"]
    assert curves.export_actions["csv"] in curves.plot.vb.menu.actions()  # the plot's right-click menu too
    window.controller.single_step()
    qtbot.waitUntil(lambda: bool(curves.columns.get("step")), timeout=20000)
    chosen = [str(tmp_path / "run")]
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (chosen[0], ""))
    action.trigger()
    assert (tmp_path / "run.csv").read_text().startswith("step,") and window.warnings == []
    chosen[0] = str(tmp_path / "nowhere" / "run.csv")
    action.trigger()
    assert len(window.warnings) == 1 and "nowhere" in window.warnings[0] and "No such file" in window.warnings[0]
