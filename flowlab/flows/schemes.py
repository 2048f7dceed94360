"""Conditioning schemes: which features an elementwise map transforms, and what its parameters depend on.

A coupling or autoregressive layer is one scheme × one :mod:`~flowlab.flows.maps` map (as zuko composes its
``CouplingTransform`` / ``AutoregressiveTransform`` with a univariate transform):

* :class:`Coupling` splits the features (dim 1) into a conditioning part x_A, which passes unchanged, and a
  transformed part x_B: y_B = g(x_B; θ(x_A)). The Jacobian is triangular, log|det| = Σ log g'(x_B); both
  directions take one network pass. :func:`coupling_split` is the one split, for vectors and image channels.
* :class:`MaskedCoupling` does the same with a 0/1 mask instead of a split (images: a spatial checkerboard), the
  map's parameters zeroed on the conditioning entries (a zero θ is the identity).
* :class:`Autoregressive` conditions feature i on the features before it through a MADE: y_i = g(u_i; θ_i(u_<i)).
  The direction in which g reads its conditioning from its own input is one MADE pass; the other knows only
  g's outputs, so :meth:`Autoregressive._solve` recovers them one feature after another: D passes. It is the
  only autoregressive inversion in the house.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor, nn

from flowlab.flows.base import Bijection, sum_except_batch
from flowlab.flows.maps import ElementwiseMap
from flowlab.flows.nets import MADE
from flowlab.flows.structure import Picture, array, numbered

NetFactory = Callable[[int, int], nn.Module]  # (inputs, outputs) → a conditioner network
# Index buffers earlier versions saved in the weights; derived from the parameters, so loading ignores them.
_LEGACY_SPLIT_KEYS = ("cond", "trans", "unsplit", "cond_idx", "trans_idx", "merge_idx")


def coupling_split(n: int, mask: str, flip: bool) -> tuple[Tensor, Tensor]:
    """``(conditioning, transformed)`` indices of ``n`` features (vector entries or image channels).

    "half": the first n//2 condition, the rest are transformed; "alternating": even indices condition, odd ones
    are transformed. ``flip`` swaps the two parts.
    """
    idx = torch.arange(n)
    first = idx < n // 2 if mask == "half" else idx % 2 == 0
    cond, trans = idx[first], idx[~first]
    return (trans, cond) if flip else (cond, trans)


def _as_slice(idx: Tensor) -> slice | None:
    """``idx`` as a slice when it is a contiguous ascending run (slicing makes views; indexing copies)."""
    if len(idx) and torch.equal(idx, torch.arange(int(idx[0]), int(idx[-1]) + 1)):
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return None


def _unpack(h: Tensor, n_params: int, params_first: bool) -> Tensor:
    """A conditioner's output ``(B, n·P, ...)`` as θ of shape ``(B, n, ..., P)`` (a view, no copy).

    ``params_first``: the output lists all features' first parameter, then all their second, ... (how the
    affine and additive couplings have always laid it out); otherwise each feature's P parameters in a row."""
    if params_first:
        return h.unflatten(1, (n_params, -1)).movedim(1, -1)
    return h.unflatten(1, (-1, n_params)).movedim(2, -1)


