"""Objectives: maximum likelihood on samples, reverse KL to an energy, flow matching for a continuous flow, and what
each costs for a given stack."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from flowlab.errors import FlowlabError
from flowlab.flows import LAYERS, Flow
from flowlab.targets import EnergyTarget, SampleTarget, Target

OBJECTIVES = ("auto", "mle", "reverse_kl", "flow_matching")


class DensityAsEnergy(EnergyTarget):
    """A sampled target whose normalised density is known, seen as an energy U = −log p (so log Z = 0): lets
    reverse KL fit it, to compare with maximum likelihood on its samples (mode-seeking vs mass-covering)."""

    def __init__(self, target: SampleTarget) -> None:
        self.target = target
        self.shape = target.shape
        self.bounds = target.bounds
        self.name = target.name

    def energy(self, x: Tensor) -> Tensor:
        return -self.target.log_prob(x)

    def log_normalizer(self, resolution: int = 800) -> float | None:
        return 0.0


def _check_density_usable(target: SampleTarget) -> None:
    """Reverse KL differentiates log p at the model's samples: it must be finite and have a gradient."""
    if not target.has_density:
        raise FlowlabError(f"reverse KL needs the target's density, and '{target.name}' only has samples: "
                           f"fit it by maximum likelihood")
    x = (3.0 * torch.randn((256, *target.shape), generator=torch.Generator().manual_seed(0))).requires_grad_(True)
    lp = target.log_prob(x)
    if not lp.requires_grad or not bool(torch.isfinite(lp).all()):
        raise FlowlabError(f"reverse KL can't fit '{target.name}': its density is flat or zero in places "
                           f"(log p has no useful gradient), so samples get no direction; fit it by maximum "
                           f"likelihood")


def nll(flow: Flow, x: Tensor) -> Tensor:
    """Mean negative log-likelihood in nats: −E[log p(x)]. Its gradient is maximum likelihood's."""
    return -flow.log_prob(x).mean()


def reverse_kl(flow: Flow, target: EnergyTarget, n: int, generator: torch.Generator | None = None) -> Tensor:
    """E_q[log q(x) + U(x)] with x = f⁻¹(z), z ~ p_Z: equals KL(q‖p) − log Z, so minimising it fits q to p.

    −(this) is the ELBO, a lower bound on log Z.
    """
    x, log_q = flow.sample_and_log_prob(n, generator=generator)
    return (log_q + target.energy(x)).mean()


@torch.no_grad()
def importance_log_z(flow: Flow, target: EnergyTarget, n: int,
                     generator: torch.Generator | None = None) -> float:
    """log Z ≈ log mean exp(−U(x) − log q(x)) over x ~ q (unbiased in Z, a lower bound in expectation)."""
    x, log_q = flow.sample_and_log_prob(n, generator=generator)
    w = -target.energy(x) - log_q
    return float(torch.logsumexp(w, dim=0) - math.log(n))


def velocity_kinds() -> list[str]:
    """The layer kinds the registry marks as having a velocity field (what flow matching trains)."""
    return [kind for kind, spec in LAYERS.items() if spec.velocity_field]


def flow_matching_problem(layers: Iterable[Mapping[str, Any]]) -> str | None:
    """Why flow matching cannot train this stack (plain entries ``{"kind", "params", "enabled"}``), or None.

    Flow matching regresses one velocity field onto the straight paths from the data to the base, so that field
    must carry the data all the way to the base: the stack is one layer with a velocity field and nothing else.
    """
    kinds = [e.get("kind") for e in layers if e.get("enabled", True)]
    ok = " or ".join(f"'{k}'" for k in velocity_kinds()) or "a layer with a velocity field"
    why = (f"flow matching fits a single velocity field to straight paths from the data to the base, so the "
           f"stack must be one {ok} layer alone")
    if len(kinds) == 1 and kinds[0] in LAYERS and LAYERS[kinds[0]].velocity_field:
        return None
    if not kinds:
        return f"{why}; this stack has no layers"
    if len(kinds) == 1:
        return f"{why}; '{kinds[0]}' has no velocity field: train it by maximum likelihood"
    return (f"{why}; this stack has {len(kinds)} layers ({', '.join(map(str, kinds))}), and the others would change "
            f"what the field starts from or ends at: train it by maximum likelihood")


def objective_problem(objective: str, layers: Iterable[Mapping[str, Any]]) -> str | None:
    """Why ``objective`` cannot train this stack (plain entries), or None; known before anything is built, for
    the editor (the target's side is checked by :func:`plan`)."""
    return flow_matching_problem(layers) if objective == "flow_matching" else None


def ot_pairing(x0: Tensor, x1: Tensor) -> Tensor:
    """``x1`` reordered so that row i goes with ``x0``'s row i along the pairing that minimises the total squared
    distance Σᵢ ‖x0ᵢ − x1_σ(i)‖² (minibatch optimal transport, Tong et al. 2023; exact, by scipy's
    ``linear_sum_assignment``, O(n³): on the 2-core dev VM about 5 ms for 128 rows, 30 ms for 256, 200 ms for
    512, so keep OT batches small)."""
    cost = torch.cdist(x0.detach().reshape(x0.shape[0], -1).double(),
                       x1.detach().reshape(x1.shape[0], -1).double()).square()
    rows, cols = linear_sum_assignment(cost.cpu().numpy())
    order = np.empty_like(cols)
    order[rows] = cols
    return x1[torch.as_tensor(order, device=x1.device)]


def velocity_layer(flow: Flow) -> torch.nn.Module:
    """The one layer of a flow that flow matching can train; FlowlabError (with why) otherwise."""
    problem = flow_matching_problem([{"kind": info.kind} for info in flow.infos])
    if problem is not None:
        raise FlowlabError(problem)
    return flow.layers[0]


