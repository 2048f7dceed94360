"""Recordings: the frames' steps and files (Qt-free), and ``flowlab record`` run as a user runs it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from flowlab.errors import FlowlabError
from flowlab.recording import VIDEO_EXTRA, Recording, frame_steps, stamp
from tests.test_cli import _small_preset, flowlab


def gif_frames(path: Path) -> list[np.ndarray]:
    with Image.open(path) as img:
        out = []
        for i in range(img.n_frames):
            img.seek(i)
            out.append(np.asarray(img.convert("RGB")))
    return out


def test_frame_steps() -> None:
    assert frame_steps(40, 10) == [0, 10, 20, 30, 40]
    assert frame_steps(100, 30) == [0, 30, 60, 90, 100]
    assert frame_steps(5, 10) == [0, 5]
    assert frame_steps(50, 20, start=10) == [10, 30, 50]
    with pytest.raises(FlowlabError, match="at most"):
        frame_steps(10_000, 1)
    with pytest.raises(FlowlabError, match="--every"):
        frame_steps(10, 0)


def _frame(value: int, size: tuple[int, int] = (40, 30)) -> np.ndarray:
    return np.full((size[1], size[0], 3), value, dtype=np.uint8)


def test_a_gif_has_every_frame_at_the_first_frame_size(tmp_path: Path) -> None:
    out = tmp_path / "a.gif"
    rec = Recording(out, fps=5)
    for i, value in enumerate((0, 80, 160)):
        rec.add(_frame(value, (40, 30) if i < 2 else (50, 20)))  # the window resized before the last frame
    assert not out.exists()  # written at close, atomically
    assert rec.close() == out
    frames = gif_frames(out)
    assert len(frames) == 3 and all(f.shape == (30, 40, 3) for f in frames)
    assert frames[1][5, 5].tolist() == [80, 80, 80]
    assert frames[2][5, 5].tolist() == [160, 160, 160]  # the last frame's own pixels, cut to the first's width
    assert frames[2][25, 5].tolist() == [255, 255, 255]  # below the 20-pixel-high frame: the white ground
    with Image.open(out) as img:
        assert img.info["duration"] == 200 and img.info["loop"] == 0
    assert [p.name for p in tmp_path.iterdir()] == ["a.gif"]  # no temporary file left
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # a new file's mode, not the temporary file's 0600


def test_the_step_label_sits_in_the_bottom_right_corner() -> None:
    frame = _frame(0, (200, 100))
    out = stamp(frame, "step 40")
    assert out.shape == frame.shape and frame.max() == 0  # a new picture
    assert (out[:60, :100] == 0).all()  # the rest untouched
    assert (out[80:, 140:] == 255).any()  # the white label


def test_an_unwritable_place_fails_at_open_and_a_discard_leaves_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(OSError):
        Recording(blocker / "x.gif")
    with pytest.raises(FlowlabError, match=r"\.gif or an \.mp4"):
        Recording(tmp_path / "x.avi")
    rec = Recording(tmp_path / "y.gif")
    rec.add(_frame(10))
    rec.discard()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_mp4_without_the_extra_says_how_to_install_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # as if not installed
    with pytest.raises(FlowlabError) as e:
        Recording(tmp_path / "x.mp4")
    assert str(e.value) == VIDEO_EXTRA and "flowlab[video]" in VIDEO_EXTRA
    assert list(tmp_path.iterdir()) == []


def test_mp4_with_the_extra_has_every_frame(tmp_path: Path) -> None:
    ffmpeg = pytest.importorskip("imageio_ffmpeg")
    out = tmp_path / "a.mp4"
    rec = Recording(out, fps=10)
    for value in range(0, 250, 50):
        rec.add(_frame(value, (41, 31)))  # odd sizes: padded to even ones for H.264
    rec.close()
    frames, _seconds = ffmpeg.count_frames_and_secs(str(out))
    assert frames == 5


def test_record_writes_a_gif_of_the_asked_frames_that_change_as_training_goes(tmp_path: Path) -> None:
    out = tmp_path / "moons.gif"
    r = flowlab("record", str(_small_preset(tmp_path)), "--steps", "40", "--every", "10", "--view", "density",
                "--size", "240x180", "--out", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    frames = gif_frames(out)
    assert len(frames) == 5 and frames[0].shape == (180, 240, 3)
    top = [f[: 120].astype(int) for f in frames]  # above the step label
    assert all(np.abs(a - b).sum() > 0 for a, b in zip(top, top[1:], strict=False))  # training shows
    assert "5 frames of 240×180 (steps 0–40, every 10)" in r.stdout


def test_record_the_whole_window(tmp_path: Path) -> None:
    out = tmp_path / "window.gif"
    r = flowlab("record", str(_small_preset(tmp_path)), "--steps", "6", "--every", "3", "--size", "1200x800",
                "--out", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    with Image.open(out) as img:
        assert img.n_frames == 3 and img.size == (1200, 800)


@pytest.mark.parametrize(("args", "words"), [
    (["--view", "bogus"], "no view 'bogus'; the views are density, one_d, images,"),
    (["--view", "images"], "does not draw 2-D points; these do: density"),
    (["--out", "{file}/x.gif"], "Not a directory"),
    (["--out", "{tmp}/x.webm"], ".gif or an .mp4"),
    (["--every", "0"], "--every"),
    (["--size", "12"], "--size"),
])
def test_bad_record_input_exits_2_with_one_line_and_no_file(tmp_path: Path, args: list[str], words: str) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    full = {"--out": str(tmp_path / "r.gif"), "--every": "5", "--steps": "10"}
    given = [a.format(file=blocker, tmp=tmp_path) for a in args]
    for key, value in full.items():
        if key not in given:
            given += [key, value]
    r = flowlab("record", str(_small_preset(tmp_path)), *given, "--quiet", timeout=180)
    assert r.returncode == 2, r.stderr
    lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert words in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "tiny.json"]


def test_render_still_shoots_the_window_after_exactly_its_steps(tmp_path: Path) -> None:
    out = tmp_path / "shot.png"
    r = flowlab("render", str(_small_preset(tmp_path)), "--steps", "7", "--out", str(out))
    assert r.returncode == 0, r.stderr
    with Image.open(out) as img:
        assert img.size == (1400, 900)
