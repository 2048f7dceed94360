"""The user's own 2-D (or 1-D) data: drawn points, a painted grid, a picture, a CSV/NPY file of points.

Two densities serve them all, both with an exact ``log_prob`` so the app can show the true KL gap:

* :class:`KdeTarget` — a small point set blurred by Gaussian jitter; the density fitted is the kernel density
  estimate (1/N) Σᵢ N(x; pᵢ, σ²I), a Gaussian mixture.
* :class:`GridTarget` — a piecewise-constant density on a grid of cells (painted masses or picture pixels).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from flowlab.params import Param
from flowlab.targets.base import DataSource, Estimate, SampleTarget, TargetError, TargetSpec, register_target

DEFAULT_BOUNDS = (-4.0, 4.0, -4.0, 4.0)
_PICTURES_DIR = Path(str(resources.files("flowlab.targets") / "pictures"))  # package data
_PICTURE_SUFFIXES = {".png", ".jpg", ".jpeg"}
# What Pillow raises on a file it cannot decode (bad header, truncated data, absurd size).
MAX_POINTS_FILE_BYTES = 200 * 2**20  # about 10 million 2-D rows of text: more than a toy density needs
_PIL_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)


# -- kernel density estimate ---------------------------------------------------------------------------------------
class KdeTarget(SampleTarget):
    """Points sampled with replacement plus N(0, σ²I) jitter: exactly a sample of the KDE with bandwidth σ."""

    def __init__(self, points: np.ndarray, jitter: float) -> None:
        self.points = torch.as_tensor(points, dtype=torch.float64)  # (N, d)
        self.jitter = float(jitter)
        d = self.points.shape[1]
        self.shape = (d,)
        lo = self.points.min(dim=0).values
        hi = self.points.max(dim=0).values
        pad = 0.1 * (hi - lo) + 4.0 * self.jitter
        self.bounds = tuple(float(v) for pair in zip(lo - pad, hi + pad, strict=True) for v in pair)

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        idx = torch.randint(len(self.points), (n,), generator=generator)
        noise = torch.randn(n, self.shape[0], generator=generator, dtype=torch.float64)
        return (self.points[idx] + self.jitter * noise).float()

    def log_prob(self, x: Tensor) -> Tensor:
        """log (1/N) Σᵢ N(x; pᵢ, σ²I), in chunks so that large point files do not exhaust memory."""
        n_pts, d = self.points.shape
        const = math.log(n_pts) + 0.5 * d * math.log(2.0 * math.pi * self.jitter ** 2)
        pts = self.points.to(x.device)
        step = max(1, 4_000_000 // n_pts)
        out = []
        for chunk in x.to(torch.float64).split(step):
            sq = torch.cdist(chunk, pts).square()
            out.append(torch.logsumexp(-0.5 * sq / self.jitter ** 2, dim=1) - const)
        return torch.cat(out).to(x.dtype) if out else x.new_zeros(0)

    def entropy(self, n: int = 200_000, seed: int = 12345) -> Estimate | None:
        # Each log_prob costs one kernel per point: keep the Monte Carlo affordable for big point files.
        budget = max(10_000, 2_000_000_000 // len(self.points))
        return super().entropy(min(n, budget), seed)


def _check_pointset(values: np.ndarray, where: str) -> np.ndarray:
    if len(values) == 0:
        raise TargetError(f"{where} is empty: add at least 2 points")
    if len(values) < 2:
        raise TargetError(f"{where} has only 1 point: add at least 2 points")
    return values


def parse_points(raw: Any) -> np.ndarray:
    """Drawn points as stored in a preset (a list of [x, y]) → an (N, 2) float64 array, or a TargetError."""
    where = "the drawing"
    if raw is None:
        raw = []
    if not isinstance(raw, (list, tuple)):
        raise TargetError("data 'points' must be a list of [x, y] pairs")
    rows = []
    for i, p in enumerate(raw, 1):
        if not isinstance(p, (list, tuple)) or len(p) != 2:
            raise TargetError(f"data 'points': point {i} is not an [x, y] pair (got {p!r})")
        for v in p:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise TargetError(f"data 'points': point {i} holds {v!r}, which is not a number")
            if not math.isfinite(v):
                raise TargetError(f"data 'points': point {i} is not finite ({v!r})")
        rows.append((float(p[0]), float(p[1])))
    return _check_pointset(np.array(rows, dtype=np.float64).reshape(-1, 2), where)


# -- points from a file ------------------------------------------------------------------------------------------
def _existing_file(raw: Any, what: str) -> Path:
    if not isinstance(raw, (str, Path)) or not str(raw).strip():
        raise TargetError(f"data 'path': give the {what} file to read")
    path = Path(str(raw)).expanduser()
    if not path.exists():
        raise TargetError(f"{what} '{path}' does not exist")
    if not path.is_file():
        raise TargetError(f"{what} '{path}' is not a file")
    return path


def _read_points_fast(path: Path) -> np.ndarray | None:
    """NumPy's C parser on a well-formed file (a million rows in well under a second); None where anything is
    unusual, so that the careful line-by-line reader says which line and why."""
    try:
        with path.open(encoding="utf-8-sig") as f:
            rows = ((i, text.strip()) for i, text in enumerate(f))
            skip, line = next(((i, t) for i, t in rows if t and not t.startswith("#")), (0, ""))
        if not line:
            return None
        fields = [s.strip() for s in line.split(",")] if "," in line else line.split()
        header = not all(_is_float(s) for s in fields)
        with warnings.catch_warnings():  # "input contained no data": the careful reader says it in words
            warnings.simplefilter("ignore", UserWarning)
            arr = np.loadtxt(path, delimiter="," if "," in line else None, comments="#", ndmin=2,
                             dtype=np.float64, skiprows=skip + 1 if header else 0, encoding="utf-8-sig")
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if arr.ndim != 2 or arr.shape[1] not in (1, 2) or not len(arr) or not np.isfinite(arr).all():
        return None
    return arr


def read_points_text(path: Path) -> np.ndarray:
    """A CSV/whitespace text file with 1 or 2 numeric columns (an optional header line, '#' comments)."""
    fast = _read_points_fast(path)
    if fast is not None:
        return fast
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise TargetError(f"points file '{path.name}' cannot be read: {e}") from None
    rows: list[list[float]] = []
    seen_first = False
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split(",")] if "," in line else line.split()
        try:
            values = [float(f) for f in fields]
        except ValueError:
            if not seen_first:  # the first non-empty line may be a header
                seen_first = True
                continue
            bad = next(f for f in fields if not _is_float(f))
            raise TargetError(f"points file '{path.name}', line {lineno}: {bad!r} is not a number") from None
        seen_first = True
        if len(values) not in (1, 2):
            raise TargetError(f"points file '{path.name}', line {lineno}: {len(values)} columns; "
                              "expected 2 (x, y) or 1 (x)")
        if rows and len(values) != len(rows[0]):
            raise TargetError(f"points file '{path.name}', line {lineno}: {len(values)} columns, but earlier "
                              f"lines have {len(rows[0])}")
        if not all(math.isfinite(v) for v in values):
            raise TargetError(f"points file '{path.name}', line {lineno}: a value is not finite (NaN or inf)")
        rows.append(values)
    if not rows:
        raise TargetError(f"points file '{path.name}' holds no numbers")
    return np.array(rows, dtype=np.float64)


def _is_float(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def read_points_npy(path: Path) -> np.ndarray:
    """An .npy array of shape (N, 2), (N, 1) or (N,) → (N, d) float64."""
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise TargetError(f"points file '{path.name}' cannot be read as a NumPy array: {e}") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "biuf":
        raise TargetError(f"points file '{path.name}' does not hold a numeric array")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] not in (1, 2):
        raise TargetError(f"points file '{path.name}' has shape {tuple(arr.shape)}; expected (N, 2), (N, 1) or (N,)")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        row = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
        raise TargetError(f"points file '{path.name}': row {row} is not finite (NaN or inf)")
    return arr


def read_points_file(path: Path) -> np.ndarray:
    """Points from a .npy or text (CSV/whitespace) file, checked: at least 2 finite rows of 1 or 2 columns.
    A file above :data:`MAX_POINTS_FILE_BYTES` is refused before it is read."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise TargetError(f"points file '{path.name}' cannot be read: {e.strerror or e}") from None
    if size > MAX_POINTS_FILE_BYTES:
        raise TargetError(f"points file '{path.name}' is {size / 2**20:.0f} MB, more than the "
                          f"{MAX_POINTS_FILE_BYTES // 2**20} MB flowlab reads; a sample of the points is enough")
    arr = read_points_npy(path) if path.suffix.lower() == ".npy" else read_points_text(path)
    return _check_pointset(arr, f"points file '{path.name}'")


