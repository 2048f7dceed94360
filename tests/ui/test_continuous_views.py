"""The views inside a continuous layer, and the training panel's objectives, driven as a user drives them: the
velocity and trajectory docks show for a stack with a cnf layer and hide for one without, the time slider changes
the field drawn, the layer scrubber steps through the solver's times (the probe marker with it), and flow matching
is a disabled choice, with the reason under the form, for a stack it cannot train."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")

import torch

from flowlab.flows import build_flow
from flowlab.training.probe import probe
from flowlab.training.views import ProbeAt, SnapshotMaker
from flowlab.ui.views import LayerScrubber, TrajectoriesView, VelocityView, ViewContext
from flowlab.ui.views.inside_continuous import HEAD, arrows, polylines
from tests.training.toy import Banana

CNF_VIEWS = ("velocity", "trajectories")


def _open(qtbot, window, key: str) -> None:
    window.files.open_builtin(key)
    qtbot.waitUntil(lambda: window.controller.last_ready is not None, timeout=30000)
    qtbot.wait(50)


@pytest.fixture(scope="module")
def cnf_snapshot():
    torch.manual_seed(0)
    flow = build_flow([{"kind": "cnf", "params": {"hidden": 8, "steps": 8}}], (2,))
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(0.5 * torch.randn(p.shape))
    maker = SnapshotMaker(Banana(), n_samples=200, grid_res=16, n_layer_points=100,
                          views=frozenset({"trajectories", "velocity", "layers"}))
    return flow.eval(), maker.make(flow.eval(), step=0, full=True)


def test_paths_and_arrows_are_one_nan_separated_polyline_each() -> None:
    paths = np.arange(3 * 2 * 2, dtype=np.float32).reshape(3, 2, 2)  # 3 states of 2 points
    xs, ys = polylines(paths)
    assert xs.shape == (8,) and np.isnan(xs[[3, 7]]).all()
    np.testing.assert_array_equal(xs[:3], paths[:, 0, 0]) and np.testing.assert_array_equal(ys[4:7], paths[:, 1, 1])
    points, vectors = np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([[1.0, 0.0], [0.0, -2.0]])
    xs, ys = arrows(points, vectors, scale=0.5)
    drawn = np.stack([xs, ys], axis=1).reshape(2, 7, 2)
    np.testing.assert_allclose(drawn[:, 1], points + 0.5 * vectors, atol=1e-6)  # the tips
    np.testing.assert_allclose(drawn[:, 0], points, atol=1e-6)
    barb = np.linalg.norm(drawn[:, 3] - drawn[:, 1], axis=1)
    np.testing.assert_allclose(barb, HEAD * 0.5 * np.linalg.norm(vectors, axis=1), rtol=1e-6)
    assert np.isnan(drawn[:, [2, 6]]).all()


def test_the_views_apply_to_2d_stacks_with_a_layer_that_has_a_velocity_field() -> None:
    for view in (VelocityView, TrajectoriesView):
        assert view.applies_to((2,), ("actnorm", "cnf"))
        assert not view.applies_to((2,), ("affine_coupling", "reverse"))
        assert not view.applies_to((3,), ("cnf",)) and not view.applies_to((1,), ("cnf",))
        assert "velocity field (cnf)" in view.stack_needs


def test_the_trajectories_view_draws_every_path(qtbot, cnf_snapshot) -> None:
    _, snap = cnf_snapshot
    view = TrajectoriesView()
    qtbot.addWidget(view)
    view.configure(ViewContext(shape=(2,), layer_names=("cnf",)))
    view.update_snapshot(snap)
    paths = snap.trajectories
    xs, _ = view.lines[0].getData()
    assert len(xs) == paths.forward.states.shape[1] * (paths.forward.states.shape[0] + 1)
    np.testing.assert_array_equal(view.ends[1].getData()[0], paths.inverse.states[-1, :, 0])
    assert "x → z" in view.plots[0].titleLabel.text
    view.clear()
    assert len(view.lines[0].getData()[0] if view.lines[0].getData()[0] is not None else []) == 0


def test_the_scrubber_steps_through_the_solvers_times_with_the_probe(qtbot, cnf_snapshot) -> None:
    flow, snap = cnf_snapshot
    view = LayerScrubber()
    qtbot.addWidget(view)
    view.configure(ViewContext(shape=(2,), layer_names=("cnf",)))
    view.density.setChecked(True)  # data → latent
    view.update_snapshot(snap)
    assert view.slider.maximum() == 8, "x, 7 states inside the layer, z"
    view.slider.setValue(3)
    inside = snap.inside_forward[0]
    np.testing.assert_array_equal(view.points.getData()[0], inside.states[3, :, 0])
    assert "inside layer 1 (cnf) at t = 0.375" in view.description() and view.chosen_layer() == 0
    view.slider.setValue(8)
    assert "latent z" in view.description() and view.chosen_layer() == 0
    view.slider.setValue(0)
    assert view.chosen_layer() is None

    result = probe(flow, (0.3, -0.2))
    view.show_probe(ProbeAt((0.3, -0.2)), result)
    view.slider.setValue(3)
    assert view.probe_here.isVisible()
    expected = result.steps[0].inside[1][3]
    assert view.probe_here.pos().x() == pytest.approx(expected[0], abs=1e-6)
    assert view.probe_here.pos().y() == pytest.approx(expected[1], abs=1e-6)
    assert len(view.probe_path.getData()[0]) == 9  # the probe's path with the states inside the layer

    view.sampling.setChecked(True)  # z → x: undoing the layer, t from 1 to 0
    view.slider.setValue(2)
    assert "at t = 0.75" in view.description()


def test_the_cnf_views_show_for_a_cnf_stack_and_the_slider_changes_the_field(qtbot, window) -> None:
    _open(qtbot, window, "flow_matching_moons")
    for key in CNF_VIEWS:
        assert not window.docks.docks[key].isHidden(), key
        assert window.docks.docks[key].toggleViewAction().isEnabled()
    window.docks.docks["velocity"].raise_()
    view = window.docks.views["velocity"]
    qtbot.waitUntil(lambda: view.drawn_time() is not None, timeout=30000)
    before_t = view.drawn_time()
    before = view.arrows.getData()[1].copy()
    view.slider.setValue(0.9)
    qtbot.waitUntil(lambda: view.drawn_time() == pytest.approx(0.9), timeout=30000)
    assert before_t == pytest.approx(0.5)
    after = view.arrows.getData()[1]
    assert after.shape == before.shape and not np.allclose(after, before, equal_nan=True)
    assert "t = 0.90" in view.plot.titleLabel.text


def test_the_cnf_views_hide_for_a_stack_without_a_continuous_layer(qtbot, window) -> None:
    _open(qtbot, window, "realnvp_moons")
    shown = {k for k, dock in window.docks.docks.items() if not dock.isHidden()}
    assert not shown & set(CNF_VIEWS)
    for key in CNF_VIEWS:
        action = window.docks.docks[key].toggleViewAction()
        assert not action.isEnabled() and "velocity field (cnf)" in action.statusTip()
        assert key not in window.docks.shown_views()
    window.editor.insert_layer(0, "cnf")  # one continuous layer in the stack: they come back
    qtbot.waitUntil(lambda: all(not window.docks.docks[k].isHidden() for k in CNF_VIEWS), timeout=30000)


def test_flow_matching_is_a_disabled_choice_with_the_reason_for_other_stacks(qtbot, window) -> None:
    _open(qtbot, window, "realnvp_moons")
    combo = window.panels.train_form.editors["objective"]
    note = window.panels.objective_note
    index = combo.findText("flow_matching")
    assert not combo.model().item(index).isEnabled()
    assert all(combo.model().item(i).isEnabled() for i in range(combo.count()) if i != index)
    assert note.isVisibleTo(window) and "flow matching is unavailable" in note.text()
    assert "this stack has 8 layers" in note.text() and "velocity field" in str(combo.itemData(index, 3))

    _open(qtbot, window, "flow_matching_moons")
    assert combo.model().item(index).isEnabled() and combo.currentText() == "flow_matching"
    assert not note.isVisibleTo(window)

    window.editor.insert_layer(1, "actnorm")  # the chosen objective can no longer train the stack
    assert not combo.model().item(index).isEnabled() and note.isVisibleTo(window)
    assert "cannot train this stack" in note.text() and "this stack has 2 layers" in note.text()
    assert window.doc.first_problem() is not None and window.doc.first_problem() in note.text()
    window.editor.undo_stack.undo()
    assert combo.model().item(index).isEnabled() and not note.isVisibleTo(window)


def test_the_probe_panel_lists_the_point_inside_a_continuous_layer(cnf_snapshot) -> None:
    from flowlab.ui.views.probe import result_html

    flow, _ = cnf_snapshot
    result = probe(flow, (0.3, -0.2))
    text = result_html(result)
    times, states = result.steps[0].inside
    assert "inside: t = 0 (" in text and "→ t = 0.5 (" in text and "→ t = 1 (" in text
    assert f"{states[4][0]:.3f}" in text  # the point at t = 0.5
