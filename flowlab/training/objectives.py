"""Objectives: maximum likelihood on samples, reverse KL to an energy, and what each costs for a given stack."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from flowlab.errors import FlowlabError
from flowlab.flows import LAYERS, Flow
from flowlab.targets import EnergyTarget, SampleTarget, Target

OBJECTIVES = ("auto", "mle", "reverse_kl")


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


@dataclass(frozen=True)
class Plan:
    """How a stack will serve a target: the objective, and plain notes about costs and caveats."""

    objective: str  # "mle" or "reverse_kl"
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
