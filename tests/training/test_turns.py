"""Round robin between side-by-side runs: steps taken one at a time, in turn; each run's own stepping time."""

from __future__ import annotations

import threading
import time

import numpy as np

from flowlab.training.messages import Finished, Play, Progress, Ready
from flowlab.training.session import Session, SessionSpec
from flowlab.training.settings import TrainSettings
from flowlab.training.turns import Turn, Turns
from tests.training.toy import MOONS
from tests.training.toy import SMALL_SETTINGS as SMALL
from tests.training.toy import SMALL_STACK as STACK

OTHER_STACK = [{"kind": "additive_coupling", "params": {"mask": "alternating", "flip": i % 2 == 1, "hidden": 16}}
               for i in range(4)]


class LoggedTurns(Turns):
    """Turns that write down who held each one."""

    def __init__(self) -> None:
        super().__init__()
        self.holders: list[object] = []

    def turn(self, who):
        outer = super().turn(who)

        class _Logged:
            def __enter__(_):  # noqa: N805 - ``self`` is the Turns
                outer.__enter__()
                self.holders.append(who)

            def __exit__(_, *exc):  # noqa: N805
                return outer.__exit__(*exc)

        return _Logged()


def test_playing_threads_take_turns_in_rounds_even_when_one_is_slow_between_steps() -> None:
    turns = LoggedTurns()
    for name in "abc":
        turns.join(name)

    def work(name: str) -> None:
        for _ in range(30):
            with turns.turn(name):
                time.sleep(0.001)
            time.sleep(0.004 if name == "a" else 0.0)  # "a" evaluates between its steps: the others wait for it
        turns.leave(name)

    threads = [threading.Thread(target=work, args=(n,)) for n in "abc"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert len(turns.holders) == 90
    rounds = [turns.holders[i:i + 3] for i in range(0, 90, 3)]
    assert all(sorted(r) == ["a", "b", "c"] for r in rounds), turns.holders  # each takes one step a round


def test_a_paused_session_holds_no_one_up() -> None:
    turns = Turns()
    turns.join("a")
    turns.join("b")
    with turns.turn("a"):
        pass
    done = threading.Event()

    def second_step_of_a() -> None:
        with turns.turn("a"):  # "a" is a step ahead of "b": it waits, until "b" leaves the rounds
            done.set()

    t = threading.Thread(target=second_step_of_a)
    t.start()
    assert not done.wait(0.1)
    turns.leave("b")
    assert done.wait(5)
    t.join(5)


def test_a_turn_times_only_the_stepping() -> None:
    seat = Turn(Turns())
    with seat.step():
        time.sleep(0.05)
    time.sleep(0.05)  # outside a turn: not counted
    assert 0.04 < seat.busy_s < 0.09


def _train(specs: list[SessionSpec]) -> list[list[Progress]]:
    """Run each spec to its max_steps on threads of its own, concurrently; their Progress events."""
    logs: list[list] = [[] for _ in specs]
    sessions = [Session(spec, log.append) for spec, log in zip(specs, logs, strict=True)]
    threads = [threading.Thread(target=s.run) for s in sessions]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while not all(any(isinstance(e, Ready) for e in log) for log in logs):  # all built: they start together
        assert time.monotonic() < deadline
        time.sleep(0.005)
    for s in sessions:
        s.send(Play())
    for t in threads:
        t.join(60)
        assert not t.is_alive()
    for log in logs:
        assert isinstance(log[-1], Finished)
    return [[e for e in log if isinstance(e, Progress)] for log in logs]


def _column(progress: list[Progress], name: str) -> list[float]:
    return [v for p in progress for v in p.rows[name]]


def test_runs_sharing_turns_step_in_turn_and_the_same_stack_and_seed_give_the_same_curve() -> None:
    turns = LoggedTurns()
    settings = TrainSettings(**SMALL, compile=False)
    specs = [SessionSpec(stack, MOONS, settings, snapshots=False, max_steps=40, turns=turns)
             for stack in (STACK, STACK, OTHER_STACK)]
    progress = _train(specs)
    assert len(turns.holders) == 120
    # in rounds: a run only steps when no run already playing has taken fewer steps (a run whose Play arrives late,
    # on a loaded machine, joins with none, and the others wait until it has caught up), so all end level
    counts: dict[int, int] = {}
    for h in turns.holders:
        taken = counts.setdefault(id(h), 0)
        assert taken == min(counts.values()), counts
        counts[id(h)] = taken + 1
    assert sorted(counts.values()) == [40, 40, 40]
    for column in ("train_nll", "test_nll"):
        a, b, c = (np.array(_column(p, column)) for p in progress)
        assert len(a) == 40 and np.isfinite(a).any()
        assert np.array_equal(a, b, equal_nan=True)  # the same stack and seed: the same curve, to the bit
        assert not np.allclose(a[np.isfinite(a)], c[np.isfinite(c)])  # another stack: another curve
    for p in progress:
        assert 0 < p[-1].busy_s  # each run timed its own steps


def test_ready_counts_the_models_trainable_parameters() -> None:
    from flowlab.flows import build_flow

    events: list = []
    session = Session(SessionSpec(STACK, MOONS, TrainSettings(**SMALL), snapshots=False, max_steps=1), events.append)
    session.send(Play())
    session.run()
    ready = next(e for e in events if isinstance(e, Ready))
    flow = build_flow(STACK, (2,))
    assert ready.parameters == sum(p.numel() for p in flow.parameters() if p.requires_grad) > 0
