"""The window on a small screen: a status bar that fits 1024 px and still tells everything, and per-view export
buttons that never cover plot content."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")

import pyqtgraph as pg
from PySide6.QtCore import QPoint, QRectF

from flowlab.training.messages import (
    Progress,
    Ready,
    Scored,
)
from flowlab.training.scoring import ImageScore
from flowlab.ui.views import AnomalyView, DensityView, View, ViewContext

LONG_DEVICE = "CUDA: NVIDIA GeForce RTX 4090 Laptop GPU"


def _labels(w):
    return (w.status.device, w.status.step, w.status.scores)


def test_the_status_bar_fits_1024_px_and_tells_everything(qtbot, window) -> None:
    window.controller.stop()  # no live progress overwrites the texts below
    qtbot.wait(200)  # what the stopped worker had already sent arrives now, not later
    font = window.font()
    font.setPointSizeF(font.pointSizeF() * 1.5)  # presentation-size text: the worst case
    window.setFont(font)
    window.resize(1024, 600)
    window.controller.handle(Ready(LONG_DEVICE, "mle", (), None, False))
    window.controller.handle(Progress(step=123456, steps_per_s=312.4, device=LONG_DEVICE, running=False, rows={
        "step": [123456.0], "train_nll": [-53.246], "train_bpd": [2.887], "test_nll": [-51.667],
        "test_bpd": [2.923]}))
    qtbot.wait(50)
    assert window.width() == 1024 and window.minimumSizeHint().width() <= 1024
    bar = window.statusBar()
    assert bar.geometry().right() < window.width()
    for label in _labels(window):
        assert label.isVisible() and label.x() >= 0 and label.geometry().right() < bar.width()
        # what is drawn fits the label (elided, never cut off mid-glyph)
        assert label.fontMetrics().horizontalAdvance(label.shown_text()) <= label.contentsRect().width()
        assert label.shown_text() == label.text() or label.text() in label.toolTip()
    told = " ".join(f"{label.shown_text()} {label.toolTip()}" for label in _labels(window))
    for fact in (LONG_DEVICE, "123456", "312", "2.887", "2.923", "-51.667"):
        assert fact in told


def test_the_status_bar_leaves_room_for_messages_at_1024_px(qtbot, window) -> None:
    window.controller.stop()
    qtbot.wait(200)
    window.resize(1024, 600)
    window.controller.handle(Ready(LONG_DEVICE, "mle", (), None, False))
    window.controller.handle(Progress(step=20000, steps_per_s=85.0, device=LONG_DEVICE, running=True, rows={
        "step": [20000.0], "train_nll": [1.2341], "test_nll": [1.2501], "kl_gap": [0.0123]}))
    qtbot.wait(50)
    assert window.status.scores.text() == "NLL train 1.234 · test 1.250 · gap 0.012"
    assert window.status.device.x() >= 300  # "saved weights to …" and such show left of the labels
    assert all(label.shown_text() == label.text() for label in _labels(window)[1:])  # at normal size: whole


def _content_rects(view: View) -> list[QRectF]:
    """View boxes, visible axes and colour bars of every plot, in the view's pixels."""
    offset = view.graphics.viewport().mapTo(view, QPoint(0, 0))
    items = []
    for item in view.graphics.ci.items:
        if isinstance(item, pg.PlotItem):
            items.append(item.vb)
            items += [item.getAxis(side) for side in ("left", "right", "top", "bottom")]
    items += [i for i in view.graphics.scene().items() if isinstance(i, pg.ColorBarItem)]
    rects = []
    for item in items:
        if item.isVisible():
            r = QRectF(view.graphics.mapFromScene(item.sceneBoundingRect()).boundingRect())
            rects.append(r.translated(offset.x(), offset.y()))
    return rects


def _covered(view: View) -> list[QRectF]:
    button = QRectF(view.export_button.geometry())
    return [r for r in _content_rects(view) if r.intersects(button) and r.width() > 0 and r.height() > 0]


def _score(step: int = 3) -> ImageScore:
    test = np.concatenate([np.linspace(2.0, 3.4, 60), np.full(200, 3.45)])  # the tallest bar is the rightmost
    return ImageScore(step=step, image=np.zeros((8, 8)), bpd=3.5, test_bpd=test, source="your drawing",
                      noun="test digits")


