"""The live window under load: training speed with every default view against none, how long the event loop
stalls (a 10 ms timer probe), and memory over a soak — the real MainWindow, on the platform at hand (a real X
server under Xvfb when DISPLAY is set, else the offscreen platform, which paints into memory just the same).

    python bench/bench_window.py [--preset realnvp_moons] [--seconds 20] [--soak-steps 10000]

Phases, one run, one machine:
  1. headless: the same preset's session without views (the no-views rate);
  2. window, every default view shown, training;
  3. window, training while a spin box (learning rate, a live setting) is dragged: a new value every 30 ms;
  4. soak: ``--soak-steps`` steps with every view shown; RSS at 1 000 steps and at the end.

Prints steps/s and the ratio of phase 2 to phase 1, stall p50/p99/max for phases 2–4 (a stall is how late the
10 ms timer fired), and RSS growth (the window's process and the training process together). The window trains
in a process of its own, as the app does; ``--in-process`` trains on a thread of the window's process instead.
Goals (issue 10): ratio ≥ 0.8, stall p99 ≤ 50 ms, soak growth < 50 MB.
Compare ratios, not absolute numbers, across machines and days.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np
from PySide6.QtCore import QElapsedTimer, QEventLoop, QSettings, QTimer
from PySide6.QtWidgets import QApplication

PROBE_MS = 10


def rss_mb(pid: int | str = "self") -> float:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # the training process is gone
        return 0.0


def headless_rate(preset_name: str, seconds: float) -> float:
    """Steps/s of the preset's session with no views (``snapshots=False``), on this thread."""
    from flowlab.presets import load_preset
    from flowlab.presets.builtin import preset_file
    from flowlab.training.messages import Play, Progress, Stop
    from flowlab.training.session import Session, SessionSpec

    preset = load_preset(preset_file(preset_name))
    marks: list[tuple[float, int]] = []

    def on_event(event) -> None:
        if isinstance(event, Progress):
            marks.append((time.perf_counter(), event.step))
            if marks[-1][0] - marks[0][0] > seconds:
                session.send(Stop())

    spec = SessionSpec(preset.layers, preset.target, preset.training, base=preset.base, snapshots=False)
    session = Session(spec, on_event)
    session.send(Play())
    session.run()
    warm = [m for m in marks if m[0] - marks[0][0] > 1.0]  # past the first second (allocations, caches)
    return (warm[-1][1] - warm[0][1]) / (warm[-1][0] - warm[0][0])


class Probe:
    """A 10 ms timer; each tick records how late it fired."""

    def __init__(self) -> None:
        self.clock = QElapsedTimer()
        self.late: list[float] = []
        self.timer = QTimer()
        self.timer.setInterval(PROBE_MS)
        self.timer.timeout.connect(self._tick)
        self._last = None

    def start(self) -> None:
        self.late, self._last = [], None
        self.clock.start()
        self.timer.start()

    def stop(self) -> list[float]:
        self.timer.stop()
        return self.late

    def _tick(self) -> None:
        now = self.clock.nsecsElapsed() / 1e6
        if self._last is not None:
            self.late.append(max(0.0, now - self._last - PROBE_MS))
        self._last = now


def spin(app: QApplication, seconds: float, until=None, action=None, every_ms: int = 30) -> None:
    """Run the event loop (sleeping when idle, as the app's own loop does) for ``seconds`` or until ``until()``;
    ``action()`` every ``every_ms`` meanwhile."""
    loop = QEventLoop()
    end = time.perf_counter() + seconds

    def check() -> None:
        if action is not None:
            action()
        if time.perf_counter() >= end or (until is not None and until()):
            loop.quit()

    timer = QTimer()
    timer.setInterval(every_ms if action is not None else 20)
    timer.timeout.connect(check)
    timer.start()
    loop.exec()
    timer.stop()


def stalls(late: list[float]) -> str:
    a = np.asarray(late) if late else np.zeros(1)
    over = int((a > 50).sum())
    return (f"stall p50 {np.percentile(a, 50):5.1f} ms, p99 {np.percentile(a, 99):6.1f} ms, max {a.max():6.1f} ms, "
            f"{over} of {len(a)} ticks over 50 ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="realnvp_moons")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--soak-steps", type=int, default=10000)
    parser.add_argument("--in-process", action="store_true",
                        help="train on a thread of the window's process (the app trains in a process of its own)")
    args = parser.parse_args()

    from flowlab.training import threads

    app = QApplication(sys.argv)
    from PySide6.QtWidgets import QMessageBox

    # A dialog would block the run (a modal loop): say what it said instead.
    QMessageBox.warning = staticmethod(lambda _parent, title, text, *a, **k: print(f"dialog: {title}: {text}"))
    app.setOrganizationName("flowlab-bench")
    QSettings().clear()
    threads.configure(interactive=True)
    print(f"platform {app.platformName()}, {os.cpu_count()} cores, preset {args.preset}, training "
          f"{'on a thread of the window' if args.in_process else 'in a process of its own'}")
    base = headless_rate(args.preset, args.seconds)
    print(f"1. headless, no views: {base:7.1f} steps/s")

    from flowlab.presets.builtin import preset_file
    from flowlab.training.remote import SessionHost
    from flowlab.ui.main_window import MainWindow

    host = None if args.in_process else SessionHost()
    window = MainWindow(host=host)
    window.resize(1500, 950)
    window.show()
    window.files.open_path(preset_file(args.preset))
    c = window.controller
    spin(app, 30, until=lambda: c.latest is not None)
    probe = Probe()

    def rate_while(seconds: float, action=None) -> float:
        spin(app, 1.0)  # past the start
        s0, t0 = c.last_progress.step, time.perf_counter()
        probe.start()
        spin(app, seconds, action=action)
        probe.stop()
        return (c.last_progress.step - s0) / (time.perf_counter() - t0)

    c.toggle_play()
    shown = sorted(window.docks.shown_views())
    rate = rate_while(args.seconds)
    print(f"2. window, views {', '.join(shown)}: {rate:7.1f} steps/s = {rate / base:.2f}× headless; "
          f"{stalls(probe.late)}")

    form = window.panels.train_form
    values = iter(np.tile(np.geomspace(5e-4, 2e-3, 20), 10_000))
    lr_edit = form.editors["learning_rate"]  # what a dragged spin box does: a new value, an edit, a live setting

    def drag() -> None:
        lr_edit.setValue(float(next(values)))

    rate = rate_while(args.seconds / 2, drag)
    print(f"3. window, a spin box dragged: {rate:7.1f} steps/s; {stalls(probe.late)}")

    def rss_all() -> float:
        """The window's process and the training process together."""
        return rss_mb() + (rss_mb(host.pid) if host is not None and host.pid else 0.0)

    start_step = c.last_progress.step
    probe.start()
    rss_start = rss_all()
    rss_1k = None
    t0 = time.perf_counter()
    while c.last_progress.step - start_step < args.soak_steps:
        spin(app, 0.5)
        if rss_1k is None and c.last_progress.step - start_step >= 1000:
            rss_1k = rss_all()
    probe.stop()
    seconds = time.perf_counter() - t0
    rss_end = rss_all()
    print(f"4. soak, {args.soak_steps} steps in {seconds:.0f} s: {stalls(probe.late)}; RSS {rss_start:.0f} → "
          f"{rss_end:.0f} MB (+{rss_end - rss_start:.0f} MB; +{rss_end - (rss_1k or rss_start):.0f} MB after the "
          f"first 1 000 steps)")
    c.toggle_play()
    window.close()
    if host is not None:
        host.close()


if __name__ == "__main__":
    main()
