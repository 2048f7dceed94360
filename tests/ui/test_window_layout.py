"""The window on a small screen: a status bar that fits 1024 px and still tells everything, and per-view export
buttons that never cover plot content."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")

import pyqtgraph as pg  # noqa: E402
from PySide6.QtCore import QPoint, QRectF  # noqa: E402

from flowlab.training.scoring import ImageScore  # noqa: E402
from flowlab.ui.anomaly_view import AnomalyView  # noqa: E402
from flowlab.ui.views import DensityView, View  # noqa: E402
from flowlab.ui.worker import Progress  # noqa: E402
from tests.ui.test_main_window import warnings, window  # noqa: E402, F401 - fixtures

LONG_DEVICE = "CUDA: NVIDIA GeForce RTX 4090 Laptop GPU"


def _labels(w):
    return (w.status_device, w.status_step, w.status_scores)


def test_the_status_bar_fits_1024_px_and_tells_everything(qtbot, window) -> None:
    window._stop_session()  # no live progress overwrites the texts below
    qtbot.wait(200)  # what the stopped worker had already sent arrives now, not later
    font = window.font()
    font.setPointSizeF(font.pointSizeF() * 1.5)  # presentation-size text: the worst case
    window.setFont(font)
    window.resize(1024, 600)
    window._session_ready({"device": LONG_DEVICE, "notes": []})
    window._on_progress(Progress(step=123456, steps_per_s=312.4, device=LONG_DEVICE, running=False, rows={
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
    window._stop_session()
    qtbot.wait(200)
    window.resize(1024, 600)
    window._session_ready({"device": LONG_DEVICE, "notes": []})
    window._on_progress(Progress(step=20000, steps_per_s=85.0, device=LONG_DEVICE, running=True, rows={
        "step": [20000.0], "train_nll": [1.2341], "test_nll": [1.2501], "kl_gap": [0.0123]}))
    qtbot.wait(50)
    assert window.status_scores.text() == "NLL train 1.234 · test 1.250 · gap 0.012"
    assert window.status_device.x() >= 300  # "saved weights to …" and such show left of the labels
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
    view.set_image_shape((1, 8, 8))
    view.resize(480, 280)
    view.show()
    qtbot.waitExposed(view)
    view.show_score(_score())
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
    window.open_builtin("realnvp_digits")
    window.resize(*size)
    qtbot.waitUntil(lambda: window.session.worker.trainer is not None, timeout=30000)
    window.views["anomaly"].show_score(_score())
    checked = set()
    for front in (("anomaly", "density"), ("samples", "images")):  # one view of each tab group at a time
        for key in front:
            window.view_docks[key].raise_()
        qtbot.wait(100)
        for key, view in window.views.items():
            dock = window.view_docks[key]
            if dock.isVisible() and not dock.visibleRegion().isEmpty():
                qtbot.waitUntil(lambda view=view: not _covered(view), timeout=3000)
                checked.add(key)
    assert {"anomaly", "density", "samples", "images", "curves", "layers"} <= checked
