"""Learnable linear maps: an LU-parameterised matrix (on images Glow's invertible 1×1 convolution), and a
product of Householder reflections (Tomczak & Welling 2016)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from flowlab.flows.base import Bijection, zeros_ladj
from flowlab.flows.registry import LayerSpec, Param, register
from flowlab.flows.structure import Picture, matrix_picture


class LULinear(Bijection):
    """z = W x with W = P L (U + diag(s)): L unit lower-triangular, U strictly upper, P a fixed permutation.

    log|det W| = Σ log|s|; we keep s = sign · exp(log_s) so it never crosses zero (Kingma & Dhariwal 2018).
    On images W mixes channels at each pixel, so the log-determinant is multiplied by H·W.
    """

    def __init__(self, n: int, generator: torch.Generator, pixels: int = 1) -> None:
        super().__init__()
        # Start from a random rotation, as Glow does, decomposed with its LU factors.
        q, _ = torch.linalg.qr(torch.randn(n, n, generator=generator, dtype=torch.float64))
        p, lower, u = torch.linalg.lu(q)
        s = torch.diagonal(u)
        self.register_buffer("p", p.float())
        self.register_buffer("sign_s", torch.sign(s).float())
        self.register_buffer("lower_mask", torch.tril(torch.ones(n, n), -1))
        self.lower = nn.Parameter(lower.float() * self.lower_mask)
        self.upper = nn.Parameter(torch.triu(u, 1).float())
        self.log_s = nn.Parameter(torch.log(torch.abs(s)).float())
        self.pixels = pixels

    def weight(self) -> Tensor:
        n = self.log_s.shape[0]
        eye = torch.eye(n, dtype=self.log_s.dtype, device=self.log_s.device)
        lower = self.lower * self.lower_mask + eye
        u = torch.triu(self.upper, 1) + torch.diag(self.sign_s * torch.exp(self.log_s))
        return self.p @ lower @ u

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

    def structure(self, shape: tuple[int, ...]) -> tuple[Picture, ...]:
        """The learned W (on images: the 1×1 convolution's channel matrix, applied at every pixel)."""
        where = " at every pixel (an invertible 1×1 convolution)" if len(shape) == 3 else ""
        return (matrix_picture("W", self.weight(),
                               f"z = W x{where}; W = P·L·(U + diag s), log|det W| = Σ log|s| = "
                               f"{float(self.log_s.detach().sum()):.3g}"),)


def reflect(x: Tensor, v: Tensor) -> Tensor:
    """Householder reflection (I − 2 v vᵀ / ‖v‖²) x of each row of ``x``."""
    return x - (2.0 * (x @ v) / (v @ v)).unsqueeze(-1) * v


class Householder(Bijection):
    """z = H_K ⋯ H_1 x with reflections H_k = I − 2 v_k v_kᵀ / ‖v_k‖²: orthogonal, so ladj = 0."""

    def __init__(self, dim: int, reflections: int, generator: torch.Generator) -> None:
        super().__init__()
        self.vectors = nn.Parameter(torch.randn(reflections, dim, generator=generator))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        for v in self.vectors:
            x = reflect(x, v)
        return x, zeros_ladj(x)

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        for v in reversed(list(self.vectors)):  # each reflection is its own inverse
            z = reflect(z, v)
        return z, zeros_ladj(z)

    def structure(self, shape: tuple[int, ...]) -> tuple[Picture, ...]:
        """H = H_K ⋯ H_1, read off as the images of the unit vectors."""
        eye = torch.eye(self.vectors.shape[1], dtype=self.vectors.dtype, device=self.vectors.device)
        return (matrix_picture("H", self.forward(eye)[0].T,
                               f"z = H x, a product of {len(self.vectors)} reflections: orthogonal, |det H| = 1"),)


# -- registration --------------------------------------------------------------------------------------------
REFLECTIONS = Param("reflections", "int", 2, "how many learnable mirror reflections are chained; D of them can "
                    "make any rotation or mirroring of D-dimensional space", low=1, high=16)


def reflections_summary(params: Mapping[str, Any]) -> str:
    return f"{params['reflections']} reflections"


def _pixels(shape: tuple[int, ...]) -> int:
    return shape[1] * shape[2] if len(shape) == 3 else 1


def _build_lu(shape: tuple[int, ...], params: Mapping[str, Any], gen: torch.Generator) -> Bijection:
    return LULinear(shape[0], gen, _pixels(shape))  # features, or channels at every pixel


def _build_householder(shape: tuple[int, ...], params: Mapping[str, Any], gen: torch.Generator) -> Bijection:
    return Householder(shape[0], params["reflections"], gen)


register(LayerSpec(
    kind="lu_linear", family="linear",
    help="A learnable invertible linear map in LU form; on images, Glow's invertible 1×1 convolution.",
    builder=_build_lu, data=frozenset({"vector", "image"}), reference="Kingma & Dhariwal 2018 (Glow)",
))
register(LayerSpec(
    kind="householder", family="linear",
    help="A learnable rotation-like map built from mirror reflections; it never changes volumes.",
    builder=_build_householder, params=(REFLECTIONS,), min_features=2, summary=reflections_summary,
    reference="Tomczak & Welling 2016, Improving Variational Auto-Encoders using Householder Flow",
))
