"""Views computed on their own thread, from copies of the weights taken when offered."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from flowlab.flows import build_flow
from flowlab.training.background_views import BackgroundViews, background_maker
from flowlab.training.views import SnapshotMaker, density_grid
from tests.training.toy import Banana

STACK = [{"kind": "affine_coupling", "params": {"mask": "alternating", "flip": i % 2 == 1, "hidden": 16}}
         for i in range(4)]


def _wait(views: BackgroundViews, ready: threading.Event, timeout: float = 10.0):
    assert ready.wait(timeout)
    ready.clear()
    return views.take_finished()


def test_snapshot_reflects_the_weights_at_the_offer_not_later_changes() -> None:
    flow = build_flow(STACK, (2,)).eval()
    ready = threading.Event()
    views = BackgroundViews(background_maker(SnapshotMaker(Banana(), grid_res=32, n_samples=100)), flow, ready.set)
    try:
        with torch.no_grad():
            for p in flow.parameters():
                p.add_(0.2 * torch.randn_like(p))
        expected = density_grid(flow, Banana.bounds, 32).log_density
        views.offer(flow, step=5, full=True)
        with torch.no_grad():  # training goes on while the view thread works
            for p in flow.parameters():
                p.mul_(-2.0)
        (snap,) = _wait(views, ready)
        assert snap.step == 5
        assert np.allclose(snap.density.log_density, expected, atol=1e-5)
    finally:
        views.close()
    assert not views.alive


def test_a_newer_offer_replaces_an_older_one_and_errors_are_reported_not_raised() -> None:
    flow = build_flow(STACK, (2,))
    ready = threading.Event()
    maker = background_maker(SnapshotMaker(Banana(), grid_res=16, n_samples=50))
    views = BackgroundViews(maker, flow, ready.set)
    try:
        views.configure(lambda m: setattr(m, "views", frozenset({"samples"})))
        views.offer(flow, 1)
        views.offer(flow, 2)
        steps: list[int] = []
        deadline = time.monotonic() + 10
        while 2 not in steps and time.monotonic() < deadline:
            steps += [s.step for s in _wait(views, ready)]
        assert steps[-1] == 2 and len(steps) <= 2  # 1 may have started before 2 arrived; never more
        views.configure(lambda m: (_ for _ in ()).throw(RuntimeError("boom")))
        messages = _wait(views, ready)
        assert any(isinstance(m, str) and "boom" in m for m in messages)
        assert views.alive
    finally:
        views.close()


@pytest.mark.parametrize(("cores", "budget"), [(2, 0.25), (4, 0.7)])
def test_the_view_thread_takes_a_quarter_of_a_core_where_none_is_spare(monkeypatch, cores, budget) -> None:
    """The window on two cores: one for the UI thread, one for training; the views' share is taken from them."""
    from flowlab.training import threads

    monkeypatch.setattr(threads, "_policy", threads.policy_for(interactive=True, cores=cores))
    maker = background_maker(SnapshotMaker(Banana(), grid_res=16, n_samples=50))
    assert maker.budget == budget


def test_a_policy_crosses_to_the_training_process_whole() -> None:
    import json
    from dataclasses import asdict

    from flowlab.training import threads

    policy = threads.policy_for(interactive=True, cores=2)
    assert threads.ThreadPolicy(**json.loads(json.dumps(asdict(policy)))) == policy
