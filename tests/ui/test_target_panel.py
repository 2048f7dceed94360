"""Choosing a target in the window: drawing points, painting a density or an energy, pictures, points files and
image data; exporting samples."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")

import torch
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QFileDialog

from flowlab.targets import TARGETS, build_target
from flowlab.targets.user_data import shipped_pictures
from flowlab.ui.canvas import BOUNDS, GRID, SPRAY, PaintCanvas
from flowlab.ui.canvas_dialogs import DrawDialog
from flowlab.ui.target_panel import TargetPanel
from tests.ui.test_image_drawing import drive_modal

MOVE_MS = 15  # pyqtgraph's scene drops mouse moves faster than 100 Hz


@pytest.fixture
def dialog(qtbot) -> DrawDialog:
    d = DrawDialog()
    d.resize(500, 560)
    qtbot.addWidget(d)
    d.show()
    qtbot.waitExposed(d)
    return d


@pytest.fixture
def panel(qtbot) -> tuple[TargetPanel, list[dict]]:
    p = TargetPanel()
    qtbot.addWidget(p)
    p.show()
    configs: list[dict] = []
    p.config_requested.connect(configs.append)
    return p, configs


def _drag(canvas: PaintCanvas, points: list[tuple[float, float]], button=Qt.LeftButton) -> None:
    """Real mouse events at data coordinates (x, y): press, moves, release."""
    target = canvas.viewport()
    QTest.mousePress(target, button, Qt.NoModifier, canvas.widget_pos(*points[0]))
    for x, y in points[1:]:
        QTest.qWait(MOVE_MS)
        QTest.mouseMove(target, canvas.widget_pos(x, y))
    QTest.qWait(MOVE_MS)
    QTest.mouseRelease(target, button, Qt.NoModifier, canvas.widget_pos(*points[-1]))


def test_clicks_add_points_drags_spray_and_right_button_erases(dialog) -> None:
    canvas = dialog.canvas
    assert canvas.mode == "points" and dialog.kind == "points"
    canvas.stroke(1.0, 2.0)
    canvas.stroke(-2.0, -1.0, spray=True)
    assert len(canvas.points) == 1 + SPRAY
    assert canvas.points[0] == (1.0, 2.0)
    assert all(abs(x + 2.0) < 1.0 and abs(y + 1.0) < 1.0 for x, y in canvas.points[1:])
    canvas.stroke(1.0, 2.0, erase=True)
    assert len(canvas.points) == SPRAY
    assert dialog.count.text() == f"{SPRAY} points"
    target = build_target(dialog.target_config())
    assert target.shape == (2,) and target.name == "points"


def test_real_mouse_clicks_drags_and_the_right_button_on_points(dialog, qtbot) -> None:
    canvas = dialog.canvas
    qtbot.mouseClick(canvas.viewport(), Qt.LeftButton, pos=canvas.widget_pos(1.5, -2.0))
    assert len(canvas.points) == 1
    x, y = canvas.points[0]
    assert abs(x - 1.5) < 0.1 and abs(y + 2.0) < 0.1
    _drag(canvas, [(-2.0, 2.0), (-1.5, 2.0), (-1.0, 2.0)])  # each drag event sprays around the cursor
    sprayed = len(canvas.points) - 1
    assert sprayed >= 2 * SPRAY and sprayed % SPRAY == 0
    assert all(-2.8 < x < -0.2 and 1.2 < y < 2.8 for x, y in canvas.points[1:])
    qtbot.mouseClick(canvas.viewport(), Qt.RightButton, pos=canvas.widget_pos(1.5, -2.0))
    assert len(canvas.points) == sprayed and all(p[1] > 1.0 for p in canvas.points)


def test_painting_puts_mass_where_the_brush_was(dialog) -> None:
    dialog.set_kind("painted_density")
    canvas = dialog.canvas
    assert canvas.mode == "paint" and canvas.grid.shape == (GRID, GRID)
    canvas.stroke(-3.0, 3.0)  # top-left of the canvas
    row, col = np.unravel_index(np.argmax(canvas.grid), canvas.grid.shape)
    assert row < GRID // 4 and col < GRID // 4  # row 0 is the top, as painted targets expect
    config = dialog.target_config()
    assert config["kind"] == "painted_density"
    target = build_target(config)
    samples = target.sample(2000, torch.Generator().manual_seed(0)).numpy()
    assert np.all(samples[:, 0] < -1.5) and np.all(samples[:, 1] > 1.5)
    canvas.stroke(-3.0, 3.0, erase=True)  # the same brush, taken away
    assert canvas.grid.sum() == 0.0
    assert list(config["data"]["bounds"]) == list(BOUNDS)


def test_a_mouse_stroke_paints_a_continuous_density_and_the_right_button_erases_it(dialog) -> None:
    dialog.set_kind("painted_density")
    canvas = dialog.canvas
    _drag(canvas, [(-3.0, 0.0), (0.0, 0.0), (3.0, 0.0)])  # a horizontal line, drawn in two big steps
    on_line = canvas.grid[GRID // 2, GRID // 8: -GRID // 8]
    assert (on_line > 0.5).all(), "stamps are interpolated between mouse events"
    assert canvas.grid[: GRID // 4].max() == 0.0 and canvas.grid[-GRID // 4:].max() == 0.0
    assert "painted mass" in dialog.count.text()
    before = canvas.grid.copy()
    _drag(canvas, [(0.0, 0.0)], Qt.RightButton)
    after = canvas.grid
    col = GRID // 2
    assert after[GRID // 2, col] < before[GRID // 2, col] and after.min() >= 0.0
    assert np.array_equal(after[:, :GRID // 4], before[:, :GRID // 4]), "erasing is local"
    dialog.erase.setChecked(True)
    _drag(canvas, [(-4.0, 0.0), (4.0, 0.0)])
    assert canvas.grid[GRID // 2 - 1: GRID // 2 + 1].max() < before.max()
    canvas.clear()
    assert canvas.grid.sum() == 0.0 and canvas.is_empty()


def test_energy_paint_button_emits_a_painted_energy_that_builds(qtbot, panel) -> None:
    p, configs = panel

    def paint(d: DrawDialog) -> None:
        assert d.kinds == ("painted_energy",) and d.canvas.mode == "paint"
        assert "LOW" in d.hint.text()
        _drag(d.canvas, [(1.0, 1.0), (2.0, 1.0)])
        d.accept()

    errors = drive_modal(qtbot, kind=DrawDialog, action=paint)
    p.energy_button.click()
    assert not errors, errors
    assert len(configs) == 1 and configs[0]["kind"] == "painted_energy"
    assert TARGETS[configs[0]["kind"]].objective == "energy"
    target = build_target(configs[0])
    inside = torch.tensor([[1.5, 1.0]], dtype=torch.float64)
    outside = torch.tensor([[-2.0, -2.0]], dtype=torch.float64)
    assert target.energy(inside) < target.energy(outside) - 3.0, "painted cells are where the energy is low"

    # Reopened with a painted energy as the target, the dialog starts from it, to be edited.
    p.show_config(configs[0])

    def check(d: DrawDialog) -> None:
        assert np.allclose(d.canvas.grid, configs[0]["data"]["grid"], atol=1e-4)

    errors = drive_modal(qtbot, kind=DrawDialog, action=check)
    p.energy_button.click()
    assert not errors, errors
    assert len(configs) == 1  # cancelled: nothing requested


def _idx(path: Path, images: np.ndarray) -> Path:
    n, h, w = images.shape
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">HBBIII", 0, 0x08, 3, n, h, w) + images.astype(np.uint8).tobytes())
    return path


def test_image_data_offers_an_idx_file_and_a_folder_from_the_registry(panel, monkeypatch, tmp_path) -> None:
    p, configs = panel
    button = p.source_button("idx_images")
    assert button is p.source_button("image_folder") and button.menu() is not None
    assert [a.text() for a in button.menu().actions()] == [p.source_actions[k].text()
                                                            for k in ("idx_images", "idx_dataset", "image_folder")]
    rng = np.random.default_rng(0)
    idx = _idx(tmp_path / "train-images-idx3-ubyte.gz", rng.integers(0, 256, size=(20, 6, 6)))
    asked: list[str] = []

    def open_file(parent, caption, start, pattern):
        asked.append(pattern)
        return str(idx), ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", open_file)
    p.source_actions["idx_images"].trigger()
    assert asked == [TARGETS["idx_images"].source.pattern]
    assert configs[-1] == {"kind": "idx_images", "params": {}, "data": {"path": str(idx)}}
    assert build_target(configs[-1]).shape == (1, 6, 6)

    folder = tmp_path / "pics"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, size=(10, 10), dtype=np.uint8)).save(folder / f"{i}.png")
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    p.source_actions["image_folder"].trigger()
    assert configs[-1] == {"kind": "image_folder", "params": {}, "data": {"path": str(folder)}}
    assert build_target(configs[-1]).shape[0] == 1
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: "")  # cancelled
    p.source_actions["image_folder"].trigger()
    assert len(configs) == 2


def _read(qtbot, window) -> None:
    """Wait for a target that reads a file: it is built off the window's thread."""
    qtbot.waitUntil(lambda: not window.panels.loader.busy, timeout=10000)


