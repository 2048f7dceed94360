"""Preset files: round trips, atomic saves, and a clear message for every kind of broken file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from flowlab.presets import (
    SCHEMA_VERSION,
    Preset,
    PresetDataMissing,
    PresetError,
    load_preset,
    preset_from_dict,
    save_preset,
)
from flowlab.presets.builtin import DEFAULT_PRESET, builtin_paths, load_builtin


def _doc(**changes):
    doc = {"schema_version": 1, "name": "t", "layers": [{"kind": "affine_coupling", "params": {"hidden": 16}}],
           "target": {"kind": "moons"}, "training": {"batch_size": 64}}
    doc.update(changes)
    return doc


def test_every_builtin_preset_loads_and_the_default_exists() -> None:
    paths = builtin_paths()
    assert DEFAULT_PRESET in paths
    for key, path in paths.items():
        try:
            p = load_preset(path)
        except PresetDataMissing as missing:  # a data set not installed here: the message says how to get it
            assert "choose a folder" in str(missing) and missing.name and missing.description, key
            continue
        assert p.name and p.description, key


def test_save_and_reload_gives_an_equal_preset(tmp_path: Path) -> None:
    preset = load_builtin()
    path = tmp_path / "copy.json"
    save_preset(preset, path)
    again = load_preset(path)
    assert again.to_dict() == preset.to_dict()
    assert not list(tmp_path.glob("*.tmp")), "no temporary file is left behind"


def test_a_failed_save_keeps_the_old_file(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "p.json"
    save_preset(preset_from_dict(_doc()), path)
    before = path.read_text()
    bad = preset_from_dict(_doc())
    bad.view = {"x": float("nan")}  # JSON cannot hold NaN: the save must fail before touching the file
    with pytest.raises(ValueError):
        save_preset(bad, path)
    assert path.read_text() == before


@pytest.mark.parametrize(("text", "words"), [
    ("{ not json", "line 1, column 3"),
    ("[1, 2]", "not a flowlab preset"),
    ('{"name": "x"}', "schema_version"),
    (json.dumps(_doc(schema_version=SCHEMA_VERSION + 1)), "newer flowlab"),
    (json.dumps(_doc(layers=[{"kind": "affine_coupling", "params": {"hidden": -3}}])), "layers[0].params.hidden"),
    (json.dumps(_doc(layers=[{"kind": "wobble"}])), "layers[0]"),
    (json.dumps(_doc(target={"kind": "nowhere"})), "target"),
    (json.dumps(_doc(training={"learning_rate": "fast"})), "learning_rate"),
    (json.dumps(_doc(colour="red")), "colour"),
    (json.dumps({k: v for k, v in _doc().items() if k != "target"}), "target"),
])
def test_broken_files_name_the_problem(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "broken.json"
    path.write_text(text)
    with pytest.raises(PresetError) as info:
        load_preset(path)
    assert words in str(info.value) and str(path) in str(info.value)


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(PresetError, match="no such file"):
        load_preset(tmp_path / "nope.json")
    binary = tmp_path / "b.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(PresetError, match="cannot be read|not valid JSON"):
        load_preset(binary)


def test_presets_are_data_not_code(tmp_path: Path) -> None:
    doc = _doc(name="__import__('os').system('echo pwned')")
    p = preset_from_dict(doc)
    assert isinstance(p, Preset) and p.name.startswith("__import__")  # kept as a string, never run


def _picture_preset(path: str) -> dict:
    return _doc(target={"kind": "picture", "params": {"resolution": 32}, "data": {"path": path}})


def _write_picture(path: Path) -> None:
    from PIL import Image

    img = Image.new("L", (16, 16), 255)
    img.paste(0, (4, 4, 12, 12))  # a dark square: the mass
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


def test_a_relative_data_file_is_found_beside_the_preset_from_any_working_directory(tmp_path, monkeypatch) -> None:
    folder = tmp_path / "lecture"
    _write_picture(folder / "pics" / "pic.png")
    (folder / "p.json").write_text(json.dumps(_picture_preset("pics/pic.png")))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    preset = load_preset(folder / "p.json")
    assert Path(preset.target["data"]["path"]) == folder / "pics" / "pic.png"
    assert preset.build_target().shape == (2,)
    missing = folder / "gone.json"
    missing.write_text(json.dumps(_picture_preset("nothing.png")))
    with pytest.raises(PresetError, match="lecture"):  # the error names where it looked: beside the preset
        load_preset(missing)


def test_saving_writes_data_files_relative_under_the_preset_folder_absolute_elsewhere(tmp_path, monkeypatch) -> None:
    folder = tmp_path / "lecture"
    _write_picture(folder / "pics" / "pic.png")
    (folder / "p.json").write_text(json.dumps(_picture_preset("pics/pic.png")))
    preset = load_preset(folder / "p.json")
    save_preset(preset, folder / "copy.json")  # same folder: stays relative, so the folder can move
    assert json.loads((folder / "copy.json").read_text())["target"]["data"]["path"] == "pics/pic.png"
    other = tmp_path / "other"
    other.mkdir()
    save_preset(preset, other / "copy.json")  # not under the new folder: absolute
    written = json.loads((other / "copy.json").read_text())["target"]["data"]["path"]
    assert Path(written).is_absolute() and Path(written) == folder / "pics" / "pic.png"
    moved = tmp_path / "moved"
    (folder).rename(moved)  # the folder moves with its relative copy: it still opens
    monkeypatch.chdir(tmp_path)
    assert Path(load_preset(moved / "copy.json").target["data"]["path"]) == moved / "pics" / "pic.png"


def test_shipped_picture_names_need_no_folder(tmp_path) -> None:
    from flowlab.targets.user_data import shipped_pictures

    name = next(iter(shipped_pictures()))
    (tmp_path / "p.json").write_text(json.dumps(_picture_preset(name)))
    preset = load_preset(tmp_path / "p.json")
    assert preset.target["data"]["path"] == name
    save_preset(preset, tmp_path / "again.json")
    assert json.loads((tmp_path / "again.json").read_text())["target"]["data"]["path"] == name


def test_view_settings_are_validated_and_kept() -> None:
    """A preset's ``view``: views in front, a probe point and the selected row, each checked against the preset."""
    view = {"front": ["probe", "coupling"], "probe": {"point": [0.5, -1.0], "start": "z"}, "select": 1}
    p = preset_from_dict(_doc(view=view))
    assert p.view == view
    assert preset_from_dict(p.to_dict()).view == view  # a save keeps it
    assert preset_from_dict(_doc()).view == {}


