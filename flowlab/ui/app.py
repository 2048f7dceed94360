"""Start the window: ``flowlab`` (the default preset) or ``flowlab FILE.json``."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPixmap
from PySide6.QtWidgets import QApplication, QMessageBox, QSplashScreen

from flowlab.ui.display_check import display_problem


def splash() -> QSplashScreen:
    """A small window at once, saying what is loading: PyTorch alone takes seconds to import on a slow machine."""
    pixmap = QPixmap(460, 120)
    pixmap.fill(QColor("white"))
    screen = QSplashScreen(pixmap)
    font = screen.font()
    font.setPointSizeF(font.pointSizeF() * 1.3)
    screen.setFont(font)
    screen.show()
    say(screen, "loading PyTorch…")
    return screen


def say(screen: QSplashScreen, what: str) -> None:
    screen.showMessage(f"flowlab\n\n{what}", Qt.AlignCenter, QColor(60, 60, 60))
    QApplication.processEvents()


def run_app(path: str | None = None) -> int:
    if QApplication.instance() is None:
        problem = display_problem()
        if problem:  # said in plain lines instead of Qt's abort
            print(problem, file=sys.stderr)
            return 2
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("flowlab")
    app.setApplicationName("flowlab")
    screen = splash()
    from flowlab.presets import PresetError, load_preset
    from flowlab.training import threads
    from flowlab.training.remote import SessionHost

    threads.configure(interactive=True)
    say(screen, "starting the training process…")
    host = SessionHost()  # it imports PyTorch again while the window is built
    from flowlab.ui.main_window import MainWindow

    say(screen, "opening the preset…")

    preset, opened = None, None
    if path is not None:
        try:
            preset, opened = load_preset(path), Path(path)
        except PresetError as e:
            screen.hide()  # it stays on top: the message must not hide behind it
            QMessageBox.warning(None, "Cannot open preset", f"{e}\n\nOpening the default preset instead.")
    window = MainWindow(preset, opened, host=host)
    window.show()
    screen.finish(window)
    try:
        return app.exec()
    finally:
        host.close()
