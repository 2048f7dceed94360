"""The probe point in the window: a click in a view places it, every 2-D view marks it, the panel shows each
layer's numbers — checked against the same model built independently — and it follows both directions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPointF, Qt
from torch.func import jacrev

from flowlab.targets import build_target
from flowlab.training.probe import ProbeRefused, ProbeResult
from flowlab.training.trainer import Trainer
from flowlab.training.views import ProbeAt


def _click(qtbot, view, plot, x: float, y: float) -> None:
    """A left click at data coordinates (x, y) of ``plot``, through the widget as a user's mouse gives it."""
    scene = plot.vb.mapViewToScene(QPointF(x, y))
    pos = view.graphics.mapFromScene(scene)
    qtbot.mouseClick(view.graphics.viewport(), Qt.LeftButton, pos=pos)


def _answered(window):
    panel = window.docks.views["probe"]
    return isinstance(panel.result, ProbeResult | ProbeRefused) and panel.result.start == window.docks.probe.point


def _model_at_step_0(window) -> torch.nn.Module:
    doc = window.doc
    trainer = Trainer(doc.layers(), build_target(doc.target_config()), doc.training, base=doc.base)
    return trainer.flow.eval()


def test_a_click_in_the_density_view_shows_each_layers_numbers(window, qtbot) -> None:
    assert not window.controller.running and window.controller.latest.step == 0
    density, panel = window.docks.views["density"], window.docks.views["probe"]
    _click(qtbot, density, density.plot, 0.5, 0.25)
    assert window.docks.probe is not None and not window.docks.probe.inverse
    assert window.docks.probe.point == pytest.approx((0.5, 0.25), abs=0.1)  # a pixel's worth
    qtbot.waitUntil(lambda: _answered(window), timeout=10000)
    result = panel.result
    assert window.docks.docks["probe"].isVisible()  # the panel came to the front

    flow = _model_at_step_0(window)  # the same preset and seed, built here: the panel's numbers are its numbers
    x = torch.tensor([list(result.start)], dtype=torch.float32)
    with torch.no_grad():
        assert result.log_prob == pytest.approx(float(flow.log_prob(x)[0]), abs=1e-4)
    first = flow.layers[0]
    jac = jacrev(lambda v: first(v.unsqueeze(0))[0].squeeze(0))(x[0])
    assert np.allclose(result.steps[0].jacobian, jac.detach().numpy(), atol=1e-5)
    assert [s.kind for s in result.steps] == [entry.kind for entry in window.doc.stack if entry.enabled]
    html = panel.text.toPlainText()
    assert f"log p(x) = {result.log_prob:.4f}" in html and "data → latent" in html
    assert all(s.kind in html for s in result.steps)

    # marked in every 2-D view: x where there is data space, z in the latent view
    assert density.probe_marks[0].position() == pytest.approx(tuple(result.x), abs=1e-6)
    latent = window.docks.views["latent"]
    assert latent.probe_marks[0].position() == pytest.approx(tuple(result.z), abs=1e-5)
    scrubber = window.docks.views["layers"]
    assert len(scrubber.probe_path.getData()[0]) == len(result.steps) + 1


def test_a_click_in_latent_space_follows_z_back_to_x(window, qtbot) -> None:
    latent = window.docks.views["latent"]
    dock = window.docks.docks["latent"]
    qtbot.waitUntil(lambda: dock.raise_() or (latent.isVisible() and latent.plot.vb.width() > 50),
                    timeout=5000)  # a new session's views may come to the front after the first raise
    _click(qtbot, latent, latent.plot, -1.0, 0.5)
    assert window.docks.probe.inverse
    qtbot.waitUntil(lambda: _answered(window), timeout=10000)
    result = window.docks.views["probe"].result
    assert result.inverse and "latent → data" in window.docks.views["probe"].text.toPlainText()
    flow = _model_at_step_0(window)
    with torch.no_grad():
        x, _ = flow.inverse(torch.tensor([list(result.start)], dtype=torch.float32))
        assert np.allclose(result.x, x[0].numpy(), atol=1e-5)
        assert result.log_prob == pytest.approx(float(flow.log_prob(x)[0]), abs=1e-4)
    assert window.docks.views["density"].probe_marks[0].position() == pytest.approx(tuple(result.x), abs=1e-5)


