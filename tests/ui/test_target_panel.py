"""Choosing a target in the window: drawing points, painting, pictures and files; exporting samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QPoint, Qt  # noqa: E402
from PySide6.QtWidgets import QFileDialog  # noqa: E402

from flowlab.targets import build_target  # noqa: E402
from flowlab.targets.user_data import shipped_pictures  # noqa: E402
from flowlab.ui.draw_canvas import BOUNDS, GRID, SPRAY, DrawCanvas  # noqa: E402


@pytest.fixture
def canvas(qtbot):
    c = DrawCanvas()
    c.resize(400, 400)
    qtbot.addWidget(c)
    c.show()
    qtbot.waitExposed(c)
    return c


def test_clicks_add_points_drags_spray_and_right_button_erases(canvas) -> None:
    canvas.stroke(1.0, 2.0)
    canvas.stroke(-2.0, -1.0, spray=True)
    assert len(canvas.points) == 1 + SPRAY
    assert canvas.points[0] == (1.0, 2.0)
    assert all(abs(x + 2.0) < 1.0 and abs(y + 1.0) < 1.0 for x, y in canvas.points[1:])
    canvas.stroke(1.0, 2.0, erase=True)
    assert len(canvas.points) == SPRAY
    target = build_target(canvas.target_config())
    assert target.shape == (2,) and target.name == "points"


def test_a_real_mouse_click_lands_where_it_was_clicked(canvas, qtbot) -> None:
    import pyqtgraph as pg

    scene_pt = canvas.box.mapViewToScene(pg.Point(1.5, -2.0))
    widget_pt = canvas.mapFromScene(scene_pt)
    qtbot.mouseClick(canvas.viewport(), Qt.LeftButton, pos=QPoint(int(widget_pt.x()), int(widget_pt.y())))
    assert len(canvas.points) == 1
    x, y = canvas.points[0]
    assert abs(x - 1.5) < 0.1 and abs(y + 2.0) < 0.1


def test_painting_puts_mass_where_the_brush_was(canvas) -> None:
    canvas.set_mode("paint")
    canvas.stroke(-3.0, 3.0)  # top-left of the canvas
    row, col = np.unravel_index(np.argmax(canvas.grid), canvas.grid.shape)
    assert row < GRID // 4 and col < GRID // 4  # row 0 is the top, as painted targets expect
    config = canvas.target_config()
    target = build_target(config)
    import torch

    samples = target.sample(2000, torch.Generator().manual_seed(0)).numpy()
    assert np.all(samples[:, 0] < -1.5) and np.all(samples[:, 1] > 1.5)
    canvas.stroke(-3.0, 3.0, erase=True)  # the same brush, taken away
    assert canvas.grid.sum() == 0.0
    assert list(config["data"]["bounds"]) == list(BOUNDS)




def test_a_drawing_becomes_the_target_and_trains(qtbot, window) -> None:
    c = DrawCanvas()
    for x in np.linspace(-2, 2, 12):
        c.stroke(float(x), float(x) ** 2 / 2 - 1, spray=True)
    window.panels.target_panel.config_requested.emit(c.target_config())
    assert window.doc.target["kind"] == "points" and len(window.doc.target["data"]["points"]) == 12 * SPRAY
    assert window.current_preset().target["data"]["points"]  # the drawing is part of the preset
    window.controller.toggle_play()
    qtbot.waitUntil(lambda: window.controller.last_progress is not None and window.controller.last_progress.step > 5,
                    timeout=20000)
    window.controller.toggle_play()


def test_an_empty_drawing_is_refused_with_a_message(qtbot, window) -> None:
    before = window.doc.target_config()
    window.panels.target_panel.config_requested.emit(DrawCanvas().target_config())
    assert window.warnings and "point" in window.warnings[-1].lower()
    assert window.doc.target_config() == before


def test_picture_button_uses_the_chosen_file(qtbot, window, monkeypatch, tmp_path) -> None:
    picture = next(iter(shipped_pictures().values()))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(picture), ""))
    window.panels.target_panel.picture_button.click()
    assert window.doc.target_config() == {"kind": "picture", "params": {}, "data": {"path": str(picture)}}
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png at all")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(broken), ""))
    window.panels.target_panel.picture_button.click()
    assert "broken.png" in window.warnings[-1]
    assert window.doc.target["data"]["path"] == str(picture)  # the previous target is kept


def test_points_file_button_and_sample_export(qtbot, window, monkeypatch, tmp_path: Path) -> None:
    data = tmp_path / "pts.csv"
    rng = np.random.default_rng(0)
    np.savetxt(data, rng.normal(size=(200, 2)), delimiter=",", header="x,y", comments="")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(data), ""))
    window.panels.target_panel.file_button.click()
    assert window.doc.target["kind"] == "file_points"
    qtbot.waitUntil(lambda: window.controller.latest is not None and window.controller.latest.model_samples is not None, timeout=20000)
    assert window.files.export_samples(tmp_path / "s.csv") and window.files.export_samples(tmp_path / "s.npy")
    from_csv = np.loadtxt(tmp_path / "s.csv", delimiter=",", skiprows=1)
    from_npy = np.load(tmp_path / "s.npy")
    assert from_csv.shape == from_npy.shape == window.controller.latest.model_samples.shape
    assert np.allclose(from_csv, from_npy, rtol=1e-5, atol=1e-5)