class Coupling(Bijection):
    """y_A = x_A, y_B = g(x_B; θ(x_A)) over the features (dim 1) of vectors ``(B, D)`` or images ``(B, C, H, W)``."""

    def __init__(self, n: int, mask: str, flip: bool, net: NetFactory, elementwise: ElementwiseMap,
                 params_first: bool) -> None:
        super().__init__()
        cond, trans = coupling_split(n, mask, flip)
        self.net = net(len(cond), len(trans) * elementwise.n_params)
        self.map = elementwise
        self.params_first = params_first
        self.register_buffer("cond", cond, persistent=False)
        self.register_buffer("trans", trans, persistent=False)
        self.register_buffer("unsplit", torch.argsort(torch.cat([cond, trans])), persistent=False)
        # The common splits (every 2-D one, 'half' in any dimension, image channels) are two slices, one cat.
        cs, ts = _as_slice(cond), _as_slice(trans)
        self._slices = (cs, ts) if cs and ts and (cs.stop == ts.start or ts.stop == cs.start) else None
        self._cond_first = bool(cs and ts and cs.start < ts.start)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for key in _LEGACY_SPLIT_KEYS:
            state_dict.pop(prefix + key, None)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _split(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self._slices is not None:
            return x[:, self._slices[0]], x[:, self._slices[1]]
        return x[:, self.cond], x[:, self.trans]

    def _join(self, xc: Tensor, yt: Tensor) -> Tensor:
        if self._slices is not None:
            return torch.cat([xc, yt] if self._cond_first else [yt, xc], dim=1)
        return torch.cat([xc, yt], dim=1)[:, self.unsplit]

    def _couple(self, x: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        xc, xt = self._split(x)
        theta = _unpack(self.net(xc), self.map.n_params, self.params_first)
        yt, lad = self.map(xt, theta, inverse)
        return self._join(xc, yt), x.new_zeros(x.shape[0]) if lad is None else sum_except_batch(lad)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self._couple(x, inverse=False)

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return self._couple(z, inverse=True)

    # -- what it shows of itself (read only) ---------------------------------------------------------------------
    def scale_shift(self, x: Tensor) -> tuple[Tensor, Tensor] | None:
        """(s, t) at inputs ``x``, each ``(B, |x_B|, ...)``: forward is y_B = x_B · exp(s(x_A)) + t(x_A). None
        when the map is not affine (a spline has no single scale and shift)."""
        xc, _ = self._split(x)
        return self.map.scale_shift(_unpack(self.net(xc), self.map.n_params, self.params_first))

    def structure(self, shape: tuple[int, ...]) -> tuple[Picture, ...]:
        """The split as a 0/1 mask (1 = conditions x_A, passes unchanged): over the features of a vector, as a
        ``(C, H, W)`` pattern over an image's channels."""
        keep = torch.zeros(len(self.cond) + len(self.trans))
        keep[self.cond] = 1.0
        what = "channels" if len(shape) == 3 else "features"
        caption = (f"1 = passes unchanged and conditions the others ({what} {numbered(self.cond)}); "
                   f"0 = transformed ({what} {numbered(self.trans)})")
        if len(shape) == 3:
            return (Picture("mask", array(keep[:, None, None].expand(shape)), caption),)
        return (Picture("mask", array(keep[None, :]), caption, cols="feature"),)


class MaskedCoupling(Bijection):
    """y = g(x; θ(x ⊙ m) ⊙ (1 − m)) with a fixed 0/1 mask ``keep`` = m (1 = conditioning entry) shaped like one
    example: θ is zero, so g is the identity, wherever m = 1. Parameters are laid out ``params_first``."""

    def __init__(self, keep: Tensor, net: NetFactory, elementwise: ElementwiseMap) -> None:
        super().__init__()
        self.register_buffer("keep", keep.unsqueeze(0).clone())
        self.map = elementwise
        c = keep.shape[0]
        self.net = net(c, c * elementwise.n_params)

    def _couple(self, x: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        theta = _unpack(self.net(x * self.keep), self.map.n_params, params_first=True)
        y, lad = self.map(x, theta * (1.0 - self.keep).unsqueeze(-1), inverse)
        return y, x.new_zeros(x.shape[0]) if lad is None else sum_except_batch(lad)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self._couple(x, inverse=False)

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return self._couple(z, inverse=True)

    def structure(self, shape: tuple[int, ...]) -> tuple[Picture, ...]:
        """The ``(C, H, W)`` mask m, channel by channel."""
        return (Picture("mask", array(self.keep[0]),
                        "1 = conditions and passes unchanged, 0 = scaled and shifted by a network of the 1s"),)


class Autoregressive(Bijection):
    """y_i = g(u_i; θ_i(u_<i)) on vectors ``(B, D)``, θ from a MADE, in one pass in the direction ``one_pass``.

    g is the map (``invert_map=False``) or its inverse. MAF reads its conditioning from the data, so its one pass
    is ``forward``; IAF from the latent, so ``inverse``. ``param_order`` lists, for each of the map's parameters,
    where the MADE puts it (MAF/IAF put (shift, log-scale), the reverse of the affine map's order, and keep it so
    saved weights keep their meaning). log|det| = Σ_i log|g'| either way: the Jacobian is triangular.
    """

    def __init__(self, dim: int, elementwise: ElementwiseMap, one_pass: Literal["forward", "inverse"],
                 invert_map: bool, hidden: int, depth: int, activation: str,
                 param_order: tuple[int, ...] | None = None) -> None:
        super().__init__()
        self.dim = dim
        self.map = elementwise
        self.one_pass_is_forward = one_pass == "forward"
        self.invert_map = invert_map
        self.param_order = list(param_order) if param_order is not None else None
        self.made = MADE(dim, elementwise.n_params, hidden, depth, activation, inplace=True)

    def _theta(self, u: Tensor) -> Tensor:
        theta = self.made(u)
        return theta if self.param_order is None else theta[..., self.param_order]

    def _one_pass(self, u: Tensor) -> tuple[Tensor, Tensor]:
        """g conditioned on its own input: one MADE call."""
        y, lad = self.map(u, self._theta(u), self.invert_map)
        return y, u.new_zeros(u.shape[0]) if lad is None else sum_except_batch(lad)

    def _solve(self, y: Tensor) -> tuple[Tensor, Tensor]:
        """u from y = g(u; θ(u_<·)): u_i needs u_<i, so D MADE calls, pass i fixing feature i."""
        zeros = y.new_zeros(y.shape)
        cols: list[Tensor] = []
        lads: list[Tensor] = []
        for i in range(self.dim):
            # Features ≥ i are still unknown; the MADE's masks ignore them for output i, so zeros will do.
            known = torch.cat([*cols, zeros[:, i:]], dim=1)
            col, lad = self.map(y[:, i], self._theta(known)[:, i], not self.invert_map)
            cols.append(col.unsqueeze(1))
            lads.append(y.new_zeros(y.shape[0]) if lad is None else lad)
        return torch.cat(cols, dim=1), torch.stack(lads, dim=1).sum(dim=1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self._one_pass(x) if self.one_pass_is_forward else self._solve(x)

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return self._solve(z) if self.one_pass_is_forward else self._one_pass(z)

    def structure(self, shape: tuple[int, ...]) -> tuple[Picture, ...]:
        """The MADE's connectivity: which conditioning input each feature's parameters read (strictly earlier
        ones only, so the layer's Jacobian is triangular)."""
        return (Picture("MADE connectivity", array(self.made.connectivity()),
                        "output i reads input j (1) or not (0): strictly below the diagonal, each feature sees only "
                        "earlier ones, so the Jacobian is triangular", rows="output i", cols="input j"),)
