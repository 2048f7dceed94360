"""Typed, ranged parameters: the one description the editor, presets, the CLI and validation all read.

Shared by layer kinds (``flowlab.flows``) and targets (``flowlab.targets``); depends on nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

ParamType = Literal["int", "float", "bool", "choice", "floats"]


@dataclass(frozen=True)
class Param:
    """One parameter (of a layer kind, a target or training): its type, default, allowed range and a line of help."""

    name: str
    type: ParamType
    default: Any
    help: str
    low: float | None = None  # inclusive bounds for int/float (and each number of floats)
    high: float | None = None
    choices: tuple[str, ...] = ()
    log_scale: bool = False  # a hint for sliders: the range spans orders of magnitude
    live: bool = False  # training settings: applies between steps; otherwise a change needs a new session


class ParamProblem(ValueError):
    """Raised by a spec's ``check`` when a parameter does not fit the data; the caller adds where."""

    def __init__(self, param: str | None, reason: str) -> None:
        super().__init__(reason)
        self.param = param
        self.reason = reason


def check_value(p: Param, value: Any) -> Any:
    """Return ``value`` if it is a valid value of ``p``, else raise ParamProblem naming the parameter."""
    if p.type == "bool":
        if not isinstance(value, bool):
            raise ParamProblem(p.name, f"must be true or false, got {value!r}")
        return value
    if p.type == "choice":
        if not isinstance(value, str):
            raise ParamProblem(p.name, f"must be one of {', '.join(p.choices)}, got {value!r}")
        if value not in p.choices:
            raise ParamProblem(p.name, f"'{value}' is not one of {', '.join(p.choices)}")
        return value
    if p.type == "floats":
        one = Param(p.name, "float", 0.0, p.help, low=p.low, high=p.high)  # each number, with p's bounds
        return [check_value(one, v) for v in _float_list(p, value)]
    if p.type == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamProblem(p.name, f"must be a whole number, got {value!r}")
    elif p.type == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParamProblem(p.name, f"must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ParamProblem(p.name, f"must be finite, got {value!r}")
        value = float(value)
    else:  # pragma: no cover - registry bug
        raise ParamProblem(p.name, f"unknown parameter type {p.type}")
    if p.low is not None and value < p.low:
        raise ParamProblem(p.name, f"{value!r} is below the minimum {p.low:g}")
    if p.high is not None and value > p.high:
        raise ParamProblem(p.name, f"{value!r} is above the maximum {p.high:g}")
    return value


FLOATS_MAX = 64  # a hand-set vector is short (one number per data dimension); longer lists are typing slips


def _float_list(p: Param, value: Any) -> Sequence[Any]:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
        raise ParamProblem(p.name, f"must be a list of numbers, got {value!r}")
    if len(value) > FLOATS_MAX:
        raise ParamProblem(p.name, f"holds {len(value)} numbers, more than the {FLOATS_MAX} allowed")
    return value


def resolve(params: Sequence[Param], given: Mapping[str, Any] | None, owner: str) -> dict[str, Any]:
    """Defaults filled in, every value checked; unknown names are errors (a typo must not pass silently)."""
    given = dict(given or {})
    known = {p.name for p in params}
    for name in given:
        if name not in known:
            allowed = ", ".join(sorted(known)) or "none"
            raise ParamProblem(name, f"is not a parameter of {owner} (its parameters: {allowed})")
    return {p.name: check_value(p, given.get(p.name, p.default)) for p in params}
