"""The whole window, driven as a user drives it: presets, training, views, saving, broken files, closing."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from pytestqt.exceptions import TimeoutError as WaitTimeout

pytest.importorskip("PySide6")

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from flowlab.presets import load_preset
from flowlab.presets.builtin import builtin_paths
from flowlab.training.messages import Saved, SnapshotReady
from flowlab.ui.main_window import MainWindow
from tests.presets.builtins import data_missing


def _step(w: MainWindow) -> int:
    """The step the window was last told of (the session's Progress events)."""
    return w.controller.last_progress.step if w.controller.last_progress is not None else 0


def _train(qtbot, w: MainWindow, steps: int = 15) -> None:
    qtbot.waitUntil(lambda: w.controller.last_ready is not None, timeout=60000)
    start = _step(w)
    w.controller.toggle_play()
    qtbot.waitUntil(lambda: _step(w) >= start + steps, timeout=60000)
    w.controller.toggle_play()
    qtbot.waitUntil(lambda: not w.controller.running, timeout=5000)


def test_opens_on_the_default_preset_ready_to_play(window) -> None:
    assert "RealNVP on two moons" in window.windowTitle()
    assert len(window.doc.stack) == 8 and window.play_action.isEnabled()
    assert window.status.device.text().startswith(("CPU", "CUDA", "Apple"))


def test_training_changes_every_view(qtbot, window) -> None:
    qtbot.waitUntil(lambda: window.docks.views["density"].current_image() is not None, timeout=10000)
    before = window.docks.views["density"].current_image().copy()
    samples_before = window.docks.views["samples"].model_item.getData()[0].copy()
    window.panels.train_form.editors["eval_every"].setValue(20)  # applies live
    _train(qtbot, window, 40)
    qtbot.waitUntil(lambda: window.controller.latest.step >= 40, timeout=20000)
    qtbot.wait(100)
    after = window.docks.views["density"].current_image()
    assert not np.allclose(before, after)
    assert not np.allclose(samples_before, window.docks.views["samples"].model_item.getData()[0])
    curves = window.docks.views["curves"]
    assert len(curves.train.getData()[0]) >= 40 and len(curves.test.getData()[0]) >= 1
    assert "NLL train" in window.status.scores.text()
    assert "train negative log-likelihood" in window.status.scores.toolTip()


def test_every_builtin_preset_loads_trains_and_draws(qtbot, window, warnings) -> None:
    for key in builtin_paths():
        if data_missing(key):  # its data set is not on this machine: tests/ui/test_missing_data.py opens one
            continue
        start = time.perf_counter()
        window.files.open_builtin(key)
        qtbot.waitUntil(lambda: window.controller.last_ready is not None, timeout=30000)
        first = window.controller.latest
        _train(qtbot, window, 5)
        try:
            qtbot.waitUntil(lambda first=first: window.controller.latest is not None
                            and window.controller.latest is not first and window.controller.latest.step >= 5,
                            timeout=60000)  # a loaded CI machine: a model that is built, trained and drawn
        except WaitTimeout as e:
            p = window.controller.last_progress
            raise AssertionError(f"{key}: no snapshot of step 5 after {time.perf_counter() - start:.0f} s (at step "
                                 f"{p.step if p else None})") from e
        assert not warnings, warnings


def test_save_and_reload_gives_an_equal_preset(qtbot, window, tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    window.panels.stack_panel.view.setCurrentIndex(window.panels.stack_panel.model.index(0))
    window.panels.stack_panel.delete()
    assert window.files.save_to(path)
    saved = load_preset(path)
    assert saved.to_dict() == window.current_preset().to_dict()
    assert len(saved.layers) == 7
    window.files.open_builtin("realnvp_moons")
    assert window.files.open_path(path)
    assert window.current_preset().to_dict() == saved.to_dict()


def test_a_broken_preset_shows_a_dialog_and_keeps_the_session(qtbot, window, tmp_path, warnings) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"schema_version": 1, "name": "b", "layers": [{"kind": "warp_drive"}],
                                  "target": {"kind": "moons"}}))
    before = window.current_preset().to_dict()
    session = window.controller.session
    assert not window.files.open_path(broken)
    assert warnings and "layers[0]" in warnings[-1] and "warp_drive" in warnings[-1]
    assert window.current_preset().to_dict() == before and window.controller.session is session
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({"schema_version": 99, "name": "n"}))
    assert not window.files.open_path(newer)
    assert "newer flowlab" in warnings[-1]


