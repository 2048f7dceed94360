"""The three models, built alike in every library (2-D data, batch 512, fused Adam at 1e-3 as the engine's):

* RealNVP: 8 affine couplings on alternating coordinates, conditioner MLP 1→128→128→2 (ReLU);
* MAF: 5 MADE layers 2→128→128→4 (ReLU), the order reversed between layers;
* NSF: 4 rational-quadratic spline couplings, 8 bins on [−5, 5] with linear tails, MLP 1→128→128→23.

Rows: ``bare`` (a minimal RealNVP written here: the floor), ``zuko``, ``nflows``, ``normflows`` and
``flowlab layers`` (flowlab's flow in the same hand-written loop, :mod:`bench.peers.loop`); the engine rows are in
:mod:`bench.peers.engine`.

Peers as their users build them, with two choices said here: normflows' MAF layer runs its one MADE pass in
the sampling direction (its density takes D passes), so it is wrapped to score data in one pass as MAF does;
normflows' and nflows' spline couplings use the plain MLP above (their defaults are residual nets, and
normflows adds an unconditional spline on the passive half).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
from torch import Tensor, nn

from flowlab.flows import build_flow

HIDDEN, DEPTH, BINS, TAIL = 128, 2, 8, 5.0
LEARNING_RATE = 1e-3
LOG_2PI = math.log(2 * math.pi)
MODELS = ("realnvp", "maf", "nsf")
PEERS = ("zuko", "nflows", "normflows")

STACKS: dict[str, list[dict]] = {
    "realnvp": [{"kind": "affine_coupling", "params": {"mask": "alternating", "flip": i % 2 == 1,
                                                       "hidden": HIDDEN, "depth": DEPTH}} for i in range(8)],
    "maf": [entry for _ in range(5) for entry in ({"kind": "maf", "params": {"hidden": HIDDEN, "depth": DEPTH}},
                                                  {"kind": "reverse", "params": {}})],
    "nsf": [{"kind": "spline_coupling", "params": {"mask": "alternating", "flip": i % 2 == 1, "bins": BINS,
                                                   "tail_bound": TAIL, "hidden": HIDDEN, "depth": DEPTH}}
            for i in range(4)],
}

Loss = Callable[[Tensor], Tensor]  # a batch → the mean NLL (differentiable)


@dataclass(frozen=True)
class Built:
    """One row's model: its module, its training loss, and log p(x) per example (in the library's own words)."""

    module: nn.Module
    loss: Loss
    log_prob: Callable[[Tensor], Tensor]


class Skip(Exception):
    """A row that cannot run here (a peer not installed, a model a library lacks); the message says why."""


# -- the floor: a minimal RealNVP, written out -------------------------------------------------------------------
class BareCoupling(nn.Module):
    """The textbook affine coupling on 2-D data: y_b = x_b · exp(s(x_a)) + t(x_a), s soft-clamped to (−3, 3)."""

    def __init__(self, flip: bool) -> None:
        super().__init__()
        self.flip = flip
        self.net = nn.Sequential(nn.Linear(1, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(),
                                 nn.Linear(HIDDEN, 2))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        a, b = (x[:, 1:], x[:, :1]) if self.flip else (x[:, :1], x[:, 1:])
        s, t = self.net(a).chunk(2, dim=1)
        s = 3.0 * torch.tanh(s / 3.0)
        b = b * torch.exp(s) + t
        return (torch.cat([b, a], 1) if self.flip else torch.cat([a, b], 1)), s.sum(1)


class BareRealNVP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList(BareCoupling(i % 2 == 1) for i in range(8))

    def log_prob(self, x: Tensor) -> Tensor:
        ladj = x.new_zeros(x.shape[0])
        for layer in self.layers:
            x, step = layer(x)
            ladj = ladj + step
        return -0.5 * (x * x).sum(1) - LOG_2PI + ladj


def build_bare(model: str) -> Built:
    if model != "realnvp":
        raise Skip("the bare loop is RealNVP only")
    flow = BareRealNVP()
    return Built(flow, lambda x: -flow.log_prob(x).mean(), flow.log_prob)


# -- the peers -------------------------------------------------------------------------------------------------
def build_zuko(model: str) -> Built:
    try:
        import zuko
    except ImportError as e:
        raise Skip(f"zuko is not installed ({e}): pip install -e '.[bench]'") from None
    hidden = (HIDDEN,) * DEPTH
    if model == "realnvp":
        flow = zuko.flows.RealNVP(2, transforms=8, hidden_features=hidden)
    elif model == "maf":
        flow = zuko.flows.MAF(2, transforms=5, hidden_features=hidden)
    else:  # on 2 features zuko's NSF (an autoregressive spline) is a coupling; its bound set to ours
        univariate = partial(zuko.transforms.MonotonicRQSTransform, bound=TAIL, slope=1e-3)
        flow = zuko.flows.MAF(2, transforms=4, univariate=univariate, shapes=[(BINS,), (BINS,), (BINS - 1,)],
                              hidden_features=hidden)
    return Built(flow, lambda x: -flow().log_prob(x).mean(), lambda x: flow().log_prob(x))


def build_nflows(model: str) -> Built:
    try:
        from nflows.distributions.normal import StandardNormal
        from nflows.flows.base import Flow
        from nflows.nn.nets import MLP
        from nflows.transforms import (
            AffineCouplingTransform,
            CompositeTransform,
            MaskedAffineAutoregressiveTransform,
            PiecewiseRationalQuadraticCouplingTransform,
            ReversePermutation,
        )
        from nflows.utils.torchutils import create_alternating_binary_mask
    except ImportError as e:
        raise Skip(f"nflows is not installed or does not import ({e}): pip install -e '.[bench]'") from None

    class Net(MLP):
        """nflows' MLP, taking the context argument its couplings pass (None here)."""

        def forward(self, inputs: Tensor, context: Tensor | None = None) -> Tensor:
            return super().forward(inputs)

    def net(n_in: int, n_out: int) -> nn.Module:
        return Net((n_in,), (n_out,), [HIDDEN] * DEPTH)

    if model == "realnvp":
        layers = [AffineCouplingTransform(create_alternating_binary_mask(2, even=i % 2 == 0), net) for i in range(8)]
    elif model == "maf":
        layers = []
        for _ in range(5):
            layers += [MaskedAffineAutoregressiveTransform(2, HIDDEN, num_blocks=DEPTH - 1, use_residual_blocks=False),
                       ReversePermutation(2)]
    else:
        layers = [PiecewiseRationalQuadraticCouplingTransform(
            create_alternating_binary_mask(2, even=i % 2 == 0), net, num_bins=BINS, tails="linear",
            tail_bound=TAIL) for i in range(4)]
    flow = Flow(CompositeTransform(layers), StandardNormal([2]))
    return Built(flow, lambda x: -flow.log_prob(x).mean(), flow.log_prob)