# -- piecewise-constant grid density ------------------------------------------------------------------------------
class GridTarget(SampleTarget):
    """A density constant on each cell of a grid over ``bounds``; ``mass[row, col]`` with row 0 at the TOP.

    The one implementation used by the painted density, pictures and anything else defined by cell masses.
    """

    def __init__(self, mass: np.ndarray, bounds: Sequence[float] = DEFAULT_BOUNDS) -> None:
        mass = np.asarray(mass, dtype=np.float64)
        if mass.ndim != 2 or mass.size == 0:
            raise TargetError(f"a grid density needs a 2-D grid of masses, got shape {mass.shape}")
        if not np.isfinite(mass).all() or (mass < 0).any():
            raise TargetError("a grid density needs finite, non-negative masses")
        total = mass.sum()
        if total <= 0:
            raise TargetError("the grid is empty: paint some mass")
        self.shape = (2,)
        self.bounds = tuple(float(b) for b in bounds)
        xmin, xmax, ymin, ymax = self.bounds
        self.rows, self.cols = mass.shape
        self.cell_w = (xmax - xmin) / self.cols
        self.cell_h = (ymax - ymin) / self.rows
        self.probs = torch.as_tensor(mass / total).reshape(-1)  # float64, row-major
        with np.errstate(divide="ignore"):
            self._log_density = torch.as_tensor(np.log(mass / total).reshape(-1)
                                                - math.log(self.cell_w * self.cell_h))

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        cell = torch.multinomial(self.probs, n, replacement=True, generator=generator)
        u = torch.rand(n, 2, generator=generator, dtype=torch.float64)
        xmin, _, _, ymax = self.bounds
        x = xmin + (cell % self.cols + u[:, 0]) * self.cell_w
        y = ymax - (cell // self.cols + u[:, 1]) * self.cell_h
        return torch.stack([x, y], dim=1).float()

    def log_prob(self, x: Tensor) -> Tensor:
        """log(mass / total / cell area) in the cell holding x; −inf in empty cells and outside the bounds."""
        xmin, xmax, ymin, ymax = self.bounds
        xd = x.to(torch.float64)
        col = torch.floor((xd[:, 0] - xmin) / self.cell_w).long().clamp(0, self.cols - 1)
        row = torch.floor((ymax - xd[:, 1]) / self.cell_h).long().clamp(0, self.rows - 1)
        inside = (xd[:, 0] >= xmin) & (xd[:, 0] <= xmax) & (xd[:, 1] >= ymin) & (xd[:, 1] <= ymax)
        lp = self._log_density.to(x.device)[row * self.cols + col]
        return torch.where(inside, lp, torch.full_like(lp, -math.inf)).to(x.dtype)

    def entropy(self, n: int = 200_000, seed: int = 12345) -> Estimate:
        """Exact: H = −Σ pᵢ log(pᵢ / cell area) over non-empty cells (no Monte Carlo error)."""
        nz = self.probs > 0
        h = -(self.probs[nz] * self._log_density[nz]).sum()
        return Estimate(float(h), 0.0)


def parse_grid(raw: Any) -> np.ndarray:
    """A painted grid (2-D list of non-negative numbers, row 0 at the top) → float64 array, or a TargetError."""
    if not isinstance(raw, (list, tuple)) or not raw:
        raise TargetError("data 'grid' must be a non-empty list of rows of masses")
    width = None
    for r, row in enumerate(raw, 1):
        if not isinstance(row, (list, tuple)) or not row:
            raise TargetError(f"data 'grid': row {r} is not a non-empty list of masses")
        if width is None:
            width = len(row)
        elif len(row) != width:
            raise TargetError(f"data 'grid': row {r} has {len(row)} cells but row 1 has {width} (ragged grid)")
        for c, v in enumerate(row, 1):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise TargetError(f"data 'grid': cell (row {r}, column {c}) holds {v!r}, not a finite number")
            if v < 0:
                raise TargetError(f"data 'grid': cell (row {r}, column {c}) is negative ({v!r}); "
                                  "masses must be ≥ 0")
    grid = np.array(raw, dtype=np.float64)
    if grid.sum() <= 0:
        raise TargetError("data 'grid': every cell is zero: paint some mass first")
    return grid


def parse_bounds(raw: Any) -> tuple[float, float, float, float]:
    if raw is None:
        return DEFAULT_BOUNDS
    if (not isinstance(raw, (list, tuple)) or len(raw) != 4
            or any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in raw)):
        raise TargetError(f"data 'bounds' must be four finite numbers [xmin, xmax, ymin, ymax], got {raw!r}")
    xmin, xmax, ymin, ymax = (float(v) for v in raw)
    if not (xmin < xmax and ymin < ymax):
        raise TargetError(f"data 'bounds' {list(raw)}: need xmin < xmax and ymin < ymax")
    return xmin, xmax, ymin, ymax


