"""Re-measure the training times the built-in presets state, in the real window and headless, and rewrite them.

    python bench/preset_timings.py [PRESET ...] [--seconds 6] [--write]

A preset states its time in one standard phrase (``TIMING``), e.g. "1500 steps in about 11 s in the window (7 s
headless)". For each preset this runs the real MainWindow (every default view shown, training in its own process,
as the app does; under Xvfb when DISPLAY is set, else the offscreen platform) and the same session headless for
``--seconds`` each, prints the stated and measured times, and with ``--write`` puts the measured ones into the
preset's description. This machine's speed varies up to 2× between days: the figures say "about", and the test
suite checks only that every stated time uses the phrase this script keeps true.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from flowlab.presets.builtin import TIMING, timing_phrase


def window_rate(window, app, path: Path, seconds: float) -> float:
    """Steps/s of the preset in the window with its default views, past its first second."""
    from bench_window import spin

    window.files.open_path(path)
    c = window.controller
    spin(app, 60, until=lambda: c.latest is not None and c.last_progress is not None)
    c.toggle_play()
    spin(app, 1.0)
    s0, t0 = c.last_progress.step, time.perf_counter()
    spin(app, seconds)
    rate = (c.last_progress.step - s0) / (time.perf_counter() - t0)
    c.toggle_play()
    spin(app, 0.5)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("presets", nargs="*", help="built-in preset names (default: every one that states a time)")
    parser.add_argument("--seconds", type=float, default=6.0, help="seconds of training measured each way")
    parser.add_argument("--write", action="store_true", help="rewrite the stated times in the preset files")
    args = parser.parse_args()

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from flowlab.presets.builtin import builtin_paths
    from flowlab.training import threads
    from flowlab.training.remote import SessionHost
    from flowlab.ui.main_window import MainWindow

    app = QApplication(sys.argv)
    app.setOrganizationName("flowlab-bench")
    QSettings().clear()
    threads.configure(interactive=True)
    from bench_window import headless_rate

    paths = builtin_paths()
    names = args.presets or [n for n, p in paths.items()
                             if TIMING.search(json.loads(Path(p).read_text(encoding="utf-8")).get("description", ""))]
    host = SessionHost()
    window = MainWindow(host=host)
    window.resize(1500, 950)
    window.show()
    print(f"platform {app.platformName()}, {os.cpu_count()} cores; {args.seconds:.0f} s each way")
    print(f"{'preset':32s} {'steps':>6s} {'stated window/headless s':>25s} {'measured window/headless s':>27s}")
    for name in names:
        path = Path(paths[name])
        doc = json.loads(path.read_text(encoding="utf-8"))
        stated = TIMING.search(doc.get("description", ""))
        if stated is None:
            print(f"{name:32s} states no time in the standard phrase; skipped")
            continue
        steps = int(stated["steps"])
        headless = headless_rate(name, args.seconds)
        window_steps_s = window_rate(window, app, path, args.seconds)
        window_s, headless_s = steps / window_steps_s, steps / headless
        print(f"{name:32s} {steps:6d} {stated['window']:>14s} / {stated['headless']:<8s} "
              f"{window_s:14.1f} / {headless_s:<8.1f} ({window_steps_s:.0f} and {headless:.0f} steps/s)")
        if args.write:  # the phrase is ASCII: the same in the file whether or not it escapes other characters
            text = path.read_text(encoding="utf-8")
            measured = timing_phrase(steps, window_s, headless_s)
            path.write_text(text.replace(stated.group(0), measured, 1), encoding="utf-8")
    window.controller.stop()
    window.close()
    host.close()


if __name__ == "__main__":
    main()