def test_the_export_button_does_not_cover_the_anomaly_histogram(qtbot) -> None:
    view = AnomalyView()
    qtbot.addWidget(view)
    view.configure(ViewContext(shape=(1, 8, 8)))
    view.resize(480, 280)
    view.show()
    qtbot.waitExposed(view)
    view.handle_event(Scored(_score()))
    qtbot.waitUntil(lambda: not _covered(view), timeout=3000)
    assert view.corner_margin > 0  # the histogram has no title row: it moved down just enough
    assert view.corner_margin <= view.export_button.height() + 4
    view.resize(360, 220)  # still clear at another size
    qtbot.waitUntil(lambda: not _covered(view), timeout=3000)


def test_a_plot_with_a_title_row_keeps_its_space(qtbot) -> None:
    view = DensityView()
    qtbot.addWidget(view)
    view.resize(420, 320)
    view.show()
    qtbot.waitExposed(view)
    qtbot.wait(50)
    assert not _covered(view) and view.corner_margin == 0  # the button sits in the empty end of the title row


@pytest.mark.parametrize("size", [(1024, 600), (1400, 900)])
def test_no_view_in_the_window_has_content_under_its_export_button(qtbot, window, size) -> None:
    window.files.open_builtin("realnvp_digits")
    window.resize(*size)
    qtbot.waitUntil(lambda: window.controller.last_ready is not None, timeout=30000)
    window.docks.views["anomaly"].handle_event(Scored(_score()))
    checked = set()
    for front in (("anomaly", "density"), ("samples", "images")):  # one view of each tab group at a time
        for key in front:
            window.docks.docks[key].raise_()
        qtbot.wait(100)
        for key, view in window.docks.views.items():
            dock = window.docks.docks[key]
            if dock.isVisible() and not dock.visibleRegion().isEmpty():
                qtbot.waitUntil(lambda view=view: not _covered(view), timeout=3000)
                checked.add(key)
    assert checked == {"anomaly", "images", "curves", "layers"}  # every view that can draw images (others hidden)


# -- image samples: each picture fills its cell ---------------------------------------------------------------------
def _fits(view) -> list[str]:
    """Pictures that do not fill their view box (square pixels, no padding: the limiting side within 2 px)."""
    bad = []
    for key, item in view.items.items():
        box = item.getViewBox().sceneBoundingRect()
        pic = item.sceneBoundingRect()
        inside = box.adjusted(-1, -1, 1, 1).contains(pic)
        tight = max(pic.width() / box.width(), pic.height() / box.height()) >= 0.98
        square = abs(pic.width() / pic.height() - item.width() / item.height()) < 0.02 * item.width() / item.height()
        if item.image is None or not (inside and tight and square):
            bad.append(f"{key}: picture {pic.getRect()} in box {box.getRect()}")
    return bad


def test_image_samples_fill_their_cells_after_training_and_resizing(qtbot, window) -> None:
    from tests.ui.test_main_window import _train

    window.resize(1400, 900)  # as ``flowlab render`` shoots it
    window.files.open_builtin("glow_digits")
    qtbot.waitUntil(lambda: window.controller.last_ready is not None, timeout=30000)
    _train(qtbot, window, 3)
    view = window.docks.views["images"]
    qtbot.waitUntil(lambda: all(item.image is not None for item in view.items.values()), timeout=30000)
    qtbot.waitUntil(lambda: not _fits(view), timeout=3000)
    samples = view.items["samples"].sceneBoundingRect()
    assert samples.height() >= 0.6 * min(view.graphics.width(), view.graphics.height())  # not a thumbnail (was 0.2)
    box = view.items["samples"].getViewBox().sceneBoundingRect()
    assert samples.height() >= 0.8 * min(box.width(), box.height())

    dock = window.docks.docks["images"]
    dock.setFloating(True)
    for size, arrangement in (((320, 760), "column"), ((820, 330), "grid"), ((420, 360), "grid")):
        dock.resize(*size)
        qtbot.waitUntil(lambda a=arrangement: view.arrangement == a and not _fits(view), timeout=3000)
        if arrangement == "column":  # one above the other, each as wide as the dock allows
            tops = [view.items[k].sceneBoundingRect().top() for k in ("samples", "recon", "interp")]
            assert tops == sorted(tops)
            assert view.items["samples"].sceneBoundingRect().width() >= 0.9 * view.graphics.width()
        else:  # the samples beside the two strips
            assert (view.items["samples"].sceneBoundingRect().right()
                    <= view.items["recon"].sceneBoundingRect().left())
        pictures = [view.items[k].sceneBoundingRect() for k in view.items]
        assert not any(a.intersects(b) for i, a in enumerate(pictures) for b in pictures[i + 1:])
        for item in view.items.values():  # titles sit just above their pictures, no gap between
            plot = item.getViewBox().parentItem()
            assert -0.5 <= item.sceneBoundingRect().top() - plot.titleLabel.sceneBoundingRect().bottom() <= 3