BROKEN_FILES = {  # what a user may open by mistake → words the dialog must say
    "invalid JSON": (b'{"schema_version": 1, "name": ', "not valid JSON"),
    "empty": (b"", "not valid JSON"),
    "nested too deeply": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    "not UTF-8": ('{"schema_version": 1, "name": "caf\u00e9"}'.encode("latin-1"), "cannot be read"),
    "a picture": (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "cannot be read"),
    "a list": (b"[1, 2, 3]", "preset"),
    "a wrong type": (b'{"schema_version": 1, "name": "x", "layers": "planar"}', "layers"),
    "a folder": (None, "cannot be read"),
}


@pytest.mark.parametrize("kind", sorted(BROKEN_FILES))
def test_every_kind_of_broken_file_gets_a_dialog_and_loses_nothing(qtbot, window, tmp_path, warnings,
                                                                   kind) -> None:
    content, words = BROKEN_FILES[kind]
    path = tmp_path / "broken.json"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    before = window.current_preset().to_dict()
    session = window.controller.session
    assert not window.files.open_path(path)
    assert len(warnings) == 1 and words in warnings[0] and "Traceback" not in warnings[0]
    assert window.current_preset().to_dict() == before and window.controller.session is session


def test_dropping_a_preset_file_on_the_window_opens_it(qtbot, window, tmp_path) -> None:
    path = tmp_path / "dropped.json"
    doc = load_preset(builtin_paths()["realnvp_checkerboard"]).to_dict()
    doc["name"] = "dropped one"
    path.write_text(json.dumps(doc))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(50, 50), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    window.dropEvent(event)
    assert "dropped one" in window.windowTitle()


def test_undo_redo_from_the_edit_menu(qtbot, window) -> None:
    window.panels.stack_panel.view.setCurrentIndex(window.panels.stack_panel.model.index(2))
    window.panels.stack_panel.delete()
    assert len(window.doc.stack) == 7
    window.undo_action.trigger()
    assert len(window.doc.stack) == 8
    window.redo_action.trigger()
    assert len(window.doc.stack) == 7


def test_a_structural_edit_while_training_pauses_and_restarts(qtbot, window) -> None:
    window.controller.toggle_play()
    qtbot.waitUntil(lambda: window.controller.running, timeout=10000)
    old = window.controller.session
    window.panels.stack_panel.view.setCurrentIndex(window.panels.stack_panel.model.index(0))
    window.panels.stack_panel.delete()
    assert not window.controller.running and not old.is_running  # paused at once, restarted once edits settle
    assert "stack changed" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: window.controller.session is not old, timeout=5000)


def test_an_invalid_stack_is_marked_and_cannot_play(qtbot, window) -> None:
    window.editor.set_param(0, "mask", "channel")
    assert window.doc.problems.get(0) is not None
    assert not window.play_action.isEnabled()
    assert "layer 1" in window.status.step.text()
    window.undo_stack.undo()
    assert window.play_action.isEnabled()


def test_learning_rate_applies_live(qtbot, window) -> None:
    window.panels.train_form.editors["learning_rate"].setValue(0.005)
    window.controller.single_step()  # the next step trains at the new rate
    qtbot.waitUntil(lambda: window.controller.last_progress is not None and window.controller.last_progress.step >= 1
                    and 0.005 in window.controller.last_progress.rows["learning_rate"], timeout=5000)


def test_closing_while_training_exits_cleanly(qtbot, window, capfd) -> None:
    window.controller.toggle_play()
    qtbot.waitUntil(lambda: window.controller.running, timeout=10000)
    thread = window.controller.session.thread
    window.close()
    assert thread.isFinished()
    assert "Destroyed while thread is still running" not in capfd.readouterr().err


def test_presentation_mode_enlarges_text_and_points(qtbot, window) -> None:
    from flowlab.ui.views.base import presentation_scale

    size = window.font().pointSizeF()
    window.presentation_action.setChecked(True)
    scale = presentation_scale(window.screen().geometry().height())  # at least 1.25, 1.5 on a large screen
    assert scale >= 1.25 and window.font().pointSizeF() == pytest.approx(size * scale)
    assert window.docks.views["samples"].model_item.opts["size"] == 6
    window.presentation_action.setChecked(False)
    assert window.font().pointSizeF() == pytest.approx(size)
    assert window.docks.views["samples"].model_item.opts["size"] == 3


