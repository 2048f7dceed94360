"""Multi-scale image layers (Dinh et al. 2016, Kingma & Dhariwal 2018): squeeze and factor-out.

* **squeeze** trades space for channels: every 2×2 block of pixels becomes 4 channels, (C, H, W) → (4C, H/2, W/2).
  A permutation of the entries, so log|det| = 0.
* **factor_out** sends half the channels straight to the base distribution; the layers after it see only the
  rest, (C, H, W) → (C − C/2, H, W). With ``learned_prior`` the leaving half is first standardised by a Gaussian
  whose mean and log-scale a small convolutional network reads from the kept half (Glow's split prior):
  z_out = (x_out − μ(x_keep)) · exp(−log σ(x_keep)), log|det| = −Σ log σ. Without it (RealNVP) it leaves as it is.

As a :class:`Bijection` the factor-out layer is shape-preserving (it changes only the leaving channels); it is
the :class:`~flowlab.flows.flow.Flow` that, seeing ``factor_out > 0``, takes those channels out of the running
tensor and appends them to the latent vector.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from flowlab.flows.base import Bijection, soft_clamp, sum_except_batch
from flowlab.flows.nets import ACTIVATION, HIDDEN, conv_net
from flowlab.flows.registry import LayerSpec, Param, ParamProblem, register
from flowlab.flows.structure import Picture, array


def squeeze(x: Tensor) -> Tensor:
    """(B, C, H, W) → (B, 4C, H/2, W/2); channel ``4c + 2i + j`` holds pixel (2h + i, 2w + j) of channel c."""
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // 2, 2, w // 2, 2)
    return x.permute(0, 1, 3, 5, 2, 4).reshape(b, 4 * c, h // 2, w // 2)


def unsqueeze(z: Tensor) -> Tensor:
    """The inverse of :func:`squeeze`."""
    b, c4, h, w = z.shape
    z = z.reshape(b, c4 // 4, 2, 2, h, w)
    return z.permute(0, 1, 4, 2, 5, 3).reshape(b, c4 // 4, 2 * h, 2 * w)


class Squeeze(Bijection):
    """Space-to-depth; volume preserving."""

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return squeeze(x), x.new_zeros(x.shape[0])

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return unsqueeze(z), z.new_zeros(z.shape[0])

    def structure(self, shape: tuple[int, ...]) -> tuple[Picture, ...]:
        """The fold: for every input pixel (channel by channel), the output channel it goes to."""
        n = shape[0] * shape[1] * shape[2]
        where = squeeze(torch.arange(n, dtype=torch.float64).reshape(1, *shape))[0]  # input index at each output
        channel = torch.empty(n, dtype=torch.float64)
        channel[where.reshape(where.shape[0], -1).long()] = torch.arange(where.shape[0], dtype=torch.float64)[:, None]
        return (Picture("fold", array(channel.reshape(shape)),
                        f"the output channel of each input pixel: every 2×2 block becomes 4 channels, "
                        f"{shape[0]}×{shape[1]}×{shape[2]} → {4 * shape[0]}×{shape[1] // 2}×{shape[2] // 2}"),)


class FactorOut(Bijection):
    """Marks the last ``C // 2`` channels as finished; optionally standardises them by a learned split prior."""

    def __init__(self, channels: int, learned_prior: bool, max_log_scale: float, hidden: int,
                 activation: str) -> None:
        super().__init__()
        self.factor_out = channels // 2
        self.keep = channels - self.factor_out
        self.max_log_scale = max_log_scale
        # Zero-initialised last layer: a fresh prior is N(0, I), exactly RealNVP's.
        self.net = conv_net(self.keep, 2 * self.factor_out, hidden, 1, activation) if learned_prior else None

    def _standardise(self, h: Tensor, sign: float) -> tuple[Tensor, Tensor]:
        keep, out = h[:, : self.keep], h[:, self.keep:]
        if self.net is None:
            return h, h.new_zeros(h.shape[0])
        mu, log_sigma = self.net(keep).chunk(2, dim=1)
        log_sigma = soft_clamp(log_sigma, self.max_log_scale)
        if sign > 0:
            out = (out - mu) * torch.exp(-log_sigma)
        else:
            out = out * torch.exp(log_sigma) + mu
        return torch.cat([keep, out], dim=1), -sign * sum_except_batch(log_sigma)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self._standardise(x, 1.0)

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return self._standardise(z, -1.0)


def _check_squeeze(shape: tuple[int, ...], params: Mapping[str, Any]) -> None:
    _, h, w = shape
    if h % 2 or w % 2:
        raise ParamProblem(None, f"needs an even height and width to fold 2×2 blocks, got {h}×{w}")


def _squeezed(shape: tuple[int, ...], params: Mapping[str, Any]) -> tuple[int, ...]:
    c, h, w = shape
    return (4 * c, h // 2, w // 2)


def _check_factor(shape: tuple[int, ...], params: Mapping[str, Any]) -> None:
    if shape[0] < 2:
        raise ParamProblem(None, f"needs at least 2 channels to send half of them out, got {shape[0]}: squeeze first")


def _kept(shape: tuple[int, ...], params: Mapping[str, Any]) -> tuple[int, ...]:
    c, h, w = shape
    return (c - c // 2, h, w)


def _build_factor(shape: tuple[int, ...], params: Mapping[str, Any], gen: torch.Generator) -> Bijection:
    return FactorOut(shape[0], params["learned_prior"], params["max_log_scale"], params["hidden"],
                     params["activation"])


register(LayerSpec(
    kind="squeeze", family="multiscale",
    help="Fold every 2×2 block of pixels into 4 channels: (C, H, W) → (4C, H/2, W/2).",
    builder=lambda shape, params, gen: Squeeze(), data=frozenset({"image"}), check=_check_squeeze,
    out_shape=_squeezed, reference="Dinh, Sohl-Dickstein & Bengio 2016 (RealNVP)",
))
register(LayerSpec(
    kind="factor_out", family="multiscale",
    help="Multi-scale: half the channels leave for the base here; the layers after work on the rest.",
    params=(Param("learned_prior", "bool", True,
                  "Glow's split prior: the leaving half gets a Gaussian whose mean and scale are read from the kept "
                  "half (off: RealNVP's standard normal)"),
            Param("max_log_scale", "float", 3.0, "soft bound on the prior's log-scale", low=0.1, high=10.0),
            HIDDEN, ACTIVATION),
    builder=_build_factor, data=frozenset({"image"}), check=_check_factor, out_shape=_kept,
    summary=lambda p: "learned prior" if p["learned_prior"] else "standard prior",
    reference="Dinh, Sohl-Dickstein & Bengio 2016 (RealNVP); Kingma & Dhariwal 2018 (Glow)",
))
