"""Which view docks the window shows: every dock whose view can draw the target's data (and that the user has not
closed), none that would stay empty for good; the user's View-menu choices are kept, across targets and restarts."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QSettings

from flowlab.ui.main_window import MainWindow
from flowlab.ui.views import VIEWS, data_kind

SHOWN = {
    "2d": {"density", "samples", "latent", "warp", "volume", "layers", "curves", "shares", "coupling", "probe"},
    "1d": {"one_d", "samples", "layers", "curves", "shares", "probe"},
    "image": {"images", "anomaly", "curves", "layers"},
}


def _open(qtbot, window, key: str) -> None:
    window.files.open_builtin(key)
    qtbot.waitUntil(lambda: window.controller.last_ready is not None, timeout=30000)
    qtbot.wait(50)


def _shown(window) -> set[str]:
    return {k for k, dock in window.docks.docks.items() if not dock.isHidden()}


def _check_rule(window, kind: str) -> None:
    assert data_kind(window.doc.shape) == kind
    assert _shown(window) == SHOWN[kind]
    for key, dock in window.docks.docks.items():
        action = dock.toggleViewAction()
        kinds = tuple(e.kind for e in window.doc.stack if e.enabled)
        assert action.isEnabled() == window.docks.views[key].applies_to(window.doc.shape, kinds)
        if not action.isEnabled():
            assert "does not apply" in action.statusTip() or "velocity field" in action.statusTip()
            snapshot = next(row.snapshot for row in VIEWS if row.key == key)
            assert snapshot is None or snapshot not in window.docks.shown_views()  # nothing computed for it


@pytest.mark.parametrize("preset, kind", [("glow_digits", "image"), ("change_of_variables_1d", "1d"),
                                          ("realnvp_moons", "2d")])
def test_only_the_views_that_can_draw_the_data_are_shown(qtbot, window, preset, kind) -> None:
    _open(qtbot, window, preset)
    _check_rule(window, kind)


def test_image_targets_hide_the_point_views_and_keep_the_scrubber(qtbot, window) -> None:
    _open(qtbot, window, "glow_digits")
    for key in ("density", "samples", "latent", "warp", "one_d"):
        assert window.docks.docks[key].isHidden(), key
    curves, layers = window.docks.docks["curves"], window.docks.docks["layers"]
    assert curves.isVisible() and layers.isVisible() and layers.x() > curves.x()  # side by side, as on points
    assert {"images", "layers"} <= window.docks.shown_views()


def test_one_dimensional_targets_hide_the_latent_and_warped_grid_views(qtbot, window) -> None:
    _open(qtbot, window, "change_of_variables_1d")
    assert window.docks.docks["latent"].isHidden() and window.docks.docks["warp"].isHidden()
    assert {"curve_1d", "samples", "layers"} <= window.docks.shown_views()


def test_docks_come_back_in_their_places(qtbot, window) -> None:
    d = window.docks.docks
    area = {k: window.docks.area.dockWidgetArea(dock) for k, dock in d.items()}
    tabs = set(window.docks.area.tabifiedDockWidgets(d["samples"]))
    assert {d["latent"], d["warp"]} <= tabs
    for key in ("glow_digits", "change_of_variables_1d", "glow_digits", "realnvp_moons"):
        _open(qtbot, window, key)
    _check_rule(window, "2d")
    assert {k: window.docks.area.dockWidgetArea(dock) for k, dock in d.items()} == area
    assert set(window.docks.area.tabifiedDockWidgets(d["samples"])) == tabs  # the same tab group
    assert not window.docks.area.tabifiedDockWidgets(d["layers"])  # still beside the curves, not a tab
    assert d["layers"].x() > d["curves"].x() and d["layers"].y() == d["curves"].y()
    assert "density" in window.docks.shown_views() and "samples" in window.docks.shown_views()


def test_the_users_view_menu_choices_are_kept(qtbot, window) -> None:
    latent = window.docks.docks["latent"]
    latent.toggleViewAction().trigger()  # View ▸ Latent space: closed by the user
    assert latent.isHidden() and "latent" in window.docks.closed
    _open(qtbot, window, "glow_digits")
    _open(qtbot, window, "realnvp_moons")
    assert latent.isHidden()  # it applies again, but the user closed it
    latent.toggleViewAction().trigger()  # opened again
    assert not latent.isHidden() and "latent" not in window.docks.closed
    _open(qtbot, window, "glow_digits")
    assert latent.isHidden() and not latent.toggleViewAction().isEnabled()
    _open(qtbot, window, "realnvp_moons")
    assert not latent.isHidden()

    window.docks.docks["warp"].close()  # the dock's own close button counts as the user's choice too
    assert "warp" in window.docks.closed
    _open(qtbot, window, "change_of_variables_1d")
    _open(qtbot, window, "realnvp_moons")
    assert window.docks.docks["warp"].isHidden()


def test_closed_views_stay_closed_after_a_restart(qtbot, window) -> None:
    window.docks.docks["latent"].toggleViewAction().trigger()
    _open(qtbot, window, "glow_digits")  # hidden by the rule when the window closes: not the user's choice
    window.close()
    again = MainWindow()
    qtbot.addWidget(again)
    again.show()
    qtbot.waitUntil(lambda: again.controller.last_ready is not None, timeout=30000)
    try:
        assert again.docks.closed == {"latent"}
        assert again.docks.docks["latent"].isHidden()
        assert _shown(again) == SHOWN["2d"] - {"latent"}
    finally:
        again.close()


def test_a_layout_saved_before_the_rule_keeps_the_users_closed_docks(qtbot, window) -> None:
    window.docks.ruling = True  # an older flowlab hid no dock itself: only the user's closed ones were hidden
    for key, dock in window.docks.docks.items():
        dock.setVisible(key != "warp")
    settings = QSettings()
    settings.setValue("viewState", window.docks.area.saveState())
    settings.remove("closedViews")
    again = MainWindow()
    qtbot.addWidget(again)
    again.show()
    qtbot.waitUntil(lambda: again.controller.last_ready is not None, timeout=30000)
    try:
        assert again.docks.closed == {"warp"} and again.docks.docks["warp"].isHidden()
        assert _shown(again) == SHOWN["2d"] - {"warp"}
    finally:
        again.close()


def test_a_target_the_stack_cannot_take_leaves_no_old_model_on_show(qtbot, window) -> None:
    """Moons → 8×8 digits under the moons RealNVP (vector couplings cannot take images): no session, and no view
    or status text keeps showing the moons model."""
    c = window.controller
    qtbot.waitUntil(lambda: window.docks.views["density"].current_image() is not None, timeout=20000)
    c.single_step()
    qtbot.waitUntil(lambda: window.status.scores.text() != "", timeout=20000)
    window.editor.set_target({"kind": "digits", "params": {}, "data": {}})
    c.flush_restart()
    assert c.session is None and not window.play_action.isEnabled() and "⚠" in window.status.step.text()
    views = window.docks.views
    assert views["density"].current_image() is None
    assert views["samples"].model_item.getData()[0] is None or len(views["samples"].model_item.getData()[0]) == 0
    assert len(views["curves"].train.getData()[0] or []) == 0 and not views["curves"].floor.isVisible()
    assert window.status.scores.text() == "" and c.latest is None
