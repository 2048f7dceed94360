"""``flowlab render PRESET.json --steps N --out shot.png``: train in the real window, off screen, and save a
screenshot of the whole window (for the README, the docs and checks)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from flowlab.errors import FlowlabError


def render(preset_path: str, steps: int, out: str, size: tuple[int, int] = (1400, 900),
           timeout_s: float = 1800.0) -> Path:
    if "DISPLAY" not in os.environ and "WAYLAND_DISPLAY" not in os.environ:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEvent, QSettings
    from PySide6.QtWidgets import QApplication

    from flowlab.presets import load_preset
    from flowlab.training import threads
    from flowlab.training.messages import Pause, Play
    from flowlab.ui.main_window import MainWindow

    preset = load_preset(preset_path)
    threads.configure(interactive=True)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("flowlab-render")  # never touch the user's own window settings
    QSettings().clear()
    window = MainWindow(preset, Path(preset_path))
    window.resize(*size)
    window.show()
    deadline = time.monotonic() + timeout_s

    def wait(condition) -> None:
        while not condition():
            if time.monotonic() > deadline:
                window.close()
                raise FlowlabError(f"rendering took longer than {timeout_s:.0f} s")
            app.processEvents()
            # processEvents() outside an event loop leaves deleteLater() undone: Qt's stale tab bars of the dock
            # layout then stay on screen (a cut-off word between the docks of the shot)
            app.sendPostedEvents(None, QEvent.DeferredDelete)
            time.sleep(0.005)

    c = window.controller
    try:
        wait(lambda: c.session is not None and c.last_ready is not None)
        if steps > 0:
            c.session.send(Play())
            wait(lambda: c.last_progress is not None and c.last_progress.step >= steps)
            c.session.send(Pause())
        wait(lambda: not c.session.is_running and c.last_progress is not None
             and not c.last_progress.running and c.latest is not None
             and c.latest.step == c.last_progress.step)
        for _ in range(10):  # let the redraw timer draw the last snapshot and the curves
            app.processEvents()
            app.sendPostedEvents(None, QEvent.DeferredDelete)
            time.sleep(0.05)
        path = Path(out)
        if not window.grab().save(str(path)):
            raise FlowlabError(f"could not write the screenshot to {path}")
        return path
    finally:
        window.close()