def test_image_pictures_keep_filling_when_their_shapes_change(qtbot) -> None:
    import numpy as np

    from flowlab.training.views import Snapshot
    from flowlab.ui.views import ImageSamplesView

    view = ImageSamplesView()
    qtbot.addWidget(view)
    view.resize(420, 340)
    view.show()
    qtbot.waitExposed(view)
    rng = np.random.default_rng(0)
    for side, steps in ((8, 8), (28, 5)):  # digits, then MNIST-sized images and a shorter interpolation
        view.update_snapshot(Snapshot(step=1, image_samples=rng.random((64, 1, side, side)),
                                      image_reconstructions=rng.random((2, 8, 1, side, side)),
                                      image_interpolation=rng.random((steps, 1, side, side))))
        qtbot.waitUntil(lambda: not _fits(view), timeout=3000)
    view.clear()  # no pictures: nothing to fit, and nothing breaks
    assert all(item.image is None for item in view.items.values())


# -- score a drawing: the canvas never hides behind its buttons ------------------------------------------------------
@pytest.mark.parametrize("size", [(478, 273), (351, 289), (304, 213), (300, 200), (478, 240), (640, 520)])
def test_the_drawing_canvas_shrinks_to_fit_above_its_buttons(qtbot, size) -> None:
    from PySide6.QtWidgets import QDockWidget, QPushButton, QWidget

    holder = QWidget()  # a dock squeezed by its neighbours may get less than its minimum size
    qtbot.addWidget(holder)
    holder.resize(900, 700)
    view = AnomalyView()
    view.configure(ViewContext(shape=(1, 8, 8)))
    dock = QDockWidget(AnomalyView.title, holder)
    dock.setWidget(view)
    dock.setGeometry(0, 0, *size)
    holder.show()
    qtbot.waitExposed(holder)
    qtbot.wait(20)
    canvas = view.canvas.geometry()
    buttons = [b for b in view.findChildren(QPushButton) if b.isVisible()]
    assert len(buttons) == 3  # Score, Clear, Score a test image
    for widget in buttons + [view.erase]:
        assert not canvas.intersects(widget.geometry()), (widget.text(), canvas, widget.geometry())
    assert abs(canvas.width() - canvas.height()) <= 1  # square, as drawn: no wasted width beside it
    drawn = view.canvas.pixel_rect()
    assert drawn.width() >= min(canvas.width(), canvas.height()) - 2  # the whole canvas is the drawing
    assert not canvas.intersects(view.graphics.geometry())


@pytest.mark.parametrize("size", [(1280, 800), (1024, 600)])
def test_the_drawing_canvas_clears_its_buttons_in_the_window(qtbot, window, size) -> None:
    window.resize(*size)  # the dock gets about 351×289 and 304×289 here: short of the old 140 px canvas
    window.files.open_builtin("realnvp_digits")
    qtbot.waitUntil(lambda: window.controller.last_ready is not None, timeout=30000)
    view = window.docks.views["anomaly"]
    window.docks.docks["anomaly"].raise_()
    qtbot.waitExposed(view.canvas)
    qtbot.wait(50)
    canvas = view.canvas.geometry()
    for widget in (view.score_button, view.random_button, view.erase):
        assert not canvas.intersects(widget.geometry())
    assert abs(canvas.width() - canvas.height()) <= 1 and canvas.height() >= 64  # square, and big enough to draw
