"""Sessions in a process of their own, so that training never waits for the window's interpreter lock.

A small model's training step is mostly Python (launching a few hundred tensor ops), and so is drawing with
pyqtgraph; in one process the two take turns at the GIL, and on two cores training ran at a quarter of its headless
speed behind the live views. :class:`SessionHost` starts one child process (a fresh interpreter, as ``python -c``:
nothing of the parent's main script runs again, and nothing is forked beside Qt's threads) that runs
:class:`~flowlab.training.session.Session` objects one after another; :meth:`SessionHost.open` gives a
:class:`RemoteSession`, which takes the same commands as a ``Session`` and reports the same events through ``emit``
— called on the host's reader thread, in order. Events cross the pipe pickled, once each; they are plain data of
NumPy arrays by convention. If the child dies (killed, out of memory), every open session reports a ``Failure`` and
``Finished``, and the next :meth:`SessionHost.open` starts a fresh child.
"""

from __future__ import annotations

import itertools
import json
import os
import pickle
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from flowlab.training import threads
from flowlab.training.messages import (
    Command,
    Event,
    Failure,
    Finished,
    Pause,
    Play,
    Progress,
    RunningChanged,
    Step,
    Stop,
)
from flowlab.training.session import Session, SessionSpec


@dataclass(frozen=True)
class _Start:
    session: int
    spec: SessionSpec


@dataclass(frozen=True)
class _Send:
    session: int
    command: Command


