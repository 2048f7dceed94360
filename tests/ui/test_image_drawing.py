"""Drawing images with the mouse: the pixel canvas, the Draw images… dialog, and its target in the window."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from flowlab.targets import build_target
from flowlab.ui.canvas import ImageCanvas
from flowlab.ui.canvas_dialogs import DrawImagesDialog
from flowlab.ui.target_panel import TargetPanel

MOVE_MS = 15


def drag(canvas: ImageCanvas, points: list[tuple[float, float]], button=Qt.LeftButton) -> None:
    """Press at the first (row, col), move through the others, release at the last: real mouse events, sent to
    the viewport that takes them, 15 ms apart (pyqtgraph's scene drops moves faster than its 100 Hz rate limit,
    as a real mouse never sends them)."""
    target = canvas.viewport()
    QTest.mousePress(target, button, Qt.NoModifier, canvas.to_widget(*points[0]))
    for row, col in points[1:]:
        QTest.qWait(MOVE_MS)
        QTest.mouseMove(target, canvas.to_widget(row, col))
    QTest.qWait(MOVE_MS)
    QTest.mouseRelease(target, button, Qt.NoModifier, canvas.to_widget(*points[-1]))


@pytest.fixture
def canvas(qtbot) -> ImageCanvas:
    c = ImageCanvas(8)
    c.resize(320, 320)
    qtbot.addWidget(c)
    c.show()
    qtbot.waitExposed(c)
    return c


def test_a_mouse_stroke_paints_a_soft_line_and_the_right_button_erases(canvas, qtbot) -> None:
    with qtbot.waitSignal(canvas.changed):
        drag(canvas, [(4.5, 0.5), (4.5, 3.5), (4.5, 7.5)])  # a horizontal stroke along row 4
    g = canvas.image()
    assert (g[4] > 0.9).all(), "the stroke is continuous between mouse events"
    assert (g[3] > 0.05).all() and (g[3] < g[4]).all(), "the brush is soft at its edge"
    assert g[0].max() == 0.0 and g[7].max() == 0.0
    assert g.min() >= 0.0 and g.max() <= 1.0
    drag(canvas, [(4.5, 4.5)], Qt.RightButton)
    g2 = canvas.image()
    assert g2[4, 4] < 0.05 and g2[4, 0] > 0.9, "the right button erases around the click only"
    canvas.erase = True  # erase mode with the left button
    drag(canvas, [(4.5, 0.5), (4.5, 7.5)])
    assert canvas.image()[4].max() < 0.05
    canvas.clear()
    assert canvas.is_empty()


def test_painting_twice_does_not_go_beyond_full_ink(canvas) -> None:
    for _ in range(3):
        drag(canvas, [(2.5, 2.5), (2.6, 2.6)])
    assert canvas.image().max() == pytest.approx(1.0)


def test_the_28_pixel_canvas_and_its_brush(qtbot) -> None:
    dialog = DrawImagesDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.size_combo.setCurrentIndex(dialog.size_combo.findData(28))
    assert dialog.canvas.size_px == 28 and dialog.brush.value() == pytest.approx(dialog.canvas.brush)
    drag(dialog.canvas, [(14.0, 4.0), (14.0, 24.0)])
    g = dialog.canvas.image()
    assert g.shape == (28, 28) and (g[14, 5:23] > 0.9).all() and g[:10].max() == 0.0
    assert 2 <= int((g[:, 14] > 0.5).sum()) <= 5, "a stroke about as thick as an MNIST pen's"
    assert dialog.add_current()
    assert not dialog.size_combo.isEnabled(), "all images of a data set share one size"
    dialog.strip.item(0).setSelected(True)
    dialog.remove_button.click()
    assert dialog.images == [] and dialog.size_combo.isEnabled()


def test_fewer_than_two_images_or_an_unadded_drawing_is_refused(qtbot) -> None:
    dialog = DrawImagesDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.ok_button.click()
    assert dialog.isVisible() and "at least 2 images" in dialog.message.text()
    assert not dialog.add_current() and "empty" in dialog.message.text()  # nothing drawn: nothing added
    drag(dialog.canvas, [(1.5, 1.5), (6.5, 6.5)])
    dialog.add_button.click()
    assert len(dialog.images) == 1 and dialog.canvas.is_empty()
    dialog.ok_button.click()
    assert dialog.isVisible() and "you have 1" in dialog.message.text()
    drag(dialog.canvas, [(1.5, 6.5), (6.5, 1.5)])
    dialog.ok_button.click()  # two images counting the canvas, but the second was never added
    assert dialog.isVisible() and "press Add" in dialog.message.text()
    dialog.add_button.click()
    with qtbot.waitSignal(dialog.accepted):
        dialog.ok_button.click()
    config = dialog.target_config()
    target = build_target(config)
    assert config["kind"] == "drawn_images" and len(config["data"]["images"]) == 2
    assert target.shape == (1, 8, 8) and len(target.train_images) + len(target.test_images) == 2
    assert target.train_images.max() > 0  # the ink became levels


def drive_modal(qtbot, action: Callable, kind: type = DrawImagesDialog) -> list[BaseException]:
    """Run ``action`` on the modal dialog of type ``kind`` once it is open (exec() blocks); never leave it open."""
    errors: list[BaseException] = []

    def drive() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, kind):
            QTimer.singleShot(20, drive)
            return
        try:
            qtbot.waitExposed(dialog)
            action(dialog)
        except BaseException as e:
            errors.append(e)
        finally:
            if dialog.isVisible():
                dialog.reject()

    QTimer.singleShot(0, drive)
    return errors


def _draw_two_and_ok(dialog: DrawImagesDialog) -> None:
    drag(dialog.canvas, [(0.5, 3.5), (7.5, 3.5)])  # "1"
    dialog.add_button.click()
    drag(dialog.canvas, [(1.5, 1.5), (1.5, 6.5), (6.5, 6.5), (6.5, 1.5), (1.5, 1.5)])  # "0"
    dialog.add_button.click()
    assert dialog.strip.count() == 2
    dialog.ok_button.click()


def test_draw_images_button_emits_a_target_that_builds(qtbot) -> None:
    panel = TargetPanel()
    qtbot.addWidget(panel)
    panel.show()
    configs: list[dict] = []
    panel.config_requested.connect(configs.append)
    errors = drive_modal(qtbot, _draw_two_and_ok)
    panel.draw_images_button.click()
    assert not errors, errors
    assert len(configs) == 1
    images = np.array(configs[0]["data"]["images"])
    assert images.shape == (2, 8, 8) and images[0][:, 3].min() > 0.9 and images[1][4, 4] == 0.0
    assert build_target(configs[0]).shape == (1, 8, 8)




def test_drawn_images_become_the_windows_target_and_reopen_in_the_dialog(qtbot, window) -> None:
    errors = drive_modal(qtbot, _draw_two_and_ok)
    window.panels.target_panel.draw_images_button.click()
    assert not errors, errors
    assert window.doc.target["kind"] == "drawn_images" and not window.warnings
    assert len(window.current_preset().target["data"]["images"]) == 2  # saved with the preset
    assert window.doc.shape == (1, 8, 8)

    def add_one_more(dialog: DrawImagesDialog) -> None:
        assert dialog.strip.count() == 2 and not dialog.size_combo.isEnabled()  # the current images, to extend
        drag(dialog.canvas, [(3.5, 0.5), (3.5, 7.5)])
        dialog.add_button.click()
        dialog.ok_button.click()

    errors = drive_modal(qtbot, add_one_more)
    window.panels.target_panel.draw_images_button.click()
    assert not errors, errors
    assert len(window.doc.target["data"]["images"]) == 3
