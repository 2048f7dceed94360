"""Conditioner networks shared by coupling and autoregressive layers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from flowlab.flows.registry import Param


class Tanh(nn.Tanh):
    """``nn.Tanh`` with the ``inplace`` option its siblings (ReLU, SiLU, ELU) have."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return x.tanh_() if self.inplace else torch.tanh(x)


ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": Tanh, "silu": nn.SiLU, "elu": nn.ELU}


def linear(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """``x Wᵀ + b``. Under ``torch.compile``, two thin shapes are written as elementwise products and sums, which
    fuse with their neighbours where a matrix product is a library call of its own:

    * one input: an outer product ``b + x · wᵀ`` (it fuses with the activation after it, and in the backward pass
      the reductions Σ_batch g·x and Σ_j g·w): the small flows' compiled steps ran 1.2× faster on 2-D data;
    * at most two outputs (a 2-D coupling's last layer): ``out_k = Σ_j x_j W_kj + b_k``; the backward's
      ``Σ_k g_k W_k`` then fuses with the activation's backward, where a matrix product wrote a (batch, hidden)
      tensor for it to read again (MAF's compiled steps ran about 1.05× faster).

    Eager steps keep the matrix product, which is faster there."""
    if torch.compiler.is_compiling():
        n_out, n_in = weight.shape
        if n_in == 1:
            return torch.addcmul(bias, x, weight.t())
        if n_out <= 2:
            return (x.unsqueeze(-2) * weight).sum(-1) + bias
    return nn.functional.linear(x, weight, bias)


class Linear(nn.Linear):
    """``nn.Linear`` (the same parameters and ``state_dict``) through :func:`linear`."""

    def forward(self, x: Tensor) -> Tensor:
        return linear(x, self.weight, self.bias)

# The conditioner parameters every network-based layer shares (one definition, many layer kinds).
HIDDEN = Param("hidden", "int", 64, "width of each hidden layer of the conditioner network", low=1, high=1024)
DEPTH = Param("depth", "int", 2, "number of hidden layers of the conditioner network", low=1, high=8)
ACTIVATION = Param("activation", "choice", "relu", "the conditioner's nonlinearity", choices=tuple(ACTIVATIONS))


def mlp(n_in: int, n_out: int, hidden: int, depth: int, activation: str = "relu",
        inplace: bool = False) -> nn.Sequential:
    """``n_in → hidden (× depth) → n_out`` with the last layer zero-initialised, so a new layer is the identity.

    ``inplace``: the activations overwrite the linear layers' outputs (never the network's input, since a linear
    layer comes first). That saves a hidden-sized tensor per activation in training and in the views alike, and
    autograd allows it: a linear layer's backward does not need its output."""
    act = ACTIVATIONS[activation]
    mods: list[nn.Module] = []
    width = n_in
    for _ in range(depth):
        mods += [Linear(width, hidden), act(inplace=inplace)]
        width = hidden
    last = Linear(width, n_out)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    mods.append(last)
    return nn.Sequential(*mods)


def conv_net(c_in: int, c_out: int, hidden: int, depth: int, activation: str = "relu") -> nn.Sequential:
    """A small 3×3 convolutional conditioner for images, zero-initialised output (identity at start)."""
    act = ACTIVATIONS[activation]
    mods: list[nn.Module] = []
    width = c_in
    for i in range(depth):
        k = 3 if i == 0 else 1
        mods += [nn.Conv2d(width, hidden, k, padding=k // 2), act()]
        width = hidden
    last = nn.Conv2d(width, c_out, 3, padding=1)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    mods.append(last)
    return nn.Sequential(*mods)


class ResidualBlock(nn.Module):
    """``h + conv1×1(act(conv3×3(act(h))))``: a pre-activation residual block at constant width."""

    def __init__(self, width: int, activation: str) -> None:
        super().__init__()
        act = ACTIVATIONS[activation]
        self.body = nn.Sequential(act(), nn.Conv2d(width, width, 3, padding=1), act(), nn.Conv2d(width, width, 1))

    def forward(self, h: Tensor) -> Tensor:
        return h + self.body(h)


def resnet(c_in: int, c_out: int, hidden: int, depth: int, activation: str = "relu") -> nn.Sequential:
    """A ResNet-style conditioner (as in RealNVP and Glow): 3×3 in, ``depth`` residual blocks of width
    ``hidden``, 3×3 out with zero-initialised weights (identity at start)."""
    mods: list[nn.Module] = [nn.Conv2d(c_in, hidden, 3, padding=1)]
    mods += [ResidualBlock(hidden, activation) for _ in range(depth)]
    last = nn.Conv2d(hidden, c_out, 3, padding=1)
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    mods += [ACTIVATIONS[activation](), last]
    return nn.Sequential(*mods)


IMAGE_NETS = {"plain": conv_net, "resnet": resnet}
CONDITIONER = Param("conditioner", "choice", "plain",
                    "images only: 'plain' = a 3×3 then 1×1 convolutions; 'resnet' = residual blocks as in RealNVP "
                    "and Glow (depth = number of blocks); vectors always use an MLP", choices=tuple(IMAGE_NETS))


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 mask (MADE's autoregressive wiring).

    Inputs that no output sees (a column of zeros in the mask: MADE's last input) and outputs that see no input
    (a row of zeros: the first input's parameters, constants) are left out of the product: those outputs are the
    bias alone. In D dimensions that saves a D-th of the first and last layers; in 2-D, half, and the first layer
    then has one input (see :func:`linear`)."""

    def __init__(self, n_in: int, n_out: int, mask: Tensor) -> None:
        super().__init__(n_in, n_out)
        self.register_buffer("mask", mask.to(self.weight.dtype))
        seen, seeing = mask.any(dim=0), mask.any(dim=1)
        self._pruned_in, self._pruned_out = not bool(seen.all()), not bool(seeing.all())
        self._full = bool(mask.all())  # every connection present: no mask to apply
        # not persistent: the state_dict stays what it always was
        self.register_buffer("inputs_used", seen.nonzero().flatten(), persistent=False)
        self.register_buffer("outputs_used", seeing.nonzero().flatten(), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        weight = self.weight if self._full else self.weight * self.mask
        if not (self._pruned_in or self._pruned_out):
            return linear(x, weight, self.bias)
        bias = self.bias
        if self._pruned_in:
            x, weight = x.index_select(-1, self.inputs_used), weight.index_select(1, self.inputs_used)
        if self._pruned_out:
            weight, bias = weight.index_select(0, self.outputs_used), bias.index_select(0, self.outputs_used)
        out = linear(x, weight, bias)
        if not self._pruned_out:
            return out
        return self.bias.expand(*out.shape[:-1], self.out_features).index_copy(-1, self.outputs_used, out)


class MADE(nn.Module):
    """Masked autoencoder (Germain et al. 2015): output block ``i`` depends only on inputs ``< i``.

    Returns ``(batch, dim, n_params)``; the natural order 1..D is used (compose with permutations to change it).
    """

    def __init__(self, dim: int, n_params: int, hidden: int, depth: int, activation: str = "relu",
                 inplace: bool = False) -> None:
        super().__init__()
        self.dim, self.n_params = dim, n_params
        in_deg = torch.arange(1, dim + 1)
        # Hidden degrees cycle over 1..D-1 (all 1 when D = 1: then no output sees any input, as it must).
        top = max(dim - 1, 1)
        hid_deg = torch.arange(hidden) % top + 1
        out_deg = torch.arange(1, dim + 1).repeat_interleave(n_params)
        act = ACTIVATIONS[activation]
        mods: list[nn.Module] = []
        prev_deg, width = in_deg, dim
        for _ in range(depth):
            mask = (hid_deg[:, None] >= prev_deg[None, :]).float()
            mods += [MaskedLinear(width, hidden, mask), act(inplace=inplace)]
            prev_deg, width = hid_deg, hidden
        last = MaskedLinear(width, dim * n_params, (out_deg[:, None] > prev_deg[None, :]).float())
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        mods.append(last)
        self.net = nn.Sequential(*mods)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).reshape(x.shape[0], self.dim, self.n_params)

    def connectivity(self) -> Tensor:
        """``(dim, dim)`` 0/1: entry (i, j) = 1 when some parameter of output i can depend on input j, i.e. the
        product of the layers' masks has a path from j to i. Strictly lower triangular."""
        masks = [m.mask for m in self.net if isinstance(m, MaskedLinear)]
        paths = masks[0]
        for mask in masks[1:]:
            paths = mask @ paths
        return (paths.reshape(self.dim, self.n_params, self.dim) > 0).any(dim=1).float()


def net_summary(params: Mapping[str, Any]) -> str:
    """A conditioner's size for a one-line summary: "64×2" (width × hidden layers)."""
    return f"{params['hidden']}×{params['depth']}" if "depth" in params else f"{params['hidden']} wide"
