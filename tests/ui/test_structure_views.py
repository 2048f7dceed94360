"""Pictures of structure, driven through the real window: selecting a layer in the stack list shows its mask (or
MADE triangle) in the layer panel, and the coupling view shows its s and t fields, from the session's snapshots."""

from __future__ import annotations

import numpy as np

from flowlab.flows import LAYERS


def _select(window, row: int) -> None:
    panel = window.panels.stack_panel
    panel.view.setCurrentIndex(panel.model.index(row))


def _rows_of_family(window, family: str) -> list[int]:
    return [i for i, e in enumerate(window.doc.stack) if LAYERS[e.kind].family == family]


def test_selecting_a_coupling_shows_its_mask_and_inside_it_its_fields(window, qtbot) -> None:
    structure = window.panels.structure
    row = _rows_of_family(window, "coupling")[1]
    flip = window.doc.stack[row].params["flip"]
    _select(window, row)
    assert window.controller.layer == row
    qtbot.waitUntil(lambda: structure.picture is not None, timeout=20000)
    # On 2-D data the first feature conditions (half and alternating alike), the second with flip.
    assert structure.picture.name == "mask"
    assert structure.current_image().tolist() == ([[0.0, 1.0]] if flip else [[1.0, 0.0]])
    assert structure.caption.text() and structure.caption.isVisible()

    view = window.docks.views["coupling"]
    window.docks.docks["coupling"].raise_()
    qtbot.waitUntil(lambda: view.shown is not None, timeout=20000)
    fields = view.shown
    assert fields.cond == (1 if flip else 0)
    assert np.array_equal(view.field("s"), fields.s) and np.array_equal(view.field("t"), fields.t)
    assert fields.s.shape == (64, 64) and np.isfinite(fields.s).all()
    assert f"Layer {row + 1}: affine_coupling" in view.message.text

    _select(window, 0)  # another coupling: the view follows
    qtbot.waitUntil(lambda: view.shown is not None and view.shown.cond == 0
                    and "Layer 1:" in view.message.text, timeout=20000)


def test_selecting_a_made_layer_shows_its_triangle_and_the_coupling_view_says_what_it_shows(window, qtbot) -> None:
    end = len(window.doc.stack)
    window.editor.insert_layer(end, "maf")
    _select(window, end)
    structure = window.panels.structure
    qtbot.waitUntil(lambda: structure.picture is not None and structure.picture.name == "MADE connectivity",
                    timeout=20000)
    triangle = structure.current_image()
    assert triangle.shape == (2, 2) and triangle.tolist() == [[0.0, 0.0], [1.0, 0.0]]  # x₂ reads x₁ only

    view = window.docks.views["coupling"]
    window.docks.docks["coupling"].raise_()
    qtbot.waitUntil(lambda: "affine_coupling" in view.message.text, timeout=20000)
    assert view.shown is None and "Layer 9 is maf" in view.message.text and view.field("s") is None


def test_a_disabled_layer_has_nothing_to_picture(window, qtbot) -> None:
    window.editor.set_enabled(2, False)
    _select(window, 2)
    structure = window.panels.structure
    assert structure.picture is None and "Not in the model" in structure.caption.text()
    _select(window, 3)
    qtbot.waitUntil(lambda: structure.picture is not None, timeout=20000)
    _select(window, 2)
    assert structure.picture is None
