"""A 1024×600 screen: the whole window (frame, status bar) on it, no room kept for an empty panel, and
presentation mode growing the plots' text (axis ticks, titles, legends) along with the window's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

import pyqtgraph as pg
from PySide6.QtCore import QMargins, QRect, QSize

from flowlab.ui.main_window import fitted_geometry
from flowlab.ui.views.base import PRESENTATION_FONT_SCALE, SMALLEST_PRESENTATION_SCALE, presentation_scale
from flowlab.ui.views.curves import CurvesView

SMALL_SCREEN_CHECK = """
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
app.setOrganizationName("flowlab-tests")
QSettings().clear()
from flowlab.ui.main_window import MainWindow
w = MainWindow()
w.show()
QTimer.singleShot(1500, app.quit)
app.exec()
avail, frame = w.screen().availableGeometry(), w.frameGeometry()
bar = w.statusBar()
bottom = bar.mapTo(w, bar.rect().bottomLeft()).y() + w.geometry().top()
print("FIT", avail.contains(frame), bottom <= avail.bottom(), frame.width(), frame.height())
w.controller.stop()
"""


@pytest.mark.parametrize("frame", [QMargins(0, 0, 0, 0), QMargins(2, 30, 2, 2)])
def test_fitted_geometry_keeps_the_frame_on_the_available_screen(frame) -> None:
    available = QRect(0, 24, 1024, 576)  # a top panel takes 24 px
    inner = fitted_geometry(available, frame)
    outer = inner.adjusted(-frame.left(), -frame.top(), frame.right(), frame.bottom())
    assert available.contains(outer) and outer.width() == 1024 and outer.height() == 576
    big = fitted_geometry(QRect(0, 0, 2560, 1440), frame)
    assert big.size() == QSize(1400, 900) and QRect(0, 0, 2560, 1440).center() == big.adjusted(
        -frame.left(), -frame.top(), frame.right(), frame.bottom()).center()


def test_a_first_start_on_a_1024x600_screen_shows_the_whole_window(tmp_path) -> None:
    """A real offscreen screen of 1024×600 whose windows have a frame."""
    config = tmp_path / "screen.json"
    config.write_text(json.dumps({"windowFrameMargins": True, "screens": [
        {"name": "small", "x": 0, "y": 0, "width": 1024, "height": 600, "logicalDpi": 96, "dpr": 1}]}))
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "QT_QPA_PLATFORM": f"offscreen:configfile={config}", "PYTHONPATH": str(root),
           "HOME": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", SMALL_SCREEN_CHECK], cwd=root, env=env, capture_output=True,
                         text=True, timeout=300)
    line = next((ln for ln in run.stdout.splitlines() if ln.startswith("FIT")), run.stdout + run.stderr)
    assert line.split()[1:3] == ["True", "True"], line


def test_with_no_layer_selected_the_layer_parameters_dock_gives_its_room_to_the_list(qtbot, window) -> None:
    panel = window.panels.stack_panel
    layers, params, _ = window.side_docks
    panel.view.setCurrentIndex(panel.model.index(0))
    qtbot.waitUntil(lambda: params.height() > params.minimumSizeHint().height() + 4, timeout=3000)
    panel.view.selectionModel().clearCurrentIndex()
    qtbot.waitUntil(lambda: params.height() <= params.minimumSizeHint().height() + 4, timeout=3000)
    panel.view.setCurrentIndex(panel.model.index(1))
    qtbot.waitUntil(lambda: params.height() > 2 * params.minimumSizeHint().height(), timeout=3000)


def _texts(view):
    plot = view.plot
    axis = plot.getAxis("bottom")
    return (axis.style["tickFont"].pointSizeF() if axis.style["tickFont"] else None, axis.label.font().pointSizeF(),
            float(plot.titleLabel.opts["size"][:-2]), float(plot.legend.opts["labelTextSize"][:-2]))


def test_presentation_mode_grows_the_plots_text_and_gives_it_back(qtbot, window) -> None:
    curves = window.docks.views["curves"]
    grow = 0.95 * presentation_scale(window.screen().geometry().height())
    window.presentation_action.setChecked(True)
    tick, label, title, legend = _texts(curves)
    density = curves.plot.getAxis("left")._tickDensity
    window.presentation_action.setChecked(False)
    tick0, label0, title0, legend0 = _texts(curves)
    assert tick > grow * tick0 and label > grow * label0 and title > grow * title0 and legend > grow * legend0
    # bigger tick text, fewer ticks: the numbers do not overlap
    assert density < 0.85 and curves.plot.getAxis("left")._tickDensity == 1.0
    line_label = next(i for i in curves.graphics.scene().items() if isinstance(i, pg.TextItem))
    size = line_label.textItem.font().pointSizeF()
    window.presentation_action.setChecked(True)
    assert line_label.textItem.font().pointSizeF() > grow * size
    curves.reset(2.0)  # a new session's legend entries come at the presentation size too
    assert float(curves.plot.legend.items[0][1].opts["size"][:-2]) > grow * legend0
    window.presentation_action.setChecked(False)
    assert _texts(curves)[:3] == (tick0, label0, title0)


def test_presentation_text_grows_with_the_screen_and_less_on_a_small_one() -> None:
    assert presentation_scale(600) == SMALLEST_PRESENTATION_SCALE > 1.2
    assert presentation_scale(1080) == PRESENTATION_FONT_SCALE == presentation_scale(2160)
    assert presentation_scale(600) < presentation_scale(800) < presentation_scale(900)


def test_the_entropy_label_ends_inside_a_narrow_curves_plot(qtbot) -> None:
    view = CurvesView()
    qtbot.addWidget(view)
    view.resize(210, 220)
    view.show()
    qtbot.waitExposed(view)
    view.reset(entropy=1.5)
    view.add_rows({"step": [0, 100], "train_nll": [3.0, 1.2], "test_nll": [3.1, 1.3]})
    qtbot.wait(100)  # the label follows the view's range
    assert view.floor.isVisible() and view.floor.label.isVisible()
    scene_box = view.floor.label.mapRectToScene(view.floor.label.boundingRect())
    plot_box = view.plot.vb.mapRectToScene(view.plot.vb.boundingRect())
    assert plot_box.left() <= scene_box.left() and scene_box.right() <= plot_box.right() + 1, (scene_box, plot_box)


def _layout_fits(view) -> bool:
    """The view's pyqtgraph layout needs no more room than its widget has (else plots on the right are clipped)."""
    from PySide6.QtCore import Qt

    need = view.graphics.ci.effectiveSizeHint(Qt.MinimumSize)
    return need.width() <= view.graphics.viewport().width() + 0.5


