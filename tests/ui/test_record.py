"""File ▸ Record… in the window: the dialog drives a recording of a view or the whole window, Stop writes what
was recorded, and a failed write says why while the session trains on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from flowlab.presets import Preset
from flowlab.recording import Recording
from flowlab.training.settings import TrainSettings
from flowlab.ui.recorder import Recorder, aligned_steps
from flowlab.ui.views import table as view_table

SMALL = Preset(name="small", layers=[{"kind": "affine_coupling", "params": {"mask": "alternating",
                                                                            "flip": i % 2 == 1, "hidden": 16}}
                                     for i in range(4)],
               target={"kind": "moons", "params": {}, "data": {}},
               training=TrainSettings(n_train=2000, n_test=500, batch_size=64, eval_every=10, device="cpu"))


def small_window(window, qtbot):
    window.apply_preset(SMALL)
    qtbot.waitUntil(lambda: window.controller.latest is not None and window.controller.last_ready is not None,
                    timeout=20000)
    return window


def test_the_record_dialog_records_a_view_at_the_asked_steps(window, qtbot, tmp_path: Path) -> None:
    w = small_window(window, qtbot)
    w.record_action.trigger()
    dialog = w.record_dialog
    assert dialog.isVisible()
    listed = [dialog.what.itemData(i) for i in range(dialog.what.count())]
    assert listed[0] is None  # the whole window first, then the views that draw 2-D points, in the table's order
    kinds = [e.kind for e in w.doc.stack if e.enabled]
    assert listed[1:] == [r.key for r in view_table.VIEWS if r.cls.applies_to((2,), kinds)]
    dialog.what.setCurrentIndex(listed.index("samples"))
    dialog.every.setValue(5)
    dialog.frames.setValue(4)
    out = tmp_path / "samples.gif"
    dialog.file.setText(str(out))
    qtbot.mouseClick(dialog.record_button, _left())
    assert not dialog.record_button.isEnabled() and dialog.stop_button.isEnabled()
    with qtbot.waitSignal(dialog.recorder.finished, timeout=60000) as done:
        pass
    outcome = done.args[0]
    assert outcome.error is None and outcome.path == out and outcome.steps == (0, 5, 10, 15)
    assert dialog.progress.value() == 4 and "Wrote" in dialog.status.text()
    assert w.controller.last_progress.step == 15 and not w.controller.running  # paused at the last frame
    assert w.controller.pause_at is None
    content = w.docks.views["samples"].content
    with Image.open(out) as img:
        assert img.n_frames == 4
        assert img.size == (content.width(), content.height())
        img.seek(0)
        first = np.asarray(img.convert("RGB"))
        img.seek(3)
        last = np.asarray(img.convert("RGB"))
    assert np.abs(first.astype(int) - last).sum() > 0
    assert dialog.record_button.isEnabled() and not w.warnings


def test_stop_writes_the_frames_so_far_and_training_goes_on(window, qtbot, tmp_path: Path) -> None:
    w = small_window(window, qtbot)
    dialog = w.open_record_dialog()
    dialog.what.setCurrentIndex(0)  # the whole window
    dialog.every.setValue(3)
    dialog.frames.setValue(500)
    out = tmp_path / "window.gif"
    dialog.file.setText(str(out))
    assert dialog.start()
    qtbot.waitUntil(lambda: dialog.progress.value() >= 2, timeout=60000)
    with qtbot.waitSignal(dialog.recorder.finished, timeout=20000) as done:
        qtbot.mouseClick(dialog.stop_button, _left())
    outcome = done.args[0]
    assert outcome.error is None and 2 <= outcome.frames < 500
    with Image.open(out) as img:
        assert img.n_frames == outcome.frames and img.size == (w.width(), w.height())
    step = w.controller.last_progress.step
    qtbot.waitUntil(lambda: w.controller.last_progress.step > step + 10, timeout=30000)  # no longer held
    assert w.controller.running


def test_a_failed_write_says_why_and_the_session_trains_on(window, qtbot, tmp_path: Path, monkeypatch) -> None:
    w = small_window(window, qtbot)
    dialog = w.open_record_dialog()
    dialog.every.setValue(4)
    dialog.frames.setValue(10)
    dialog.file.setText(str(tmp_path / "full_disk.gif"))
    calls = []
    add = Recording.add

    def full(self, rgb) -> None:  # the disk fills up at the second frame
        calls.append(rgb.shape)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        add(self, rgb)

    monkeypatch.setattr(Recording, "add", full)
    session = w.controller.session
    assert dialog.start()
    with qtbot.waitSignal(dialog.recorder.finished, timeout=60000) as done:
        pass
    outcome = done.args[0]
    assert outcome.error == f"could not write {tmp_path / 'full_disk.gif'}: No space left on device"
    assert outcome.frames == 1 and outcome.path == tmp_path / "full_disk.gif"  # the frame before is kept
    assert any("No space left on device" in text for text in w.warnings)  # said in a message box
    assert "No space left" in dialog.status.text()
    assert w.controller.session is session and w.controller.pause_at is None
    step = w.controller.last_progress.step
    qtbot.waitUntil(lambda: w.controller.last_progress.step > step + 10, timeout=30000)  # training goes on


def test_an_unwritable_file_is_refused_before_anything_records(window, qtbot, tmp_path: Path) -> None:
    w = small_window(window, qtbot)
    dialog = w.open_record_dialog()
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    dialog.file.setText(str(blocker / "x.gif"))
    assert not dialog.start()
    assert dialog.recorder is None and dialog.record_button.isEnabled()
    assert len(w.warnings) == 1 and "Cannot record to" in w.warnings[0] and "Not a directory" in w.warnings[0]
    dialog.file.setText(str(tmp_path / "x.mkv"))
    assert not dialog.start() and ".gif or an .mp4" in w.warnings[-1]


def test_a_new_document_ends_a_recording_and_keeps_its_frames(window, qtbot, tmp_path: Path) -> None:
    w = small_window(window, qtbot)
    out = tmp_path / "cut.gif"
    recorder = Recorder(w, "density", aligned_steps(2, 400), Recording(out))
    recorder.start()
    qtbot.waitUntil(lambda: recorder.frames >= 2, timeout=60000)
    with qtbot.waitSignal(recorder.finished, timeout=20000) as done:
        w.apply_preset(SMALL)
    outcome = done.args[0]
    assert "rebuilt" in outcome.error and outcome.path == out
    with Image.open(out) as img:
        assert img.n_frames == outcome.frames >= 2


def _left():
    from PySide6.QtCore import Qt

    return Qt.LeftButton


def test_recording_a_closed_view_shows_it_again(window, qtbot, tmp_path: Path) -> None:
    w = small_window(window, qtbot)
    dock = w.docks.docks["warp"]
    dock.toggleViewAction().trigger()  # the user closes the warped grid
    qtbot.waitUntil(lambda: dock.isHidden())
    recorder = Recorder(w, "warp", aligned_steps(4, 2), Recording(tmp_path / "warp.gif"))
    recorder.start()
    assert dock.isVisible() and "warp" not in w.docks.closed
    with qtbot.waitSignal(recorder.finished, timeout=60000) as done:
        pass
    assert done.args[0].error is None and done.args[0].steps == (0, 4)
    assert "warp" in w.docks.shown_views()  # the session computes it
