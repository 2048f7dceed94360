"""The project's error types: one base class, so callers (CLI, window) can catch every user-facing failure."""

from __future__ import annotations


class FlowlabError(Exception):
    """A failure caused by user input (a stack, a file, a setting) whose message is meant for the user."""


class StackError(FlowlabError):
    """An invalid layer stack. Names the offending layer's position (1-based in the message), kind and parameter."""

    def __init__(self, reason: str, *, position: int | None = None, kind: str | None = None,
                 param: str | None = None) -> None:
        self.reason = reason
        self.position = position  # 0-based index into the stack, or None for stack-wide problems
        self.kind = kind
        self.param = param
        where = []
        if position is not None:
            where.append(f"layer {position + 1}")
        if kind is not None:
            where.append(f"({kind})")
        if param is not None:
            where.append(f"parameter '{param}'")
        prefix = " ".join(where)
        super().__init__(f"{prefix}: {reason}" if prefix else reason)


class NumericalError(FlowlabError):
    """A NaN or Inf appeared where it must not; the message says where and why."""
