"""Training hyperparameters: typed, ranged and documented once, for the engine, presets, CLI and UI."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

from flowlab.errors import FlowlabError
from flowlab.params import Param, ParamProblem, resolve
from flowlab.training.device import DEVICE_CHOICES
from flowlab.training.objectives import OBJECTIVES

TRAIN_PARAMS: tuple[Param, ...] = (
    Param("learning_rate", "float", 1e-3, "Adam's step size", low=1e-6, high=1.0, log_scale=True),
    Param("batch_size", "int", 512, "examples per step", low=1, high=65536),
    Param("weight_decay", "float", 0.0, "L2 penalty on the weights (AdamW-style, decoupled)", low=0.0, high=1.0),
    Param("grad_clip", "float", 10.0, "clip the gradient norm to this (0 = no clipping)", low=0.0, high=1e6),
    Param("schedule", "choice", "none", "learning-rate schedule over `schedule_steps`",
          choices=("none", "cosine", "exponential")),
    Param("schedule_steps", "int", 2000, "length of the schedule (cosine decays to 1% of the rate by then)",
          low=1, high=10_000_000),
    Param("seed", "int", 0, "seeds the weights, the data split and the batches: same seed, same curve",
          low=0, high=2**31 - 1),
    Param("device", "choice", "auto", "where to train: auto picks CUDA, then Apple MPS, then the CPU",
          choices=DEVICE_CHOICES),
    Param("n_train", "int", 20000, "training examples drawn from a sampled target", low=2, high=10_000_000),
    Param("n_test", "int", 5000, "held-out examples for the test likelihood", low=1, high=1_000_000),
    Param("valid_fraction", "float", 0.1, "share of the training examples held back to pick the best weights "
          "(early stopping), so the test score stays unbiased; 0 = pick on the test set", low=0.0, high=0.5),
    Param("eval_every", "int", 100, "steps between held-out evaluations", low=1, high=1_000_000),
    Param("keep_best", "bool", True, "remember the weights with the best held-out score (early stopping)"),
    Param("objective", "choice", "auto", "what to minimise: auto = maximum likelihood on data (KL(data‖model)), "
          "reverse KL for energies; reverse_kl also fits a toy target through its known density (KL(model‖data), "
          "mode-seeking)", choices=OBJECTIVES),
    Param("energy_samples", "int", 512, "samples per step when fitting an energy (reverse KL)", low=2,
          high=65536),
    Param("compile", "bool", False, "torch.compile the training loss: faster steps after a warm-up of tens of "
                                    "seconds (worth it for long headless runs)"),
)


@dataclass(frozen=True)
class TrainSettings:
    """Validated training hyperparameters (see ``TRAIN_PARAMS`` for meaning and ranges; a test keeps the two
    in step)."""

    learning_rate: float = 1e-3
    batch_size: int = 512
    weight_decay: float = 0.0
    grad_clip: float = 10.0
    schedule: str = "none"
    schedule_steps: int = 2000
    seed: int = 0
    device: str = "auto"
    n_train: int = 20000
    n_test: int = 5000
    valid_fraction: float = 0.1
    eval_every: int = 100
    keep_best: bool = True
    objective: str = "auto"
    energy_samples: int = 512
    compile: bool = False

    @classmethod
    def from_dict(cls, given: Mapping[str, Any] | None) -> "TrainSettings":
        """Validate a mapping (a preset's "training" object); errors name the field."""
        try:
            return cls(**resolve(TRAIN_PARAMS, given, "training"))
        except ParamProblem as p:
            raise FlowlabError(f"training: '{p.param}' {p.reason}") from None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def updated(self, **changes: Any) -> "TrainSettings":
        return TrainSettings.from_dict({**self.to_dict(), **changes})