class RemoteSession:
    """One session in the host's child: :meth:`send` commands, events arrive through ``emit``; :meth:`wait`
    until it has finished. Made by :meth:`SessionHost.open`."""

    def __init__(self, host: SessionHost, number: int, emit: Callable[[Event], None], process: Any) -> None:
        self._host, self.number, self._emit = host, number, emit
        self._process = process  # the child it runs in
        self._running = False
        self._finished = threading.Event()
        self.view_time_s = 0.0  # seconds the session's thread spent on views, as its latest Progress said

    def send(self, command: Command) -> None:
        """Queue ``command`` for the session; Play, Pause and Step change :attr:`running` at once, as a
        local session's do."""
        if isinstance(command, Play):
            self._running = True
        elif isinstance(command, (Pause, Step)):
            self._running = False
        self._host._post(_Send(self.number, command))

    @property
    def running(self) -> bool:
        return self._running

    @property
    def finished(self) -> bool:
        return self._finished.is_set()

    def stop(self) -> None:
        self.send(Stop())

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the session has reported :class:`Finished`; False if ``timeout`` passed first."""
        return self._finished.wait(timeout)

    def _deliver(self, event: Event) -> None:
        if isinstance(event, RunningChanged):
            self._running = event.running
        elif isinstance(event, Progress):
            self.view_time_s = event.view_time_s
        try:
            self._emit(event)
        except Exception:  # a receiver gone (the window closing): the reader thread must go on for the others
            traceback.print_exc()
        finally:
            if isinstance(event, Finished):
                self._finished.set()


class SessionHost:
    """A child process that runs sessions, one at a time (a new one stops the one before). Start it early: the
    child imports PyTorch, which takes seconds. ``policy``: the child's thread policy (default: the one this
    process configured, else the interactive one — the window keeps a core for itself)."""

    def __init__(self, policy: threads.ThreadPolicy | None = None) -> None:
        self._policy = policy or threads.current() or threads.policy_for(interactive=True)
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._sessions: dict[int, RemoteSession] = {}
        self._process: Any = None
        self._closed = False
        self._spawn()

    def _spawn(self) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        package_root = str(Path(__file__).resolve().parents[2])  # flowlab importable as the parent imports it
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_root,
                                                                          os.environ.get("PYTHONPATH")])))
        code = "from flowlab.training.remote import child_main; child_main()"
        self._process = subprocess.Popen(
            [sys.executable, "-c", code, str(to_child_r), str(from_child_w), json.dumps(asdict(self._policy))],
            pass_fds=(to_child_r, from_child_w), env=env, stdin=subprocess.DEVNULL)
        os.close(to_child_r)
        os.close(from_child_w)
        self._to_child = Connection(to_child_w, readable=False)
        self._reader = threading.Thread(target=self._read, args=(self._process, Connection(from_child_r,
                                                                                         writable=False)),
                                        name="flowlab-events", daemon=True)
        self._reader.start()

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def open(self, spec: SessionSpec, emit: Callable[[Event], None]) -> RemoteSession:
        """A new session for ``spec``; it starts building at once (after the child's previous session ends)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the training process has been closed")
            if not self.alive:
                self._spawn()
            session = RemoteSession(self, next(self._numbers), emit, self._process)
            self._sessions[session.number] = session
            self._write(_Start(session.number, spec))
        return session

    def close(self, timeout: float = 5.0) -> None:
        """Stop the running session and end the child (killed if it does not end within ``timeout``)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._write(None)
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout)
        self._reader.join(timeout)
        self._to_child.close()

    def _post(self, message: _Send) -> None:
        with self._lock:
            self._write(message)

    def _write(self, message: _Start | _Send | None) -> None:
        """Send to the child (under the lock); a child that is gone is noticed by the reader, not here."""
        try:
            self._to_child.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
        except (BrokenPipeError, OSError):
            pass

    def _read(self, process: subprocess.Popen, pipe: Connection) -> None:
        """The reader thread: deliver the child's events to their sessions; when the child is gone, end the
        sessions it left."""
        while True:
            try:
                number, event = pickle.loads(pipe.recv_bytes())
            except (EOFError, OSError):
                break
            with self._lock:
                session = (self._sessions.pop if isinstance(event, Finished) else self._sessions.get)(number, None)
            if session is not None:
                session._deliver(event)
        pipe.close()
        code = process.wait()
        with self._lock:  # this child's sessions only: a new child may already run newer ones
            left = [s for s in self._sessions.values() if s._process is process]
            for s in left:
                del self._sessions[s.number]
        for session in left:
            if not self._closed:
                session._deliver(Failure("step", f"The training process ended unexpectedly (exit code {code}). "
                                                 "Edit or reopen the document to start a new one."))
            session._deliver(Finished(0))


def child_main() -> None:
    """The child's entry: ``python -c ... READ_FD WRITE_FD POLICY_JSON`` (see :meth:`SessionHost._spawn`)."""
    read_fd, write_fd, policy = int(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
    _child_main(Connection(read_fd, writable=False), Connection(write_fd, readable=False),
                threads.ThreadPolicy(**policy))


def _child_main(inbox: Connection, outbox: Connection, policy: threads.ThreadPolicy) -> None:
    """Run each started session on a thread, forward commands to it; end when told, or when the parent is gone
    (its end of the pipe closes)."""
    threads.adopt(policy)
    write = threading.Lock()
    current: tuple[int, Session, threading.Thread] | None = None
    while True:
        try:
            message = pickle.loads(inbox.recv_bytes())
        except (EOFError, OSError):
            message = None
        if message is None or isinstance(message, _Start):
            if current is not None:
                current[1].send(Stop())
                current[2].join()
                current = None
            if message is None:
                return
            session = Session(message.spec, _poster(outbox, write, message.session))
            thread = threading.Thread(target=session.run, name="flowlab-training", daemon=True)
            thread.start()
            current = (message.session, session, thread)
        elif isinstance(message, _Send) and current is not None and current[0] == message.session:
            current[1].send(message.command)


def _poster(outbox: Connection, lock: threading.Lock, number: int) -> Callable[[Event], None]:
    """``emit`` for a session in the child: ``(number, event)`` pickled here, so that an event that cannot cross
    is said, not lost."""
    def post(event: Event) -> None:
        try:
            data = pickle.dumps((number, event), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as e:
            failure = Failure("views", f"could not send {type(event).__name__} to the window: {e}")
            data = pickle.dumps((number, failure), protocol=pickle.HIGHEST_PROTOCOL)
        with lock:
            try:
                outbox.send_bytes(data)
            except (BrokenPipeError, OSError):
                pass  # the parent is gone; the main loop ends at its next read
    return post
