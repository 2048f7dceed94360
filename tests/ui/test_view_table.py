"""The view table is the one place a view is declared: the window builds exactly one dock per row, and every
fact it needs (dock, tab group, menu entry, snapshot part, front view) comes from the rows."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

import numpy as np
from PySide6.QtWidgets import QDockWidget

from flowlab.training.messages import Failure, Progress, Ready, Score, Scored, SetViewOptions
from flowlab.training.views import ALL_VIEWS, Snapshot
from flowlab.ui.views import table
from flowlab.ui.views.base import DATA_KINDS, View, ViewContext
from flowlab.ui.views.table import VIEWS, ViewRow


def test_every_row_is_a_view_with_a_known_snapshot_part() -> None:
    keys = [row.key for row in VIEWS]
    assert len(set(keys)) == len(keys)
    titles = [row.title for row in VIEWS]
    assert len(set(titles)) == len(titles) and all(titles)  # docks are saved by title: each its own
    for row in VIEWS:
        assert issubclass(row.cls, View), row.key
        assert row.snapshot is None or row.snapshot in ALL_VIEWS, row.key
        assert row.data_kinds and row.data_kinds <= DATA_KINDS, row.key
    snapshots = [row.snapshot for row in VIEWS if row.snapshot]
    assert len(set(snapshots)) == len(snapshots)
    groups = table.groups()
    for pair in table.SIDE_BY_SIDE:
        assert set(pair) <= set(groups)
    for group, _ in table.HEIGHTS:
        assert group in groups
    for rows in groups.values():
        assert len({row.area for row in rows}) == 1  # a tab group has one place


def test_the_window_builds_one_dock_per_row(qtbot, window) -> None:
    docks = window.docks.area.findChildren(QDockWidget)
    assert len(docks) == len(VIEWS)
    assert list(window.docks.docks) == [row.key for row in VIEWS]
    for row in VIEWS:
        dock = window.docks.docks[row.key]
        assert dock.widget() is window.docks.views[row.key] and type(window.docks.views[row.key]) is row.cls
        assert dock.windowTitle() == row.title
        assert window.docks.area.dockWidgetArea(dock) == row.area
    for rows in table.groups().values():  # a group's shown views are tabs of one place (Qt lists shown tabs)
        shown = [window.docks.docks[r.key] for r in rows if not window.docks.docks[r.key].isHidden()]
        if len(shown) > 1:
            assert set(window.docks.area.tabifiedDockWidgets(shown[0])) == set(shown) - {shown[0]}
    view_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    actions = view_menu.actions()
    for row in VIEWS:
        assert window.docks.docks[row.key].toggleViewAction() in actions


class _ExtraView(View):
    """A view the window has never heard of: one class and one row."""

    title = "Extra"
    data_kinds = frozenset({"2d"})

    def __init__(self) -> None:
        super().__init__()
        self.contexts: list[ViewContext] = []
        self.events: list[object] = []
        self.snapshots: list[Snapshot] = []

    def configure(self, ctx: ViewContext) -> None:
        self.contexts.append(ctx)

    def update_snapshot(self, snap: Snapshot) -> None:
        self.snapshots.append(snap)

    def handle_event(self, event) -> None:
        self.events.append(event)


def test_a_new_view_is_one_row(qtbot, monkeypatch) -> None:
    from tests.ui.conftest import open_window

    row = ViewRow("extra", _ExtraView, table.R, "extra", "warp")
    monkeypatch.setattr(table, "VIEWS", (*VIEWS, row))
    window = open_window(qtbot)
    try:
        extra = window.docks.views["extra"]
        assert isinstance(extra, _ExtraView) and window.docks.docks["extra"].windowTitle() == "Extra"
        assert extra.contexts and extra.contexts[-1].shape == (2,) and extra.contexts[-1].bounds is not None
        assert extra.contexts[-1].layer_names  # the default preset's stack
        qtbot.waitUntil(lambda: bool(extra.snapshots), timeout=20000)  # drawn like any other view
        window.docks.docks["extra"].raise_()
        extra_dock, samples_dock = window.docks.docks["extra"], window.docks.docks["samples"]
        assert extra_dock not in window.docks.area.tabifiedDockWidgets(samples_dock)  # its own place, beside
        assert extra_dock.x() > samples_dock.x()
        qtbot.waitUntil(lambda: "warp" in window.docks.shown_views(), timeout=5000)
        window.files.open_builtin("glow_digits")  # images: the extra cannot draw them, its dock hides
        assert window.docks.docks["extra"].isHidden()
        assert not window.docks.docks["extra"].toggleViewAction().isEnabled()
        window.docks.route(Failure("score", "x"))  # events reach every view
        assert extra.events[-1] == Failure("score", "x")
    finally:
        window.close()


# -- the generic protocol, view by view ---------------------------------------------------------------------------
def test_curves_follow_ready_and_progress_events(qtbot) -> None:
    from flowlab.ui.views import CurvesView

    view = CurvesView()
    qtbot.addWidget(view)
    view.configure(ViewContext(shape=(2,)))
    view.handle_event(Ready(device="cpu", objective="mle", notes=(), entropy=1.5, images=False))
    assert view.floor.isVisible() and view.floor.value() == 1.5
    view.handle_event(Progress(step=2, steps_per_s=1.0, rows={"step": [1, 2], "train_nll": [3.0, 2.0]},
                               device="cpu", running=True))
    view.handle_event(Progress(step=3, steps_per_s=1.0, rows={"step": [3], "train_nll": [1.8]}, device="cpu",
                               running=True))
    assert list(view.train.getData()[1]) == [3.0, 2.0, 1.8]
    view.handle_event(Progress(step=1, steps_per_s=1.0, rows={"step": [1], "train_nll": [2.9]}, device="cpu",
                               running=True, restarted=True))  # a reset: the record starts again, the floor stays
    assert list(view.train.getData()[1]) == [2.9] and view.floor.isVisible()
    view.handle_event(Progress(step=1, steps_per_s=1.0, rows={"step": [1], "train_nll": [2.8]}, device="cpu",
                               running=True))  # not flagged, but it starts again all the same
    assert list(view.train.getData()[1]) == [2.8]
    view.handle_event(Ready(device="cpu", objective="reverse_kl", notes=(), entropy=None, images=False))
    assert view.energy and "true KL" in view.plot.titleLabel.text
    view.configure(ViewContext(shape=(1, 8, 8)))  # a new target: bits/dim, no floor
    assert view.bits and not view.floor.isVisible() and not view.columns
    view.handle_event(Ready(device="cpu", objective="mle", notes=(), entropy=4.0, images=True))
    assert not view.floor.isVisible()  # no entropy floor on a bits/dim plot


def test_image_options_are_commands(qtbot) -> None:
    from flowlab.ui.views import ImageSamplesView

    view = ImageSamplesView()
    qtbot.addWidget(view)
    assert view.session_commands() == (SetViewOptions(view.options()),)
    with qtbot.waitSignal(view.command) as sent:
        view.temperature.setValue(50)
    assert isinstance(sent.args[0], SetViewOptions) and sent.args[0].options["temperature"] == 0.5


def test_the_anomaly_view_asks_by_command_and_answers_events(qtbot) -> None:
    from flowlab.training.scoring import ImageScore
    from flowlab.ui.views import AnomalyView

    view = AnomalyView()
    qtbot.addWidget(view)
    view.configure(ViewContext(shape=(1, 8, 8)))
    assert view.score_button.isEnabled() and view.canvas.size_px == 8
    with qtbot.waitSignal(view.command) as sent:
        view.random_button.click()
    assert isinstance(sent.args[0], Score) and sent.args[0].test_index is not None
    view.handle_event(Failure("step", "not for me"))
    assert "not for me" not in view.label.text()
    view.handle_event(Failure("score", "cannot score that"))
    assert "cannot score that" in view.label.text()
    score = ImageScore(step=3, image=np.zeros((8, 8)), bpd=3.0, test_bpd=np.linspace(2.0, 4.0, 50),
                       source="your drawing", noun="test digits")
    view.handle_event(Scored(score))
    assert view.result is score and view.line.isVisible()
    view.configure(ViewContext(shape=(2,)))  # not images: nothing to score
    assert not view.score_button.isEnabled() and view.result is None


def test_the_image_view_draws_the_shared_tiling(qtbot) -> None:
    from flowlab.training.tiling import tile
    from flowlab.ui.views import ImageSamplesView

    view = ImageSamplesView()
    qtbot.addWidget(view)
    images = np.random.default_rng(1).random((16, 1, 4, 4))
    view.update_snapshot(Snapshot(step=1, image_samples=images))
    assert np.array_equal(view.items["samples"].image, tile(images, 8)[::-1])  # ImageItem: row 0 at the bottom


def test_a_divergence_is_a_mark_and_exploded_values_leave_the_axis(qtbot) -> None:
    """Values that exploded before the roll-back point stay in the record but not on the axis; the step that
    diverged is a dashed mark saying where the weights went back to, kept through the roll-back's restarted
    record and gone after a reset."""
    from flowlab.ui.views import CurvesView
    from flowlab.ui.views.curves import robust_top

    view = CurvesView()
    qtbot.addWidget(view)
    view.configure(ViewContext(shape=(2,)))
    steps = list(range(1, 41))
    nll = [3.0 - 0.02 * s for s in steps[:35]] + [1e3, 1e6, 1e9, 1e12, 1.4e15]
    view.handle_event(Progress(step=40, steps_per_s=1.0, rows={"step": steps, "train_nll": nll}, device="cpu",
                               running=True))
    top = robust_top(np.asarray(nll))
    assert top == pytest.approx(nll[0])  # the finite curve's own top
    assert view.plot.vb.viewRange()[1][1] < 20  # the axis is on the finite curve, not at 1.4e15
    assert robust_top(np.asarray(nll[:35])) is None  # a plain decreasing curve keeps autorange

    view.handle_event(Failure("diverged", "step 41: …", step=41, rolled_back_to=25))
    assert view.divergence() == 41 and "rolled back to step 25" in view.diverged.label.format
    view.handle_event(Progress(step=25, steps_per_s=1.0, rows={"step": steps[:25], "train_nll": nll[:25]},
                               device="cpu", running=False, restarted=True))  # the roll-back's record
    assert view.divergence() == 41 and len(view.train.getData()[0]) == 25
    view.handle_event(Progress(step=0, steps_per_s=1.0, rows={"step": [], "train_nll": []}, device="cpu",
                               running=False, restarted=True))  # a reset
    assert view.divergence() is None


def test_exploded_scores_read_short_in_the_status_line() -> None:
    from flowlab.ui.status import scores_text

    short, _ = scores_text({"train_nll": [1388969606512640.0], "test_nll": [2.5]})
    assert short == "NLL train 1.39e+15 · test 2.500"


def test_a_steep_first_fall_is_not_taken_for_an_explosion() -> None:
    from flowlab.ui.views.curves import robust_top

    nll = np.array([20.0, 9.0, 4.0] + [2.0 + 0.01 * np.sin(i) for i in range(200)])
    assert robust_top(nll) is None


def test_an_empty_record_does_not_keep_the_last_records_axes(qtbot) -> None:
    from flowlab.ui.views import CurvesView

    view = CurvesView()
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    view.configure(ViewContext(shape=(2,)))
    view.handle_event(Progress(step=900, steps_per_s=1.0, rows={"step": list(range(100, 1000, 100)),
                                                                  "train_nll": [50.0 + i for i in range(9)]},
                               device="cpu", running=True))
    qtbot.waitUntil(lambda: view.plot.vb.viewRange()[0][1] > 800, timeout=3000)
    view.configure(ViewContext(shape=(2,)))  # a new model, nothing trained yet
    qtbot.wait(100)
    (x0, x1), (y0, y1) = view.plot.vb.viewRange()
    assert x1 < 10 and y1 < 10
