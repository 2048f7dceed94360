"""The document: the edited preset as one evented object (no Qt), its round trip and derived facts."""

from __future__ import annotations

import pytest

from flowlab.document import Document, LayerEntry
from flowlab.errors import FlowlabError
from flowlab.flows import LAYERS
from flowlab.presets import Preset
from flowlab.presets.builtin import builtin_paths, load_builtin
from flowlab.training.settings import TrainSettings
from tests.presets.builtins import load_builtin_or_skip


@pytest.mark.parametrize("key", sorted(builtin_paths()))
def test_every_builtin_preset_round_trips(key: str) -> None:
    preset = load_builtin_or_skip(key)
    doc = Document.from_preset(preset)
    assert doc.to_preset() == preset
    assert doc.to_preset().to_dict() == preset.to_dict()
    assert doc.valid, doc.first_problem()


def test_to_preset_hands_out_copies() -> None:
    doc = Document(load_builtin())
    preset = doc.to_preset()
    preset.layers[0]["params"]["x"] = 1
    preset.target["params"]["y"] = 2
    assert "x" not in doc.stack[0].params and "y" not in doc.target["params"]


def test_entries_are_immutable_and_compare_by_value() -> None:
    a = LayerEntry.new("affine_coupling")
    with pytest.raises(TypeError):
        a.params["hidden"] = 3  # type: ignore[index]
    b = a.with_param("hidden", 3)
    assert a.params["hidden"] == LAYERS["affine_coupling"].defaults()["hidden"] and b.params["hidden"] == 3
    assert a == LayerEntry.from_dict(a.to_dict()) and a != b and hash(a) == hash(LayerEntry.from_dict(a.to_dict()))
    assert not a.with_enabled(False).enabled


def test_stack_edits_emit_and_rederive() -> None:
    doc = Document(Preset(name="t", layers=[], target={"kind": "moons", "params": {}, "data": {}}))
    seen: list[str] = []
    doc.changed.connect(seen.append)
    doc.stack.append(LayerEntry.new("affine_coupling"))
    assert seen == ["stack"] and doc.valid and doc.shapes == [(2,)]
    doc.stack[0] = doc.stack[0].with_param("mask", "checkerboard")  # images only: a problem at row 0
    assert seen == ["stack", "stack"] and 0 in doc.problems and not doc.valid
    assert "for images" in doc.first_problem()
    doc.stack.insert(0, LayerEntry.new("actnorm"))
    assert set(doc.problems) == {1}  # the problem moved with its row
    doc.stack.move(1, 0)
    assert set(doc.problems) == {0} and [e.kind for e in doc.stack] == ["affine_coupling", "actnorm"]
    del doc.stack[0]
    assert doc.valid and seen.count("stack") == 5


def test_a_target_change_rederives_the_shape_and_problems() -> None:
    doc = Document(load_builtin())  # RealNVP on moons: vector couplings
    derived: list[tuple] = []
    doc.derived.connect(lambda: derived.append(doc.shape))
    doc.set("target", {"kind": "digits", "params": {}, "data": {}})
    assert doc.shape == (1, 8, 8) and derived == [(1, 8, 8)]
    assert doc.problems, "the moons stack's vector couplings cannot take images"
    doc.set("target", {"kind": "moons", "params": {}, "data": {}})
    assert doc.shape == (2,) and doc.valid


def test_an_unbuildable_target_is_a_problem_not_a_crash(tmp_path) -> None:
    doc = Document(load_builtin())
    doc.set("target", {"kind": "picture", "params": {}, "data": {"path": str(tmp_path / "gone.png")}})
    assert doc.target_problem is not None and not doc.valid and doc.shape == (2,)
    with pytest.raises(FlowlabError):
        doc.built_target()


def test_set_validates_training_and_names_fields() -> None:
    doc = Document()
    seen: list[str] = []
    doc.changed.connect(seen.append)
    doc.set("training", {"learning_rate": 0.01})
    assert doc.training == TrainSettings(learning_rate=0.01) and seen == ["training"]
    doc.set("training", doc.training)  # unchanged: no event
    assert seen == ["training"]
    with pytest.raises(FlowlabError, match="learning_rate"):
        doc.set("training", {"learning_rate": -1.0})
    with pytest.raises(KeyError):
        doc.set("stack", [])
    doc.set("name", "mine")
    doc.set("view", {"shown": ["density"]})
    assert seen == ["training", "name", "view"] and doc.to_preset().view == {"shown": ["density"]}


def test_load_replaces_everything_with_one_reset() -> None:
    doc = Document(load_builtin())
    events: list[str] = []
    doc.changed.connect(events.append)
    doc.resetting.connect(lambda: events.append("resetting"))
    doc.reset.connect(lambda: events.append("reset"))
    other = load_builtin("maf_vs_iaf") if "maf_vs_iaf" in builtin_paths() else load_builtin(sorted(builtin_paths())[0])
    doc.load(other)
    assert events == ["resetting", "reset"] and doc.to_preset() == other