def flow_matching_loss(flow: Flow, x: Tensor, generator: torch.Generator | None = None, ot: bool = False) -> Tensor:
    """Conditional flow matching with straight paths (Lipman et al. 2023; Liu et al. 2023), in the layer's time:
    t = 0 is the data and t = 1 the base, as ``forward`` (data → latent) integrates.

        x₀ = x (data),  x₁ ~ p_Z (the base),  t ~ U(0, 1),  x_t = (1 − t)·x₀ + t·x₁,
        loss = E ‖v(x_t, t) − (x₁ − x₀)‖²   (summed over dimensions, averaged over the batch).

    Its minimiser is the marginal field u_t(x) = E[x₁ − x₀ | x_t = x], whose flow carries the data distribution
    to the base, so the fitted layer is a density model scored exactly by the usual log-likelihood. No ODE is
    solved. ``ot``: pair each batch's data with its noise by minibatch optimal transport (:func:`ot_pairing`)
    instead of independently, which straightens the paths (Tong et al. 2023). The base's own parameters, if any,
    are not trained (its samples are fixed targets).
    """
    layer = velocity_layer(flow)
    n = x.shape[0]
    with torch.no_grad():
        x1 = flow.base.sample(n, generator=generator).to(x.dtype)
        if ot:
            x1 = ot_pairing(x, x1)
        where = x.device if generator is None else generator.device
        t = torch.rand(n, device=where, dtype=x.dtype, generator=generator).to(x.device)
    xt = (1.0 - t)[:, None] * x + t[:, None] * x1
    error = layer.velocity(xt, t) - (x1 - x)
    return error.square().sum(dim=1).mean()


@dataclass(frozen=True)
class Plan:
    """How a stack will serve a target: the objective, and plain notes about costs and caveats."""

    objective: str  # "mle", "reverse_kl" or "flow_matching"
    notes: tuple[str, ...]


def plan(flow: Flow, target: Target, objective: str = "auto") -> Plan:
    """Check that ``flow`` can be fitted to ``target`` by ``objective`` ('auto': maximum likelihood on samples,
    reverse KL for energies); say what it will cost. Raises FlowlabError if not."""
    if tuple(flow.shape) != tuple(target.shape):
        raise FlowlabError(f"the stack is built for data of shape {tuple(flow.shape)}, "
                           f"but the target '{target.name}' has shape {tuple(target.shape)}")
    if objective not in OBJECTIVES:
        raise FlowlabError(f"unknown objective '{objective}' (choose {', '.join(OBJECTIVES)})")
    notes: list[str] = []
    if objective == "auto":
        objective = "reverse_kl" if target.objective == "energy" else "mle"
    elif objective == "mle" and isinstance(target, EnergyTarget):
        raise FlowlabError(f"'{target.name}' is an energy, with no data to fit by maximum likelihood: "
                           f"use reverse KL")
    elif objective == "flow_matching":
        if not isinstance(target, SampleTarget):
            raise FlowlabError(f"'{target.name}' is an energy, with no data for flow matching to carry to the "
                               f"base: use reverse KL")
        problem = flow_matching_problem([{"kind": info.kind} for info in flow.infos])
        if problem is not None:
            raise FlowlabError(problem)
        notes.append("flow matching: each step regresses the velocity field on straight paths from the data to "
                     "the base, without solving the ODE; the held-out scores are the exact log-likelihood of the "
                     "integrated flow")
        if any(p.requires_grad for p in flow.base.parameters()):
            notes.append("flow matching trains the velocity field only: the base's parameters stay as they are")
        return Plan(objective, tuple(notes))
    elif objective == "reverse_kl" and isinstance(target, SampleTarget):
        _check_density_usable(target)
        notes.append("reverse KL on a target with samples: the model is fitted to the density (mode-seeking), "
                     "the test NLL shows how well it covers the data")
    support_note = getattr(flow.base, "support_note", None)
    if objective == "mle" and support_note:
        notes.append(f"{support_note}; training then pauses. Sampling (the views, reverse KL) is not affected")
    for info in flow.infos:
        spec = LAYERS[info.kind]
        d = spec.directions_for(info.params)
        where = f"layer {info.position + 1} ({info.kind})"
        if spec.estimates_ladj(info.in_shape):
            notes.append(f"{where}: on {info.in_shape[0]}-dimensional data its log-det while training is a "
                         f"Hutchinson estimate (unbiased but noisy, exact up to {spec.ladj_estimated_above}-D), so "
                         f"the training loss is an estimate; held-out scores and the views are exact")
        if objective == "mle":
            if d.forward == "numerical":
                notes.append(f"{where}: scoring data needs a numerical inverse (solved to "
                             f"{d.tolerance or 'a stated tolerance'}), so each step is slower")
            elif d.forward == "integrated":
                notes.append(f"{where}: scoring data integrates an ODE through the layer, and training "
                             f"backpropagates through every solver step, so each step is slower")
            elif d.fast == "inverse":
                notes.append(f"{where}: scoring data runs its network once per dimension "
                             f"({flow.dim} passes per step); sampling for the views is fast")
        else:
            if d.inverse == "numerical":
                notes.append(f"{where}: sampling needs a numerical inverse, so each step is slower")
            elif d.inverse == "integrated":
                notes.append(f"{where}: sampling integrates an ODE through the layer, so each step is slower")
            elif d.fast == "forward":
                notes.append(f"{where}: sampling runs its network once per dimension "
                             f"({flow.dim} passes per step)")
            if spec.data_dependent != "none":
                notes.append(f"{where}: fitted by reverse KL it never sees data, so it stays a plain "
                             f"learnable scale and shift")
    return Plan(objective, tuple(notes))
