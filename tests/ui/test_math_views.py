"""The mathematics views, driven as a user drives them: the volume change (whole flow or one layer, following the
layer scrubber), each layer's share of log p(x), and the 1-D map printed under the change-of-variables figure."""

from __future__ import annotations

import re

import numpy as np
import pytest

pytest.importorskip("PySide6")

import torch
from PySide6.QtCore import Qt

from flowlab.flows import build_flow
from flowlab.targets.one_d import AffineGaussian1D
from flowlab.training.views import SnapshotMaker
from flowlab.ui.views import OneDView, SharesView, ViewContext, VolumeView
from flowlab.ui.views.volume import MIN_SPAN, symmetric_levels
from tests.training.test_volume_views import MIXED, _flow
from tests.training.toy import Banana

NUMBER = r"−?\d+\.\d+"


def _number(text: str) -> float:
    return float(text.replace("−", "-"))


@pytest.fixture(scope="module")
def snap():
    return SnapshotMaker(Banana(), grid_res=24, n_layer_points=300).make(_flow().float(), step=0)


def test_diverging_levels_are_symmetric_about_zero() -> None:
    assert symmetric_levels(np.array([[-0.5, 2.0], [0.1, np.nan]]), quantile=1.0) == (-2.0, 2.0)
    assert symmetric_levels(np.array([-3.0, 1.0, -np.inf]), quantile=1.0) == (-3.0, 3.0)
    assert symmetric_levels(np.zeros((4, 4))) == (-MIN_SPAN, MIN_SPAN)  # a volume-preserving layer: all white
    assert symmetric_levels(np.full((4, 4), -0.4)) == pytest.approx((-0.4, 0.4))  # a constant: its end colour
    field = np.random.default_rng(0).uniform(-1.0, 0.5, (100, 100))
    field[:3, :3] = 15.0  # a corner far from the data
    low, high = symmetric_levels(field)
    assert low == -high and 0.95 < high < 1.0  # the corner does not wash out the rest


def test_the_volume_view_draws_the_chosen_field_with_levels_centred_at_zero(qtbot, snap) -> None:
    view = VolumeView()
    qtbot.addWidget(view)
    view.configure(ViewContext(shape=(2,), layer_names=tuple(layer["kind"] for layer in MIXED)))
    view.update_snapshot(snap)
    grid = snap.density
    np.testing.assert_array_equal(view.current_image(), np.clip(grid.log_det, *view.levels()))
    low, high = view.levels()
    assert low == -high == -np.quantile(np.abs(grid.log_det), 0.99)
    assert "whole flow" in view.description()
    for k in range(len(MIXED)):
        view.follow_layer(k)
        assert view.chosen_layer() == k and view.chooser.currentText() == f"layer {k + 1}: {MIXED[k]['kind']}"
        assert f"layer {k + 1}: {MIXED[k]['kind']}" in view.description()
        np.testing.assert_array_equal(view.current_image(), np.clip(grid.layer_log_dets[k], *view.levels()))
        low, high = view.levels()
        assert low == -high == -max(np.quantile(np.abs(grid.layer_log_dets[k]), 0.99), MIN_SPAN)
    view.follow_layer(2)
    assert "keeps volume" in view.description()  # NICE's additive coupling
    view.follow_layer(1)
    assert "the same everywhere" in view.description()  # ActNorm
    view.chooser.setCurrentIndex(0)  # the view's own chooser
    np.testing.assert_array_equal(view.current_image(), np.clip(grid.log_det, *view.levels()))
    view.clear()
    assert view.current_image() is None


def test_the_shares_view_draws_the_parts_and_their_sum(qtbot, snap) -> None:
    view = SharesView()
    qtbot.addWidget(view)
    view.update_snapshot(snap)
    s = snap.layer_shares
    rows = view.rows()
    assert [label for label, _ in rows] == [*(f"{i + 1} · {layer['kind']}" for i, layer in enumerate(MIXED)),
                                            "log p_Z(z)", "log p(x) = sum"]
    np.testing.assert_allclose(view.bars.opts["width"], [*s.log_dets, s.base_log_prob, s.log_prob])
    assert sum(v for _, v in rows[:-1]) == pytest.approx(rows[-1][1], abs=1e-5)  # the bars add up
    assert view.bars.opts["width"][0] < 0 and view.values[0].anchor.x() == 1.0  # left of zero, its value beyond
    assert [t.toPlainText() for t in view.values][2] == "0.000"
    numbers = [_number(t) for t in re.findall(NUMBER, view.description())]
    assert numbers[0] == pytest.approx(s.log_prob, abs=1e-3) and numbers[1] == pytest.approx(s.base_log_prob,
                                                                                               abs=1e-3)
    assert "over 300 data points" in view.over()
    view.clear()
    assert view.rows() == [] and len(view.bars.opts["width"]) == 0 and not view.values


