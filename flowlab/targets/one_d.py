"""1-D targets (shape (1,)): where a flow is one monotone function you can plot, and densities are curves.

- ``gaussian_mixture_1d``: K equal-weight unit-variance Gaussians with means evenly spaced ``separation`` apart,
  centred on 0: μ_k = separation·(k − (K − 1)/2), p(x) = (1/K) Σ_k N(x; μ_k, 1). Exact density.
- ``affine_gaussian_1d``: the change-of-variables lecture example u = a·v + b with v ~ N(0, 1) (a = 0.75,
  b = 1 by default), so p(u) = N((u − b)/a; 0, 1)/|a| = N(u; b, a²) and H = ½ ln(2πe a²). Exact density.

Samplers use only the given generator and return float32 (n, 1) on the CPU; ``log_prob`` takes (n, 1) (or (n,))
and returns (n,), computed in float64 and given back in the input's dtype.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from flowlab.params import Param
from flowlab.targets.base import SampleTarget, TargetSpec, register_target

F64 = torch.float64
HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
TAIL = 5.0  # bounds reach this many standard deviations beyond the outermost mean (mass outside < 1e-6)


def _column(x: Tensor) -> Tensor:
    """(n, 1) or (n,) → float64 (n,)."""
    return x.reshape(len(x), -1)[:, 0].to(F64)


def _as_dtype_of(result: Tensor, x: Tensor) -> Tensor:
    return result.to(x.dtype) if x.is_floating_point() else result


class OneDTarget(SampleTarget):
    shape = (1,)


class GaussianMixture1D(OneDTarget):
    """p(x) = (1/K) Σ_k N(x; μ_k, 1), μ_k = separation·(k − (K − 1)/2). H ≈ ln K + ½ ln(2πe) when separated."""

    def __init__(self, components: int, separation: float) -> None:
        self.means = separation * (torch.arange(components, dtype=F64) - (components - 1) / 2.0)
        reach = float(self.means[-1]) + TAIL
        self.bounds = (-reach, reach)

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        k = torch.randint(len(self.means), (n,), generator=generator)
        return (self.means[k] + torch.randn(n, generator=generator, dtype=F64)).float()[:, None]

    def log_prob(self, x: Tensor) -> Tensor:
        z = _column(x)[:, None] - self.means.to(x.device)
        log_n = -0.5 * z * z - HALF_LOG_2PI
        return _as_dtype_of(torch.logsumexp(log_n, dim=1) - math.log(len(self.means)), x)


class AffineGaussian1D(OneDTarget):
    """u = a·v + b, v ~ N(0, 1): p(u) = N((u − b)/a; 0, 1) / |a|, H = ½ ln(2πe a²).

    ``bounds`` cover the target (b ± 5a) and the standard normal base (±4), so both show on the same axes.
    """

    def __init__(self, scale: float, shift: float) -> None:
        self.scale = scale
        self.shift = shift
        self.bounds = (min(shift - TAIL * scale, -4.0), max(shift + TAIL * scale, 4.0))

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        v = torch.randn(n, generator=generator, dtype=F64)
        return (self.scale * v + self.shift).float()[:, None]

    def log_prob(self, x: Tensor) -> Tensor:
        v = (_column(x) - self.shift) / self.scale
        return _as_dtype_of(-0.5 * v * v - HALF_LOG_2PI - math.log(abs(self.scale)), x)


register_target(TargetSpec(
    kind="gaussian_mixture_1d", family="1d",
    help="A few equal bumps on a line; watch one monotone curve squeeze a bell into several.",
    builder=lambda p, d: GaussianMixture1D(p["components"], p["separation"]),
    params=(Param("components", "int", 2, "how many bumps", low=1, high=6),
            Param("separation", "float", 4.0, "distance between neighbouring bump centres (each bump has "
                  "standard deviation 1)", low=0.0, high=8.0)),
))

register_target(TargetSpec(
    kind="affine_gaussian_1d", family="1d",
    help="The lecture example u = 0.75·v + 1: a stretched and shifted bell with an exact answer.",
    builder=lambda p, d: AffineGaussian1D(p["scale"], p["shift"]),
    params=(Param("scale", "float", 0.75, "the stretch a in u = a·v + b", low=0.05, high=5.0, log_scale=True),
            Param("shift", "float", 1.0, "the shift b in u = a·v + b", low=-5.0, high=5.0)),
    reference="change of variables: p_u(u) = p_v((u − b)/a) / |a|",
))
