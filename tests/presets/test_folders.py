"""A user's preset folder read for the menu: every preset by name, a broken file listed with its reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowlab.presets import Preset, PresetError, save_preset
from flowlab.presets.folders import scan_folder


def _preset(name: str) -> Preset:
    return Preset(name=name, description=f"about {name}", layers=[], target={"kind": "moons", "params": {}, "data": {}})


def test_a_folder_lists_its_presets_by_file_and_a_broken_one_with_its_reason(tmp_path: Path) -> None:
    save_preset(_preset("Second"), tmp_path / "b.json")
    save_preset(_preset("First"), tmp_path / "a.json")
    (tmp_path / "c.json").write_text('{"name": "half a pre', encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a preset, not listed", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    save_preset(_preset("Nested"), tmp_path / "sub" / "d.json")
    entries = scan_folder(tmp_path)
    assert [(e.path.name, e.name, e.usable) for e in entries] == [("a.json", "First", True),
                                                                  ("b.json", "Second", True),
                                                                  ("c.json", "c.json", False)]
    assert entries[0].description == "about First"
    assert "c.json" in entries[2].problem and "JSON" in entries[2].problem


def test_a_missing_folder_says_so(tmp_path: Path) -> None:
    with pytest.raises(PresetError, match="no such folder"):
        scan_folder(tmp_path / "gone")
