"""The window's status line says where the compiled training step stands, from the session's Progress events."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from flowlab.training.compiled import EAGER_NOTE
from flowlab.training.messages import Progress
from flowlab.ui.status import compile_text


def _progress(state: str, note: str) -> Progress:
    return Progress(step=300, steps_per_s=100.0, rows={}, device="cpu", running=True, compile_state=state,
                    compile_note=note)


def test_each_compile_state_reads_as_the_issue_asks() -> None:
    assert compile_text("off", f"{EAGER_NOTE}compile is off in the settings") == ""
    assert compile_text("waiting", f"{EAGER_NOTE}the compiled step is built once training is under way") == ""
    assert compile_text("compiling", "eager steps while the compiled step is built") == "compiling in the background…"
    assert compile_text("compiled", "compiled step in use (ready 41 s after it began)") == "compiled step in use"
    assert compile_text("failed", f"{EAGER_NOTE}the compiled step could not be built (no C++ compiler)") == (
        "eager (compile failed: the compiled step could not be built (no C++ compiler))")


def test_the_status_line_follows_the_sessions_compile_state(qtbot, window) -> None:
    label = window.status.compile
    assert label.text() == "" and label.parent() is not None
    for state, note, shown in (
            ("compiling", "eager steps while the compiled step is built", "compiling in the background…"),
            ("compiled", "compiled step in use (ready 30 s after it began)", "compiled step in use"),
            ("failed", f"{EAGER_NOTE}the compiled step was not used: the loss differs", "eager (compile failed: ")):
        window.controller.handle(_progress(state, note))
        assert label.text().startswith(shown) and label.toolTip() == note
    assert label.isVisible()
    window.controller.restart()  # a new session: eager until it says otherwise
    assert label.text() == ""
