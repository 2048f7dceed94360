"""The view table: every live view is one row here and one module beside this one. The window builds its docks,
their tab groups and places, the View menu, the snapshot parts it asks the session for and the view that comes
to the front for the data, from these rows alone.

Layout, read from the rows: views of one ``group`` share a place as tabs, in the table's order; the first view
of a group that can draw the data comes to the front. Groups in one dock area sit side by side, in order.
``SIDE_BY_SIDE`` pairs of groups are kept at equal widths, and ``HEIGHTS`` share the height between the
groups above and below.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt

from flowlab.errors import FlowlabError
from flowlab.ui.views.anomaly import AnomalyView
from flowlab.ui.views.base import View
from flowlab.ui.views.coupling import CouplingView
from flowlab.ui.views.curves import CurvesView
from flowlab.ui.views.density import DensityView
from flowlab.ui.views.images import ImageSamplesView
from flowlab.ui.views.latent import LatentView
from flowlab.ui.views.layers import LayerScrubber
from flowlab.ui.views.one_d import OneDView
from flowlab.ui.views.probe import ProbeView
from flowlab.ui.views.samples import SamplesView
from flowlab.ui.views.shares import SharesView
from flowlab.ui.views.trajectories import TrajectoriesView
from flowlab.ui.views.velocity import VelocityView
from flowlab.ui.views.volume import VolumeView
from flowlab.ui.views.warp import WarpView


@dataclass(frozen=True)
class ViewRow:
    """One view: its ``key`` (the window's name for it, kept in the user's closed-views setting), its class,
    the dock area and tab group it starts in, and the snapshot part it draws (a name from
    ``flowlab.training.views.ALL_VIEWS``, or None when it needs none: computed only while the view is shown)."""

    key: str
    cls: type[View]
    area: Qt.DockWidgetArea
    group: str
    snapshot: str | None

    @property
    def title(self) -> str:
        return self.cls.title

    @property
    def data_kinds(self) -> frozenset[str]:
        return self.cls.data_kinds


L, R, B = Qt.LeftDockWidgetArea, Qt.RightDockWidgetArea, Qt.BottomDockWidgetArea

VIEWS: tuple[ViewRow, ...] = (
    ViewRow("density", DensityView, L, "main", "density"),
    ViewRow("one_d", OneDView, L, "main", "curve_1d"),
    ViewRow("images", ImageSamplesView, L, "main", "images"),
    ViewRow("velocity", VelocityView, L, "main", "velocity"),  # inside a continuous layer: shown for stacks with one
    ViewRow("samples", SamplesView, R, "points", "samples"),
    ViewRow("latent", LatentView, R, "points", "latent"),
    ViewRow("warp", WarpView, R, "points", "warp"),
    ViewRow("volume", VolumeView, R, "points", "volume"),
    ViewRow("anomaly", AnomalyView, R, "points", None),
    ViewRow("coupling", CouplingView, R, "points", "coupling"),
    ViewRow("trajectories", TrajectoriesView, R, "points", "trajectories"),
    ViewRow("curves", CurvesView, B, "curves", None),
    ViewRow("probe", ProbeView, B, "curves", None),  # the probe point's numbers (computed while a point is set)
    ViewRow("shares", SharesView, B, "curves", "shares"),
    ViewRow("layers", LayerScrubber, B, "layers", "layers"),
)

SIDE_BY_SIDE: tuple[tuple[str, str], ...] = (("main", "points"), ("curves", "layers"))
HEIGHTS: tuple[tuple[str, int], ...] = (("main", 3), ("curves", 2))  # the views above, the curves below


def find(key: str) -> ViewRow:
    """The row of ``key``; an unknown key raises :class:`FlowlabError` listing the valid ones."""
    for row in VIEWS:
        if row.key == key:
            return row
    raise FlowlabError(f"no view '{key}'; the views are {', '.join(r.key for r in VIEWS)}")


def groups() -> dict[str, list[ViewRow]]:
    """The tab groups in the table's order, each with its rows in order."""
    out: dict[str, list[ViewRow]] = {}
    for row in VIEWS:
        out.setdefault(row.group, []).append(row)
    return out
