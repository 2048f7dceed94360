"""build_flow: defaults, shapes, and one clear StackError for every kind of invalid stack."""

from __future__ import annotations

import pytest
import torch

from flowlab.errors import FlowlabError, StackError
from flowlab.flows import LAYERS, build_flow, validate_stack


def test_missing_params_take_registry_defaults() -> None:
    flow = build_flow([{"kind": "affine_coupling"}], (2,))
    assert flow.infos[0].params == LAYERS["affine_coupling"].defaults()


def test_given_params_are_used() -> None:
    flow = build_flow([{"kind": "affine_coupling", "params": {"hidden": 7, "depth": 3}}], (2,))
    linears = [m for m in flow.layers[0].net if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears[:-1]] == [7, 7, 7]


def test_disabled_layers_are_checked_but_not_built() -> None:
    flow = build_flow([{"kind": "reverse"}, {"kind": "actnorm", "enabled": False}, {"kind": "maf"}], (2,))
    assert [i.kind for i in flow.infos] == ["reverse", "maf"]
    assert [i.position for i in flow.infos] == [0, 2]
    with pytest.raises(StackError):
        build_flow([{"kind": "affine_coupling", "params": {"hidden": 0}, "enabled": False}], (2,))


@pytest.mark.parametrize(
    ("layers", "shape", "position", "kind", "param", "words"),
    [
        ([{"kind": "reverse"}, {"kind": "no_such_layer"}], (2,), 1, "no_such_layer", None, "unknown layer kind"),
        ([{"kind": "affine_coupling", "params": {"hidden": 0}}], (2,), 0, "affine_coupling", "hidden", "minimum"),
        ([{"kind": "affine_coupling", "params": {"hidden": 5000}}], (2,), 0, "affine_coupling", "hidden",
         "maximum"),
        ([{"kind": "affine_coupling", "params": {"hidden": "wide"}}], (2,), 0, "affine_coupling", "hidden",
         "whole number"),
        ([{"kind": "affine_coupling", "params": {"hidden": 64.5}}], (2,), 0, "affine_coupling", "hidden",
         "whole number"),
        ([{"kind": "affine_coupling", "params": {"depth": True}}], (2,), 0, "affine_coupling", "depth",
         "whole number"),
        ([{"kind": "affine_coupling", "params": {"max_log_scale": "big"}}], (2,), 0, "affine_coupling",
         "max_log_scale", "number"),
        ([{"kind": "affine_coupling", "params": {"max_log_scale": float("nan")}}], (2,), 0, "affine_coupling",
         "max_log_scale", "finite"),
        ([{"kind": "affine_coupling", "params": {"flip": "yes"}}], (2,), 0, "affine_coupling", "flip",
         "true or false"),
        ([{"kind": "affine_coupling", "params": {"mask": "diagonal"}}], (2,), 0, "affine_coupling", "mask",
         "not one of"),
        ([{"kind": "affine_coupling", "params": {"hiden": 3}}], (2,), 0, "affine_coupling", "hiden",
         "not a parameter"),
        ([{"kind": "maf"}, {"kind": "affine_coupling"}], (1,), 1, "affine_coupling", None, "at least 2"),
        ([{"kind": "additive_coupling"}], (1,), 0, "additive_coupling", None, "at least 2"),
        ([{"kind": "affine_coupling", "params": {"mask": "checkerboard"}}], (4,), 0, "affine_coupling", "mask",
         "for images"),
        ([{"kind": "affine_coupling", "params": {"mask": "half"}}], (1, 8, 8), 0, "affine_coupling", "mask",
         "for vectors"),
        ([{"kind": "affine_coupling", "params": {"mask": "channel"}}], (1, 8, 8), 0, "affine_coupling", "mask",
         "squeeze"),
        ([{"kind": "actnorm"}, {"kind": "maf"}], (1, 8, 8), 1, "maf", None, "vector data only"),
    ],
)
def test_invalid_stacks_name_position_kind_and_param(layers, shape, position, kind, param, words) -> None:
    with pytest.raises(StackError) as info:
        build_flow(layers, shape)
    err = info.value
    assert isinstance(err, FlowlabError)
    assert (err.position, err.kind, err.param) == (position, kind, param)
    message = str(err)
    assert f"layer {position + 1}" in message and kind in message and words in message
    if param is not None:
        assert f"'{param}'" in message
    # The editor's validator reports the same problem without building anything.
    problems = validate_stack(layers, shape)
    assert [(p.position, p.kind, p.param) for p in problems] == [(position, kind, param)]


