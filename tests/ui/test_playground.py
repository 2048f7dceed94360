"""The playground window's finishing touches, driven as a user drives them: debounced restarts, per-view export,
the 1-D layer scrubber, preset-relative file paths, small screens."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from flowlab.ui import controller, main_window
from flowlab.ui.main_window import MainWindow
from tests.ui.conftest import open_window


@pytest.fixture
def starts(monkeypatch):
    """Every training session the window starts, in order."""
    started: list = []

    class Counting(controller.SessionWorker):
        def start(self) -> None:
            started.append(self)
            super().start()

    monkeypatch.setattr(controller, "SessionWorker", Counting)
    return started


@pytest.fixture
def window(qtbot, warnings, starts):
    w = open_window(qtbot)
    yield w
    w.close()


def test_quick_edits_restart_once_with_the_final_stack(qtbot, window, starts) -> None:
    assert len(starts) == 1
    window.panels.stack_panel.view.setCurrentIndex(window.panels.stack_panel.model.index(0))
    hidden = window.panels.layer_editor.form.editors["hidden"]
    for value in (40, 48, 56, 64, 72):  # a dragged spin box: five edits within a few tens of milliseconds
        hidden.setValue(value)
        qtbot.wait(20)
    assert window.doc.stack[0].params["hidden"] == 72 and len(starts) == 1
    qtbot.waitUntil(lambda: len(starts) == 2, timeout=3000)
    qtbot.wait(2 * controller.RESTART_DEBOUNCE_MS)
    assert len(starts) == 2 and window.controller.session is starts[-1]
    qtbot.waitUntil(lambda: window.controller.last_ready is not None, timeout=20000)
    assert window.controller.session.spec.layers[0]["params"]["hidden"] == 72  # the final state is what trains


def test_repeated_undo_restarts_once_and_invalid_marks_are_immediate(qtbot, window, starts) -> None:
    window.panels.stack_panel.view.setCurrentIndex(window.panels.stack_panel.model.index(0))
    window.panels.layer_editor.form.editors["mask"].setCurrentText("checkerboard")  # invalid on 2-D data
    assert not window.play_action.isEnabled() and "layer 1" in window.status.step.text()  # before any restart
    assert window.doc.problems.get(0) is not None
    qtbot.waitUntil(lambda: window.controller.session is None, timeout=3000)  # invalid: stopped, nothing started
    assert len(starts) == 1
    for _ in range(3):
        window.panels.stack_panel.delete()
    count = len(starts)
    for _ in range(4):  # Ctrl+Z held down
        window.undo_action.trigger()
    assert len(window.doc.stack) == 8 and window.play_action.isEnabled()  # the mark went at once
    qtbot.waitUntil(lambda: len(starts) == count + 1, timeout=3000)
    qtbot.wait(2 * controller.RESTART_DEBOUNCE_MS)
    assert len(starts) == count + 1
    qtbot.waitUntil(lambda: window.controller.last_ready is not None, timeout=20000)
    assert window.controller.session.spec.layers == window.doc.layers()


def test_play_during_a_pending_restart_trains_the_new_stack(qtbot, window, starts) -> None:
    window.panels.stack_panel.view.setCurrentIndex(window.panels.stack_panel.model.index(0))
    window.panels.stack_panel.delete()
    window.controller.toggle_play()  # at once, before the debounce interval: restarts now and plays the edited stack
    assert len(starts) == 2 and not window.controller.restart_timer.isActive()
    qtbot.waitUntil(lambda: window.controller.running, timeout=10000)
    assert len(window.controller.session.spec.layers) == 7
    window.controller.toggle_play()


def _save_as(monkeypatch, path) -> None:
    from PySide6.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), ""))


def test_every_view_exports_png_and_svg(qtbot, window, monkeypatch, tmp_path, warnings) -> None:
    import xml.etree.ElementTree as ET

    import numpy as np
    from PIL import Image

    done: set[str] = set()
    # each view shows for the data (and the stack) it can draw: the continuous flow's views for a cnf stack
    for preset in (None, "change_of_variables_1d", "realnvp_digits", "flow_matching_moons"):
        if preset is not None:
            window.files.open_builtin(preset)
            qtbot.waitUntil(lambda: window.controller.last_ready is not None, timeout=30000)
        _train(qtbot, window, 5)
        for key, view in window.docks.views.items():
            if key in done or window.docks.docks[key].isHidden():
                continue
            done.add(key)
            window.docks.docks[key].raise_()
            qtbot.waitUntil(lambda view=view: view.isVisible() and view.content.width() > 50, timeout=5000)
            button = view.export_button
            assert button.isVisible() and button.menu() is view.export_menu
            assert view.rect().contains(button.geometry()) and button.x() > view.width() / 2  # top right corner
            _save_as(monkeypatch, tmp_path / key)  # no suffix: the format's is added
            assert view.export_dialog("png") and view.export_dialog("svg"), warnings
            with Image.open(tmp_path / f"{key}.png") as img:
                img.load()
                assert img.width >= view.content.width() and img.height >= 50
                assert len(np.unique(np.asarray(img.convert("L")))) > 2, f"{key}: a blank picture"
            root = ET.parse(tmp_path / f"{key}.svg").getroot()
            assert root.tag.endswith("svg") and len(list(root.iter())) > 3
    assert done == set(window.docks.views)
    assert not warnings


def test_export_menu_triggers_and_unwritable_paths_show_a_message(qtbot, window, monkeypatch, tmp_path,
                                                                  warnings) -> None:
    import numpy as np

    view = window.docks.views["density"]
    _save_as(monkeypatch, tmp_path / "density.svg")
    view.export_actions["svg"].trigger()  # the menu entry, as clicked
    assert (tmp_path / "density.svg").stat().st_size > 100
    for fmt in ("png", "svg"):
        _save_as(monkeypatch, tmp_path / "no such folder" / f"d.{fmt}")
        assert not view.export_dialog(fmt)
        assert "no such folder" in warnings[-1]
    assert len(warnings) == 2 and not (tmp_path / "no such folder").exists()
    samples = window.docks.views["samples"]
    for name in ("s.csv", "s.npy"):  # the samples view exports its data through File ▸ Export samples
        _save_as(monkeypatch, tmp_path / name)
        samples.export_actions["samples"].trigger()
    from_csv = np.loadtxt(tmp_path / "s.csv", delimiter=",", skiprows=1)
    assert from_csv.shape == np.load(tmp_path / "s.npy").shape == window.controller.latest.model_samples.shape


def test_closed_svg_paths_are_rewritten_for_pyqtgraphs_exporter() -> None:
    from flowlab.ui.export import _closed_explicitly

    assert _closed_explicitly("M0,0 L4,0 L4,2 Z M5,5 L6,6Z") == "M0,0 L4,0 L4,2 L0,0 M5,5 L6,6 L5,5"
    assert _closed_explicitly("M1,2 L3,4") == "M1,2 L3,4"


def _train(qtbot, w: MainWindow, steps: int) -> None:
    w.controller.toggle_play()
    c = w.controller
    qtbot.waitUntil(lambda: c.last_progress is not None and c.last_progress.step >= steps, timeout=60000)
    w.controller.toggle_play()
    qtbot.waitUntil(lambda: not w.controller.running, timeout=5000)


def test_one_dimensional_layer_scrubber_shows_histograms(qtbot, window) -> None:
    import numpy as np

    window.files.open_builtin("change_of_variables_1d")
    scrubber = window.docks.views["layers"]
    qtbot.waitUntil(lambda: "layers" in window.docks.shown_views(), timeout=5000)
    _train(qtbot, window, 150)
    qtbot.waitUntil(lambda: scrubber._inverse is not None and scrubber._forward is not None
                    and scrubber.hist.xData is not None and len(scrubber.hist.xData) > 0, timeout=20000)
    assert scrubber.hist.isVisible() and not scrubber.points.isVisible() and not scrubber.plot.vb.state[
        "aspectLocked"]
    hist_item, curve_item = scrubber.hist, scrubber.hist.curve
    assert len(scrubber.points.data) == 0  # no 2-D scatter of a line of points

    def shown() -> tuple[np.ndarray, np.ndarray]:
        edges, density = scrubber.hist.getData()
        return np.asarray(edges), np.asarray(density)

    states = scrubber._inverse
    assert scrubber.slider.maximum() == len(states) - 1 == 1  # z, then x through the one affine layer
    scrubber.slider.setValue(0)  # base samples z ~ N(0, 1), with the standard normal drawn over them
    edges, density = shown()
    assert len(edges) == len(density) + 1 == 41 and scrubber.normal.isVisible()
    assert (np.diff(edges) * density).sum() == pytest.approx(1.0, abs=1e-6)  # a density, on screen
    z_mean = (edges[:-1] + np.diff(edges) / 2) @ (np.diff(edges) * density)
    scrubber.slider.setValue(1)  # samples x: the target is 0.75·v + 1, so the histogram moves right
    edges, density = shown()
    x_mean = (edges[:-1] + np.diff(edges) / 2) @ (np.diff(edges) * density)
    assert not scrubber.normal.isVisible()
    assert x_mean - z_mean == pytest.approx(float(states[1].mean() - states[0].mean()), abs=0.1)
    assert x_mean > z_mean + 0.3
    scrubber.density.setChecked(True)  # data x → z: the latent at the end gets the reference curve
    scrubber.slider.setValue(scrubber.slider.maximum())
    assert scrubber.normal.isVisible() and "latent z" in scrubber.description()
    assert scrubber.hist is hist_item and scrubber.hist.curve is curve_item  # updated in place, never rebuilt
    window.files.open_builtin("realnvp_moons")  # back to 2-D: points again, aspect locked
    qtbot.waitUntil(lambda: scrubber._inverse is not None and scrubber._inverse[0].shape[1] == 2, timeout=20000)
    qtbot.waitUntil(lambda: scrubber.points.isVisible(), timeout=5000)
    assert not scrubber.hist.isVisible() and scrubber.plot.vb.state["aspectLocked"]


def test_a_preset_finds_its_picture_beside_it_from_another_folder(qtbot, window, tmp_path, monkeypatch,
                                                                   warnings) -> None:
    import json

    from PIL import Image

    folder = tmp_path / "lecture"
    folder.mkdir()
    img = Image.new("L", (16, 16), 255)
    img.paste(0, (2, 2, 8, 14))
    img.save(folder / "pic.png")
    doc = {"schema_version": 1, "name": "my picture", "layers": [{"kind": "affine_coupling"}],
           "target": {"kind": "picture", "params": {}, "data": {"path": "pic.png"}}}
    (folder / "p.json").write_text(json.dumps(doc))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert window.files.open_path(folder / "p.json"), warnings
    assert window.doc.target["kind"] == "picture" and not warnings
    assert str(folder / "pic.png") in window.panels.target_panel.help.text()  # the panel names the file in use
    qtbot.waitUntil(lambda: window.controller.last_ready is not None, timeout=20000)
    c = window.controller
    qtbot.waitUntil(lambda: c.latest is not None and c.latest.model_samples is not None, timeout=20000)
    assert c.session.spec.target == window.doc.target_config() and c.latest.model_samples.shape[1] == 2
    window.files.save()  # Save: back to the same file, the path still relative
    assert json.loads((folder / "p.json").read_text())["target"]["data"]["path"] == "pic.png"


@pytest.mark.parametrize("size", [(1280, 720), (1024, 600)])
def test_the_window_fits_small_screens(qtbot, warnings, size) -> None:
    from PySide6.QtWidgets import QScrollArea

    QApplication.instance().setOrganizationName("flowlab-tests")
    QSettings().clear()  # a first start: the layout is fitted to the window
    w = MainWindow()
    qtbot.addWidget(w)
    w.resize(*size)
    w.show()
    qtbot.waitExposed(w)
    qtbot.waitUntil(lambda: w.controller.latest is not None, timeout=20000)
    qtbot.wait(100)
    hint = w.minimumSizeHint()
    assert hint.width() <= 1024 and hint.height() <= 600, hint
    assert w.size().toTuple() == size  # nothing forced it larger than the screen
    layers, params, panel = w.side_docks
    compact = size[0] < main_window.COMPACT_WIDTH
    assert (panel in w.tabifiedDockWidgets(layers)) == compact  # one side column on a small screen
    assert layers.width() >= 200
    w.panels.stack_panel.view.setCurrentIndex(w.panels.stack_panel.model.index(0))  # with a layer to show,
    qtbot.waitUntil(lambda: params.height() >= 120, timeout=3000)  # its parameters have room
    for name, button in w.panels.stack_panel.buttons.items():  # every stack button whole, not clipped
        assert button.isVisible() and button.width() >= button.sizeHint().width(), name
    for key, view in w.docks.views.items():
        if w.docks.docks[key].isVisible() and not w.docks.docks[key].visibleRegion().isEmpty():
            assert view.content.width() >= 100 and view.content.height() >= 80, key
    scroll = panel.widget()  # the target and training panel scrolls rather than setting the window's height
    assert isinstance(scroll, QScrollArea) and panel.minimumSizeHint().height() < 200
    if compact:
        panel.raise_()
        qtbot.waitUntil(lambda: scroll.isVisible(), timeout=2000)
    assert scroll.verticalScrollBar().maximum() > 0  # taller than the screen: it scrolls
    scroll.ensureWidgetVisible(w.panels.train_form.editors["eval_every"])
    assert not w.panels.train_form.editors["eval_every"].visibleRegion().isEmpty()
    w.close()


def test_the_stack_shows_shapes_after_a_target_change(qtbot, window) -> None:
    from PySide6.QtCore import Qt

    def labels() -> list[str]:
        view = window.panels.stack_panel.view
        model = window.panels.stack_panel.model
        return [view.model().data(model.index(r), Qt.DisplayRole) for r in range(len(window.doc.stack))]

    assert not any("→" in text for text in labels())  # 2-D moons: nothing changes shape
    from flowlab.flows import stack_shapes

    window.files.open_builtin("realnvp_digits")  # 8×8 digits: every row says what it hands on
    shapes = stack_shapes(window.doc.layers(), (1, 8, 8))
    assert (1, 8, 8) in shapes and len(set(shapes)) > 1  # the preset reshapes (squeeze, factor-out)
    for text, shape in zip(labels(), shapes, strict=True):
        assert text.endswith("→ " + "×".join(map(str, shape))), text
    combo = window.panels.target_panel.combo
    combo.setCurrentIndex(combo.findData("moons"))  # back to 2-D data
    valid = [r for r in range(len(window.doc.stack)) if window.doc.problems.get(r) is None]
    assert valid and all(window.doc.shapes[r] == (2,) for r in valid)  # recomputed for the new target
    assert not any("→" in text for text in labels())
