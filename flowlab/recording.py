"""Recordings of training, Qt-free: which steps the frames show, and the files they go to (an animated GIF through
Pillow, an MP4 through the optional ``imageio-ffmpeg``). The window grabs the pictures (``flowlab.ui.recorder``);
here they are RGB arrays.

A file is written atomically: frames go to a temporary file beside it (created when the recording opens, so an
unwritable folder fails before anything trains), which replaces the named file only once it is complete.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from flowlab.atomic import file_mode
from flowlab.errors import FlowlabError

FORMATS = (".gif", ".mp4")
MAX_FRAMES = 1000  # a GIF keeps its frames in memory until it is written: a bound a mistyped --every cannot pass
VIDEO_EXTRA = "MP4 needs the optional imageio-ffmpeg: pip install 'flowlab[video]' (or write a .gif)"


def frame_steps(steps: int, every: int, start: int = 0) -> list[int]:
    """The steps the frames show: ``start``, then every ``every`` steps up to ``steps``, and ``steps`` itself as
    the last frame when it falls between (``frame_steps(100, 30)`` → 0, 30, 60, 90, 100)."""
    if every < 1:
        raise FlowlabError("a frame every 1 step at least (--every ≥ 1)")
    if steps < start:
        raise FlowlabError(f"the recording would end (step {steps}) before it starts (step {start})")
    out = list(range(start, steps + 1, every))
    if out[-1] != steps:
        out.append(steps)
    if len(out) > MAX_FRAMES:
        raise FlowlabError(f"that makes {len(out)} frames; at most {MAX_FRAMES} (take a frame less often)")
    return out


def _font(size: int) -> Any:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def stamp(rgb: np.ndarray, text: str) -> np.ndarray:
    """``rgb`` with ``text`` on a white label in its bottom right corner (the frame's step, for the slides)."""
    img = Image.fromarray(np.ascontiguousarray(rgb[..., :3], dtype=np.uint8))
    draw = ImageDraw.Draw(img)
    font = _font(14)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    w, h = right - left + 10, bottom - top + 8
    x0, y0 = max(0, img.width - w - 4), max(0, img.height - h - 4)
    draw.rectangle([x0, y0, x0 + w, y0 + h], fill=(255, 255, 255), outline=(160, 160, 160))
    draw.text((x0 + 5 - left, y0 + 4 - top), text, fill=(0, 0, 0), font=font)
    return np.asarray(img)


class Recording:
    """Frames into ``path`` (``.gif`` or ``.mp4``) at ``fps`` frames a second: :meth:`add` each (RGB
    ``(h, w, 3)`` uint8; a frame of another size is fitted to the first's on a white ground), then :meth:`close`
    to write the file, or :meth:`discard`. Opening raises :class:`FlowlabError` for another suffix or MP4
    without ``imageio-ffmpeg``, and ``OSError`` where the folder cannot be written."""

    def __init__(self, path: str | os.PathLike, fps: float = 10.0) -> None:
        self.path = Path(path)
        self.fps = float(fps)
        if not 0 < self.fps <= 100:
            raise FlowlabError("frames per second: between 0 and 100")
        self.kind = self.path.suffix.lower()
        if self.kind not in FORMATS:
            raise FlowlabError(f"{self.path.name}: a recording is a .gif or an .mp4 file")
        if self.kind == ".mp4":
            try:
                import imageio_ffmpeg
            except ImportError:
                raise FlowlabError(VIDEO_EXTRA) from None
            self._ffmpeg = imageio_ffmpeg
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=f".tmp{self.kind}")
        os.close(fd)
        self._tmp = Path(tmp)
        self._mode = file_mode(self.path)
        self.size: tuple[int, int] | None = None  # (width, height) of the first frame: every frame's
        self.frames = 0
        self._gif: list[Image.Image] = []
        self._video: Any = None
        self.closed = False

    def add(self, rgb: np.ndarray) -> None:
        """Append one frame."""
        if self.closed:
            raise FlowlabError("the recording is closed")
        img = Image.fromarray(np.ascontiguousarray(rgb[..., :3], dtype=np.uint8))
        if self.size is None:
            self.size = img.size
        elif img.size != self.size:  # the window was resized: keep the first frame's size
            canvas = Image.new("RGB", self.size, (255, 255, 255))
            canvas.paste(img, (0, 0))
            img = canvas
        if self.kind == ".gif":
            # 256 colours of its own per frame, no dithering (flat areas stay flat and compress)
            self._gif.append(img.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE))
        else:
            self._add_video(img)
        self.frames += 1

    def _add_video(self, img: Image.Image) -> None:
        w, h = self.size
        even = (w + w % 2, h + h % 2)  # H.264 in yuv420p takes even sizes
        if even != img.size:
            canvas = Image.new("RGB", even, (255, 255, 255))
            canvas.paste(img, (0, 0))
            img = canvas
        if self._video is None:
            self._video = self._ffmpeg.write_frames(str(self._tmp), even, fps=self.fps, macro_block_size=2,
                                                    ffmpeg_log_level="error")
            self._video.send(None)
        self._video.send(np.ascontiguousarray(np.asarray(img)))

    def close(self) -> Path:
        """Write the file (at least one frame) and return its path; on failure nothing is left behind but the
        named file as it was, and the error propagates (``OSError`` or :class:`FlowlabError`)."""
        if self.closed:
            return self.path
        self.closed = True
        try:
            if self.frames == 0:
                raise FlowlabError("no frame was recorded")
            if self.kind == ".gif":
                first, *rest = self._gif
                first.save(self._tmp, format="GIF", save_all=True, append_images=rest, loop=0,
                           duration=max(20, round(1000 / self.fps)), optimize=False)
            else:
                self._video.close()
            os.chmod(self._tmp, self._mode)
            os.replace(self._tmp, self.path)
        except BaseException:
            self._tmp.unlink(missing_ok=True)
            raise
        finally:
            self._gif = []
        return self.path

    def discard(self) -> None:
        """Give up: no file is written (the named file, if any, stays as it was)."""
        if self.closed:
            return
        self.closed = True
        self._gif = []
        if self._video is not None:
            try:
                self._video.close()
            except Exception:  # ffmpeg may already be gone; the file goes anyway
                pass
        self._tmp.unlink(missing_ok=True)

