"""What `flowlab` says when Qt could not open a window (checked before Qt starts: its failure is an abort)."""

from __future__ import annotations

import sys

import pytest

pytest.importorskip("PySide6")

from flowlab.ui import display_check


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 libraries are a Linux matter")
def test_a_missing_x11_library_is_named_with_the_apt_line(monkeypatch) -> None:
    def cannot_load(path: str) -> None:
        raise OSError("libxcb-icccm.so.4: cannot open shared object file: No such file or directory")

    monkeypatch.setattr(display_check.ctypes, "CDLL", cannot_load)
    said = display_check.display_problem({"DISPLAY": ":0"})
    assert said is not None and "libxcb-icccm.so.4" in said and display_check.APT_LINE in said
    assert "flowlab train" in said


def test_a_usable_platform_says_nothing() -> None:
    assert display_check.display_problem({"QT_QPA_PLATFORM": "offscreen"}) is None
    assert display_check.display_problem({"WAYLAND_DISPLAY": "wayland-0"}) is None


def test_the_x11_plugin_loads_here_when_a_display_is_named() -> None:
    """The real check on this machine: the plugin's libraries are installed (CI and the README's apt line)."""
    said = display_check.display_problem({"DISPLAY": ":0"})
    assert said is None or "missing" in said
