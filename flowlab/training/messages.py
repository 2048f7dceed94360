"""What goes into a training session and what comes out of it: typed commands and typed events, no Qt.

A :class:`~flowlab.training.session.Session` takes commands from any thread (``session.send(Play())``) and applies
them between steps; it reports through events, immutable objects holding fresh NumPy arrays or plain numbers, that
a caller may hand to another thread as they are (the window's worker re-emits each one as a Qt signal). Receivers
dispatch on the event's type, never on a message's wording.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

# -- commands (in) ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Play:
    """Train continuously until paused, stopped or (headless) the step budget is reached; with ``until``, pause
    once the step count reaches it (as :class:`Pause` does: the views then show exactly that step). A recording
    takes its frames this way, at the steps it asked for rather than whatever snapshot arrived."""

    until: int | None = None


@dataclass(frozen=True)
class Pause:
    """Stop after the current step; the session keeps its model and answers further commands."""


@dataclass(frozen=True)
class Step:
    """Take ``count`` steps, then pause (a paused session shows exactly where it stopped)."""

    count: int = 1


@dataclass(frozen=True)
class Reset:
    """Fresh weights from the seed, a fresh optimiser, step 0, an empty record."""


@dataclass(frozen=True)
class ChangeSettings:
    """Training settings that apply live (those whose schema entry is marked ``live``); others are refused with
    a :class:`Failure` of kind ``"settings"`` and need a new session."""

    changes: Mapping[str, Any]


@dataclass(frozen=True)
class SetSpeed:
    """Pace training at ``steps_per_s`` steps a second while it runs (None: as fast as it goes). At
    :data:`SLOW_MOTION_STEPS_PER_S` or slower every step's views are computed: slow motion draws each step."""

    steps_per_s: float | None

    def __post_init__(self) -> None:
        speed = self.steps_per_s
        if speed is not None and not (math.isfinite(speed) and speed > 0):
            raise ValueError(f"a speed is a positive number of steps per second, not {speed}")


SLOW_MOTION_STEPS_PER_S = 5.0


@dataclass(frozen=True)
class SetViews:
    """Which snapshot parts to compute (names from ``flowlab.training.views.ALL_VIEWS``): only what is shown."""

    views: frozenset[str]


@dataclass(frozen=True)
class SetViewOptions:
    """Options of the snapshot maker (names: ``flowlab.training.views.VIEW_OPTIONS``). Image views:
    ``temperature`` (float), ``pair`` (two test indices to interpolate), ``spherical`` (bool). The mathematics
    views: ``probe`` (a :class:`~flowlab.training.views.ProbeAt` or None) and ``layer`` (the stack position of the
    layer to look inside, or None)."""

    options: Mapping[str, Any]


@dataclass(frozen=True)
class Score:
    """Bits/dim of a drawing (intensities in [0, 1]) or of test image ``test_index`` under the current weights;
    answered by :class:`Scored` or a :class:`Failure` of kind ``"score"``. Exactly one of the two is given."""

    image: np.ndarray | None = None
    test_index: int | None = None

    def __post_init__(self) -> None:
        if (self.image is None) == (self.test_index is None):
            raise ValueError("give either an image or a test_index")


@dataclass(frozen=True)
class Save:
    """Write a checkpoint (weights with ActNorm's state, optimiser, step, record) to ``path``, atomically."""

    path: Path


@dataclass(frozen=True)
class Stop:
    """End the loop; the session frees its model on its own thread and emits :class:`Finished`."""


Command = (Play | Pause | Step | Reset | ChangeSettings | SetSpeed | SetViews | SetViewOptions | Score | Save
           | Stop)

# -- events (out) -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ready:
    """The model is built (and saved weights loaded, if any). ``entropy`` is H(p) of a sampled target with a
    known density (the NLL floor), computed on the session's thread; ``notes`` say what the plan costs."""

    device: str
    objective: str  # "mle" or "reverse_kl"
    notes: tuple[str, ...]
    entropy: float | None
    images: bool  # image data: scores in bits/dim
    step: int = 0  # > 0 when saved weights were resumed
    held_out: int | None = None  # how many test points the held-out scores average (None: no data, an energy)
    bits: bool = False  # scores in bits/dim too: quantised data (images, or images handed on as flat vectors)
    parameters: int = 0  # the model's trainable numbers


@dataclass(frozen=True)
class DirectionTimes:
    """Seconds one batch of ``batch`` points takes to score (data → latent, log p(x)) and to sample (latent →
    data) with the current model, measured on the training thread (``flowlab.training.timing``)."""

    batch: int
    score_s: float
    sample_s: float


@dataclass(frozen=True)
class Progress:
    """New metric rows since the last report (``rows[column]`` lists), the step and the rate; ``timings``: the
    latest :class:`DirectionTimes` (None until measured)."""

    step: int
    steps_per_s: float
    rows: Mapping[str, list[float]]
    device: str
    running: bool
    restarted: bool = False  # the record was truncated (roll-back or reset): ``rows`` start from the beginning
    timings: DirectionTimes | None = None
    view_time_s: float = 0.0  # seconds the session's thread has spent on views so far (copies or snapshots)
    compile_state: str = "off"  # the training step: "off", "waiting", "compiling", "compiled" or "failed"
    compile_note: str = ""  # a sentence on it (why eager, or since when compiled)
    busy_s: float = 0.0  # seconds spent in training steps so far (steps / busy_s: the run's own speed)


@dataclass(frozen=True)
class SnapshotReady:
    """One frame for the views (``flowlab.training.views.Snapshot``)."""

    snapshot: Any


@dataclass(frozen=True)
class RunningChanged:
    running: bool


FailureKind = Literal["build", "step", "diverged", "views", "settings", "score", "save", "load"]


@dataclass(frozen=True)
class Failure:
    """Something went wrong; the session lives on unless ``kind == "build"`` (then it has ended).

    ``diverged``: a NaN/Inf was caught, the weights rolled back and training paused. ``step``: a training step
    raised and training paused. ``load``: saved weights could not be loaded (fresh weights are used instead)."""

    kind: FailureKind
    message: str
    step: int | None = None  # ``diverged``: the step that failed
    rolled_back_to: int | None = None  # ``diverged``: the step whose weights were restored


@dataclass(frozen=True)
class Saved:
    path: Path


@dataclass(frozen=True)
class Scored:
    """The answer to :class:`Score` (``flowlab.training.scoring.ImageScore``)."""

    result: Any


@dataclass(frozen=True)
class Finished:
    """The loop has ended and the model is freed; ``summary`` holds the final figures for headless runs."""

    step: int
    summary: Mapping[str, Any] = field(default_factory=dict)


Event = Ready | Progress | SnapshotReady | RunningChanged | Failure | Saved | Scored | Finished
