"""Fixtures shared by the window tests: a real MainWindow on the offscreen platform, warnings captured."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def warnings(monkeypatch) -> list[str]:
    """Texts of the warning dialogs the window would have shown (they are not shown)."""
    from PySide6.QtWidgets import QMessageBox

    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: shown.append(a[2] if len(a) > 2 else str(a)))
    return shown


def open_window(qtbot) -> Any:
    """A fresh window (settings cleared), shown, with its first snapshot drawn."""
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from flowlab.ui.main_window import MainWindow

    QApplication.instance().setOrganizationName("flowlab-tests")
    QSettings().clear()
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    qtbot.waitUntil(lambda: w._latest is not None, timeout=20000)
    return w


@pytest.fixture
def window(qtbot, warnings):
    """The window on the default preset; ``window.warnings`` lists the warnings it raised."""
    w = open_window(qtbot)
    w.warnings = warnings
    yield w
    w.close()


@pytest.fixture(autouse=True, scope="session")
def _interactive_threads() -> None:
    """The thread policy the app sets at start-up (a core left to the UI thread, a short switch interval)."""
    from flowlab.training import threads

    threads.configure(interactive=True)
