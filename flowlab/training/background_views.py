"""View snapshots computed on a thread of their own, from copies of the weights.

On a machine with a spare core, the training thread then pays only for a copy of the ``state_dict`` (well under a
millisecond for the flows here) instead of the views themselves: training keeps its speed and the heatmap refreshes
several times a second. The view thread owns a structural copy of the flow; no tensor is shared between threads.
It waits for the GIL between its ops: ``flowlab.training.threads`` shortens Python's switch interval for it.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

import torch

from flowlab.flows import Flow
from flowlab.training import threads
from flowlab.training.views import Snapshot, SnapshotMaker


class BackgroundViews:
    """``offer`` hands over the newest weights; the thread turns them into a :class:`Snapshot`, keeps it for
    ``take_finished`` and calls ``on_ready`` (from the view thread) so the owner can pick it up. The owner does
    the delivering: a Qt signal emitted from a plain Python thread would be queued to the sender's busy thread."""

    def __init__(self, maker: SnapshotMaker, flow: Flow, on_ready: Callable[[], None]) -> None:
        self.maker = maker
        self._flow = copy.deepcopy(flow)  # the view thread's own model; weights arrive through ``offer``
        self._on_ready = on_ready
        self._finished: list[Snapshot | str] = []  # snapshots, or error messages
        self._cond = threading.Condition()
        self._pending: tuple[dict[str, torch.Tensor], int, bool] | None = None
        self._changes: list[Callable[[SnapshotMaker], Any]] = []
        self._busy = False
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="flowlab-views", daemon=True)
        self._thread.start()

    def wants_weights(self, now: float | None = None) -> bool:
        """True when the thread is idle and the next snapshot is due (the caller then calls ``offer``)."""
        return not self._busy and self._pending is None and self.maker.due(now)

    def offer(self, flow: Flow, step: int, full: bool = False) -> None:
        """Copy ``flow``'s weights (on the caller's thread) for the next snapshot; a newer offer replaces an older."""
        state = {k: v.detach().clone() for k, v in flow.state_dict().items()}
        with self._cond:
            previous_full = self._pending[2] if self._pending else False
            self._pending = (state, step, full or previous_full)
            self._cond.notify_all()

    def configure(self, change: Callable[[SnapshotMaker], Any]) -> None:
        """Change the maker (shown views, image options) on the view thread, between snapshots."""
        with self._cond:
            self._changes.append(change)
            self._cond.notify_all()

    def take_finished(self) -> list[Snapshot | str]:
        """Snapshots (and error messages) finished since the last call, oldest first."""
        with self._cond:
            done, self._finished = self._finished, []
        return done

    def close(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        threads.enter_view_thread()
        while True:
            with self._cond:
                while not (self._stop or self._pending is not None or self._changes):
                    self._cond.wait()
                if self._stop:
                    return
                changes, self._changes = self._changes, []
                job, self._pending = self._pending, None
                self._busy = job is not None
            result: Snapshot | str | None = None
            try:
                for change in changes:
                    change(self.maker)
                if job is not None:
                    state, step, full = job
                    self._flow.load_state_dict(state)
                    result = self.maker.make(self._flow, step, full=full)
            except Exception as e:
                result = f"could not compute the views: {e}"
            finally:
                self._busy = False
            if result is not None:
                with self._cond:
                    self._finished.append(result)
                self._on_ready()


def background_maker(maker: SnapshotMaker) -> SnapshotMaker:
    """Pace a maker for a thread of its own: up to the policy's share of a core (70 % of a spare one, a quarter
    where there is none: :func:`flowlab.training.threads.policy_for`), at most ten snapshots a second."""
    policy = threads.current()
    maker.budget = policy.view_budget if policy is not None else threads.SPARE_CORE_VIEW_BUDGET
    maker.min_interval = 0.1
    return maker


