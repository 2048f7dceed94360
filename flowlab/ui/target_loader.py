"""Targets that read a file (points, pictures, image data) are built on a thread of their own, so a large file
never freezes the window: a progress dialog shows what is being read and Cancel leaves the target as it was."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QProgressDialog, QWidget

from flowlab.errors import FlowlabError
from flowlab.targets import Target, build_target

SHOW_AFTER_MS = 300  # a quick file never flashes a dialog


class TargetLoader(QObject):
    """``load(config, done, failed)`` builds the target on a thread; on the window's thread, ``done(config,
    target)`` or ``failed(config, message)`` is called — unless the user cancelled or a newer load replaced it."""

    _finished = Signal(int, object, object)  # ticket, target or None, message or None

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self._parent = parent
        self._ticket = 0
        self._pending: tuple[int, dict[str, Any], Callable, Callable] | None = None
        self.dialog: QProgressDialog | None = None
        self._finished.connect(self._deliver, Qt.QueuedConnection)

    @property
    def busy(self) -> bool:
        return self._pending is not None

    def load(self, config: Mapping[str, Any], done: Callable[[dict[str, Any], Target], None],
             failed: Callable[[dict[str, Any], str], None]) -> None:
        self.cancel()
        self._ticket += 1
        ticket, config = self._ticket, dict(config)
        self._pending = (ticket, config, done, failed)
        source = Path(str(config.get("data", {}).get("path", ""))).name or "the file"
        self.dialog = QProgressDialog(f"Reading {source}…", "Cancel", 0, 0, self._parent)
        self.dialog.setWindowTitle("Loading the target")
        self.dialog.setWindowModality(Qt.WindowModal)
        self.dialog.setMinimumDuration(SHOW_AFTER_MS)
        self.dialog.canceled.connect(self.cancel)
        threading.Thread(target=self._build, args=(ticket, config), name="flowlab-target", daemon=True).start()

    def _build(self, ticket: int, config: dict[str, Any]) -> None:
        target, message = None, None
        try:
            target = build_target(config)
        except FlowlabError as e:
            message = str(e)
        except Exception as e:  # an unexpected reader failure still reaches the user, in words
            message = f"the target could not be built: {e}"
        try:
            self._finished.emit(ticket, target, message)
        except RuntimeError:  # the window (and this loader) closed while the file was read
            pass

    @Slot()
    def cancel(self) -> None:
        """Forget the load under way (its thread finishes on its own; the result is dropped)."""
        self._pending = None
        if self.dialog is not None:
            dialog, self.dialog = self.dialog, None
            dialog.canceled.disconnect(self.cancel)
            dialog.reset()
            dialog.deleteLater()

    @Slot(int, object, object)
    def _deliver(self, ticket: int, target: Target | None, message: str | None) -> None:
        if self._pending is None or self._pending[0] != ticket:
            return
        _, config, done, failed = self._pending
        self.cancel()  # closes the dialog
        if target is not None:
            done(config, target)
        else:
            failed(config, message or "the target could not be built")