# -- pictures -----------------------------------------------------------------------------------------------------
def shipped_pictures() -> dict[str, Path]:
    """The pictures shipped with flowlab (package data, ``flowlab/targets/pictures``), by name (file stem); empty
    when the folder is not there."""
    if not _PICTURES_DIR.is_dir():
        return {}
    return {p.stem: p for p in sorted(_PICTURES_DIR.iterdir()) if p.suffix.lower() in _PICTURE_SUFFIXES}


def _picture_path(raw: Any) -> Path:
    # A bare shipped name ("smiley") works too, so presets need no machine-specific path.
    if isinstance(raw, str) and not Path(raw).expanduser().exists():
        shipped = shipped_pictures()
        if raw in shipped:
            return shipped[raw]
    return _existing_file(raw, "picture")


def picture_mass(path: Path, mode: str, resolution: int, gamma: float) -> np.ndarray:
    """A picture as cell masses in [0, 1] (row 0 at the top): darkness (1 − luminance, transparent counts as
    white) or the alpha channel, area-averaged down to at most ``resolution`` pixels on the long side, ^gamma."""
    try:
        with Image.open(path) as img:
            img.load()
            has_alpha = img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info
            rgba = img.convert("RGBA")
    except _PIL_ERRORS as e:
        raise TargetError(f"picture '{path.name}' cannot be read as an image: {e}") from None
    arr = np.asarray(rgba, dtype=np.float32) / 255.0
    alpha = arr[..., 3]
    if mode == "alpha":
        if not has_alpha:
            raise TargetError(f"picture '{path.name}' has no alpha channel (transparency); use mode 'darkness'")
        mass = alpha
    else:
        lum = 0.299 * arr[..., 0] + 0.587 * arr[..., 1] + 0.114 * arr[..., 2]
        mass = alpha * (1.0 - lum)  # composited over white: transparent pixels carry no mass
    h, w = mass.shape
    if max(h, w) > resolution:
        scale = resolution / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        mass = np.asarray(Image.fromarray(mass, mode="F").resize(size, Image.Resampling.BOX))
    mass = np.clip(mass.astype(np.float64), 0.0, 1.0) ** gamma
    if mass.sum() <= 1e-12 * mass.size:
        what = "transparent" if mode == "alpha" else "blank (no dark pixels)"
        raise TargetError(f"picture '{path.name}' is {what}: nothing to sample")
    return mass


