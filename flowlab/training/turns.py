"""Round robin: sessions that share the CPU take their training steps one at a time, in turn.

Side-by-side runs on a laptop share a few cores. Left to the operating system, runs that each have every torch
thread fight over the same cores (all slow down, unevenly); split into a thread or two each, a small model races
ahead of a big one. With :class:`Turns`, one session steps at a time, with every torch thread, and a playing
session may take its next step only when no other playing session has taken fewer: the runs advance in rounds
(A B C, A B C…), stand within one step of each other, and each step runs as fast as it would alone. A paused
session leaves the rounds, so it holds no one up; one that plays again joins the current round.

What it costs, and what the figures then mean: together the runs make about as many steps a second as one of them
alone would, shared out equally in steps, not in time (a slow stack slows everyone's wall rate — the price of
curves compared at equal steps). :attr:`Turn.busy_s` counts the seconds a session spent stepping inside its
turns, so ``steps / busy_s`` is its own speed, the figure it would reach training alone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext


class Turns:
    """The rounds of one comparison's sessions (threads of one process)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._taken: dict[object, int] = {}  # the playing sessions: steps taken since they joined the rounds
        self._holder: object | None = None

    def join(self, who: object) -> None:
        """``who`` plays: it takes part in the rounds from the current one on."""
        with self._cond:
            if who not in self._taken:
                self._taken[who] = min(self._taken.values(), default=0)
            self._cond.notify_all()

    def leave(self, who: object) -> None:
        """``who`` paused or ended: the others no longer wait for it."""
        with self._cond:
            self._taken.pop(who, None)
            self._cond.notify_all()

    @contextmanager
    def turn(self, who: object) -> Iterator[None]:
        """Hold the turn for one step: once no one else steps, and (when ``who`` plays) no playing session has
        taken fewer steps. A session outside the rounds (a single step while paused) only waits for the holder."""
        with self._cond:
            while self._holder is not None or (who in self._taken and
                                               self._taken[who] > min(self._taken.values())):
                self._cond.wait()
            self._holder = who
        try:
            yield
        finally:
            with self._cond:
                self._holder = None
                if who in self._taken:
                    self._taken[who] += 1
                self._cond.notify_all()

    @property
    def playing(self) -> int:
        """How many sessions are in the rounds now."""
        with self._cond:
            return len(self._taken)


class Turn:
    """One session's seat at :class:`Turns` (or alone, with ``turns=None``): ``with seat.step(): ...`` takes and
    times a step (in :attr:`busy_s`); :meth:`playing` follows the session's play and pause."""

    def __init__(self, turns: Turns | None) -> None:
        self.turns = turns
        self.busy_s = 0.0

    def playing(self, on: bool) -> None:
        if self.turns is not None:
            (self.turns.join if on else self.turns.leave)(self)

    @contextmanager
    def step(self) -> Iterator[None]:
        with self.turns.turn(self) if self.turns is not None else nullcontext():
            start = time.perf_counter()
            try:
                yield
            finally:
                self.busy_s += time.perf_counter() - start
