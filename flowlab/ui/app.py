"""Start the window: ``flowlab`` (the default preset) or ``flowlab FILE.json``."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication, QMessageBox

from flowlab.ui.display_check import display_problem


def run_app(path: str | None = None) -> int:
    if QApplication.instance() is None:
        problem = display_problem()
        if problem:  # said in plain lines instead of Qt's abort
            print(problem, file=sys.stderr)
            return 2
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("flowlab")
    app.setApplicationName("flowlab")
    from flowlab.presets import PresetError, load_preset
    from flowlab.training import threads
    from flowlab.ui.main_window import MainWindow

    threads.configure(interactive=True)

    preset, opened = None, None
    if path is not None:
        try:
            preset, opened = load_preset(path), Path(path)
        except PresetError as e:
            QMessageBox.warning(None, "Cannot open preset", f"{e}\n\nOpening the default preset instead.")
    window = MainWindow(preset, opened)
    window.show()
    return app.exec()