def test_the_one_d_figure_prints_the_affine_map_both_ways(qtbot) -> None:
    view = OneDView()
    qtbot.addWidget(view)
    flow = build_flow([{"kind": "elementwise_affine", "params": {"scale": 0.75, "shift": 1.0}}], (1,))
    snap = SnapshotMaker(AffineGaussian1D(0.75, 1.0)).make(flow, step=0)
    view.update_snapshot(snap)
    forward, back = view.formula_lines()
    a, b = (_number(t) for t in re.findall(NUMBER, forward)[:2])
    assert a == pytest.approx(4 / 3, abs=1e-3) and b == pytest.approx(4 / 3, abs=1e-3) and "− 1.333" in forward
    assert "data → latent" in forward and "|df/dx| = 1.333" in forward
    assert re.findall(NUMBER, back)[:2] == ["0.750", "1.000"] and "|dx/dz| = 0.750" in back  # u = 0.75·v + 1
    np.testing.assert_allclose(view.slope.getData()[1], 4 / 3, rtol=1e-5)
    view.clear()
    assert view.formula_lines() == [] and len(view.slope.getData()[0] or []) == 0


def test_the_one_d_figure_says_when_the_map_is_curved(qtbot) -> None:
    view = OneDView()
    qtbot.addWidget(view)
    flow = _flow([{"kind": "planar"}, {"kind": "planar"}], (1,), seed=2).float()
    snap = SnapshotMaker(AffineGaussian1D(0.75, 1.0)).make(flow, step=0)
    view.update_snapshot(snap)
    first, second = view.formula_lines()
    lo, hi = (_number(t) for t in re.findall(NUMBER, first))
    c = snap.curve_1d
    assert "not affine" in first and lo == pytest.approx(c.slope.min(), abs=1e-3)
    assert hi == pytest.approx(c.slope.max(), abs=1e-3)
    x0, z0 = (_number(t) for t in re.findall(NUMBER, second)[:2])
    with torch.no_grad():
        assert z0 == pytest.approx(flow(torch.tensor([[x0]]))[0].item(), abs=2e-3)


# -- in the window ------------------------------------------------------------------------------------------------
def _front(qtbot, window, key: str) -> None:
    window.docks.docks[key].raise_()
    qtbot.waitUntil(lambda: key in {r.key for r in _shown_rows(window)}, timeout=5000)


def _shown_rows(window):
    from flowlab.ui.views.table import VIEWS

    return [r for r in VIEWS if r.snapshot in window.docks.shown_views()]


def test_moving_the_scrubber_changes_the_volume_views_layer(qtbot, window) -> None:
    _front(qtbot, window, "volume")
    volume, scrubber = window.docks.views["volume"], window.docks.views["layers"]
    names = window.docks.views["layers"].layer_names
    assert volume.chooser.count() == len(names) + 1 and volume.chosen_layer() is None
    qtbot.waitUntil(lambda: volume.grid is not None and volume.grid.layer_log_dets is not None, timeout=20000)
    qtbot.waitUntil(lambda: scrubber.slider.maximum() == len(names), timeout=20000)
    scrubber.density.setChecked(True)  # x → z: the state after layer k
    scrubber.slider.setValue(2)
    assert volume.chosen_layer() == 1 and f"layer 2: {names[1]}" in volume.description()
    np.testing.assert_array_equal(volume.current_image(), np.clip(volume.grid.layer_log_dets[1], *volume.levels()))
    scrubber.sampling.setChecked(True)  # z → x: two of n layers undone, the last applied is layer n − 1
    assert volume.chosen_layer() == len(names) - 2
    scrubber.slider.setValue(0)  # no layer applied yet: the whole flow
    assert volume.chosen_layer() is None and "whole flow" in volume.description()
    qtbot.keyClick(scrubber.slider, Qt.Key_Right)  # by keyboard too
    assert volume.chosen_layer() == len(names) - 1


