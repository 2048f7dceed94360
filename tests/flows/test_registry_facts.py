"""Facts the registry states about each kind, checked against what the layers do (no kind names decide anything)."""

from __future__ import annotations

import copy

import pytest
import torch

from flowlab.flows import LAYERS, build_flow, layer_summary
from flowlab.flows.base import ContinuousTime
from flowlab.flows.flow import latent_shape
from tests.flows.cases import cases, randomised_flow, support_sample

CASES = cases()


def test_every_kind_lives_in_the_module_named_after_its_family() -> None:
    for kind, spec in LAYERS.items():
        assert spec.builder.__module__ == f"flowlab.flows.layers.{spec.family.replace('-', '_')}", kind


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_data_dependence_is_what_training_mode_does(case) -> None:
    """A training-mode pass changes a layer's state (beyond gradient steps) exactly when the registry says so."""
    spec = LAYERS[case.kind]
    flow = build_flow(case.layers, case.shape).double().train()
    gen = torch.Generator().manual_seed(0)
    before = copy.deepcopy(flow.state_dict())
    with torch.no_grad():
        for _ in range(2):
            x = support_sample(spec.support, 64, case.shape, gen)
            flow(0.5 * x + 0.3 if spec.support == "real" else x)
    changed = any(not torch.equal(before[k], v) for k, v in flow.state_dict().items())
    assert changed == (spec.data_dependent != "none")
    if spec.data_dependent == "first_batch":  # set once: a further batch changes nothing
        after_first = copy.deepcopy(flow.state_dict())
        with torch.no_grad():
            flow(support_sample(spec.support, 64, case.shape, gen) * 3.0)
        assert all(torch.equal(after_first[k], v) for k, v in flow.state_dict().items())


def _network_calls(layer, fn) -> int:
    """Calls of the modules inside ``layer`` (its networks and their parts) while ``fn`` runs."""
    calls = []
    handles = [m.register_forward_hook(lambda *a: calls.append(1)) for m in layer.modules() if m is not layer]
    with torch.no_grad():
        fn()
    for h in handles:
        h.remove()
    return len(calls)


@pytest.mark.parametrize("case", [c for c in CASES if c.shape == (5,)], ids=[c.id for c in CASES if c.shape == (5,)])
def test_the_fast_direction_is_never_the_one_with_more_network_passes(case) -> None:
    flow = randomised_flow(case)
    x = support_sample(LAYERS[case.kind].support, 8, case.shape, torch.Generator().manual_seed(1))
    z = flow(x)[0].detach()
    layer = flow.layers[0]
    forward = _network_calls(layer, lambda: layer(x))
    inverse = _network_calls(layer, lambda: layer.inverse(z))
    fast = LAYERS[case.kind].directions_for(case.params).fast
    if fast == "forward":
        assert forward <= inverse
    elif fast == "inverse":
        assert inverse <= forward
    if forward != inverse:
        assert fast == ("forward" if forward < inverse else "inverse"), "the registry must name the cheap one"


@pytest.mark.parametrize("kind", ["spline_autoregressive", "maf", "iaf"])
def test_autoregressive_directions_follow_the_parameters(kind) -> None:
    spec = LAYERS[kind]
    if kind == "spline_autoregressive":
        assert spec.directions_for({"direction": "maf"}).fast == "forward"
        assert spec.directions_for({"direction": "iaf"}).fast == "inverse"
        assert spec.directions_for({}).fast == spec.directions.fast == "forward"  # the default is maf
        assert "once per dimension" in spec.directions_for({"direction": "iaf"}).note
    else:
        assert spec.directions_for({}).fast == ("forward" if kind == "maf" else "inverse")


def test_the_training_plan_reads_directions_with_the_parameters() -> None:
    from flowlab.training.objectives import plan
    from tests.training.toy import Banana, Ring

    for direction in ("maf", "iaf"):
        flow = build_flow([{"kind": "spline_autoregressive", "params": {"direction": direction, "hidden": 8}}], (2,))
        mle = " ".join(plan(flow, Banana(), "mle").notes)
        assert ("scoring data runs its network once per dimension" in mle) == (direction == "iaf")
        kl = " ".join(plan(flow, Ring(), "reverse_kl").notes)
        assert ("sampling runs its network once per dimension" in kl) == (direction == "maf")


def test_a_multiscale_latent_is_flat_because_entries_leave_not_because_of_a_name() -> None:
    flow = build_flow([{"kind": "squeeze"}, {"kind": "factor_out"}], (1, 4, 4))
    assert flow.latent_shape == (16,)
    assert build_flow([{"kind": "squeeze"}], (1, 4, 4)).latent_shape == (4, 2, 2)
    assert latent_shape([], (2,)) == (2,)


@pytest.mark.parametrize("entry,text", [
    ({"kind": "affine_coupling", "params": {"mask": "alternating", "flip": True, "hidden": 128, "depth": 2}},
     "alternating, flip, 128×2"),
    ({"kind": "additive_coupling"}, "half, 64×2"),
    ({"kind": "spline_coupling", "params": {"bins": 16, "mask": "alternating"}}, "alternating, 16 bins, 64×2"),
    ({"kind": "spline_autoregressive", "params": {"direction": "iaf"}}, "iaf, 8 bins, 64×2"),
    ({"kind": "maf", "params": {"hidden": 32, "depth": 3}}, "32×3"),
    ({"kind": "householder", "params": {"reflections": 4}}, "4 reflections"),
    ({"kind": "elementwise_affine", "params": {"learnable": True}}, "learnable"),  # the generic summary: flags on
    ({"kind": "elementwise_affine", "params": {"learnable": False}}, ""),
    ({"kind": "factor_out", "params": {"learned_prior": False}}, "standard prior"),
    ({"kind": "actnorm"}, ""),
    ({"kind": "wobble"}, ""),  # unknown kinds and broken entries summarise to nothing rather than fail
    ({"kind": "affine_coupling", "params": "nope"}, ""),
])
def test_layer_summary(entry, text) -> None:
    assert layer_summary(entry) == text


def test_every_variant_has_a_one_line_summary() -> None:
    for case in CASES:
        text = layer_summary({"kind": case.kind, "params": case.params})
        assert isinstance(text, str) and "\n" not in text and len(text) < 60


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_training_log_det_is_random_exactly_where_the_registry_says_it_is_estimated(case) -> None:
    spec = LAYERS[case.kind]
    flow = randomised_flow(case).train()
    x = support_sample(spec.support, 16, case.shape, torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.manual_seed(1)
        first = flow(x)[1]
        torch.manual_seed(2)
        second = flow(x)[1]
        flow.eval()
        exact = [flow(x)[1] for _ in range(2)]
    assert (not torch.equal(first, second)) == spec.estimates_ladj(case.shape)
    assert torch.equal(*exact), "evaluation mode is always exact, so deterministic"


def test_kinds_with_a_velocity_field_offer_one() -> None:
    """Flow matching trains ``velocity(x, t)`` of the layers the registry marks (and of no others)."""
    for kind, spec in LAYERS.items():
        if "vector" not in spec.data:
            continue
        layer = build_flow([{"kind": kind}], (2,)).layers[0]
        assert callable(getattr(layer, "velocity", None)) == spec.velocity_field, kind
        assert isinstance(layer, ContinuousTime) == spec.velocity_field, kind  # the views look inside these
        if spec.velocity_field:
            assert layer.velocity(torch.zeros(3, 2), torch.full((3,), 0.5)).shape == (3, 2)
