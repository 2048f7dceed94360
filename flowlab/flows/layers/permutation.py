"""Fixed permutations: reverse, and a seeded random permutation. On images they permute channels at every pixel."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from flowlab.flows.base import Bijection, zeros_ladj
from flowlab.flows.registry import LayerSpec, Param, ParamProblem, register
from flowlab.flows.structure import Picture, matrix_picture


def _features(shape: tuple[int, ...]) -> int:
    """The mixed axis: features of a vector, channels of an image."""
    return shape[0]


class Permute(Bijection):
    """Reorders the feature (or channel) axis; volume preserving, so ladj = 0."""

    def __init__(self, perm: Tensor) -> None:
        super().__init__()
        self.register_buffer("perm", perm.long())
        self.register_buffer("inv_perm", torch.argsort(perm).long())

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return x[:, self.perm], zeros_ladj(x)

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return z[:, self.inv_perm], zeros_ladj(z)

    def structure(self, shape: tuple[int, ...]) -> tuple[Picture, ...]:
        """The permutation matrix: row i has its 1 in the column of the input that becomes output i."""
        n = len(self.perm)
        matrix = torch.zeros(n, n)
        matrix[torch.arange(n), self.perm.cpu()] = 1.0
        what = "channels" if len(shape) == 3 else "features"
        return (matrix_picture("P", matrix, f"z = P x reorders the {what}: |det P| = 1"),)


def _build_reverse(shape: tuple[int, ...], params: Mapping[str, Any], gen: torch.Generator) -> Bijection:
    return Permute(torch.arange(_features(shape) - 1, -1, -1))


def _build_random(shape: tuple[int, ...], params: Mapping[str, Any], gen: torch.Generator) -> Bijection:
    if params["seed"] >= 0:
        gen = torch.Generator().manual_seed(params["seed"])
    perm = torch.randperm(_features(shape), generator=gen)
    if torch.equal(perm, torch.arange(len(perm))):
        perm = perm.roll(1)  # a shuffle that changes nothing would silently waste the layer
    return Permute(perm)


def _two_channels(shape: tuple[int, ...], params: Mapping[str, Any]) -> None:
    if len(shape) == 3 and shape[0] < 2:
        raise ParamProblem(None, f"permuting needs at least 2 channels, the image has {shape[0]}: squeeze first")


register(LayerSpec(
    kind="reverse", family="permutation",
    help="Reverse the order of the features (or channels), so the next layer conditions on the other half.",
    builder=_build_reverse, data=frozenset({"vector", "image"}), min_features=2, check=_two_channels,
))
register(LayerSpec(
    kind="random_permutation", family="permutation",
    help="Shuffle the features (or channels) in a fixed random order, saved with the model.",
    params=(Param("seed", "int", -1, "seed of the shuffle; -1 derives it from the stack seed and position",
                  low=-1, high=2**31 - 1),),
    builder=_build_random, data=frozenset({"vector", "image"}), min_features=2, check=_two_channels,
    summary=lambda p: f"seed {p['seed']}" if p["seed"] >= 0 else "",
))