def picture_bounds(rows: int, cols: int, half: float = 4.0) -> tuple[float, float, float, float]:
    """Bounds with square cells whose longest side spans [−half, half]."""
    sx, sy = (half, half * rows / cols) if cols >= rows else (half * cols / rows, half)
    return -sx, sx, -sy, sy


# -- builders -----------------------------------------------------------------------------------------------------
def _build_points(p: Mapping[str, Any], d: Mapping[str, Any]) -> KdeTarget:
    return KdeTarget(parse_points(d.get("points")), p["jitter"])


def _build_painted(p: Mapping[str, Any], d: Mapping[str, Any]) -> GridTarget:
    return GridTarget(parse_grid(d.get("grid")), parse_bounds(d.get("bounds")))


def _build_picture(p: Mapping[str, Any], d: Mapping[str, Any]) -> GridTarget:
    path = _picture_path(d.get("path"))
    mass = picture_mass(path, p["mode"], p["resolution"], p["gamma"])
    target = GridTarget(mass, picture_bounds(*mass.shape))
    target.name = path.stem
    return target


def _build_file_points(p: Mapping[str, Any], d: Mapping[str, Any]) -> KdeTarget:
    path = _existing_file(d.get("path"), "points")
    target = KdeTarget(read_points_file(path), p["jitter"])
    target.name = path.name
    return target