def test_typed_points_dragging_and_clearing(window, qtbot) -> None:
    panel = window.docks.views["probe"]
    panel.entry.setText("1, 2, 3")
    qtbot.keyClick(panel.entry, Qt.Key_Return)
    qtbot.waitUntil(lambda: _answered(window), timeout=10000)
    assert isinstance(panel.result, ProbeRefused) and "3 coordinate" in panel.text.toPlainText()
    panel.entry.setText("one, two")
    qtbot.keyClick(panel.entry, Qt.Key_Return)
    assert "numbers separated by commas" in panel.text.toPlainText()

    panel.entry.setText("0.25, -0.5")
    qtbot.keyClick(panel.entry, Qt.Key_Return)
    assert window.docks.probe == ProbeAt((0.25, -0.5))
    qtbot.waitUntil(lambda: _answered(window) and isinstance(panel.result, ProbeResult), timeout=10000)
    mark = window.docks.views["density"].probe_marks[0]
    mark.target.setPos(1.0, -0.75)  # what a drag of the marker does
    assert window.docks.probe == ProbeAt((1.0, -0.75))
    qtbot.waitUntil(lambda: _answered(window), timeout=10000)
    assert panel.result.x == pytest.approx([1.0, -0.75])
    assert panel.entry.text() == "1, -0.75"

    qtbot.mouseClick(panel.clear_button, Qt.LeftButton)
    assert window.docks.probe is None and mark.position() is None
    assert "Click a point" in panel.text.toPlainText()


def test_the_probe_survives_a_new_model(window, qtbot) -> None:
    """An edit builds a new session: it is told the probe point, and the panel shows the new model's numbers."""
    window.docks.set_probe(ProbeAt((0.5, 0.5)))
    qtbot.waitUntil(lambda: _answered(window), timeout=10000)
    before = window.docks.views["probe"].result
    window.editor.remove_layer(0)
    qtbot.waitUntil(lambda: _answered(window) and len(window.docks.views["probe"].result.steps)
                    == len(before.steps) - 1, timeout=15000)


def test_another_document_starts_without_the_probe(window, qtbot) -> None:
    window.docks.set_probe(ProbeAt((0.5, 0.5)))
    window.files.open_builtin("nice_moons")
    assert window.docks.probe is None
    assert all(m.position() is None for v in window.docks.views.values() for m in v.probe_marks)
    assert "Click a point" in window.docks.views["probe"].text.toPlainText()


def test_a_preset_opens_with_its_views_in_front_its_probe_and_its_layer(window, qtbot) -> None:
    window.files.open_builtin("jacobian_of_a_coupling")
    assert window.docks.probe == ProbeAt((0.5, 0.25))
    assert window.panels.stack_panel.view.current_row() == 0
    qtbot.waitUntil(lambda: window.controller.last_ready is not None, timeout=20000)
    qtbot.waitUntil(lambda: window.docks.docks["probe"].isVisible() and window.docks.docks["coupling"].isVisible()
                    and not window.docks.docks["coupling"].visibleRegion().isEmpty(), timeout=5000)
    qtbot.waitUntil(lambda: _answered(window), timeout=10000)
    assert isinstance(window.docks.views["probe"].result, ProbeResult)


def test_a_view_the_window_does_not_know_is_said(window, qtbot) -> None:
    from flowlab.presets import preset_from_dict

    doc = window.current_preset().to_dict()
    doc["view"] = {"front": ["no_such_view"]}
    window.apply_preset(preset_from_dict(doc))
    assert "no view 'no_such_view'" in window.statusBar().currentMessage()



def test_a_click_on_a_drawn_point_places_the_probe_too(window, qtbot) -> None:
    """A scatter accepts clicks on its points: a click right on a sample still places the probe there."""
    samples = window.docks.views["samples"]
    dock = window.docks.docks["samples"]
    qtbot.waitUntil(lambda: dock.raise_() or (samples.isVisible() and samples.model_plot.vb.width() > 50),
                    timeout=5000)
    qtbot.waitUntil(lambda: len(samples.model_item.data) > 0, timeout=10000)
    x, y = (float(v) for v in samples.model_item.data[0][["x", "y"]])
    _click(qtbot, samples, samples.model_plot, x, y)
    assert window.docks.probe is not None and not window.docks.probe.inverse
    assert window.docks.probe.point == pytest.approx((x, y), abs=0.1)
