"""The readouts: the value under the cursor on every plotted view, read from the data the view last drew.

The cursor is moved as the user moves it (a real mouse move on the plot's viewport) or, where a point must be
exact, by the scene's own ``sigMouseMoved`` at a point mapped from data coordinates. Each expected value comes
from the snapshot's arrays at that point, not from the view."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QPoint, QPointF
from PySide6.QtTest import QTest

from flowlab.training.layer_detail import CouplingFields, LayerDetail
from flowlab.training.views import Curve1D, DensityGrid, LayerShares, Snapshot
from flowlab.ui.views import (
    CurvesView,
    DensityView,
    ImageSamplesView,
    LatentView,
    LayerScrubber,
    OneDView,
    SamplesView,
    SharesView,
    ViewContext,
    VolumeView,
    WarpView,
)
from flowlab.ui.views.coupling import CouplingView
from flowlab.ui.views.readout import num, point_text

BOUNDS = (0.0, 4.0, 0.0, 4.0)  # a 4×4 grid over [0, 4]²: pixel (row, col) covers [col, col+1] × [row, row+1]


def _view(qtbot, cls, size=(520, 420)):
    view = cls()
    qtbot.addWidget(view)
    view.resize(*size)
    view.show()
    qtbot.waitExposed(view)
    return view


def _hover(view, plot, x: float, y: float) -> str:
    """Move the cursor to the data point ``(x, y)`` of ``plot`` (the scene's own mouse-moved signal) and read."""
    plot.vb.updateAutoRange()  # as the next paint would: the plot frames what was just drawn
    at = plot.vb.mapViewToScene(QPointF(x, y))
    assert plot.vb.sceneBoundingRect().contains(at), "the point is not in view"
    view.graphics.scene().sigMouseMoved.emit(at)
    return view.readout_text()


def _grid(log_density: np.ndarray, layer_log_dets: np.ndarray | None = None) -> DensityGrid:
    return DensityGrid(BOUNDS, log_density, log_density * 0.5, layer_log_dets)


def test_the_density_readout_is_p_and_log_p_of_the_pixel_under_the_cursor(qtbot) -> None:
    view = _view(qtbot, DensityView)
    logp = np.log(np.arange(1, 17, dtype=np.float32) / 20).reshape(4, 4)
    view.update_snapshot(Snapshot(step=1, density=_grid(logp)))
    text = _hover(view, view.plot, 2.5, 1.5)  # column 2, row 1
    assert text.splitlines() == ["x = (2.5, 1.5)", f"p(x) = {num(math.exp(logp[1, 2]))}",
                                 f"log p(x) = {num(float(logp[1, 2]))}"]
    view.log_box.setChecked(True)  # the picture changes scale, the numbers are the density's own
    assert _hover(view, view.plot, 0.5, 3.5).splitlines()[2] == f"log p(x) = {num(float(logp[3, 0]))}"
    assert _hover(view, view.plot, 4.2, 1.0) == ""  # outside the grid: nothing to read
    assert not view.readout.isVisible()


def test_a_real_mouse_move_shows_the_readout_and_leaving_hides_it(qtbot) -> None:
    view = _view(qtbot, DensityView)
    logp = np.log(np.arange(1, 17, dtype=np.float32) / 20).reshape(4, 4)
    view.update_snapshot(Snapshot(step=1, density=_grid(logp)))
    qtbot.wait(20)
    where = view.graphics.mapFromScene(view.plot.vb.mapViewToScene(QPointF(1.5, 2.5)))
    QTest.mouseMove(view.graphics.viewport(), where)
    qtbot.waitUntil(lambda: view.readout_text() != "", timeout=2000)
    assert view.readout_text().splitlines()[1] == f"p(x) = {num(math.exp(logp[2, 1]))}"
    # The text sits in the plot's corner, inside the plot, whatever the point.
    assert view.plot.vb.sceneBoundingRect().contains(view.readout.sceneBoundingRect().topLeft())
    moved = where + QPoint(3, 0)  # at once: within pyqtgraph's mouse rate limit, which drops this move's signal
    QTest.mouseMove(view.graphics.viewport(), moved)

    def under_cursor() -> str:
        at = view.plot.vb.mapSceneToView(view.graphics.mapToScene(moved))
        return point_text("x", at.x(), at.y())

    qtbot.waitUntil(lambda: view.readout_text().splitlines()[:1] == [under_cursor()], timeout=2000)
    view.export_button.setFocus()
    QTest.mouseMove(view.export_button)  # the cursor leaves the plots: the readout goes
    qtbot.waitUntil(lambda: view.readout_text() == "", timeout=2000)


def test_a_new_frame_under_a_resting_cursor_updates_the_readout(qtbot) -> None:
    view = _view(qtbot, DensityView)
    logp = np.zeros((4, 4), dtype=np.float32)
    view.update_snapshot(Snapshot(step=1, density=_grid(logp)))
    assert _hover(view, view.plot, 1.5, 1.5).endswith("log p(x) = 0")
    view.update_snapshot(Snapshot(step=2, density=_grid(logp - 2.0)))
    view.refresh_readout()
    assert view.readout_text().endswith("log p(x) = −2")


def test_samples_read_coordinates_the_energy_density_and_1d_bars(qtbot) -> None:
    view = _view(qtbot, SamplesView)
    view.configure(ViewContext(shape=(2,), bounds=BOUNDS, energy=True))
    target = np.log(np.arange(1, 17, dtype=np.float32) / 40).reshape(4, 4)
    view.update_snapshot(Snapshot(step=1, model_samples=np.zeros((5, 2), np.float32),
                                  target_density=_grid(target)))
    assert _hover(view, view.data_plot, 3.5, 0.5).splitlines() == [
        "x = (3.5, 0.5)", f"target p(x) = {num(math.exp(target[0, 3]))}"]
    assert _hover(view, view.model_plot, 3.5, 0.5) == "x = (3.5, 0.5)"

    one_d = _view(qtbot, SamplesView)
    one_d.configure(ViewContext(shape=(1,), bounds=(0.0, 4.0)))
    data = np.array([[0.5], [0.6], [2.5], [3.5]], dtype=np.float32)
    one_d.update_snapshot(Snapshot(step=1, data_samples=data, model_samples=data[:2]))
    edges, heights = one_d.histograms()["model"]
    bar = int(np.searchsorted(edges, 0.55, side="right")) - 1
    assert heights[bar] > 0
    assert _hover(one_d, one_d.model_plot, 0.55, 0.1).splitlines() == [
        "x = 0.55", f"histogram density = {num(float(heights[bar]))}"]


def test_latent_and_warped_grid_say_the_point_in_their_space(qtbot) -> None:
    latent = _view(qtbot, LatentView)
    assert _hover(latent, latent.plot, 3.0, -4.0 + 1e-9).splitlines()[1] == f"‖z‖ = {num(5.0)}"
    warp = _view(qtbot, WarpView)
    for p in (warp.fwd_plot, warp.inv_plot):
        p.setRange(xRange=(-2, 2), yRange=(-2, 2))
    assert _hover(warp, warp.fwd_plot, 0.25, 0.5) == "z = (0.25, 0.5)"
    assert _hover(warp, warp.inv_plot, -0.75, 1.0) == "x = (−0.75, 1)"


def test_volume_change_reads_the_chosen_field(qtbot) -> None:
    view = _view(qtbot, VolumeView)
    view.configure(ViewContext(shape=(2,), bounds=BOUNDS, layer_names=("affine_coupling", "actnorm")))
    whole = np.arange(16, dtype=np.float32).reshape(4, 4) / 10
    layers = np.stack([whole * 0.25, whole * 0.75])
    view.update_snapshot(Snapshot(step=1, density=DensityGrid(BOUNDS, whole, whole, layers)))
    assert _hover(view, view.plot, 3.5, 2.5).splitlines()[1] == f"log|det ∂f/∂x| = {num(float(whole[2, 3]))}"
    view.follow_layer(1)
    assert _hover(view, view.plot, 3.5, 2.5).splitlines()[1] == f"log|det J2| = {num(float(layers[1, 2, 3]))}"


def test_layer_by_layer_names_the_state_and_reads_an_image_tensor(qtbot) -> None:
    view = _view(qtbot, LayerScrubber)
    view.configure(ViewContext(shape=(2,), layer_names=("a", "b")))
    states = tuple(np.full((10, 2), k, np.float32) + np.random.default_rng(k).normal(size=(10, 2)) for k in range(3))
    view.update_snapshot(Snapshot(step=1, layers_inverse=states))
    assert _hover(view, view.plot, 0.5, 0.25) == "x = (0.5, 0.25)"  # the end of sampling: data
    view.slider.setValue(0)
    assert _hover(view, view.plot, 0.5, 0.25) == "z = (0.5, 0.25)"  # the base samples
    view.slider.setValue(1)
    assert _hover(view, view.plot, 0.5, 0.25) == "h = (0.5, 0.25)"

    images = _view(qtbot, LayerScrubber)
    images.configure(ViewContext(shape=(1, 3, 3), layer_names=("a",)))
    tensor = np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)
    images.update_snapshot(Snapshot(step=1, layers_forward=(tensor, tensor * 2), layers_inverse=(tensor, tensor * 2)))
    picture = images.image.image
    row, col = 1, 2
    assert _hover(images, images.plot, col + 0.5, row + 0.5) == f"value {num(float(picture[row, col]))}"
    assert float(picture[row, col]) in (tensor * 2).ravel()