_JITTER_HELP = "σ of the Gaussian blur around each point; the fitted density is the resulting KDE"

register_target(TargetSpec(
    kind="points", family="user",
    help="Points you drew, each blurred by a little Gaussian jitter so that a handful of dots becomes a density.",
    builder=_build_points, data_fields=("points",),
    params=(Param("jitter", "float", 0.05, _JITTER_HELP, low=1e-3, high=2.0, log_scale=True),),
    reference="Kernel density estimation: Rosenblatt 1956, Parzen 1962",
))
register_target(TargetSpec(
    kind="painted_density", family="user",
    help="A grid you painted: each cell is drawn as often as its paint says, spread evenly inside the cell.",
    builder=_build_painted, data_fields=("grid", "bounds"),
))
register_target(TargetSpec(
    kind="picture", family="user",
    help="A picture turned into a density: dark (or opaque) pixels are where the samples land.",
    builder=_build_picture, data_fields=("path",),
    params=(Param("mode", "choice", "darkness", "what counts as mass: darkness (1 − brightness) or the alpha "
                  "channel", choices=("darkness", "alpha")),
            Param("resolution", "int", 128, "larger pictures are shrunk to this many pixels on the long side",
                  low=4, high=1024),
            Param("gamma", "float", 1.0, "raise each pixel's mass to this power; above 1 sharpens, below 1 "
                  "evens out", low=0.1, high=10.0, log_scale=True)),
    source=DataSource("Picture", pattern="Pictures (*.png *.jpg *.jpeg)",
                      start=str(_PICTURES_DIR) if _PICTURES_DIR.is_dir() else "", shipped=shipped_pictures),
))
register_target(TargetSpec(
    kind="file_points", family="user",
    help="Points read from a CSV or NPY file (two columns for 2-D, one for 1-D), blurred like drawn points.",
    builder=_build_file_points, data_fields=("path",),
    params=(Param("jitter", "float", 0.05, _JITTER_HELP + " (in the file's units)", low=1e-4, high=1e4,
                  log_scale=True),),
    source=DataSource("Points file", pattern="Points (*.csv *.npy *.txt)"),  # one column gives a 1-D target
))
