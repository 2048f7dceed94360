"""The one place that decides how many threads torch may use and how often Python switches threads.

The program's entry points choose a policy once (:func:`configure`: the window with ``interactive=True``,
``flowlab train`` without); the training loop and the view thread then apply it to themselves at their start
(:func:`enter_training_thread`, :func:`enter_view_thread`: torch's intra-op count is per calling thread).
Library use and tests that configure nothing get torch's own defaults.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

# The training thread drops the GIL for every tensor op but takes it back within microseconds, so a thread
# waiting for it only gets it at the forced switch, every 5 ms by default: then each of the view thread's ~200 ops
# waits 5 ms (a 128×128 heatmap took over a second). A short interval fixes that.
SWITCH_INTERVAL_S = 2e-4
SPARE_CORE_VIEW_BUDGET = 0.7  # the view thread's share of a core that is spare for it
SHARED_CORE_VIEW_BUDGET = 0.25  # … and of a core when it has none of its own


@dataclass(frozen=True)
class ThreadPolicy:
    training: int  # torch intra-op threads of the training loop
    views: int  # torch intra-op threads of the background view thread
    switch_interval_s: float | None  # sys.setswitchinterval, or None to leave Python's default
    view_budget: float = SPARE_CORE_VIEW_BUDGET  # the view thread's share of a core (SnapshotMaker.budget)


_policy: ThreadPolicy | None = None


def usable_cores() -> int:
    """The cores this process may run on (``taskset``, a container's CPU set), else the machine's count."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def policy_for(interactive: bool, cores: int | None = None, processes: int = 1) -> ThreadPolicy:
    """Interactive (a window): leave a core to the UI thread, since an OpenMP team as wide as the machine beside
    Qt's event loop oversubscribes it (measured on 2 cores: 45 steps/s with 2 threads against 122 with 1); the view
    thread gets one. With fewer than three cores no core is spare for the view thread: the UI thread and the
    training thread have one each, so the views take a quarter of a core instead of 70 % (it is taken from them).
    Headless: every core trains, nothing else runs; with ``processes`` training processes on this machine
    (``torchrun --nproc_per_node``), each takes its share of the cores."""
    cores = cores or usable_cores()
    if interactive:
        return ThreadPolicy(training=max(1, cores - 1), views=1, switch_interval_s=SWITCH_INTERVAL_S,
                            view_budget=SPARE_CORE_VIEW_BUDGET if cores >= 3 else SHARED_CORE_VIEW_BUDGET)
    return ThreadPolicy(training=max(1, cores // max(1, processes)), views=1, switch_interval_s=None)


def configure(interactive: bool, processes: int = 1) -> ThreadPolicy:
    """Choose the process's policy (called by the app and the CLI at start-up) and set the switch interval;
    ``processes``: how many training processes share this machine."""
    policy = policy_for(interactive, processes=processes)
    adopt(policy)
    return policy


def adopt(policy: ThreadPolicy) -> None:
    """Take a policy chosen elsewhere (a training process takes its window's) and set the switch interval."""
    global _policy
    _policy = policy
    if policy.switch_interval_s is not None and sys.getswitchinterval() > policy.switch_interval_s:
        sys.setswitchinterval(policy.switch_interval_s)


def current() -> ThreadPolicy | None:
    """The configured policy, or None when nothing configured one."""
    return _policy


def enter_training_thread() -> None:
    """Apply the policy to the calling thread, the one that trains."""
    if _policy is not None:
        torch.set_num_threads(_policy.training)


def enter_view_thread() -> None:
    """Apply the policy to the calling thread, the one that computes views beside training."""
    torch.set_num_threads(_policy.views if _policy is not None else 1)


@contextmanager
def intra_op(count: int | None) -> Iterator[None]:
    """Run a block with ``count`` torch intra-op threads on the calling thread, then restore its count (views made
    on the training thread itself, on a machine with no spare core). ``None`` changes nothing."""
    if not count:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
