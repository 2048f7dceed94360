"""The user's preset folders in the Presets menu: added and removed there, kept as a setting, each folder's
presets in a submenu, a broken file greyed out with its reason."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from PySide6.QtWidgets import QFileDialog

from flowlab.presets import Preset, save_preset
from flowlab.ui.preset_folders import user_folders


def _presets_menu(window):
    return next(a.menu() for a in window.menuBar().actions() if a.text() == "&Presets")


def _entries(menu) -> dict[str, object]:
    return {a.text(): a for a in menu.actions() if not a.isSeparator()}


def test_a_preset_folder_is_added_listed_opened_and_removed_from_the_menu(qtbot, window, tmp_path: Path,
                                                                        monkeypatch) -> None:
    folder = tmp_path / "my lectures"
    folder.mkdir()
    save_preset(Preset(name="My moons", description="mine", layers=[],
                       target={"kind": "moons", "params": {}, "data": {}}), folder / "moons.json")
    (folder / "broken.json").write_text("[1, 2", encoding="utf-8")
    menu = _presets_menu(window)
    built_in = [a.text() for a in menu.actions() if not a.isSeparator()]
    assert "Add preset folder…" in built_in and not _entries(menu)["Remove folder"].isEnabled()

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    _entries(menu)["Add preset folder…"].trigger()
    assert user_folders() == [folder]  # a setting: the next start lists it too
    menu.aboutToShow.emit()
    sub = _entries(menu)["my lectures"].menu()
    assert sub is not None and _entries(menu)["my lectures"].toolTip() == str(folder)
    presets = _entries(sub)
    assert presets["My moons"].isEnabled() and presets["My moons"].toolTip() == "mine"
    broken = presets["broken.json (not a preset)"]
    assert not broken.isEnabled() and "broken.json" in broken.toolTip() and "JSON" in broken.toolTip()
    assert [a.text() for a in menu.actions() if not a.isSeparator()][: len(built_in) - 2] == built_in[:-2]

    save_preset(window.doc.to_preset(), folder / "later.json")  # saved there since: listed next time
    menu.aboutToShow.emit()
    sub = _entries(menu)["my lectures"].menu()
    assert window.doc.name in _entries(sub)
    _entries(sub)["My moons"].trigger()
    assert window.doc.name == "My moons" and window.files.path == folder / "moons.json"

    remove = _entries(menu)["Remove folder"].menu()
    assert _entries(menu)["Remove folder"].isEnabled()
    _entries(remove)[str(folder)].trigger()
    assert user_folders() == [] and "my lectures" not in _entries(menu)


def test_a_folder_that_is_gone_is_listed_with_the_reason(qtbot, window, tmp_path: Path, monkeypatch) -> None:
    window.files.preset_folders.add(tmp_path / "gone")
    menu = _presets_menu(window)
    sub = _entries(menu)["gone"].menu()
    (only,) = sub.actions()
    assert not only.isEnabled() and "no such folder" in only.toolTip()