def test_the_math_views_forget_the_old_model(qtbot, window) -> None:
    """A target the stack cannot take: no session, and neither the volume change nor the shares keep the moons."""
    _front(qtbot, window, "volume")
    _front(qtbot, window, "shares")
    volume, shares = window.docks.views["volume"], window.docks.views["shares"]
    qtbot.waitUntil(lambda: volume.current_image() is not None and shares.rows() != [], timeout=20000)
    window.editor.set_target({"kind": "digits", "params": {}, "data": {}})
    window.controller.flush_restart()
    assert window.controller.session is None
    assert volume.current_image() is None and shares.rows() == []


def test_the_scrubber_names_the_layer_it_shows(qtbot, window) -> None:
    """Inside the stack the title names the layer that made the state shown: layer k after k layers going
    x → z, layer n − k + 1 after undoing k of n going z → x."""
    scrubber = window.docks.views["layers"]
    window.docks.docks["layers"].raise_()
    c = window.controller
    qtbot.waitUntil(lambda: c.latest is not None and c.latest.layers_forward is not None
                    and c.latest.layers_inverse is not None, timeout=20000)
    names = scrubber.layer_names
    n = len(names)
    scrubber.density.setChecked(True)
    qtbot.waitUntil(lambda: scrubber.slider.maximum() == n, timeout=5000)  # the data's states are drawn
    scrubber.slider.setValue(3)
    assert f"layer 3: {names[2]}" in scrubber.description()
    scrubber.sampling.setChecked(True)
    scrubber.slider.setValue(3)
    assert f"layer {n - 2}: {names[n - 3]}" in scrubber.description()
    scrubber.slider.setValue(n)  # the finished samples: no single layer to name
    assert "<br>" not in scrubber.description()


def test_on_images_the_scrubber_shows_each_layers_tensor_channel_by_channel(qtbot, window) -> None:
    """Glow on digits: after the squeeze (layer 2) one 1×8×8 image is 4×4×4, its four channels side by side;
    after the factor-out half of them have left for the base; the picture is the tensor's own values."""
    window.files.open_builtin("glow_digits")
    scrubber = window.docks.views["layers"]
    qtbot.waitUntil(lambda: window.docks.docks["layers"].isVisible(), timeout=20000)
    c = window.controller
    qtbot.waitUntil(lambda: c.latest is not None and c.latest.layers_forward is not None, timeout=30000)
    states = c.latest.layers_forward
    kinds = [e.kind for e in window.doc.stack if e.enabled]
    assert states[0].shape == (1, 1, 8, 8) and states[kinds.index("squeeze") + 1].shape == (1, 4, 4, 4)
    assert states[kinds.index("factor_out") + 1].shape == (1, 2, 4, 4)
    scrubber.density.setChecked(True)
    qtbot.waitUntil(lambda: scrubber.slider.maximum() == len(states) - 1, timeout=5000)
    scrubber.slider.setValue(2)
    assert "layer 2: squeeze" in scrubber.description() and "4 channels of 4×4" in scrubber.description()
    picture = scrubber.image.image
    assert picture.shape == (9, 9)  # 2 × 2 channels of 4 × 4, a pixel apart
    state = c.latest.layers_forward[2][0]
    for k, (r, q) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):  # each channel where the grid puts it
        np.testing.assert_allclose(picture[5 * r:5 * r + 4, 5 * q:5 * q + 4], state[k])


def test_the_scrubber_frames_the_bulk_of_the_points_not_a_few_outliers(qtbot) -> None:
    from flowlab.training.views import Snapshot
    from flowlab.ui.views.base import ViewContext
    from flowlab.ui.views.layers import LayerScrubber

    view = LayerScrubber()
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    view.configure(ViewContext(shape=(2,), layer_names=("additive_coupling",)))
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(1000, 2)).astype(np.float32)
    pts[:5] = -25.0  # NICE's early outliers
    view.update_snapshot(Snapshot(step=1, layers_inverse=(pts, pts)))
    (x0, x1), (y0, y1) = view.plot.vb.viewRange()
    assert -6 < x0 < -2 and -6 < y0 < -2  # the bulk, not −25
    # the axes follow the frame (they once kept reading 0…1 while the points were framed at ±4)
    assert view.plot.getAxis("bottom").range == pytest.approx([x0, x1])
    assert view.plot.getAxis("left").range == pytest.approx([y0, y1])
    view.plot.vb.sigRangeChangedManually.emit([True, True])  # the user zooms: the frame is theirs now
    view.plot.setRange(xRange=(-30, 5), yRange=(-30, 5), padding=0)
    view.update_snapshot(Snapshot(step=2, layers_inverse=(pts, pts)))
    assert view.plot.vb.viewRange()[0][0] < -25