def test_an_unreadable_idx_file_or_folder_is_refused_with_a_message(qtbot, window, monkeypatch, tmp_path) -> None:
    before = window.doc.target_config()
    bad = tmp_path / "labels-idx1-ubyte"
    bad.write_bytes(struct.pack(">HBBI", 0, 0x08, 1, 3) + b"\x01\x02\x03")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(bad), ""))
    window.panels.target_panel.source_actions["idx_images"].trigger()
    _read(qtbot, window)
    assert "labels-idx1-ubyte" in window.warnings[-1] and "labels file" in window.warnings[-1]
    assert window.doc.target_config() == before  # nothing lost
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(empty))
    window.panels.target_panel.source_actions["image_folder"].trigger()
    _read(qtbot, window)
    assert "no PNG or JPEG" in window.warnings[-1] and window.doc.target_config() == before


def test_a_drawing_becomes_the_target_and_trains(qtbot, window) -> None:
    def spray(d: DrawDialog) -> None:
        for x in np.linspace(-2, 2, 12):
            d.canvas.stroke(float(x), float(x) ** 2 / 2 - 1, spray=True)
        d.accept()

    errors = drive_modal(qtbot, kind=DrawDialog, action=spray)
    window.panels.target_panel.draw_button.click()
    assert not errors, errors
    assert window.doc.target["kind"] == "points" and len(window.doc.target["data"]["points"]) == 12 * SPRAY
    assert window.current_preset().target["data"]["points"]  # the drawing is part of the preset
    window.controller.toggle_play()
    qtbot.waitUntil(lambda: window.controller.last_progress is not None and window.controller.last_progress.step > 5,
                    timeout=20000)
    window.controller.toggle_play()


