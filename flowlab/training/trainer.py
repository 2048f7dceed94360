"""The training engine: a plain loop object, no threads and no Qt. The CLI calls it directly; the window wraps it
on a QThread (``flowlab.ui.worker``).

One :meth:`Trainer.train_step` is one optimiser step. A non-finite loss or gradient never reaches the weights:
the engine rolls back to the last good weights and reports why (:class:`Diverged`), and the caller pauses.
"""

from __future__ import annotations

import copy
import math
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch.optim import lr_scheduler

from flowlab.errors import FlowlabError, NumericalError
from flowlab.flows import Flow, build_flow
from flowlab.targets import EnergyTarget, SampleTarget, Target
from flowlab.targets.images import bits_per_dim
from flowlab.training.compiled import CompiledLoss
from flowlab.training.device import describe_device, pick_device
from flowlab.training.flat_params import FlatParameters
from flowlab.training.metrics import MetricsLog
from flowlab.training.objectives import (
    DensityAsEnergy,
    flow_matching_loss,
    importance_log_z,
    nll,
    plan,
    reverse_kl,
)
from flowlab.training.settings import TrainSettings, refused_live

if TYPE_CHECKING:
    from flowlab.training.distributed import Replicas

GOOD_STATE_EVERY = 25  # steps between copies of the last good weights (the roll-back point)
COMPILE_AFTER_STEPS = 20  # eager steps before the compiled step is asked for (ActNorm and friends initialised)
COMPILE_MIN_REMAINING = 1000  # a bounded run compiles anew only with this many steps left (else: a cached one)
EVAL_CHUNK = 8192
_SEEDED_BUILD = threading.Lock()  # one flow draws its weights from the global generator at a time


class Diverged(NumericalError):
    """Training produced a NaN/Inf; the weights were rolled back to ``rolled_back_to``."""

    def __init__(self, step: int, rolled_back_to: int, what: str) -> None:
        self.step, self.rolled_back_to = step, rolled_back_to
        super().__init__(f"step {step}: {what}. The weights were rolled back to step {rolled_back_to} and "
                         f"training paused; try a lower learning rate or a smaller max_log_scale.")


@dataclass(frozen=True)
class StepReport:
    step: int
    loss: float
    grad_norm: float
    learning_rate: float
    evaluation: Mapping[str, float] | None = None


SCHEDULE_FLOOR = 0.01  # both schedules end at 1 % of the rate, at ``schedule_steps``, and stay there


def make_scheduler(optimizer: torch.optim.Optimizer, schedule: str, total: int,
                   learning_rate: float) -> lr_scheduler.LRScheduler | None:
    """torch's scheduler for ``schedule`` at step 0, the optimizer's rate set to ``learning_rate``: cosine
    annealing to ``SCHEDULE_FLOOR · learning_rate`` over ``total`` steps, or an exponential decay by
    ``SCHEDULE_FLOOR ** (1 / total)`` per step. The caller stops stepping it at ``total``."""
    for group in optimizer.param_groups:
        group["lr"] = group["initial_lr"] = learning_rate
    if schedule == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=total, eta_min=SCHEDULE_FLOOR * learning_rate)
    if schedule == "exponential":
        return lr_scheduler.ExponentialLR(optimizer, gamma=SCHEDULE_FLOOR ** (1.0 / total))
    return None


def _entries(layers: Any) -> Any:
    """A stack as its entries mean it (``enabled`` written out: a saved preset writes it, a hand-made one may
    not), for comparing stacks."""
    if not isinstance(layers, list):
        return layers
    return [{"enabled": True, **e} if isinstance(e, Mapping) else e for e in layers]


def _cloned(state: Any) -> Any:
    """A copy of a state dict whose tensors are fresh clones: what ``copy.deepcopy`` gives (the module versions in
    ``_metadata`` too), in a quarter of the time (1.2 → 0.3 ms a copy for a small flow)."""
    if isinstance(state, torch.Tensor):
        return state.detach().clone()
    if isinstance(state, dict):
        out = (OrderedDict if isinstance(state, OrderedDict) else dict)((k, _cloned(v)) for k, v in state.items())
        if hasattr(state, "_metadata"):
            out._metadata = copy.deepcopy(state._metadata)  # type: ignore[attr-defined]
        return out
    if isinstance(state, (list, tuple)):
        return type(state)(_cloned(v) for v in state)
    return copy.deepcopy(state)


