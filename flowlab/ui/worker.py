"""A training session on a QThread: the window's only door to the model.

The loop is :class:`flowlab.training.session.Session` (Qt-free); this adapter runs it on a thread of its own and
re-emits every event it reports as one ``event`` signal, delivered to ``@Slot(object)`` receivers on the UI thread
(a queued connection). Commands go the other way through :meth:`SessionWorker.send`, a lock, never a queued slot
(which would not run while the loop is busy). The model never leaves the session's thread.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QThread, Signal, Slot

from flowlab.training.messages import Command, Stop
from flowlab.training.session import Session, SessionSpec


class _LoopThread(QThread):
    def __init__(self, session: Session, parent: QObject) -> None:
        super().__init__(parent)
        self.session = session
        self.setObjectName("flowlab-training")

    def run(self) -> None:
        self.session.run()


class SessionWorker(QObject):
    """``start()`` the session's thread, ``send(command)`` from the UI thread, ``shutdown()`` to end it."""

    event = Signal(object)  # every flowlab.training.messages event, in the order the session reported them

    def __init__(self, spec: SessionSpec, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self._session = Session(spec, self.event.emit)
        self.thread = _LoopThread(self._session, self)

    def start(self) -> None:
        self.thread.start()

    def send(self, command: Command) -> None:
        self._session.send(command)

    @property
    def is_running(self) -> bool:
        """Whether training is asked to run (the UI's view of it follows ``RunningChanged`` events)."""
        return self._session.running

    @property
    def view_time_s(self) -> float:
        """Seconds the training thread has spent on views so far (copies of the weights, or snapshots)."""
        return self._session.view_time_s

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Stop the loop and wait for its thread; True if it ended in time. The worker then deletes itself (later,
        from the event loop); if the loop is still busy, only once its thread has finished, never before."""
        self._session.send(Stop())
        if self.thread.wait(timeout_ms):
            self.deleteLater()
            return True
        self.thread.finished.connect(self._delete_when_finished)
        return False

    @Slot()
    def _delete_when_finished(self) -> None:
        self.thread.wait()  # ``finished`` is emitted just before the thread returns
        self.deleteLater()
