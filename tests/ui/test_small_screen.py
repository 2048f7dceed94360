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
    window.presentation_action.setChecked(True)
    tick, label, title, legend = _texts(curves)
    window.presentation_action.setChecked(False)
    tick0, label0, title0, legend0 = _texts(curves)
    assert tick > 1.4 * tick0 and label > 1.4 * label0 and title > 1.4 * title0 and legend > 1.4 * legend0
    line_label = next(i for i in curves.graphics.scene().items() if isinstance(i, pg.TextItem))
    size = line_label.textItem.font().pointSizeF()
    window.presentation_action.setChecked(True)
    assert line_label.textItem.font().pointSizeF() > 1.4 * size
    curves.reset(2.0)  # a new session's legend entries come at the presentation size too
    assert float(curves.plot.legend.items[0][1].opts["size"][:-2]) > 1.4 * legend0
    window.presentation_action.setChecked(False)
    assert _texts(curves)[:3] == (tick0, label0, title0)