def test_a_lesson_is_kept_in_the_view_settings() -> None:
    """A lesson: the only views shown, side panels hidden, editing locked, a step budget and a speed."""
    lesson = {"shown": ["density", "curves"], "hidden_panels": ["layer_parameters", "target_and_training"],
              "locked": True, "pause_at": 500, "speed": 2.5}
    p = preset_from_dict(_doc(view=lesson))
    assert p.view == lesson and preset_from_dict(p.to_dict()).view == lesson


@pytest.mark.parametrize(("view", "words"), [
    ({"colour": "red"}, "field 'view.colour'"),
    ({"select": 0}, "field 'view.select'"),
    ({"select": 2}, "field 'view.select': row 2, but the stack has 1"),
    ({"probe": {"point": [1.0, 2.0, 3.0]}}, "field 'view.probe.point': 3 coordinate(s)"),
    ({"probe": {"point": [1.0, 2.0], "start": "y"}}, "field 'view.probe.start'"),
    ({"front": "probe"}, "field 'view.front'"),
    ({"hidden_panels": ["toolbar"]}, "field 'view.hidden_panels[0]'"),
    ({"pause_at": 0}, "field 'view.pause_at'"),
    ({"speed": -1}, "field 'view.speed'"),
    ({"speed": "fast"}, "field 'view.speed'"),
    ({"locked": "yes please"}, "field 'view.locked'"),
])
def test_bad_view_settings_name_the_field(view, words) -> None:
    with pytest.raises(PresetError, match=re.escape(words)):
        preset_from_dict(_doc(view=view))