@pytest.mark.parametrize(
    ("layers", "words"),
    [("affine_coupling", "must be a list"), ([42], "must be an object"), ([{"params": {}}], "no 'kind'"),
     ([{"kind": "reverse", "colour": "red"}], "unknown field"), ([{"kind": "reverse", "params": [1]}], "'params'"),
     ([{"kind": "reverse", "enabled": "no"}], "'enabled'")],
)
def test_malformed_entries_are_reported(layers, words) -> None:
    with pytest.raises(StackError, match=words):
        build_flow(layers, (2,))


@pytest.mark.parametrize("shape", [(), (2, 2), (0,), (1, 0, 4)])
def test_bad_data_shapes_are_reported(shape) -> None:
    with pytest.raises(StackError, match="shape"):
        build_flow([], shape)


def test_unknown_base_distribution() -> None:
    with pytest.raises(StackError, match="base distribution"):
        build_flow([], (2,), base="laplace")


def test_validate_stack_reports_every_offending_layer() -> None:
    layers = [{"kind": "affine_coupling", "params": {"hidden": -1}}, {"kind": "reverse"},
              {"kind": "nope"}, {"kind": "maf", "params": {"depth": 99}}]
    problems = validate_stack(layers, (2,))
    assert [(p.position, p.param) for p in problems] == [(0, "hidden"), (2, None), (3, "depth")]


def test_structural_seed_fixes_random_permutations() -> None:
    stack = [{"kind": "random_permutation"}, {"kind": "random_permutation"}]
    a = build_flow(stack, (9,), seed=3)
    b = build_flow(stack, (9,), seed=3)
    c = build_flow(stack, (9,), seed=4)
    assert torch.equal(a.layers[0].perm, b.layers[0].perm)
    assert not torch.equal(a.layers[0].perm, a.layers[1].perm), "two layers must not share one shuffle"
    assert not torch.equal(a.layers[0].perm, c.layers[0].perm)
    fixed = build_flow([{"kind": "random_permutation", "params": {"seed": 11}}], (9,), seed=0)
    again = build_flow([{"kind": "random_permutation", "params": {"seed": 11}}], (9,), seed=5)
    assert torch.equal(fixed.layers[0].perm, again.layers[0].perm)


def test_registry_specs_are_complete() -> None:
    for kind, spec in LAYERS.items():
        assert spec.kind == kind and spec.family and spec.help.strip()
        assert spec.data <= {"vector", "image"} and spec.data
        for p in spec.params:
            assert p.help.strip(), f"{kind}.{p.name} has no help"
            if p.type == "choice":
                assert p.default in p.choices
            if p.type in ("int", "float"):
                assert p.low is None or p.default >= p.low
                assert p.high is None or p.default <= p.high


def test_stack_shapes_follow_each_layer_and_survive_a_bad_one() -> None:
    from flowlab.flows import stack_shapes

    layers = [{"kind": "actnorm"}, {"kind": "affine_coupling", "params": {"mask": "half"}},  # wrong mask
              {"kind": "lu_linear", "enabled": False}, {"kind": "actnorm"}]
    assert stack_shapes(layers, (1, 8, 8)) == [(1, 8, 8), None, (1, 8, 8), (1, 8, 8)]
    assert stack_shapes([{"kind": "planar"}], (2,)) == [(2,)]
