"""Saved weights the session refuses (a damaged file, one for another stack, a pickle carrying code) are refused
where it is seen: the status bar and a dialog say so, and nothing in the file runs."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("PySide6")

import torch

from flowlab.training.checkpoints import weights_path_for


class Payload:
    """A pickle that would make a folder when loaded without ``weights_only``."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def _damaged(path, _tmp) -> None:
    path.write_bytes(b"not weights at all")


def _other_stack(path, _tmp) -> None:
    torch.save({"flow": {}, "layers": [{"kind": "planar", "params": {}}], "step": 3}, path)


def _carrying_code(path, tmp) -> None:
    torch.save({"flow": Payload(str(tmp / "ran"))}, path)


@pytest.mark.parametrize("write", [_damaged, _other_stack, _carrying_code])
def test_refused_weights_are_said_in_the_status_bar_and_a_dialog(qtbot, window, tmp_path, write) -> None:
    preset = tmp_path / "mine.json"
    assert window.files.save_to(preset)
    write(weights_path_for(preset), tmp_path)
    window.warnings.clear()
    assert window.files.open_path(preset)
    qtbot.waitUntil(lambda: window.controller.last_ready is not None, timeout=20000)
    qtbot.waitUntil(lambda: bool(window.warnings), timeout=5000)
    (said,) = window.warnings
    assert "not loaded" in said and "fresh weights" in said
    assert "Error" not in said  # the reason in words, not an exception's class name
    assert "not loaded" in window.statusBar().currentMessage()
    assert window.controller.last_ready.step == 0  # trains from fresh weights
    assert not (tmp_path / "ran").exists()  # nothing in the file was run
