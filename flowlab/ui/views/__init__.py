"""The live views: one module per view, :mod:`~flowlab.ui.views.base` for what they share, and
:mod:`~flowlab.ui.views.table` listing them (a new view is one module and one row there)."""

from flowlab.ui.views.anomaly import AnomalyView
from flowlab.ui.views.base import STYLE, View, ViewContext, data_kind, histogram, set_presentation
from flowlab.ui.views.curves import CurvesView
from flowlab.ui.views.density import DensityView
from flowlab.ui.views.images import ImageSamplesView
from flowlab.ui.views.latent import LatentView
from flowlab.ui.views.layers import LayerScrubber
from flowlab.ui.views.one_d import OneDView
from flowlab.ui.views.samples import SamplesView
from flowlab.ui.views.shares import SharesView
from flowlab.ui.views.table import VIEWS, ViewRow
from flowlab.ui.views.trajectories import TrajectoriesView
from flowlab.ui.views.velocity import VelocityView
from flowlab.ui.views.volume import VolumeView
from flowlab.ui.views.warp import WarpView

__all__ = ["STYLE", "VIEWS", "AnomalyView", "CurvesView", "DensityView", "ImageSamplesView", "LatentView",
           "LayerScrubber", "OneDView", "SamplesView", "SharesView", "TrajectoriesView", "VelocityView", "View",
           "ViewContext", "ViewRow", "VolumeView", "WarpView", "data_kind", "histogram", "set_presentation"]
