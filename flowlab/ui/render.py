"""The window driven without a user, off screen when there is no display: ``flowlab render PRESET --steps N --out
shot.png`` trains to step N and saves a screenshot of the whole window (for the README, the docs and checks);
``flowlab record PRESET --steps N --every K [--view NAME] --out FILE.gif|.mp4`` records a view or the window
every K steps (:mod:`flowlab.ui.recorder`)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from flowlab.errors import FlowlabError


def _quiet_offscreen(mode, context, message: str) -> None:
    """Qt's messages, less the offscreen platform's notes on what it cannot do (raise a window, size hints)."""
    if not message.startswith("This plugin does not support"):
        print(message, file=sys.stderr)


class OffscreenWindow:
    """``with OffscreenWindow(preset_path) as w:`` the real window on a preset, shown (off screen without a
    display), its training session built; the user's window settings untouched. :meth:`wait` runs the event loop
    until a condition holds, within ``timeout_s`` for the whole visit."""

    def __init__(self, preset_path: str, size: tuple[int, int] = (1400, 900), timeout_s: float = 1800.0) -> None:
        self.preset_path, self.size, self.timeout_s = preset_path, size, timeout_s

    def __enter__(self) -> OffscreenWindow:
        if "DISPLAY" not in os.environ and "WAYLAND_DISPLAY" not in os.environ:
            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from PySide6.QtCore import QSettings, qInstallMessageHandler
        from PySide6.QtWidgets import QApplication

        from flowlab.presets import load_preset
        from flowlab.training import threads
        from flowlab.ui.main_window import MainWindow

        preset = load_preset(self.preset_path)
        if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
            qInstallMessageHandler(_quiet_offscreen)
        threads.configure(interactive=True)
        self.app = QApplication.instance() or QApplication(sys.argv[:1])
        self.app.setOrganizationName("flowlab-render")  # never touch the user's own window settings
        QSettings().clear()
        self.window = MainWindow(preset, Path(self.preset_path), keep_runs=False)  # nor the user's last runs
        self.window.resize(*self.size)
        self.window.show()
        self.deadline = time.monotonic() + self.timeout_s
        c = self.window.controller
        try:
            self.wait(lambda: c.session is not None and c.last_ready is not None)
        except BaseException:
            self.window.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.window.close()

    def pump(self) -> None:
        """Handle pending events once."""
        from PySide6.QtCore import QEvent

        self.app.processEvents()
        # processEvents() outside an event loop leaves deleteLater() undone: Qt's stale tab bars of the dock
        # layout then stay on screen (a cut-off word between the docks of the shot)
        self.app.sendPostedEvents(None, QEvent.DeferredDelete)

    def wait(self, condition: Callable[[], bool]) -> None:
        while not condition():
            if time.monotonic() > self.deadline:
                raise FlowlabError(f"the window took longer than {self.timeout_s:.0f} s")
            self.pump()
            time.sleep(0.005)

    def train_to(self, steps: int) -> None:
        """Train to exactly step ``steps``, paused there with the views showing that step."""
        from flowlab.training.messages import Play

        c = self.window.controller
        if steps > 0:
            c.session.send(Play(until=steps))
        self.wait(lambda: not c.session.is_running and c.last_progress is not None
                  and not c.last_progress.running and c.last_progress.step == steps and c.latest is not None
                  and c.latest.step == steps)
        for _ in range(10):  # let the redraw timer draw the last snapshot and the curves
            self.pump()
            time.sleep(0.05)


    def float_view(self, key: str, size: tuple[int, int]) -> None:
        """Float view ``key``'s dock beside the window, sized so that the view's plots are ``size`` exactly."""
        dock, content = self.window.docks.docks[key], self.window.docks.views[key].content
        dock.setFloating(True)
        dock.show()
        dock.raise_()
        for _ in range(20):
            self.pump()
            dw, dh = size[0] - content.width(), size[1] - content.height()
            if dw == 0 and dh == 0:
                return
            dock.resize(dock.width() + dw, dock.height() + dh)
        raise FlowlabError(f"the view '{key}' cannot be sized {size[0]}×{size[1]} (it is "
                           f"{content.width()}×{content.height()})")


def render(preset_path: str, steps: int, out: str, size: tuple[int, int] = (1400, 900),
           timeout_s: float = 1800.0) -> Path:
    """Train ``steps`` steps in the window and save a screenshot of it to ``out``."""
    with OffscreenWindow(preset_path, size, timeout_s) as w:
        w.train_to(steps)
        path = Path(out)
        if not w.window.grab().save(str(path)):
            raise FlowlabError(f"could not write the screenshot to {path}")
        return path


VIEW_FRAME = (640, 480)  # a recorded view's frames, by default
WINDOW_FRAME = (1400, 900)  # the whole window's


def record(preset_path: str, steps: int, every: int, out: str, view: str | None = None, fps: float = 10.0,
           size: tuple[int, int] | None = None, timeout_s: float = 1800.0,
           progress: Callable[[int, int, int], None] | None = None):
    """Record ``view`` (None: the whole window) every ``every`` steps from step 0 to ``steps`` into ``out``
    (``.gif`` or ``.mp4``), frames of ``size`` (default :data:`VIEW_FRAME` for a view, whose dock then floats at
    that size, :data:`WINDOW_FRAME` for the window); returns the :class:`~flowlab.ui.recorder.RecordOutcome`.
    Bad input (an unknown view, an unwritable file, MP4 without its extra) raises before anything trains."""
    from flowlab.presets import load_preset
    from flowlab.recording import Recording, frame_steps
    from flowlab.ui.recorder import Recorder, check_view

    if view is not None:  # an unknown name lists the valid ones, before any window opens
        check_view(view, tuple(load_preset(preset_path).build_target().shape))
    planned = frame_steps(steps, every)
    recording = Recording(out, fps)  # an unwritable folder or a missing extra fails here
    try:
        window_size = size if view is None and size is not None else WINDOW_FRAME
        with OffscreenWindow(preset_path, window_size, timeout_s) as w:
            if view is not None:
                w.float_view(view, size or VIEW_FRAME)

            recorder = Recorder(w.window, view, lambda start: [s for s in planned if s >= start], recording)
            if progress is not None:
                recorder.progressed.connect(progress)
            recorder.start()
            try:
                w.wait(lambda: recorder.outcome is not None)
            finally:
                if recorder.active:
                    recorder.stop()
            outcome = recorder.outcome
    finally:
        recording.discard()  # nothing, once closed; the temporary file when anything above failed
    if outcome.error is not None:
        raise FlowlabError(outcome.error)
    return outcome
