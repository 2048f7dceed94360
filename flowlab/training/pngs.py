"""Qt-free PNG pictures of a run (density heatmap, samples, image grids) for ``flowlab train``'s output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from flowlab.training.tiling import tile

# A perceptually ordered dark-to-bright colormap (anchors in the spirit of viridis), interpolated to 256 entries.
_ANCHORS = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=float)
LUT = np.stack([np.interp(np.linspace(0, 1, 256), np.linspace(0, 1, len(_ANCHORS)), _ANCHORS[:, c])
                for c in range(3)], axis=1).astype(np.uint8)


def colorize(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map values to RGB through the LUT with explicit levels; NaN/−inf become the lowest colour."""
    v = np.nan_to_num(values, nan=lo, neginf=lo, posinf=hi)
    idx = np.clip((v - lo) / max(hi - lo, 1e-12) * 255.0, 0, 255).astype(np.uint8)
    return LUT[idx]


def density_png(log_density: np.ndarray, path: str | Path, log_scale: bool = False, span: float = 12.0,
                size: int = 512) -> None:
    """A heatmap; ``log_density[iy, ix]`` with y increasing upwards (flipped for the picture)."""
    if log_scale:
        top = float(np.nanmax(log_density[np.isfinite(log_density)])) if np.isfinite(log_density).any() else 0.0
        rgb = colorize(log_density, top - span, top)
    else:
        dens = np.exp(np.nan_to_num(log_density, nan=-np.inf))
        rgb = colorize(dens, 0.0, float(dens.max()) or 1.0)
    Image.fromarray(rgb[::-1]).resize((size, size), Image.NEAREST).save(path)


def samples_png(samples: np.ndarray, bounds: tuple[float, float, float, float], path: str | Path,
                reference: np.ndarray | None = None, size: int = 512) -> None:
    """Model samples (orange) over reference data (grey) in a square picture of ``bounds``."""
    img = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    xmin, xmax, ymin, ymax = bounds

    def plot(points: np.ndarray, colour: tuple[int, int, int]) -> None:
        px = (points[:, 0] - xmin) / (xmax - xmin) * (size - 1)
        py = (1.0 - (points[:, 1] - ymin) / (ymax - ymin)) * (size - 1)
        for x, y in zip(px, py, strict=True):
            if 0 <= x < size and 0 <= y < size:
                draw.ellipse([x - 1.2, y - 1.2, x + 1.2, y + 1.2], fill=colour)

    if reference is not None:
        plot(reference, (170, 170, 170))
    plot(samples, (230, 97, 1))
    img.save(path)


def image_grid_png(images: np.ndarray, path: str | Path, columns: int = 8, scale: int = 8) -> None:
    """A grid of single-channel images with values in [0, 1] (``(n, 1, h, w)``), ink dark on white."""
    pic = np.round(tile(images, columns) * 255).astype(np.uint8)
    Image.fromarray(pic).resize((pic.shape[1] * scale, pic.shape[0] * scale), Image.NEAREST).save(path)