def test_the_1d_slide_reads_the_curves_at_the_nearest_point(qtbot) -> None:
    view = _view(qtbot, OneDView)
    x = np.linspace(-2, 2, 41)
    c = Curve1D(x=x, z=2 * x + 1, model_density=np.exp(-x**2), base_density_at_z=np.exp(-(2 * x + 1)**2),
                log_det=np.full_like(x, math.log(2)), true_density=None)
    view.update_snapshot(Snapshot(step=1, curve_1d=c))
    i = 25  # x = 0.5
    assert _hover(view, view.dens, 0.51, 0.1).splitlines() == [
        f"x = {num(x[i])}", f"p(x) = {num(c.model_density[i])}", f"p_Z(f(x)) = {num(c.base_density_at_z[i])}"]
    assert _hover(view, view.map_plot, 0.49, 0.0).splitlines()[1:] == [f"z = f(x) = {num(c.z[i])}", "|df/dx| = 2"]


def test_image_samples_read_which_image_and_its_pixel(qtbot) -> None:
    view = _view(qtbot, ImageSamplesView, (420, 600))
    images = np.random.default_rng(0).uniform(size=(16, 1, 4, 4)).astype(np.float32)
    view.update_snapshot(Snapshot(step=1, image_samples=images))
    qtbot.wait(20)
    picture = view.items["samples"].image  # 8 columns, 2 rows of 4×4 images with 1-pixel gaps, drawn bottom up
    # image 10 (second row, second column), pixel (row 2, col 3): from the top, 1 + 5 + 2; from the left, 1 + 5 + 3
    top, left = 1 + 5 + 2, 1 + 5 + 3
    y = picture.shape[0] - 1 - top + 0.5
    assert _hover(view, view.plots["samples"], left + 0.5, y).splitlines() == [
        "image 10, pixel (2, 3)", f"value {num(float(images[9, 0, 2, 3]))}"]
    assert _hover(view, view.plots["samples"], 5.5, y) == ""  # the gap between two images


