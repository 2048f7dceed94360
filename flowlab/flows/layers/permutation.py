"""Fixed and learnable linear mixing: reverse, seeded random permutation, and an LU-parameterised linear map.

On images the permutations and the LU map act on channels at every pixel (Glow's invertible 1×1 convolution).
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import Tensor, nn

from flowlab.flows.base import Bijection, zeros_ladj
from flowlab.flows.registry import LayerSpec, Param, ParamProblem, register


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


class LULinear(Bijection):
    """z = W x with W = P L (U + diag(s)): L unit lower-triangular, U strictly upper, P a fixed permutation.

    log|det W| = Σ log|s|; we keep s = sign · exp(log_s) so it never crosses zero (Kingma & Dhariwal 2018).
    On images W mixes channels at each pixel, so the log-determinant is multiplied by H·W.
    """

    def __init__(self, n: int, generator: torch.Generator, pixels: int = 1) -> None:
        super().__init__()
        # Start from a random rotation, as Glow does, decomposed with its LU factors.
        q, _ = torch.linalg.qr(torch.randn(n, n, generator=generator, dtype=torch.float64))
        p, l, u = torch.linalg.lu(q)
        s = torch.diagonal(u)
        self.register_buffer("p", p.float())
        self.register_buffer("sign_s", torch.sign(s).float())
        self.register_buffer("lower_mask", torch.tril(torch.ones(n, n), -1))
        self.lower = nn.Parameter(l.float() * self.lower_mask)
        self.upper = nn.Parameter(torch.triu(u, 1).float())
        self.log_s = nn.Parameter(torch.log(torch.abs(s)).float())
        self.pixels = pixels

    def weight(self) -> Tensor:
        n = self.log_s.shape[0]
        eye = torch.eye(n, dtype=self.log_s.dtype, device=self.log_s.device)
        l = self.lower * self.lower_mask + eye
        u = torch.triu(self.upper, 1) + torch.diag(self.sign_s * torch.exp(self.log_s))
        return self.p @ l @ u

    def _mix(self, h: Tensor, w: Tensor) -> Tensor:
        if h.dim() == 2:
            return h @ w.T
        return torch.einsum("ij,bjhw->bihw", w, h)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        ladj = self.log_s.sum() * self.pixels
        return self._mix(x, self.weight()), ladj.expand(x.shape[0])

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        w_inv = torch.linalg.inv(self.weight())
        ladj = -self.log_s.sum() * self.pixels
        return self._mix(z, w_inv), ladj.expand(z.shape[0])


def _pixels(shape: tuple[int, ...]) -> int:
    return shape[1] * shape[2] if len(shape) == 3 else 1


def _build_reverse(shape: tuple[int, ...], params: Mapping[str, Any], gen: torch.Generator) -> Bijection:
    return Permute(torch.arange(_features(shape) - 1, -1, -1))


def _build_random(shape: tuple[int, ...], params: Mapping[str, Any], gen: torch.Generator) -> Bijection:
    if params["seed"] >= 0:
        gen = torch.Generator().manual_seed(params["seed"])
    perm = torch.randperm(_features(shape), generator=gen)
    if torch.equal(perm, torch.arange(len(perm))):
        perm = perm.roll(1)  # a shuffle that changes nothing would silently waste the layer
    return Permute(perm)


def _build_lu(shape: tuple[int, ...], params: Mapping[str, Any], gen: torch.Generator) -> Bijection:
    return LULinear(_features(shape), gen, _pixels(shape))


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
))
register(LayerSpec(
    kind="lu_linear", family="linear",
    help="A learnable invertible linear map in LU form; on images, Glow's invertible 1×1 convolution.",
    builder=_build_lu, data=frozenset({"vector", "image"}), reference="Kingma & Dhariwal 2018 (Glow)",
))
