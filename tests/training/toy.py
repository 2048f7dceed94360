"""Small targets with known densities, defined here so engine tests do not depend on the target catalogue."""

from __future__ import annotations

import threading
import weakref

import torch

from flowlab.targets import EnergyTarget, SampleTarget


class Banana(SampleTarget):
    """a ~ N(0, 1), b ~ N(a²/2 − 1, 0.5²): exact density, entropy ½ln(2πe) + ½ln(2πe·0.25) = 2.1447."""

    shape = (2,)
    bounds = (-4.0, 4.0, -4.0, 4.0)
    name = "banana"

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        a = torch.randn(n, generator=generator)
        b = 0.5 * a * a - 1.0 + 0.5 * torch.randn(n, generator=generator)
        return torch.stack([a, b], dim=1)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        normal = torch.distributions.Normal
        return (normal(0.0, 1.0).log_prob(x[:, 0])
                + normal(0.5 * x[:, 0] ** 2 - 1.0, 0.5).log_prob(x[:, 1]))


class StandardGaussian(SampleTarget):
    shape = (2,)
    bounds = (-4.0, 4.0, -4.0, 4.0)
    name = "gaussian"

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn(n, 2, generator=generator)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return torch.distributions.Normal(0.0, 1.0).log_prob(x).sum(1)


class Ring(EnergyTarget):
    """U(x) = ½((‖x‖ − 2)/0.4)², Rezende & Mohamed's U1 without the two lobes."""

    shape = (2,)
    bounds = (-4.0, 4.0, -4.0, 4.0)
    name = "ring"

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((x.norm(dim=1) - 2.0) / 0.4) ** 2


class UniformImages(SampleTarget):
    """Integer levels 0..L−1 on a tiny image; dequantised to (k + u)/L per batch, as image targets do."""

    shape = (1, 2, 2)
    levels = 4
    name = "uniform-images"

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return self.prepare_batch(self._levels(n, generator), generator)

    def _levels(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randint(0, self.levels, (n, *self.shape), generator=generator).float()

    def split(self, n_train, n_test, seed=0, device="cpu"):
        gen = torch.Generator().manual_seed(seed)
        data = self._levels(n_train + n_test, gen)
        return data[:n_train].to(device), data[n_train:].to(device)

    def prepare_batch(self, batch, generator=None):
        u = torch.rand(batch.shape, generator=generator, device=batch.device)
        return (batch + u) / self.levels


# A small RealNVP on moons that trains fast: the sessions' tests (headless and on the window's QThread) share it.
SMALL_STACK = [{"kind": "affine_coupling", "params": {"mask": "alternating", "flip": i % 2 == 1, "hidden": 16}}
               for i in range(4)]
MOONS = {"kind": "moons", "params": {}, "data": {}}
SMALL_SETTINGS = dict(n_train=2000, n_test=500, batch_size=64, eval_every=20, device="cpu")


class EventLog:
    """Reading a session's recorded events (``self.events``): by type, and the latest step reported."""

    events: list

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    @property
    def step(self) -> int:
        from flowlab.training.messages import Progress

        progress = self.of(Progress)
        return progress[-1].step if progress else 0


def record_model_deaths(monkeypatch) -> list[str]:
    """Make every session's model say, when it is freed, which thread freed it (the names, in order)."""
    from flowlab.training import session as session_module

    died: list[str] = []

    class Recording(session_module.Trainer):
        def __init__(self, *a, **k) -> None:
            super().__init__(*a, **k)
            weakref.finalize(self.flow, lambda: died.append(threading.current_thread().name))

    monkeypatch.setattr(session_module, "Trainer", Recording)
    return died