def test_a_one_dimensional_preset_shows_the_change_of_variables_view(qtbot, window) -> None:
    window.files.open_builtin("change_of_variables_1d")
    qtbot.waitUntil(lambda: "curve_1d" in window.docks.shown_views(), timeout=5000)
    assert "density" not in window.docks.shown_views()  # behind the 1-D tab: not computed
    _train(qtbot, window, 20)
    qtbot.waitUntil(lambda: window.docks.views["one_d"].model.getData()[0] is not None, timeout=10000)
    x, density = window.docks.views["one_d"].model.getData()
    assert len(x) == 400 and np.all(density >= 0)
    assert (np.diff(x) * density[:-1]).sum() == pytest.approx(1.0, abs=0.05)  # a density, on screen


def test_a_one_dimensional_preset_shows_target_and_model_sample_histograms(qtbot, window) -> None:
    window.files.open_builtin("change_of_variables_1d")
    window.docks.docks["samples"].raise_()
    qtbot.waitUntil(lambda: "samples" in window.docks.shown_views(), timeout=5000)
    view = window.docks.views["samples"]
    _train(qtbot, window, 20)
    qtbot.waitUntil(lambda: view.one_d and all(len(d) for _, d in view.histograms().values()), timeout=20000)
    items = (view.data_hist, view.model_hist, view.target_outline)
    n_items = len(view.model_plot.listDataItems())
    (t_edges, t_dens), (m_edges, m_dens) = view.histograms()["target"], view.histograms()["model"]
    assert np.array_equal(t_edges, m_edges)  # one set of bins: bars compare side by side
    assert t_edges[0] == pytest.approx(-4.0) and t_edges[-1] == pytest.approx(4.75)  # the target's extents
    widths = np.diff(t_edges)
    assert (widths * t_dens).sum() == pytest.approx(1.0, abs=0.02) and np.all(t_dens >= 0)
    assert 0.5 < (widths * m_dens).sum() <= 1.0 + 1e-9  # mass outside the extents is missing, not rescaled
    assert np.array_equal(view.target_outline.getData()[1], t_dens)  # the target's outline over the model's
    assert all(item.isVisible() for item in items)
    assert not view.model_item.isVisible() and len(view.model_item.getData()[0]) == 0
    assert not view.data_plot.vb.state["aspectLocked"] and not view.model_plot.vb.state["aspectLocked"]

    _train(qtbot, window, 20)  # later frames update the same items in place
    qtbot.waitUntil(lambda: not np.array_equal(view.histograms()["model"][1], m_dens), timeout=20000)
    assert (view.data_hist, view.model_hist, view.target_outline) == items
    assert len(view.model_plot.listDataItems()) == n_items

    window.files.open_builtin("realnvp_moons")  # 2-D again: scatters, locked aspect, no histograms
    qtbot.waitUntil(lambda: not view.one_d and len(view.model_item.getData()[0]) > 0, timeout=20000)
    assert not view.model_hist.isVisible() and not view.legend.isVisible()
    assert view.data_plot.vb.state["aspectLocked"]


def test_image_preset_shows_samples_reconstructions_and_interpolation(qtbot, window) -> None:
    window.files.open_builtin("realnvp_digits")
    qtbot.waitUntil(lambda: "images" in window.docks.shown_views(), timeout=5000)
    view = window.docks.views["images"]
    qtbot.waitUntil(lambda: view.items["recon"].image is not None and view.items["interp"].image is not None,
                    timeout=30000)
    assert view.items["samples"].image is not None
    view.temperature.setValue(50)  # the slider reaches the worker's snapshots
    c = window.controller
    qtbot.waitUntil(lambda: c.latest is not None and c.latest.temperature == 0.5, timeout=20000)
    seen = []
    window.controller.session.event.connect(lambda e: seen.append(e.snapshot) if isinstance(e, SnapshotReady)
                                 and e.snapshot.image_reconstructions is not None else None)
    window.controller.single_step()  # a step refreshes every view, the reconstructions too
    qtbot.waitUntil(lambda: bool(seen), timeout=20000)
    originals, back = seen[-1].image_reconstructions
    assert np.allclose(originals, back, atol=1e-3)  # invertibility, on screen
    assert "bits per dimension" in window.docks.views["curves"].plot.titleLabel.text