def test_an_empty_drawing_is_refused_with_a_message(qtbot, window) -> None:
    before = window.doc.target_config()
    window.panels.target_panel.config_requested.emit(DrawDialog().target_config())
    assert window.warnings and "point" in window.warnings[-1].lower()
    assert window.doc.target_config() == before


def test_picture_button_uses_the_chosen_file(qtbot, window, monkeypatch, tmp_path) -> None:
    picture = next(iter(shipped_pictures().values()))
    starts: list[str] = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: starts.append(a[2]) or (str(picture), ""))
    window.panels.target_panel.source_button("picture").click()
    _read(qtbot, window)
    assert starts == [str(picture.parent)]  # the dialog opens where the shipped pictures are
    assert window.doc.target_config() == {"kind": "picture", "params": {}, "data": {"path": str(picture)}}
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png at all")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(broken), ""))
    window.panels.target_panel.source_button("picture").click()
    _read(qtbot, window)
    assert "broken.png" in window.warnings[-1]
    assert window.doc.target["data"]["path"] == str(picture)  # the previous target is kept


def test_points_file_button_and_sample_export(qtbot, window, monkeypatch, tmp_path: Path) -> None:
    data = tmp_path / "pts.csv"
    rng = np.random.default_rng(0)
    np.savetxt(data, rng.normal(size=(200, 2)), delimiter=",", header="x,y", comments="")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(data), ""))
    window.panels.target_panel.source_button("file_points").click()
    _read(qtbot, window)
    assert window.doc.target["kind"] == "file_points"
    c = window.controller
    qtbot.waitUntil(lambda: c.latest is not None and c.latest.model_samples is not None, timeout=20000)
    assert window.files.export_samples(tmp_path / "s.csv") and window.files.export_samples(tmp_path / "s.npy")
    from_csv = np.loadtxt(tmp_path / "s.csv", delimiter=",", skiprows=1)
    from_npy = np.load(tmp_path / "s.npy")
    assert from_csv.shape == from_npy.shape == window.controller.latest.model_samples.shape
    assert np.allclose(from_csv, from_npy, rtol=1e-5, atol=1e-5)


def test_a_slow_file_is_read_off_the_window_thread_and_cancel_keeps_the_target(qtbot, window, monkeypatch,
                                                                                tmp_path) -> None:
    """While a file is read the window answers and a dialog says what it reads; Cancel leaves the target as it
    was (the late result is dropped), and a read that completes becomes the target, built once."""
    import threading

    from flowlab.ui import target_loader

    data = tmp_path / "slow.csv"
    np.savetxt(data, np.random.default_rng(0).normal(size=(300, 2)), delimiter=",")
    release = threading.Event()
    builds: list[str] = []
    real = target_loader.build_target

    def slow_build(config):
        builds.append(threading.current_thread().name)
        release.wait(10)
        return real(config)

    monkeypatch.setattr(target_loader, "build_target", slow_build)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(data), ""))
    before = window.doc.target_config()
    window.panels.target_panel.source_button("file_points").click()
    loader = window.panels.loader
    qtbot.waitUntil(lambda: loader.dialog is not None and loader.dialog.isVisible(), timeout=5000)
    assert "slow.csv" in loader.dialog.labelText() and builds == ["flowlab-target"]
    window.doc.set("name", "still editable")  # the window's thread is free
    assert window.doc.name == "still editable"
    from PySide6.QtWidgets import QPushButton

    qtbot.mouseClick(loader.dialog.findChild(QPushButton), Qt.LeftButton)  # the dialog's Cancel
    assert not loader.busy
    release.set()
    qtbot.wait(300)
    assert window.doc.target_config() == before  # the cancelled read changed nothing

    release.clear()
    window.panels.target_panel.source_button("file_points").click()
    release.set()
    qtbot.waitUntil(lambda: window.doc.target["kind"] == "file_points", timeout=10000)
    assert len(builds) == 2  # the document took the target read off the thread instead of reading it again
    assert window.doc.shape == (2,)
