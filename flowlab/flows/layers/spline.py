"""Rational-quadratic spline flows (Durkan et al. 2019, "Neural Spline Flows").

Each transformed feature goes through a monotone piecewise rational-quadratic function on [-B, B] with K bins,
and through the identity outside (linear tails): :class:`~flowlab.flows.maps.SplineMap`. Bin widths, heights and
the K-1 interior knot derivatives come from a conditioner network: an MLP on the other features (a
:class:`~flowlab.flows.schemes.Coupling`) or a MADE (:class:`~flowlab.flows.schemes.Autoregressive`).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import torch

from flowlab.flows.base import Bijection
from flowlab.flows.maps import SplineMap
from flowlab.flows.nets import ACTIVATION, DEPTH, HIDDEN, mlp, net_summary
from flowlab.flows.registry import Directions, LayerSpec, Param, register
from flowlab.flows.schemes import Autoregressive, Coupling

BINS = Param("bins", "int", 8, "number of spline pieces between -tail_bound and tail_bound", low=2, high=64)
TAIL_BOUND = Param("tail_bound", "float", 4.0, "the spline bends values in [-B, B]; outside it they pass unchanged",
                   low=0.5, high=50.0, log_scale=True)
DIRECTION = Param("direction", "choice", "maf", "maf: fast density, slow sampling; iaf: fast sampling, slow density",
                  choices=("maf", "iaf"))


def _build_coupling(shape: tuple[int, ...], params: Mapping[str, Any], gen: torch.Generator) -> Bijection:
    net = partial(mlp, hidden=params["hidden"], depth=params["depth"], activation=params["activation"], inplace=True)
    return Coupling(shape[0], params["mask"], params["flip"], net, SplineMap(params["bins"], params["tail_bound"]),
                    params_first=False)


def _build_autoregressive(shape: tuple[int, ...], params: Mapping[str, Any], gen: torch.Generator) -> Bijection:
    # "maf": z_i = RQS(x_i; θ_i(x_<i)), one pass for the density; "iaf": x_i = RQS(z_i; θ_i(z_<i)), for sampling.
    one_pass = "forward" if params["direction"] == "maf" else "inverse"
    return Autoregressive(shape[0], SplineMap(params["bins"], params["tail_bound"]), one_pass, invert_map=False,
                          hidden=params["hidden"], depth=params["depth"], activation=params["activation"])


def _autoregressive_directions(params: Mapping[str, Any]) -> Directions:
    if params["direction"] == "iaf":
        return Directions(fast="inverse", note="scoring data runs the network once per dimension")
    return Directions(fast="forward", note="sampling runs the network once per dimension")


register(LayerSpec(
    kind="spline_coupling", family="spline",
    help="Bend half of the features with a flexible monotone spline whose shape is set by the other half.",
    params=(
        Param("mask", "choice", "half", "which features steer the spline: the first half, or the even-indexed ones",
              choices=("half", "alternating")),
        Param("flip", "bool", False, "swap the roles: bend the features that would otherwise steer"),
        BINS, TAIL_BOUND, HIDDEN, DEPTH, ACTIVATION,
    ),
    builder=_build_coupling, data=frozenset({"vector"}), min_features=2,
    summary=lambda p: ", ".join([p["mask"], *(["flip"] if p["flip"] else []), f"{p['bins']} bins", net_summary(p)]),
    reference="Durkan et al. 2019 (Neural Spline Flows)",
))
register(LayerSpec(
    kind="spline_autoregressive", family="spline",
    help="Bend each feature with a monotone spline whose shape depends on the features before it.",
    params=(DIRECTION, BINS, TAIL_BOUND, HIDDEN, DEPTH, ACTIVATION),
    builder=_build_autoregressive, data=frozenset({"vector"}), min_features=1,
    directions_of=_autoregressive_directions,
    summary=lambda p: f"{p['direction']}, {p['bins']} bins, {net_summary(p)}",
    reference="Durkan et al. 2019 (Neural Spline Flows); Papamakarios et al. 2017 (MAF); Kingma et al. 2016 (IAF)",
))
