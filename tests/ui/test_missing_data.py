"""A preset whose data set is not on this machine stays in the Presets menu; opening it says how to get the data
and leaves the document as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from PySide6.QtWidgets import QMenu

from flowlab.presets import builtin
from flowlab.ui import document_io
from tests.presets.builtins import builtin_document


def test_a_preset_without_its_data_is_offered_and_opening_it_says_how_to_get_it(window, tmp_path: Path,
                                                                                monkeypatch) -> None:
    doc = builtin_document("glow_fashion_mnist")
    doc["target"]["data"]["path"] = str(tmp_path / "nowhere")
    doc["name"] += " (data elsewhere)"  # not the built-in's own entry, which opens where the data set is installed
    path = tmp_path / "99_fashion_elsewhere.json"
    path.write_text(json.dumps(doc))
    paths = {**builtin.builtin_paths(), "fashion_elsewhere": path}
    monkeypatch.setattr(builtin, "builtin_paths", lambda: paths)
    monkeypatch.setattr(document_io, "builtin_paths", lambda: paths)
    menu = QMenu(window)
    window.files.fill_presets_menu(menu)
    action = next((a for a in menu.actions() if a.text() == doc["name"]), None)
    assert action is not None and action.toolTip() == doc["description"]
    before = window.current_preset().to_dict()
    action.trigger()
    assert len(window.warnings) == 1 and "choose a folder that holds train-images-idx3-ubyte" in window.warnings[0]
    assert window.current_preset().to_dict() == before