class Trainer:
    """Fits a layer stack to a target with Adam(W); seeded and reproducible."""

    def __init__(self, layers: Sequence[Mapping[str, Any]], target: Target,
                 settings: TrainSettings | None = None, base: str = "standard",
                 replicas: Replicas | None = None) -> None:
        """``replicas``: this process's part in a group training one model together (``torchrun``; see
        :mod:`flowlab.training.distributed`); None trains alone, as always."""
        self.settings = settings or TrainSettings()
        self.replicas = replicas
        self.device = pick_device(self.settings.device)
        self.layers = copy.deepcopy(list(layers))
        self.base = base
        self.target = target
        self.flow: Flow = self._seeded_flow()
        self._modules: list[torch.nn.Module] = []  # the flow's modules (the flow first), for _train_mode
        self.plan = plan(self.flow, target, self.settings.objective)
        # What reverse KL fits: the energy itself, or a sampled target's known density seen as one.
        self.energy: EnergyTarget | None = None
        if self.plan.objective == "reverse_kl":
            self.energy = target if isinstance(target, EnergyTarget) else DensityAsEnergy(target)
        self.flow.to(self.device)
        self._gen = torch.Generator(device=self.device).manual_seed(self.settings.seed + 1)
        self.train_data = self.test_data = self.valid_data = None
        if isinstance(target, SampleTarget):
            train, test = target.split(self.settings.n_train, self.settings.n_test, self.settings.seed,
                                       self.device)
            if not (torch.isfinite(train).all() and torch.isfinite(test).all()):
                raise FlowlabError(f"the target '{target.name}' produced NaN or infinite data")
            # Held-out data gets its per-batch randomness (dequantisation) once, with a fixed generator,
            # so its score is comparable from one evaluation to the next.
            held_gen = torch.Generator(device=self.device).manual_seed(self.settings.seed + 2)
            n_valid = round(train.shape[0] * self.settings.valid_fraction)
            if n_valid >= 1 and train.shape[0] - n_valid >= 2:
                # The split is already shuffled: the last rows are as good a random subset as any.
                train, valid = train[:-n_valid], train[-n_valid:]
                self.valid_data = target.prepare_batch(valid, held_gen)
            self.train_data = train
            self.test_data = target.prepare_batch(test, held_gen)
        self._entropy: float | None = None
        self.step = 0
        self.metrics = MetricsLog()
        self._make_optimizer()
        self._good = self._copy_state()
        self.best: tuple[float, int, dict[str, torch.Tensor]] | None = None
        self.compiled: CompiledLoss | None = None
        self._new_compiled_loss()
        self._t0 = time.perf_counter()
        self._rate = (time.perf_counter(), 0)
        self.steps_per_s = 0.0
        if replicas is not None:
            replicas.join(self)

    # -- set-up --------------------------------------------------------------------------------------------------
    def _make_optimizer(self) -> None:
        s = self.settings
        fused = self.device.type in ("cpu", "cuda")
        self.flat = None
        if self.replicas is None:  # DDP keeps gradient buckets of its own
            try:
                self.flat = FlatParameters(self.flow.parameters())
            except ValueError:  # no trainable parameters, or mixed dtypes/devices: one by one
                pass
        params = [self.flat.param] if self.flat is not None else list(self.flow.parameters())
        self.optimizer = torch.optim.AdamW(params, lr=s.learning_rate, weight_decay=s.weight_decay,
                                           fused=fused) if params else None
        self._place_schedule()

    def _place_schedule(self) -> None:
        """A fresh scheduler for the current settings, advanced to the current step (after a live change of the
        rate or the schedule, a roll-back or a resume): the rate is then what the schedule gives at this step."""
        self.scheduler = None
        if self.optimizer is None:
            return
        s = self.settings
        self.scheduler = make_scheduler(self.optimizer, s.schedule, s.schedule_steps, s.learning_rate)
        if self.scheduler is not None:
            with warnings.catch_warnings():  # advancing before any optimizer step is what we mean here
                warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step", category=UserWarning)
                for _ in range(min(self.step, s.schedule_steps)):
                    self.scheduler.step()

    @property
    def learning_rate(self) -> float:
        """The rate the next step uses (the schedule applied)."""
        return float(self.optimizer.param_groups[0]["lr"]) if self.optimizer is not None else \
            self.settings.learning_rate

    def _copy_state(self) -> dict[str, Any]:
        return {"flow": _cloned(self.flow.state_dict()), "step": self.step,
                "optimizer": _cloned(self.optimizer.state_dict()) if self.optimizer else None}

    def _train_mode(self) -> None:
        """``flow.train()``, skipped when every module already trains: the call recurses through every module and
        cost 0.1 ms a step (3 % of a small flow's compiled step); evaluations and views switch to eval and back."""
        if not self._modules or self._modules[0] is not self.flow:
            self._modules = list(self.flow.modules())
        if not all(m.training for m in self._modules):
            self.flow.train()

    def _restore(self, state: Mapping[str, Any]) -> None:
        self.flow.load_state_dict(state["flow"])
        if self.optimizer is not None and state["optimizer"] is not None:
            self.optimizer.load_state_dict(state["optimizer"])
        self.step = state["step"]
        self._place_schedule()

    def _new_compiled_loss(self) -> None:
        if self.compiled is not None:
            self.compiled.close()
        self.compiled = None
        if self.settings.compile and self.energy is None and self.plan.objective == "mle" \
                and self.replicas is None:  # what compiles (under DDP the wrapped model runs eagerly)
            self.compiled = CompiledLoss(self.layers, self.target.shape, self.base, self.device, nll)

    @property
    def device_name(self) -> str:
        return describe_device(self.device)

    @property
    def is_images(self) -> bool:
        return len(self.target.shape) == 3

    # -- live changes --------------------------------------------------------------------------------------------
    def update_settings(self, **changes: Any) -> None:
        """Change hyperparameters between steps: those marked ``live`` in ``TRAIN_PARAMS`` apply at once; the
        others (the data, the device, the seed...) need a new Trainer and are refused."""
        refused = refused_live(changes)
        if refused:
            raise FlowlabError(f"{', '.join(refused)} can only change when training restarts")
        old = self.settings
        self.settings = self.settings.updated(**changes)
        if self.optimizer is not None:
            for group in self.optimizer.param_groups:
                group["weight_decay"] = self.settings.weight_decay
        if any(getattr(old, k) != getattr(self.settings, k) for k in ("learning_rate", "schedule", "schedule_steps")):
            self._place_schedule()
        if old.batch_size != self.settings.batch_size and self.compiled is not None:
            self._new_compiled_loss()  # compiled for the old batch shape: build again when asked

    def _seeded_flow(self) -> Flow:
        """The flow with its weights from the seed. The networks draw from PyTorch's global generator: sessions
        building at once on threads of one process (side-by-side runs) would interleave their draws and get
        other weights, so one builds at a time."""
        with _SEEDED_BUILD:
            torch.manual_seed(self.settings.seed)
            return build_flow(self.layers, self.target.shape, base=self.base, seed=self.settings.seed)

    def reset_weights(self) -> None:
        """Fresh weights from the seed, a fresh optimizer, step 0, an empty record."""
        self.flow = self._seeded_flow()
        self.flow.to(self.device)
        self._gen = torch.Generator(device=self.device).manual_seed(self.settings.seed + 1)
        self.step = 0
        self.metrics = MetricsLog()
        self._make_optimizer()
        self._good = self._copy_state()
        self.best = None
        if self.replicas is not None:
            self.replicas.join(self)

    # -- one step ------------------------------------------------------------------------------------------------
    def _loss(self) -> torch.Tensor:
        s = self.settings
        if self.energy is not None:
            return reverse_kl(self.flow, self.energy, s.energy_samples, self._gen)
        batch = self._draw_batch()
        if self.plan.objective == "flow_matching":
            return flow_matching_loss(self.flow, batch, self._gen, ot=s.ot_pairing)
        if self.replicas is not None:  # this process's share of the batch, scaled so that DDP's mean is the loss
            return self.replicas.loss(batch)
        return self._nll(self.flow, batch)

    def _draw_batch(self) -> torch.Tensor:
        """The next training batch from the batch stream (``batch_size`` examples, dequantised for images)."""
        idx = torch.randint(0, self.train_data.shape[0], (self.settings.batch_size,), device=self.device,
                            generator=self._gen)
        return self.target.prepare_batch(self.train_data[idx], self._gen)

    @torch.no_grad()
    def initialize_from_next_batch(self) -> None:
        """Run the data-dependent initialisations (ActNorm's) on the batch the next step will draw, leaving the
        batch stream where it was: what that step would do, done beforehand (before a DDP wrap)."""
        if self.train_data is None:
            return
        state = self._gen.get_state()
        self.flow.train()
        self.flow.log_prob(self._draw_batch())
        self._gen.set_state(state)
        self._good = self._copy_state()  # a roll-back keeps them: re-initialising would use one share of a batch

    @property
    def _nll(self):
        """The MLE loss: with ``compile`` on, eager until the compiled loss is ready (``flowlab.training.compiled``),
        then compiled; the same numbers to float tolerance either way."""
        return self.compiled if self.compiled is not None else nll

    # -- the compiled step ---------------------------------------------------------------------------------------
    @property
    def compile_state(self) -> tuple[str, str]:
        """``(state, note)``: "off", "waiting", "compiling", "compiled" or "failed", and a sentence."""
        if self.compiled is None:
            why = "compile is off in the settings" if not self.settings.compile else "only the MLE loss compiles"
            return "off", f"eager steps: {why}"
        return self.compiled.state, self.compiled.note

    def maybe_start_compile(self, remaining: int | None) -> bool:
        """Ask for the compiled step once training is under way (``COMPILE_AFTER_STEPS``) and, in a run with
        ``remaining`` steps left, only when a build would pay (``COMPILE_MIN_REMAINING``) or one is cached.
        Returns at once (the build runs in another process); True when it began now."""
        c = self.compiled
        if c is None or c.started or self.step < COMPILE_AFTER_STEPS or self.train_data is None:
            return False
        batch = self._example_batch()
        if remaining is not None and remaining < COMPILE_MIN_REMAINING and not c.cached(batch):
            return False
        c.start(self.flow, batch)
        return True

    def _example_batch(self) -> torch.Tensor:
        """A training batch of the current size, drawn without touching the batch stream's generator."""
        n, size = self.train_data.shape[0], self.settings.batch_size
        gen = torch.Generator(device=self.device).manual_seed(self.settings.seed + 4)
        return self.target.prepare_batch(self.train_data[torch.arange(size, device=self.device) % n], gen)

    def close(self) -> None:
        """End what runs beside training (a compiling process); the trainer still works, eagerly."""
        if self.compiled is not None:
            self.compiled.close()

    def train_step(self) -> StepReport:
        """One optimiser step. Raises :class:`Diverged` (weights rolled back) on a NaN/Inf."""
        s = self.settings
        self._train_mode()
        lr = self.learning_rate
        loss = self._loss()
        # the whole batch's mean loss, the same on every process: a NaN on any one stops them all together
        loss_value = float(loss.detach()) if self.replicas is None else self.replicas.average(loss)
        if not math.isfinite(loss_value):
            why = getattr(self.flow.base, "support_note", None) if loss_value == math.inf else None
            self._roll_back(f"the loss became {loss_value}" + (f": {why}" if why else ""))
        grad_norm = 0.0
        if self.optimizer is not None:
            max_norm = s.grad_clip if s.grad_clip > 0 else math.inf
            if self.flat is not None:
                self.flat.zero_grad()
                loss.backward()
                grad_norm = self.flat.clip_grad_norm(max_norm)  # the norm before clipping
            else:
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                params = [p for p in self.flow.parameters() if p.grad is not None]
                if params:  # the norm before clipping (no clipping: a factor of 1, the gradients unchanged)
                    grad_norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
            if not math.isfinite(grad_norm):
                self._roll_back(f"the gradient became {grad_norm}")
            self.optimizer.step()
            if self.scheduler is not None and self.step < s.schedule_steps:
                self.scheduler.step()
        self.step += 1
        if self.step % GOOD_STATE_EVERY == 0:
            self._good = self._copy_state()
        self._update_rate()
        evaluation = self.evaluate() if self.step % s.eval_every == 0 else None
        self._record(loss_value, grad_norm, lr, evaluation)
        return StepReport(self.step, loss_value, grad_norm, lr, evaluation)

    def _roll_back(self, what: str) -> None:
        failed = self.step + 1
        self._restore(self._good)
        self.metrics.truncate(self.step)
        raise Diverged(failed, self.step, what)

    def _update_rate(self) -> None:
        t, n = self._rate
        now = time.perf_counter()
        if now - t >= 0.5:
            self.steps_per_s = (self.step - n) / (now - t)
            self._rate = (now, self.step)

    def _record(self, loss: float, grad_norm: float, lr: float, evaluation: Mapping[str, float] | None) -> None:
        row: dict[str, float | None] = dict(step=self.step, grad_norm=grad_norm, learning_rate=lr,
                                            steps_per_s=self.steps_per_s or None,
                                            time_s=time.perf_counter() - self._t0)
        if self.energy is not None:
            row["train_loss"] = loss
        elif self.plan.objective == "flow_matching":
            row["train_fm"] = loss
        else:
            row["train_nll"] = loss
            if self.levels:
                row["train_bpd"] = self._bits_per_dim(loss)
        row.update(evaluation or {})
        self.metrics.append(**row)

    # -- held-out evaluation --------------------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Held-out scores: test NLL (and bits/dim for images, the gap to the target's entropy where known),
        or for energies the ELBO, an importance-sampled log Z and the true KL(q‖p) where log Z is known."""
        self.flow.eval()
        try:
            out = self._evaluate_samples() if self.test_data is not None else {}
            if self.energy is not None:
                out.update(self._evaluate_energy())
        finally:
            self.flow.train()
        # Early stopping picks by the objective being minimised: the validation split's NLL when there is one
        # (the test score then stays unbiased), else the test NLL; for reverse KL the true KL, else the ELBO.
        if self.energy is None:
            score = out.get("valid_nll", out.get("test_nll", math.nan))
        else:
            score = out.get("true_kl", -out.get("elbo", math.nan))
        if self.settings.keep_best and math.isfinite(score) and (self.best is None or score < self.best[0]):
            self.best = (score, self.step, _cloned(self.flow.state_dict()))
        return out

    @property
    def levels(self) -> int | None:
        """Grey levels of quantised data — images, or images handed on as flat vectors (bits/dim are reported
        for those) — else None."""
        return getattr(self.target, "levels", None)

    def _bits_per_dim(self, nll: float) -> float:
        return float(bits_per_dim(nll, self.flow.dim, self.levels))

    def _mean_nll(self, data: torch.Tensor) -> float:
        if self.replicas is not None:  # each process scores its share; the same mean on every one
            return self.replicas.mean_nll(self.flow, data, EVAL_CHUNK)
        total = 0.0
        for chunk in data.split(EVAL_CHUNK):
            total += float(-self.flow.log_prob(chunk).sum())
        return total / data.shape[0]

    def _evaluate_samples(self) -> dict[str, float]:
        out = {"test_nll": self._mean_nll(self.test_data)}
        if self.valid_data is not None:
            out["valid_nll"] = self._mean_nll(self.valid_data)
        if self.levels:
            for split in ("test", "valid"):
                if f"{split}_nll" in out:
                    out[f"{split}_bpd"] = self._bits_per_dim(out[f"{split}_nll"])
        entropy = self.target_entropy()
        if entropy is not None:
            out["kl_gap"] = out["test_nll"] - entropy
        return out

    def _evaluate_energy(self) -> dict[str, float]:
        n = max(self.settings.energy_samples, 4096)
        gen = torch.Generator(device=self.device).manual_seed(self.settings.seed + 3)
        x, log_q = self.flow.sample_and_log_prob(n, generator=gen)
        loss = float((log_q + self.energy.energy(x)).mean())
        out = {"elbo": -loss, "log_z_is": importance_log_z(self.flow, self.energy, n, gen)}
        log_z = self.energy.log_normalizer()
        if log_z is not None:
            out["true_kl"] = loss + log_z
        return out

    def target_entropy(self) -> float | None:
        """H(p) of a sampled target whose density is known (computed once)."""
        if self._entropy is None and isinstance(self.target, SampleTarget) and self.target.has_density:
            est = self.target.entropy()
            self._entropy = None if est is None else est.value
        return self._entropy

    def restore_best(self) -> int | None:
        """Load the best held-out weights seen (early stopping); returns their step."""
        if self.best is None:
            return None
        self.flow.load_state_dict(self.best[2])
        return self.best[1]

    # -- checkpoints ---------------------------------------------------------------------------------------------
    def checkpoint(self) -> dict[str, Any]:
        """Everything needed to resume: weights (ActNorm's initialised flag included), optimizer, step, record."""
        return {"flow": self.flow.state_dict(), "optimizer": self.optimizer.state_dict() if self.optimizer else None,
                "step": self.step, "layers": self.layers, "base": self.base, "settings": self.settings.to_dict(),
                "generator": self._gen.get_state(), "metrics": self.metrics.columns}

    def load_checkpoint(self, state: Mapping[str, Any]) -> None:
        """Resume from :meth:`checkpoint` (the stack must be the same)."""
        if _entries(state.get("layers")) != _entries(self.layers):
            raise FlowlabError("the checkpoint was saved for a different layer stack")
        self.flow.load_state_dict(state["flow"])
        if self.optimizer is not None and state.get("optimizer") is not None:
            saved = state["optimizer"]
            self.optimizer.load_state_dict(self.flat.flat_optimizer_state(saved) if self.flat is not None else saved)
        self.step = int(state["step"])
        self._gen.set_state(state["generator"])
        self.metrics = MetricsLog.restored(state["metrics"])
        self._place_schedule()
        self._good = self._copy_state()