def test_weights_saved_beside_the_preset_are_resumed_on_open(qtbot, window, tmp_path) -> None:
    path = tmp_path / "mine.json"
    assert window.files.save_to(path)
    _train(qtbot, window, 12)
    step = _step(window)
    saved = []
    window.controller.session.event.connect(lambda e: saved.append(e.path) if isinstance(e, Saved) else None)
    assert window.files.save_weights()
    qtbot.waitUntil(lambda: bool(saved), timeout=10000)
    assert Path(saved[0]) == tmp_path / "mine.weights.pt"
    window.files.open_builtin("realnvp_checkerboard")
    assert window.files.open_path(path)
    qtbot.waitUntil(lambda: window.controller.last_ready is not None, timeout=20000)
    assert window.controller.last_ready.step == step  # resumed, ActNorm state and all
    resumed = window.controller.session
    window.panels.stack_panel.view.setCurrentIndex(window.panels.stack_panel.model.index(0))
    window.panels.stack_panel.delete()  # a different stack: fresh weights, never the saved ones
    qtbot.waitUntil(lambda: window.controller.session is not resumed and window.controller.last_ready is not None,
                    timeout=20000)
    assert window.controller.last_ready.step == 0


def test_reverse_kl_preset_shows_the_loss_and_the_true_kl(qtbot, window) -> None:
    window.files.open_builtin("reverse_kl_8gaussians")
    curves = window.docks.views["curves"]
    qtbot.waitUntil(lambda: curves.energy, timeout=20000)
    assert "true KL" in curves.plot.titleLabel.text
    window.panels.train_form.editors["eval_every"].setValue(5)  # applies live
    _train(qtbot, window, 12)
    qtbot.waitUntil(lambda: len(curves.test.getData()[0] if curves.test.getData()[0] is not None else []) >= 2,
                    timeout=20000)
    true_kl = [v for v in curves.columns["true_kl"] if v == v]
    assert list(curves.test.getData()[1]) == pytest.approx(true_kl)
    assert len(curves.valid.getData()[0] or []) == 0  # no validation NLL on a reverse-KL curve
    window.controller.reset_weights()
    assert curves.energy, "resetting the weights keeps the objective's curves"


def test_reset_weights_keeps_the_entropy_line(qtbot, window) -> None:
    """The session computes H(p) (the NLL floor) and says so in Ready; a reset keeps the line."""
    from flowlab.targets import build_target

    qtbot.waitUntil(lambda: window.controller.last_ready is not None, timeout=20000)
    floor = window.docks.views["curves"].floor
    entropy = build_target(window.doc.target_config()).entropy().value
    c = window.controller
    assert c.entropy == pytest.approx(entropy, abs=0.05) and c.entropy == c.last_ready.entropy
    assert floor.isVisible() and floor.value() == pytest.approx(window.controller.entropy)
    _train(qtbot, window, 5)
    window.controller.reset_weights()
    assert floor.isVisible() and floor.value() == pytest.approx(window.controller.entropy)


def test_a_stopped_session_frees_its_model_before_the_next_starts(qtbot, window, monkeypatch) -> None:
    import threading

    from tests.training.toy import record_model_deaths

    died = record_model_deaths(monkeypatch)
    window.files.open_builtin("realnvp_moons")
    qtbot.waitUntil(lambda: window.controller.last_ready is not None, timeout=20000)
    window.files.open_builtin("maf_8gaussians")  # stops the old session, starts a new one
    assert len(died) == 1, "the old model must be gone before the next session starts (not left to a later GC)"
    assert died[0] != threading.main_thread().name  # and it died on the session's thread, not the UI's


def test_the_description_says_when_what_it_describes_has_changed(window, qtbot) -> None:
    notes = window.panels.notes
    description = window.doc.description
    assert notes.text().startswith(description[:40])
    config = window.doc.target_config()
    window.panels.set_target({**config, "kind": "8gaussians", "params": {}})
    assert notes.text().startswith("[The target changed since this preset was opened (moons then)")
    assert description in notes.text()
    window.undo_stack.undo()
    assert notes.text().startswith(description[:40])
    window.editor.remove_layer(0)
    assert notes.text().startswith("[The layer stack changed")


def test_a_lecture_preset_with_shipped_weights_opens_trained_and_resets_to_scratch(qtbot, window) -> None:
    from flowlab.presets.builtin import TRAINED

    c = window.controller
    window.files.open_builtin("realnvp_moons")
    qtbot.waitUntil(lambda: c.last_ready is not None and c.last_ready.step > 0, timeout=30000)
    stated = TRAINED.search(window.doc.description)
    assert c.last_ready.step == int(stated["steps"]) and "opened trained" in window.statusBar().currentMessage()
    curves = window.docks.views["curves"]
    qtbot.waitUntil(lambda: len(curves.columns.get("step", [])) > 1, timeout=20000)  # the saved record is shown
    assert curves.columns["step"][-1] == int(stated["steps"])
    assert window.files.path is None  # a built-in still opens as a new document: Save asks where
    window.controller.reset_weights()
    qtbot.waitUntil(lambda: c.last_progress is not None and c.last_progress.step == 0, timeout=20000)