def test_inside_a_coupling_reads_s_and_t_at_the_point(qtbot) -> None:
    view = _view(qtbot, CouplingView)
    s = np.arange(16, dtype=np.float32).reshape(4, 4) / 8
    fields = CouplingFields(BOUNDS, 0, s, -s, np.zeros((3, 2), np.float32), np.ones((3, 2), np.float32))
    view.update_snapshot(Snapshot(step=1, layer_detail=LayerDetail(0, "affine_coupling", (), fields)))
    qtbot.wait(20)
    assert _hover(view, view.s_plot, 1.5, 3.5).splitlines() == ["x = (1.5, 3.5)", f"s(x₁) = {num(float(s[3, 1]))}"]
    assert _hover(view, view.t_plot, 1.5, 3.5).splitlines()[1] == f"t(x₁) = {num(float(-s[3, 1]))}"
    assert _hover(view, view.merge, 1.0, 1.0) == "y = (1, 1)"


def test_the_curves_read_the_nearest_logged_step(qtbot) -> None:
    view = _view(qtbot, CurvesView)
    view.reset(entropy=1.0)
    nan = math.nan
    view.add_rows({"step": [10, 20, 30, 40], "train_nll": [3.0, 2.5, 2.2, 2.0],
                   "test_nll": [nan, 2.6, nan, 2.1], "valid_nll": [nan, nan, nan, nan]})
    view.plot.vb.autoRange()
    assert _hover(view, view.plot, 29.0, 2.5).splitlines() == ["step 30", "train 2.2", "test 2.6 (step 20)"]
    assert _hover(view, view.plot, 39.0, 2.5).splitlines() == ["step 40", "train 2", "test 2.1"]


def test_each_layers_share_reads_the_bar_under_the_cursor_in_full(qtbot) -> None:
    view = _view(qtbot, SharesView)
    shares = LayerShares(("affine_coupling", "actnorm"), np.array([0.123456789, -0.5]), -2.25, -2.626543211,
                         count=100, source="data")
    view.update_snapshot(Snapshot(step=1, layer_shares=shares))
    assert _hover(view, view.plot, 0.05, 0.1) == f"1 · affine_coupling\n{num(0.123456789, 6)} nats"
    assert _hover(view, view.plot, -0.1, 2.0) == "log p_Z(z)\n−2.25 nats"
    assert _hover(view, view.plot, -0.1, 3.4) == f"log p(x) = sum\n{num(-2.626543211, 6)} nats"


def test_the_anomaly_histogram_reads_the_bar_under_the_cursor(qtbot) -> None:
    from flowlab.training.scoring import ImageScore
    from flowlab.ui.views import AnomalyView

    view = _view(qtbot, AnomalyView, (600, 400))
    test = np.array([2.0, 2.1, 2.15, 2.2, 3.0, 3.9, 4.0])
    result = ImageScore(step=5, image=np.zeros((8, 8)), bpd=3.5, test_bpd=test, source="your drawing",
                        noun="test digits")
    view.show_score(result)
    counts, edges = result.histogram()
    i = int(np.argmax(counts))
    x = float(edges[i] + edges[i + 1]) / 2
    assert _hover(view, view.plot, x, 0.5).splitlines() == [
        f"{num(x)} bits/dim", f"{int(counts[i])} of the test digits in {num(edges[i])}–{num(edges[i + 1])}"]
