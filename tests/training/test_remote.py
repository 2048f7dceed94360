"""Sessions in a training process: the same events as a session here, and nothing hangs when either side goes."""

from __future__ import annotations

import os
import pickle
import signal
import threading
import time
from multiprocessing import Pipe

import pytest

from flowlab.training.messages import Failure, Finished, Play, Progress, Ready, SnapshotReady, Step, Stop
from flowlab.training.remote import SessionHost, _poster
from flowlab.training.session import Session, SessionSpec
from flowlab.training.settings import TrainSettings
from tests.training.toy import MOONS, EventLog
from tests.training.toy import SMALL_SETTINGS as SMALL
from tests.training.toy import SMALL_STACK as STACK

TIMEOUT_S = 60.0


class Log(EventLog):
    """Events as they arrive on the host's reader thread."""

    def __init__(self) -> None:
        self.events: list = []
        self.threads: set[int] = set()

    def __call__(self, event) -> None:
        self.threads.add(threading.get_ident())
        self.events.append(event)

    def wait_for(self, condition, timeout: float = TIMEOUT_S) -> None:
        end = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < end, f"timed out; events: {[type(e).__name__ for e in self.events]}"
            time.sleep(0.01)


def _spec(**settings) -> SessionSpec:
    return SessionSpec(STACK, MOONS, TrainSettings(**{**SMALL, **settings}))


@pytest.fixture(scope="module")
def host():
    h = SessionHost()
    yield h
    h.close()


def test_a_remote_session_reports_what_a_session_here_reports(host) -> None:
    """Ready, snapshots and the same metric rows, step for step, as the same seeded session run here."""
    log = Log()
    session = host.open(_spec(seed=7), log)
    session.send(Step(12))
    log.wait_for(lambda: log.step == 12 and log.of(SnapshotReady) and log.of(SnapshotReady)[-1].snapshot.step == 12)
    assert isinstance(log.events[0], Ready) and threading.get_ident() not in log.threads
    session.stop()
    assert session.wait(TIMEOUT_S) and isinstance(log.events[-1], Finished)

    here = Log()
    local = Session(_spec(seed=7), here)
    local.send(Step(12))
    worker = threading.Thread(target=local.run)
    worker.start()
    here.wait_for(lambda: here.step == 12)
    local.send(Stop())
    worker.join(TIMEOUT_S)

    def rows(events: Log, column: str) -> list[float]:
        return [v for p in events.of(Progress) for v in p.rows[column]][:12]

    for column in ("train_nll", "grad_norm"):
        assert rows(log, column) == pytest.approx(rows(here, column), rel=1e-6), column


def test_running_follows_play_at_once_and_a_new_session_ends_the_one_before(host) -> None:
    first, second = Log(), Log()
    a = host.open(_spec(), first)
    a.send(Play())
    assert a.running
    first.wait_for(lambda: first.step >= 5)
    b = host.open(_spec(), second)  # the child runs one session at a time
    assert a.wait(TIMEOUT_S) and isinstance(first.events[-1], Finished)
    second.wait_for(lambda: bool(second.of(Ready)))
    b.send(Step(2))
    second.wait_for(lambda: second.step == 2)
    assert not first.of(Failure) and not second.of(Failure)
    b.stop()
    assert b.wait(TIMEOUT_S)


def test_a_killed_training_process_ends_its_session_with_a_reason_and_the_next_one_starts_afresh(host) -> None:
    log = Log()
    session = host.open(_spec(), log)
    session.send(Play())
    log.wait_for(lambda: log.step >= 3)
    old_pid = host.pid
    os.kill(old_pid, signal.SIGKILL)
    assert session.wait(TIMEOUT_S)
    failure = log.of(Failure)[-1]
    assert failure.kind == "step" and "ended unexpectedly" in failure.message
    assert isinstance(log.events[-1], Finished)

    again = Log()
    fresh = host.open(_spec(), again)
    again.wait_for(lambda: bool(again.of(Ready)))
    assert host.pid != old_pid and host.alive
    fresh.stop()
    assert fresh.wait(TIMEOUT_S)


def test_the_training_process_ends_when_its_window_goes() -> None:
    """The parent's end of the pipe closes (the window crashed or was killed): the child ends by itself."""
    h = SessionHost()
    log = Log()
    h.open(_spec(), log).send(Play())
    log.wait_for(lambda: log.step >= 2)
    h._to_child.close()
    assert h._process.wait(TIMEOUT_S) == 0


def test_an_event_that_cannot_be_pickled_arrives_as_a_failure_that_says_so() -> None:
    receive, send = Pipe(duplex=False)
    post = _poster(send, threading.Lock(), 3)
    post(SnapshotReady(lambda: None))  # a lambda cannot be pickled
    number, event = pickle.loads(receive.recv_bytes())
    assert number == 3 and isinstance(event, Failure)
    assert event.kind == "views" and "could not send SnapshotReady" in event.message


def test_a_closed_host_refuses_new_sessions_and_its_process_is_gone() -> None:
    h = SessionHost()
    log = Log()
    session = h.open(_spec(), log)
    log.wait_for(lambda: bool(log.of(Ready)))
    h.close()
    assert not h.alive and session.wait(TIMEOUT_S)
    with pytest.raises(RuntimeError, match="closed"):
        h.open(_spec(), Log())
