"""Affine autoregressive flows with a MADE conditioner: MAF (Papamakarios et al. 2017) and IAF (Kingma et al. 2016).

Both use the same elementwise map between data x and latent z, with μ_i, α_i functions of earlier coordinates:

    MAF:  z_i = (x_i − μ_i(x_<i)) · exp(−α_i(x_<i))   density (forward) in one pass, sampling in D passes
    IAF:  x_i = z_i · exp(α_i(z_<i)) + μ_i(z_<i)       sampling (inverse) in one pass, density in D passes

Both directions are exact; the slow one runs the conditioner D times, filling in one coordinate each time
(:class:`~flowlab.flows.schemes.Autoregressive` with an :class:`~flowlab.flows.maps.AffineMap`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from flowlab.flows.base import Bijection
from flowlab.flows.layers.coupling import MAX_LOG_SCALE
from flowlab.flows.maps import AffineMap
from flowlab.flows.nets import ACTIVATION, DEPTH, HIDDEN, net_summary
from flowlab.flows.registry import Directions, LayerSpec, register
from flowlab.flows.schemes import Autoregressive

# The MADE lists (μ, α) per feature, the affine map reads (α, μ).
_MU_ALPHA = (1, 0)


def _builder(iaf: bool):
    def build(shape: tuple[int, ...], params: Mapping[str, Any], gen: torch.Generator) -> Bijection:
        # MAF's one pass (density) is the affine map's inverse; IAF's (sampling) the map itself.
        return Autoregressive(shape[0], AffineMap(params["max_log_scale"]), "inverse" if iaf else "forward",
                              invert_map=not iaf, hidden=params["hidden"], depth=params["depth"],
                              activation=params["activation"], param_order=_MU_ALPHA)
    return build


_PARAMS = (HIDDEN, DEPTH, ACTIVATION, MAX_LOG_SCALE)

register(LayerSpec(
    kind="maf", family="autoregressive",
    help="Masked autoregressive flow: each coordinate is shifted and scaled by a function of the earlier ones; "
         "fast density, sampling takes D passes.",
    params=_PARAMS, builder=_builder(False), summary=net_summary,
    directions=Directions(fast="forward", note="sampling runs the network once per dimension"),
    reference="Papamakarios, Pavlakou & Murray 2017 (MAF)",
))
register(LayerSpec(
    kind="iaf", family="autoregressive",
    help="Inverse autoregressive flow: conditioned on the latent, so sampling is one pass and density takes D.",
    params=_PARAMS, builder=_builder(True), summary=net_summary,
    directions=Directions(fast="inverse", note="scoring data runs the network once per dimension"),
    reference="Kingma et al. 2016 (IAF)",
))