@pytest.mark.parametrize("key", ["warp", "volume", "shares", "coupling", "curves"])
def test_long_titles_wrap_so_every_plot_fits_a_narrow_dock_in_presentation_mode(qtbot, key) -> None:
    from flowlab.ui import views
    from flowlab.ui.views.table import VIEWS

    view = next(r.cls for r in VIEWS if r.key == key)()
    qtbot.addWidget(view)
    view.resize(330, 400)
    view.show()
    qtbot.waitExposed(view)
    try:
        views.set_presentation(True, PRESENTATION_FONT_SCALE)
        view.apply_style()
        qtbot.waitUntil(lambda: _layout_fits(view), timeout=3000)
        assert view.graphics.ci.geometry().width() <= view.graphics.viewport().width() + 2
    finally:
        views.set_presentation(False)
        view.apply_style()
    view.resize(1200, 400)  # room again: titles on one line
    qtbot.waitUntil(lambda: all(i.item.textWidth() < 0 for i in view.graphics.scene().items()
                                if isinstance(i, pg.LabelItem)), timeout=3000)


def test_a_first_start_gives_the_views_above_three_fifths_of_the_height(qtbot, window) -> None:
    from flowlab.ui.views.table import HEIGHTS

    (top, a), (bottom, b) = HEIGHTS
    docks = window.docks.docks
    qtbot.waitUntil(lambda: abs(docks["density"].height() / max(docks["curves"].height(), 1) - a / b) < 0.15,
                    timeout=3000)
