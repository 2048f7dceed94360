"""Fixtures shared by the window tests: a real MainWindow on the offscreen platform, warnings captured."""

from __future__ import annotations

from typing import Any

import pytest


def _never_block() -> None:
    """No test may wait on a real question dialog (offscreen, nobody answers it, and CI hangs): unless a test
    records questions (the ``questions`` fixture), every question is answered Discard. Installed for the whole
    run, since pytest-qt closes left-over windows after the fixtures' monkeypatches are undone."""
    from PySide6.QtWidgets import QMessageBox

    QMessageBox.question = staticmethod(lambda *a, **k: QMessageBox.Discard)


_never_block()


@pytest.fixture(autouse=True)
def _own_cache(monkeypatch, tmp_path_factory) -> None:
    """Each test its own cache folder: the previous runs a window keeps (``flowlab.ui.previous_run``) neither
    come from another test nor land in the user's cache."""
    monkeypatch.setenv("FLOWLAB_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def warnings(monkeypatch) -> list[str]:
    """Texts of the warning dialogs the window would have shown (they are not shown)."""
    from PySide6.QtWidgets import QMessageBox

    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: shown.append(a[2] if len(a) > 2 else str(a)))
    return shown


@pytest.fixture
def questions(monkeypatch) -> list[str]:
    """Texts of the questions the window asked ("save your changes?"), each answered with ``questions.answer``
    (default: Discard), without showing a dialog."""
    from PySide6.QtWidgets import QMessageBox

    class Asked(list):
        answer = QMessageBox.Discard

    asked = Asked()

    def ask(*a, **k):
        asked.append(a[2] if len(a) > 2 else str(a))
        return asked.answer

    monkeypatch.setattr(QMessageBox, "question", ask)
    return asked


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
    qtbot.waitUntil(lambda: w.controller.latest is not None, timeout=20000)
    return w


@pytest.fixture
def window(qtbot, warnings, questions):
    """The window on the default preset; ``window.warnings`` lists the warnings it raised, ``window.questions``
    the questions it asked (answered Discard unless a test sets ``window.questions.answer``)."""
    w = open_window(qtbot)
    w.warnings = warnings
    w.questions = questions
    yield w
    w.close()


@pytest.fixture(autouse=True, scope="session")
def _interactive_threads() -> None:
    """The thread policy the app sets at start-up (a core left to the UI thread, a short switch interval)."""
    from flowlab.training import threads

    threads.configure(interactive=True)
