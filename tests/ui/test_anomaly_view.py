"""The one-click anomaly demo: draw a digit, Score it on the training thread, see it against the test set."""

from __future__ import annotations

import re

import numpy as np
import pytest

pytest.importorskip("PySide6")


from flowlab.training.messages import Score, Scored
from flowlab.training.scoring import ImageScore
from tests.ui.test_image_drawing import drag

NUMBER = re.compile(r"\d+\.\d+ bits/dim")




def test_scoring_needs_an_image_target(window) -> None:
    view = window.docks.views["anomaly"]
    assert not view.score_button.isEnabled() and "image target" in view.label.text()


def test_draw_score_and_compare_with_the_test_set(qtbot, window) -> None:
    window.files.open_builtin("realnvp_digits")
    qtbot.waitUntil(lambda: window.controller.last_ready is not None, timeout=30000)
    window.controller.toggle_play()
    c = window.controller
    qtbot.waitUntil(lambda: c.last_progress is not None and c.last_progress.step >= 10, timeout=60000)
    window.controller.toggle_play()
    view = window.docks.views["anomaly"]
    window.docks.docks["anomaly"].raise_()
    qtbot.waitExposed(view.canvas)
    assert view.score_button.isEnabled() and view.canvas.size_px == 8

    results: list[ImageScore] = []
    window.controller.session.event.connect(lambda e: results.append(e.result) if isinstance(e, Scored) else None)
    drag(view.canvas, [(0.5, 0.5), (0.5, 7.5), (7.5, 7.5), (7.5, 0.5), (0.5, 0.5)])  # a frame: no digit
    assert not view.canvas.is_empty()
    view.score_button.click()
    qtbot.waitUntil(lambda: view.result is not None and bool(results), timeout=30000)
    result = view.result
    assert results[-1] is result and result.source == "your drawing"  # delivered by the worker's signal
    n_test = window.controller.session.spec.settings.n_test
    assert len(result.test_bpd) == n_test and np.isfinite(result.test_bpd).all()
    heights = view.bars.opts["height"]
    assert int(np.sum(heights)) == n_test  # the histogram holds every test image
    assert view.line.isVisible() and view.line.value() == pytest.approx(result.bpd)
    assert NUMBER.search(view.label.text()) and "test digits" in view.label.text()
    lo, hi = view.plot.viewRange()[0]
    assert lo <= result.bpd <= hi  # the line is in view, however far out

    view.random_button.click()
    qtbot.waitUntil(lambda: view.result is not result, timeout=30000)
    typical = view.result
    assert typical.source.startswith("test image") and "test image" in view.label.text()
    assert NUMBER.search(view.label.text())
    assert np.array_equal(view.canvas.image(), typical.image)  # what was scored is on the canvas
    assert not window.warnings


def test_a_refused_drawing_is_explained_in_the_panel(qtbot, window) -> None:
    window.files.open_builtin("realnvp_digits")
    qtbot.waitUntil(lambda: window.controller.last_ready is not None, timeout=30000)
    view = window.docks.views["anomaly"]
    view.score_button.click()  # an empty canvas
    assert "empty" in view.label.text()
    window.controller.session.send(Score(image=np.zeros((28, 28))))  # the wrong size, straight to the session
    qtbot.waitUntil(lambda: "28×28" in view.label.text(), timeout=30000)
    assert "8×8" in view.label.text() and view.result is None
