"""Training hyperparameters: typed, ranged, documented and marked live or not once, in ``TRAIN_PARAMS``.

:class:`TrainSettings` is built from that table (its fields, types and defaults), the window asks
:func:`live_settings` which edits apply between steps, and the trainer refuses the others by the same flag.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, field, make_dataclass
from typing import Any

from flowlab.errors import FlowlabError
from flowlab.params import Param, ParamProblem, check_value, resolve
from flowlab.training.device import DEVICE_CHOICES
from flowlab.training.objectives import OBJECTIVES

TRAIN_PARAMS: tuple[Param, ...] = (
    Param("learning_rate", "float", 1e-3, "Adam's step size", low=1e-6, high=1.0, log_scale=True, live=True),
    Param("batch_size", "int", 512, "examples per step", low=1, high=65536, live=True),
    Param("weight_decay", "float", 0.0, "L2 penalty on the weights (AdamW-style, decoupled)", low=0.0, high=1.0,
          live=True),
    Param("grad_clip", "float", 10.0, "clip the gradient norm to this (0 = no clipping)", low=0.0, high=1e6,
          live=True),
    Param("schedule", "choice", "none", "learning-rate schedule over `schedule_steps`",
          choices=("none", "cosine", "exponential"), live=True),
    Param("schedule_steps", "int", 2000, "length of the schedule (cosine decays to 1% of the rate by then)",
          low=1, high=10_000_000, live=True),
    Param("seed", "int", 0, "seeds the weights, the data split and the batches: same seed, same curve",
          low=0, high=2**31 - 1),
    Param("device", "choice", "auto", "where to train: auto picks CUDA, then Apple MPS, then the CPU",
          choices=DEVICE_CHOICES),
    Param("n_train", "int", 20000, "training examples drawn from a sampled target", low=2, high=10_000_000),
    Param("n_test", "int", 5000, "held-out examples for the test likelihood", low=1, high=1_000_000),
    Param("valid_fraction", "float", 0.1, "share of the training examples held back to pick the best weights "
          "(early stopping), so the test score stays unbiased; 0 = pick on the test set", low=0.0, high=0.5),
    Param("eval_every", "int", 100, "steps between held-out evaluations", low=1, high=1_000_000, live=True),
    Param("keep_best", "bool", True, "remember the weights with the best held-out score (early stopping)",
          live=True),
    Param("objective", "choice", "auto", "what to minimise: auto = maximum likelihood on data (KL(data‖model)), "
          "reverse KL for energies; reverse_kl also fits a toy target through its known density (KL(model‖data), "
          "mode-seeking); flow_matching trains a stack of one continuous flow (cnf) by regressing its velocity "
          "field on straight paths from the data to the base, without solving the ODE", choices=OBJECTIVES),
    Param("ot_pairing", "bool", False, "flow matching: pair each batch's data points with its base samples by "
          "minibatch optimal transport (least total squared distance) instead of at random: straighter paths; it "
          "costs O(batch³), so keep batches at a few hundred",
          live=True),
    Param("energy_samples", "int", 512, "samples per step when fitting an energy (reverse KL)", low=2,
          high=65536, live=True),
    Param("compile", "bool", True, "compile the training loss in another process while training runs eagerly, "
                                   "and swap it in when ready (1.3-2.5x faster steps; cached for the next start)"),
)

_BY_NAME: dict[str, Param] = {p.name: p for p in TRAIN_PARAMS}
_PYTHON_TYPES = {"int": int, "float": float, "bool": bool, "choice": str}


def live_settings() -> frozenset[str]:
    """The settings a running session applies between steps (the others need a new session)."""
    return frozenset(p.name for p in TRAIN_PARAMS if p.live)


def refused_live(changes: Mapping[str, Any]) -> list[str]:
    """The names in ``changes`` that cannot apply live (sorted); unknown names are left to validation."""
    return sorted(name for name in changes if name in _BY_NAME and not _BY_NAME[name].live)


class _SettingsBehaviour:
    """Validation and conversions of :class:`TrainSettings` (its fields come from ``TRAIN_PARAMS``)."""

    def __post_init__(self) -> None:
        for p in TRAIN_PARAMS:
            try:
                value = check_value(p, getattr(self, p.name))
            except ParamProblem as problem:
                raise FlowlabError(f"training: '{problem.param}' {problem.reason}") from None
            object.__setattr__(self, p.name, value)  # an int given for a float becomes a float

    @classmethod
    def from_dict(cls, given: Mapping[str, Any] | None) -> TrainSettings:
        """Validate a mapping (a preset's "training" object); errors name the field."""
        try:
            return cls(**resolve(TRAIN_PARAMS, given, "training"))
        except ParamProblem as p:
            raise FlowlabError(f"training: '{p.param}' {p.reason}") from None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    def updated(self, **changes: Any) -> TrainSettings:
        return type(self).from_dict({**self.to_dict(), **changes})


TrainSettings = make_dataclass(
    "TrainSettings",
    [(p.name, _PYTHON_TYPES[p.type], field(default=p.default)) for p in TRAIN_PARAMS],
    bases=(_SettingsBehaviour,), frozen=True,
    namespace={"__doc__": "Validated training hyperparameters: one field per entry of ``TRAIN_PARAMS`` (name, type "
                          "and default come from there; so do meaning, range and the ``live`` flag)."},
)
TrainSettings.__module__ = __name__  # pickles and prints as flowlab.training.settings.TrainSettings
