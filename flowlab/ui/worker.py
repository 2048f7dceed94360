"""A training session on a QThread, or in a training process: the window's only door to the model.

The loop is :class:`flowlab.training.session.Session` (Qt-free). Given a
:class:`~flowlab.training.remote.SessionHost`, this adapter runs the session in the host's process (the app does:
training then never waits for the window's GIL); else on a QThread of its own (tests, benchmarks, library use).
Either way it re-emits every event as one ``event`` signal, delivered to ``@Slot(object)`` receivers on the UI
thread (a queued connection). Commands go the other way through :meth:`SessionWorker.send`, a lock or a pipe,
never a queued slot (which would not run while the loop is busy). The model never leaves the session's thread.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QThread, Signal, Slot

from flowlab.training.messages import Command, Finished, Stop
from flowlab.training.remote import RemoteSession, SessionHost
from flowlab.training.session import Session, SessionSpec


class _LoopThread(QThread):
    def __init__(self, session: Session, parent: QObject) -> None:
        super().__init__(parent)
        self.session = session
        self.setObjectName("flowlab-training")

    def run(self) -> None:
        self.session.run()


class SessionWorker(QObject):
    """``start()`` the session, ``send(command)`` from the UI thread, ``shutdown()`` to end it. ``host``: run it in
    that training process instead of on a thread here."""

    event = Signal(object)  # every flowlab.training.messages event, in the order the session reported them

    def __init__(self, spec: SessionSpec, parent: QObject | None = None, host: SessionHost | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self._host = host
        self._remote: RemoteSession | None = None
        self._session = Session(spec, self.event.emit) if host is None else None
        self.thread = _LoopThread(self._session, self) if self._session is not None else None

    def start(self) -> None:
        if self._host is not None:
            self._remote = self._host.open(self.spec, self.event.emit)  # emitted on the host's reader thread
        else:
            assert self.thread is not None
            self.thread.start()

    @property
    def _target(self) -> Session | RemoteSession | None:
        return self._session if self._session is not None else self._remote

    def send(self, command: Command) -> None:
        target = self._target
        if target is not None:
            target.send(command)

    @property
    def alive(self) -> bool:
        """Whether the session has started and not yet finished (it can answer commands)."""
        if self.thread is not None:
            return self.thread.isRunning()
        return self._remote is not None and not self._remote.finished

    @property
    def is_running(self) -> bool:
        """Whether training is asked to run (the UI's view of it follows ``RunningChanged`` events)."""
        target = self._target
        return target is not None and target.running

    @property
    def view_time_s(self) -> float:
        """Seconds the training thread has spent on views so far (copies of the weights, or snapshots)."""
        target = self._target
        return 0.0 if target is None else target.view_time_s

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Stop the loop and wait for it; True if it ended in time. The worker then deletes itself (later, from
        the event loop); if the loop is still busy, only once it has finished, never before."""
        if self._remote is not None:
            # Its events come through ``event`` from the reader thread, Finished last: the worker goes once that
            # has been delivered (connected before stopping, so that it cannot slip past).
            self.event.connect(self._delete_on_finished)
            self._remote.stop()
            return self._remote.wait(timeout_ms / 1000)
        if self.thread is None:
            self.deleteLater()
            return True
        assert self._session is not None
        self._session.send(Stop())
        if self.thread.wait(timeout_ms):
            self.deleteLater()
            return True
        self.thread.finished.connect(self._delete_when_finished)
        return False

    @Slot(object)
    def _delete_on_finished(self, event: object) -> None:
        if isinstance(event, Finished):
            self.deleteLater()

    @Slot()
    def _delete_when_finished(self) -> None:
        assert self.thread is not None
        self.thread.wait()  # ``finished`` is emitted just before the thread returns
        self.deleteLater()