def build_normflows(model: str) -> Built:
    try:
        import normflows as nf
        from normflows.flows.neural_spline.coupling import PiecewiseRationalQuadraticCoupling
        from normflows.utils.masks import create_alternating_binary_mask
    except ImportError as e:
        raise Skip(f"normflows is not installed or does not import ({e}): pip install -e '.[bench]'") from None

    class DensityInOnePass(nf.flows.Flow):
        """normflows' flows map latent → data; this one scores data (``inverse``) with the wrapped layer's one
        MADE pass, as MAF does."""

        def __init__(self, inner: nf.flows.Flow) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
            return self.inner.inverse(z)

        def inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
            return self.inner(x)

    class Net(nf.nets.MLP):
        """normflows' MLP, taking the context argument its spline coupling passes (None here)."""

        def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
            return super().forward(x)

    class SplineCoupling(nf.flows.Flow):
        """normflows' CoupledRationalQuadraticSpline with a plain MLP and no unconditional spline."""

        def __init__(self, reverse_mask: bool) -> None:
            super().__init__()
            self.prqct = PiecewiseRationalQuadraticCoupling(
                mask=create_alternating_binary_mask(2, even=reverse_mask),
                transform_net_create_fn=lambda n_in, n_out: Net([n_in, *[HIDDEN] * DEPTH, n_out], init_zeros=True),
                num_bins=BINS, tails="linear", tail_bound=TAIL, apply_unconditional_transform=False)

        def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
            z, log_det = self.prqct.inverse(z)
            return z, log_det.view(-1)

        def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
            z, log_det = self.prqct(z)
            return z, log_det.view(-1)

    flows: list[nn.Module] = []
    if model == "realnvp":
        for _ in range(8):
            flows += [nf.flows.AffineCouplingBlock(nf.nets.MLP([1, *[HIDDEN] * DEPTH, 2], init_zeros=True)),
                      nf.flows.Permute(2, mode="swap")]
    elif model == "maf":
        for _ in range(5):
            flows += [DensityInOnePass(nf.flows.MaskedAffineAutoregressive(2, HIDDEN, num_blocks=DEPTH - 1,
                                                                            use_residual_blocks=False)),
                      nf.flows.Permute(2, mode="swap")]
    else:
        flows = [SplineCoupling(reverse_mask=i % 2 == 1) for i in range(4)]
    flow = nf.NormalizingFlow(q0=nf.distributions.DiagGaussian(2, trainable=False), flows=flows)
    return Built(flow, flow.forward_kld, flow.log_prob)


def build_flowlab_layers(model: str) -> Built:
    flow = build_flow(STACKS[model], (2,))
    return Built(flow, lambda x: -flow.log_prob(x).mean(), flow.log_prob)


BUILDERS: dict[str, Callable[[str], Built]] = {
    "bare": build_bare, "zuko": build_zuko, "nflows": build_nflows, "normflows": build_normflows,
    "flowlab layers": build_flowlab_layers,
}


def describe(model: str) -> str:
    """``model``'s shapes in a few words (the speed table's heading)."""
    return {"realnvp": "8 affine couplings, MLP 2x128", "maf": "5 MADE layers 2x128, reversals",
            "nsf": f"4 RQ spline couplings, {BINS} bins on [-{TAIL:g}, {TAIL:g}], MLP 2x128"}[model]
