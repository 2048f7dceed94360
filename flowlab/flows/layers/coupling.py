"""Coupling layers: NICE's additive and RealNVP's affine coupling, on vectors and images.

Half of the input (the *conditioning* part) passes unchanged and parameterises an elementwise map of the other
half, so the Jacobian is triangular and log|det| is a sum over the transformed part:

    additive (Dinh et al. 2014):  z_t = x_t + t(x_c)                  log|det| = 0
    affine   (Dinh et al. 2016):  z_t = x_t · exp(s(x_c)) + t(x_c)    log|det| = Σ s(x_c)

The log-scale is soft-clamped to (−max_log_scale, max_log_scale) so one bad step cannot blow up the scale.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import Tensor, nn

from flowlab.flows.base import Bijection, soft_clamp, sum_except_batch
from flowlab.flows.nets import ACTIVATION, CONDITIONER, DEPTH, HIDDEN, IMAGE_NETS, mlp
from flowlab.flows.registry import LayerSpec, Param, ParamProblem, register

VECTOR_MASKS = ("half", "alternating")
IMAGE_MASKS = ("checkerboard", "channel")

MASK = Param("mask", "choice", "half",
             "which features condition the rest: half or alternating on vectors, checkerboard or channel on images",
             choices=VECTOR_MASKS + IMAGE_MASKS)
FLIP = Param("flip", "bool", False, "swap the roles of the two parts (stack flipped and unflipped layers)")
MAX_LOG_SCALE = Param("max_log_scale", "float", 3.0, "soft bound on the log-scale, for stable training",
                      low=0.1, high=10.0)


def coupling_step(x: Tensor, s: Tensor | None, t: Tensor, inverse: bool = False) -> Tensor:
    """The elementwise map of a coupling on its transformed part: ``x·exp(s) + t`` (``x + t`` when ``s`` is
    None, additive), or with ``inverse`` its inverse ``(x − t)·exp(−s)``. Its log|det| is ``±Σ s``."""
    if s is None:
        return x - t if inverse else x + t
    return (x - t) * torch.exp(-s) if inverse else x * torch.exp(s) + t


def vector_split(dim: int, mask: str, flip: bool) -> tuple[Tensor, Tensor]:
    """Indices of the conditioning and transformed features of a ``dim``-vector."""
    idx = torch.arange(dim)
    if mask == "half":
        cond, trans = idx[: dim // 2], idx[dim // 2:]
    else:  # alternating: even indices condition, odd ones are transformed
        cond, trans = idx[0::2], idx[1::2]
    return (trans, cond) if flip else (cond, trans)


class SplitCoupling(Bijection):
    """Shared maths of couplings that split the input into two tensors; subclasses say how to split and join."""

    def __init__(self, net: nn.Module, affine: bool, max_log_scale: float) -> None:
        super().__init__()
        self.net = net
        self.affine = affine
        self.max_log_scale = max_log_scale

    def _split(self, x: Tensor) -> tuple[Tensor, Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _join(self, xc: Tensor, yt: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _params(self, xc: Tensor) -> tuple[Tensor | None, Tensor]:
        h = self.net(xc)
        if not self.affine:
            return None, h
        s, t = h.chunk(2, dim=1)
        return soft_clamp(s, self.max_log_scale), t

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        xc, xt = self._split(x)
        s, t = self._params(xc)
        ladj = x.new_zeros(x.shape[0]) if s is None else sum_except_batch(s)
        return self._join(xc, coupling_step(xt, s, t)), ladj

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        zc, zt = self._split(z)
        s, t = self._params(zc)
        ladj = z.new_zeros(z.shape[0]) if s is None else -sum_except_batch(s)
        return self._join(zc, coupling_step(zt, s, t, inverse=True)), ladj


def _as_slice(idx: Tensor) -> slice | None:
    """``idx`` as a slice when it is a contiguous ascending run (slicing makes views; indexing copies)."""
    if len(idx) and torch.equal(idx, torch.arange(int(idx[0]), int(idx[-1]) + 1)):
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return None


class VectorCoupling(SplitCoupling):
    """Coupling on ``(batch, D)`` with an MLP conditioner, split by index (no mask multiplications)."""

    def __init__(self, dim: int, mask: str, flip: bool, affine: bool, hidden: int, depth: int, activation: str,
                 max_log_scale: float) -> None:
        cond, trans = vector_split(dim, mask, flip)
        super().__init__(mlp(len(cond), len(trans) * (2 if affine else 1), hidden, depth, activation),
                         affine, max_log_scale)
        self.register_buffer("cond", cond)
        self.register_buffer("trans", trans)
        order = torch.cat([cond, trans])
        self.register_buffer("unsplit", torch.argsort(order))
        # Fast path for the common masks (every 2-D split, 'half' in any dimension): two slices, one cat.
        cs, ts = _as_slice(cond), _as_slice(trans)
        self._slices = (cs, ts) if cs and ts and (cs.stop == ts.start or ts.stop == cs.start) else None
        self._cond_first = bool(cs and ts and cs.start < ts.start)

    def _split(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self._slices is not None:
            return x[:, self._slices[0]], x[:, self._slices[1]]
        return x[:, self.cond], x[:, self.trans]

    def _join(self, xc: Tensor, yt: Tensor) -> Tensor:
        if self._slices is not None:
            return torch.cat([xc, yt] if self._cond_first else [yt, xc], dim=1)
        return torch.cat([xc, yt], dim=1)[:, self.unsplit]


class ChannelCoupling(SplitCoupling):
    """Coupling on ``(batch, C, H, W)`` that splits the channels in two halves; a convolutional conditioner."""

    def __init__(self, shape: tuple[int, int, int], flip: bool, affine: bool, hidden: int, depth: int,
                 activation: str, max_log_scale: float, conditioner: str = "plain") -> None:
        c = shape[0]
        n_first = c // 2
        n_cond, n_trans = (c - n_first, n_first) if flip else (n_first, c - n_first)
        net = IMAGE_NETS[conditioner](n_cond, n_trans * (2 if affine else 1), hidden, depth, activation)
        super().__init__(net, affine, max_log_scale)
        self.n_first = n_first
        self.flip = flip

    def _split(self, x: Tensor) -> tuple[Tensor, Tensor]:
        a, b = x[:, : self.n_first], x[:, self.n_first:]
        return (b, a) if self.flip else (a, b)

    def _join(self, xc: Tensor, yt: Tensor) -> Tensor:
        return torch.cat([yt, xc] if self.flip else [xc, yt], dim=1)


class CheckerboardCoupling(Bijection):
    """Coupling on ``(batch, C, H, W)`` with a spatial checkerboard mask and a convolutional conditioner."""

    def __init__(self, shape: tuple[int, int, int], flip: bool, affine: bool, hidden: int, depth: int,
                 activation: str, max_log_scale: float, conditioner: str = "plain") -> None:
        super().__init__()
        c, h, w = shape
        board = ((torch.arange(h)[:, None] + torch.arange(w)[None, :]) % 2).float()
        if flip:
            board = 1.0 - board
        self.register_buffer("keep", board.expand(1, c, h, w).clone())  # 1 = conditioning pixel
        self.affine = affine
        self.max_log_scale = max_log_scale
        self.net = IMAGE_NETS[conditioner](c, c * (2 if affine else 1), hidden, depth, activation)

    def _params(self, xc: Tensor) -> tuple[Tensor | None, Tensor]:
        h = self.net(xc)
        change = 1.0 - self.keep
        if not self.affine:
            return None, h * change
        s, t = h.chunk(2, dim=1)
        return soft_clamp(s, self.max_log_scale) * change, t * change

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        s, t = self._params(x * self.keep)
        return coupling_step(x, s, t), x.new_zeros(x.shape[0]) if s is None else sum_except_batch(s)

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        s, t = self._params(z * self.keep)
        return coupling_step(z, s, t, inverse=True), z.new_zeros(z.shape[0]) if s is None else -sum_except_batch(s)


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
        net = dict(hidden=params["hidden"], depth=params["depth"], activation=params["activation"],
                   max_log_scale=params.get("max_log_scale", 1.0))
        if len(shape) == 1:
            return VectorCoupling(shape[0], params["mask"], params["flip"], affine, **net)
        cls = CheckerboardCoupling if params["mask"] == "checkerboard" else ChannelCoupling
        return cls(shape, params["flip"], affine, conditioner=params["conditioner"], **net)
    return build


register(LayerSpec(
    kind="additive_coupling", family="coupling",
    help="NICE: shift half of the features by a network of the other half; volume preserving.",
    params=(MASK, FLIP, HIDDEN, DEPTH, ACTIVATION, CONDITIONER), builder=_builder(False),
    data=frozenset({"vector", "image"}), min_features=2, check=check_mask,
    reference="Dinh, Krueger & Bengio 2014 (NICE)",
))
register(LayerSpec(
    kind="affine_coupling", family="coupling",
    help="RealNVP: scale and shift half of the features by a network of the other half.",
    params=(MASK, FLIP, HIDDEN, DEPTH, ACTIVATION, MAX_LOG_SCALE, CONDITIONER), builder=_builder(True),
    data=frozenset({"vector", "image"}), min_features=2, check=check_mask,
    reference="Dinh, Sohl-Dickstein & Bengio 2016 (RealNVP)",
))
