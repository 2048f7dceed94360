"""Coupling layers: NICE's additive and RealNVP's affine coupling, on vectors and images.

Half of the input (the *conditioning* part) passes unchanged and parameterises an elementwise map of the other
half, so the Jacobian is triangular and log|det| is a sum over the transformed part (a
:class:`~flowlab.flows.schemes.Coupling` with an additive or affine :mod:`~flowlab.flows.maps` map):

    additive (Dinh et al. 2014):  z_t = x_t + t(x_c)                  log|det| = 0
    affine   (Dinh et al. 2016):  z_t = x_t · exp(s(x_c)) + t(x_c)    log|det| = Σ s(x_c)

The log-scale is soft-clamped to (−max_log_scale, max_log_scale) so one bad step cannot blow up the scale.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import torch

from flowlab.flows.base import Bijection
from flowlab.flows.maps import AdditiveMap, AffineMap
from flowlab.flows.nets import (
    ACTIVATION,
    CONDITIONER,
    DEPTH,
    HIDDEN,
    IMAGE_NETS,
    mlp,
    net_summary,
)
from flowlab.flows.registry import LayerSpec, Param, ParamProblem, register
from flowlab.flows.schemes import Coupling, MaskedCoupling

VECTOR_MASKS = ("half", "alternating")
IMAGE_MASKS = ("checkerboard", "channel")

MASK = Param("mask", "choice", "half",
             "which features condition the rest: half or alternating on vectors, checkerboard or channel on images",
             choices=VECTOR_MASKS + IMAGE_MASKS)
FLIP = Param("flip", "bool", False, "swap the roles of the two parts (stack flipped and unflipped layers)")
MAX_LOG_SCALE = Param("max_log_scale", "float", 3.0, "soft bound on the log-scale, for stable training",
                      low=0.1, high=10.0)


def checkerboard(shape: tuple[int, int, int], flip: bool) -> torch.Tensor:
    """The ``(C, H, W)`` 0/1 mask of conditioning pixels: (h + w) odd, or even with ``flip``."""
    c, h, w = shape
    board = ((torch.arange(h)[:, None] + torch.arange(w)[None, :]) % 2).float()
    return (1.0 - board if flip else board).expand(c, h, w)


def check_mask(shape: tuple[int, ...], params: Mapping[str, Any]) -> None:
    """The mask must suit the data: vector masks on vectors, image masks on images with room to split."""
    mask = params["mask"]
    if len(shape) == 1:
        if mask not in VECTOR_MASKS:
            raise ParamProblem("mask", f"'{mask}' is for images; on vectors use {' or '.join(VECTOR_MASKS)}")
        if params["conditioner"] != CONDITIONER.default:
            raise ParamProblem("conditioner", f"'{params['conditioner']}' is for images; vectors use an MLP")
        return
    if mask not in IMAGE_MASKS:
        raise ParamProblem("mask", f"'{mask}' is for vectors; on images use {' or '.join(IMAGE_MASKS)}")
    c, h, w = shape
    if mask == "channel" and c < 2:
        raise ParamProblem("mask", f"'channel' needs at least 2 channels, the data has {c}: squeeze first")
    if mask == "checkerboard" and h * w < 2:
        raise ParamProblem("mask", "'checkerboard' needs at least 2 pixels")


def _builder(affine: bool):
    def build(shape: tuple[int, ...], params: Mapping[str, Any], gen: torch.Generator) -> Bijection:
        elementwise = AffineMap(params["max_log_scale"]) if affine else AdditiveMap()
        net = dict(hidden=params["hidden"], depth=params["depth"], activation=params["activation"])
        if len(shape) == 1:
            return Coupling(shape[0], params["mask"], params["flip"], partial(mlp, **net, inplace=True),
                            elementwise, params_first=True)
        image_net = partial(IMAGE_NETS[params["conditioner"]], **net)
        if params["mask"] == "checkerboard":
            return MaskedCoupling(checkerboard(shape, params["flip"]), image_net, elementwise)
        return Coupling(shape[0], "half", params["flip"], image_net, elementwise, params_first=True)
    return build


def summary(params: Mapping[str, Any]) -> str:
    """e.g. "alternating, flip, 64×2"."""
    return ", ".join([params["mask"], *(["flip"] if params["flip"] else []), net_summary(params)])


register(LayerSpec(
    kind="additive_coupling", family="coupling",
    help="NICE: shift half of the features by a network of the other half; volume preserving.",
    params=(MASK, FLIP, HIDDEN, DEPTH, ACTIVATION, CONDITIONER), builder=_builder(False),
    data=frozenset({"vector", "image"}), min_features=2, check=check_mask, summary=summary,
    reference="Dinh, Krueger & Bengio 2014 (NICE)",
))
register(LayerSpec(
    kind="affine_coupling", family="coupling",
    help="RealNVP: scale and shift half of the features by a network of the other half.",
    params=(MASK, FLIP, HIDDEN, DEPTH, ACTIVATION, MAX_LOG_SCALE, CONDITIONER), builder=_builder(True),
    data=frozenset({"vector", "image"}), min_features=2, check=check_mask, summary=summary,
    reference="Dinh, Sohl-Dickstein & Bengio 2016 (RealNVP)",
))
