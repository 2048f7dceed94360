"""Image data sets: pixels stored as integer levels k ∈ {0, …, L−1}, dequantised to x = (k + u)/L ∈ [0, 1).

Why dequantise: a continuous density on integer pixel values can grow without bound (it piles onto the
integers). Adding fresh uniform noise u ~ U[0, 1)^D every batch gives a continuous x whose model NLL bounds
the discrete NLL of k from above (Theis, van den Oord & Bethge 2016), and makes bits/dim comparable across
papers:

    bits/dim = (NLL of x in nats + D · ln L) / (D · ln 2)

where D = C·H·W. The D·ln L term is the log-Jacobian of k/L → the unit cube measured in level-sized bins; a
uniform model on [0, 1]^D (NLL of x = 0) scores exactly log₂ L.

Data flow in the engine: :meth:`ImageTarget.split` returns the raw integer levels as float32 (NOT
dequantised); the engine calls :meth:`ImageTarget.prepare_batch` on every training batch (fresh noise each
time) and once on the test set with a fixed generator. :meth:`ImageTarget.sample` returns dequantised images
so that generic sample-based code still works.
"""

from __future__ import annotations

import functools
import gzip
import math
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from flowlab.params import Param
from flowlab.targets.base import DataMissing, DataSource, SampleTarget, TargetError, TargetSpec, register_target

_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
_PIL_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)
_IDX_TYPES = {0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "short", 0x0C: "int", 0x0D: "float",
              0x0E: "double"}

Num = TypeVar("Num", Tensor, float)
IMAGE_DATA = "Image data"  # the data sources offered together: an IDX file or a folder of pictures


# -- pure functions -----------------------------------------------------------------------------------------------
def bits_per_dim(nll_nats: Num, dims: int, levels: int) -> Num:
    """Bits per dimension of the discrete data from the NLL (nats, per example) of the dequantised x ∈ [0, 1]^D:
    (NLL + D ln L) / (D ln 2). A uniform model (NLL = 0) gives log₂ L."""
    return (nll_nats + dims * math.log(levels)) / (dims * math.log(2.0))


def quantise(values: np.ndarray, levels: int) -> np.ndarray:
    """Intensities in [0, 1] → integer levels k = min(⌊v·L⌋, L − 1) as uint8 (L ≤ 256)."""
    return np.minimum(np.floor(np.clip(values, 0.0, 1.0) * levels), levels - 1).astype(np.uint8)


# -- the target ---------------------------------------------------------------------------------------------------
class ImageTarget(SampleTarget):
    """A fixed train/test split of images with integer levels; ``shape`` is (C, H, W), ``levels`` is L."""

    bounds = None

    def __init__(self, train: Tensor, test: Tensor, levels: int, name: str = "") -> None:
        if len(train) == 0:
            raise TargetError(f"{name or 'image data'}: no training images")
        self.train_images = train.to(torch.uint8)  # (N, C, H, W)
        self.test_images = test.to(torch.uint8)
        self.levels = int(levels)
        self.shape = tuple(int(s) for s in train.shape[1:])
        self.name = name
        self.warnings: list[str] = []

    @property
    def dims(self) -> int:
        return math.prod(self.shape)

    def split(self, n_train: int, n_test: int, seed: int = 0,
              device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
        """The target's own fixed split as raw integer levels in float32 (NOT dequantised: pass batches through
        :meth:`prepare_batch`), truncated to ``n_train`` / ``n_test``; ``seed`` is unused (the split is fixed
        when the target is built, so runs compare on the same test images)."""
        return (self.train_images[:n_train].float().to(device), self.test_images[:n_test].float().to(device))

    def prepare_batch(self, batch: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Dequantise: x = (k + u)/L with fresh u ~ U[0, 1), so x ∈ [0, 1)."""
        if generator is None or generator.device == batch.device:
            u = torch.rand(batch.shape, generator=generator, device=batch.device, dtype=batch.dtype)
        else:
            u = torch.rand(batch.shape, generator=generator, device=generator.device).to(batch)
        return (batch + u) / self.levels

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """Dequantised training images drawn with replacement."""
        idx = torch.randint(len(self.train_images), (n,), generator=generator)
        return self.prepare_batch(self.train_images[idx].float(), generator)

    def bits_per_dim(self, nll_nats: Num) -> Num:
        return bits_per_dim(nll_nats, self.dims, self.levels)


def split_fixed(images: np.ndarray, n_test: int, seed: int) -> tuple[Tensor, Tensor]:
    """Shuffle (N, C, H, W) levels with ``seed``; the first ``n_test`` become the test set."""
    perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    data = torch.from_numpy(np.array(images, dtype=np.uint8))[perm]
    return data[n_test:], data[:n_test]


def split_fraction(images: np.ndarray, fraction: float, seed: int, where: str) -> tuple[Tensor, Tensor]:
    """As :func:`split_fixed` with a test fraction; at least one image on each side."""
    if len(images) < 2:
        raise TargetError(f"{where}: need at least 2 images (one to train on, one to test), got {len(images)}")
    n_test = min(len(images) - 1, max(1, round(fraction * len(images))))
    return split_fixed(images, n_test, seed)


# -- digits (scikit-learn) -----------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _load_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits  # ships with scikit-learn, no download

    bunch = load_digits()
    return bunch.images.astype(np.uint8)[:, None], bunch.target.astype(np.int64)


def _build_digits(p: Mapping[str, Any], d: Mapping[str, Any]) -> ImageTarget:
    images, labels = _load_digits()
    # Split all 1797 first, then keep one class: a digit's test images are then part of the full test set.
    perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(p["seed"])).numpy()
    test_idx, train_idx = perm[:p["n_test"]], perm[p["n_test"]:]
    if p["digit"] >= 0:
        test_idx = test_idx[labels[test_idx] == p["digit"]]
        train_idx = train_idx[labels[train_idx] == p["digit"]]
    name = "digits" if p["digit"] < 0 else f"digit {p['digit']}"
    train, test = torch.from_numpy(images[train_idx]), torch.from_numpy(images[test_idx])
    if p["flatten"]:  # the same pixels as 64-vectors in reading order, for vector layers (MAF, IAF, ...)
        train, test, name = train.flatten(1), test.flatten(1), f"{name} (flattened to 64-vectors)"
    return ImageTarget(train, test, 17, name)


# -- IDX (MNIST format) --------------------------------------------------------------------------------------------
def _open_maybe_gzip(path: Path):
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")


def read_idx_images(path: Path, limit: int = 0) -> np.ndarray:
    """An idx3-ubyte file (optionally gzipped) → (N, 1, H, W) uint8; at most ``limit`` images (0 = all)."""
    name = path.name
    try:
        with _open_maybe_gzip(path) as f:
            header = f.read(4)
            if len(header) < 4:
                raise TargetError(f"IDX file '{name}' is too short to hold a header")
            zero, dtype, ndim = struct.unpack(">HBB", header)
            if zero != 0 or dtype not in _IDX_TYPES:
                raise TargetError(f"IDX file '{name}': bad magic number 0x{header.hex()} (expected 0x00000803 "
                                  "for images; is this an MNIST-format file?)")
            if dtype != 0x08:
                raise TargetError(f"IDX file '{name}' holds {_IDX_TYPES[dtype]} values; only unsigned bytes "
                                  "(MNIST images) are supported")
            if ndim != 3:
                hint = " (a labels file?)" if ndim == 1 else ""
                raise TargetError(f"IDX file '{name}' has {ndim} dimension(s){hint}; images need 3 "
                                  "(count, rows, columns)")
            raw_dims = f.read(12)
            if len(raw_dims) < 12:
                raise TargetError(f"IDX file '{name}' is truncated inside its header")
            n, h, w = struct.unpack(">III", raw_dims)
            if h == 0 or w == 0:
                raise TargetError(f"IDX file '{name}': images of size {h}×{w}")
            count = n if limit <= 0 else min(n, limit)
            data = f.read(count * h * w)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise TargetError(f"IDX file '{name}' cannot be read (damaged or incomplete?): {e}") from None
    if len(data) < count * h * w:
        raise TargetError(f"IDX file '{name}' is truncated: the header promises {n} images of {h}×{w} "
                          f"but only {len(data) // (h * w)} complete ones follow")
    if count == 0:
        raise TargetError(f"IDX file '{name}' holds no images")
    return np.frombuffer(data, dtype=np.uint8).reshape(count, 1, h, w)


def _build_idx(p: Mapping[str, Any], d: Mapping[str, Any]) -> ImageTarget:
    path = _existing_path(d.get("path"), "IDX file", folder=False)
    images = read_idx_images(path, p["limit"])
    train, test = split_fraction(images, p["test_fraction"], p["seed"], f"IDX file '{path.name}'")
    return ImageTarget(train, test, 256, path.name)


# -- an MNIST-format data set: a folder with its training and test files --------------------------------------------
IDX_TRAIN, IDX_TEST = "train-images-idx3-ubyte", "t10k-images-idx3-ubyte"  # (+ ".gz"): how MNIST-format sets ship
# Where operating-system packages install such sets: the folder, the set's name and the package that fills it.
INSTALLED_SETS: dict[str, tuple[str, str]] = {
    "/usr/share/datasets/fashion-mnist": ("Fashion-MNIST", "dataset-fashion-mnist"),
}


def _idx_file(folder: Path, stem: str) -> Path | None:
    return next((p for p in (folder / f"{stem}.gz", folder / stem) if p.is_file()), None)


def _missing_set(folder: Path, absent: str) -> DataMissing:
    """What to do about a data set folder that lacks its files: install the package that fills it, or choose a
    folder that has them."""
    choose = (f"choose a folder that holds {IDX_TRAIN}.gz and {IDX_TEST}.gz, as MNIST's own files do (in the "
              f"window: Target → Image data → MNIST-format data set; in a preset file: target.data.path)")
    known = INSTALLED_SETS.get(folder.as_posix().rstrip("/"))
    if known is not None:
        name, package = known
        return DataMissing(f"{name} is not installed: {absent}. On Debian or Ubuntu, `sudo apt install {package}` "
                           f"puts it there; or {choose}")
    return DataMissing(f"{absent}; {choose}")


@functools.lru_cache(maxsize=2)
def _read_idx_cached(path: str, stamp: tuple[int, int], limit: int) -> np.ndarray:
    """A file read once per process while it is unchanged (``stamp``: its size and modification time): a preset
    is checked when it opens and built again to train."""
    images = read_idx_images(Path(path), limit)
    images.flags.writeable = False
    return images


def _read_idx_once(path: Path, limit: int = 0) -> np.ndarray:
    st = path.stat()
    return _read_idx_cached(str(path), (st.st_size, st.st_mtime_ns), limit)


def read_idx_set(folder: Path, limit: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The training and test images of an MNIST-format set in ``folder`` ((N, 1, H, W) uint8 each; at most
    ``limit`` training images, 0 = all); :class:`DataMissing` when the folder or a file is not there."""
    if not folder.is_dir():
        raise _missing_set(folder, f"there is no folder {folder}" if not folder.exists() else f"{folder} is a file")
    train_path, test_path = _idx_file(folder, IDX_TRAIN), _idx_file(folder, IDX_TEST)
    if train_path is None or test_path is None:
        absent = " and ".join(stem for stem, p in ((IDX_TRAIN, train_path), (IDX_TEST, test_path)) if p is None)
        raise _missing_set(folder, f"{folder} has no {absent}(.gz)")
    train, test = _read_idx_once(train_path, limit), _read_idx_once(test_path)
    if train.shape[1:] != test.shape[1:]:
        raise TargetError(f"{folder}: the training images are {train.shape[2]}×{train.shape[3]} but the test images "
                          f"{test.shape[2]}×{test.shape[3]}")
    return train, test


def _build_idx_set(p: Mapping[str, Any], d: Mapping[str, Any]) -> ImageTarget:
    raw = d.get("path")
    if not isinstance(raw, (str, Path)) or not str(raw).strip():
        raise TargetError("data 'path': give the folder that holds the data set's IDX files")
    folder = Path(str(raw)).expanduser()
    train, test = read_idx_set(folder, p["limit"])
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(p["seed"]))
    # The official split, the training images shuffled once: the first n_train are a random subset of them.
    name = INSTALLED_SETS.get(folder.as_posix().rstrip("/"), (folder.name,))[0]
    return ImageTarget(torch.from_numpy(np.array(train))[order], torch.from_numpy(np.array(test)), 256, name)


# -- a folder of pictures -----------------------------------------------------------------------------------------
def read_image_folder(folder: Path, size: int, levels: int, invert: bool, limit: int
                      ) -> tuple[np.ndarray, list[str]]:
    """Every PNG/JPEG under ``folder`` (recursively, sorted), grey, resized to size×size, quantised to
    ``levels``; unreadable files are skipped and reported in the returned warnings."""
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in _IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise TargetError(f"folder '{folder}' holds no PNG or JPEG images")
    if limit > 0:
        files = files[:limit]
    images, warnings = [], []
    for path in files:
        try:
            with Image.open(path) as img:
                grey = img.convert("L")
        except _PIL_ERRORS as e:
            warnings.append(f"{path.name}: skipped, cannot be read ({e})")
            continue
        v = np.asarray(grey, dtype=np.float32) / 255.0
        v = np.asarray(Image.fromarray(v, mode="F").resize((size, size), Image.Resampling.LANCZOS))
        images.append(quantise(1.0 - v if invert else v, levels))
    if not images:
        raise TargetError(f"folder '{folder}': none of its {len(files)} image file(s) could be read "
                          f"(first: {warnings[0]})")
    return np.stack(images)[:, None], warnings


def _build_folder(p: Mapping[str, Any], d: Mapping[str, Any]) -> ImageTarget:
    folder = _existing_path(d.get("path"), "folder", folder=True)
    images, warnings = read_image_folder(folder, p["size"], p["levels"], p["invert"], p["limit"])
    train, test = split_fraction(images, p["test_fraction"], p["seed"], f"folder '{folder.name}'")
    target = ImageTarget(train, test, p["levels"], folder.name)
    target.warnings = warnings
    return target


# -- images the user drew -----------------------------------------------------------------------------------------
def parse_drawn_images(raw: Any) -> np.ndarray:
    """A list of equally sized 2-D lists of intensities in [0, 1] → (N, H, W) float64, or a TargetError."""
    if not isinstance(raw, (list, tuple)) or not raw:
        raise TargetError("data 'images' is empty: draw at least 2 images")
    arrays = []
    for i, img in enumerate(raw, 1):
        if (not isinstance(img, (list, tuple)) or not img
                or not all(isinstance(row, (list, tuple)) and row for row in img)):
            raise TargetError(f"data 'images': image {i} is not a 2-D list of intensities")
        widths = {len(row) for row in img}
        if len(widths) != 1:
            raise TargetError(f"data 'images': image {i} is ragged (rows of lengths {sorted(widths)})")
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for row in img for v in row):
            raise TargetError(f"data 'images': image {i} holds a value that is not a number")
        a = np.array(img, dtype=np.float64)
        if not np.isfinite(a).all() or a.min() < 0.0 or a.max() > 1.0:
            raise TargetError(f"data 'images': image {i} has values outside [0, 1]")
        if arrays and a.shape != arrays[0].shape:
            raise TargetError(f"data 'images': image {i} is {a.shape[0]}×{a.shape[1]} but image 1 is "
                              f"{arrays[0].shape[0]}×{arrays[0].shape[1]}")
        arrays.append(a)
    return np.stack(arrays)


def _build_drawn(p: Mapping[str, Any], d: Mapping[str, Any]) -> ImageTarget:
    images = quantise(parse_drawn_images(d.get("images")), p["levels"])[:, None]
    train, test = split_fraction(images, p["test_fraction"], p["seed"], "data 'images'")
    return ImageTarget(train, test, p["levels"], "drawn images")


# -- shared helpers -----------------------------------------------------------------------------------------------
def _existing_path(raw: Any, what: str, folder: bool) -> Path:
    if not isinstance(raw, (str, Path)) or not str(raw).strip():
        raise TargetError(f"data 'path': give the {what} to read")
    path = Path(str(raw)).expanduser()
    if not path.exists():
        raise TargetError(f"{what} '{path}' does not exist")
    if folder and not path.is_dir():
        raise TargetError(f"'{path}' is a file, not a folder")
    if not folder and not path.is_file():
        raise TargetError(f"{what} '{path}' is not a file")
    return path


def _seed_param() -> Param:
    return Param("seed", "int", 0, "shuffles the images once before the fixed train/test split", low=0,
                 high=2**31 - 1)


def _fraction_param() -> Param:
    return Param("test_fraction", "float", 0.1, "share of the images held out to measure generalisation",
                 low=0.01, high=0.5)


register_target(TargetSpec(
    kind="digits", family="image",
    help="Tiny 8×8 handwritten digits (1797 of them, 17 grey levels) that ship with scikit-learn.",
    builder=_build_digits,
    params=(Param("n_test", "int", 500, "images held out for testing; the rest (1297 by default) train",
                  low=1, high=1000),
            _seed_param(),
            Param("digit", "int", -1, "train on one digit only (0–9), or −1 for all ten", low=-1, high=9),
            Param("flatten", "bool", False, "hand each image on as a flat vector of its 64 pixels (row by row), so "
                                            "vector layers such as MAF and IAF apply; the views then show points")),
    reference="UCI Optical Recognition of Handwritten Digits (Alpaydin & Kaynak 1998)",
))
register_target(TargetSpec(
    kind="idx_images", family="image",
    help="Images from an MNIST-format IDX file (such as train-images-idx3-ubyte, gzipped or not).",
    builder=_build_idx, data_fields=("path",),
    params=(Param("limit", "int", 0, "read at most this many images (0 = all)", low=0, high=10_000_000),
            _fraction_param(), _seed_param()),
    reference="LeCun, Bottou, Bengio & Haffner 1998 (the MNIST file format)",
    source=DataSource("IDX file (MNIST format)", pattern="IDX images (*idx3-ubyte* *.idx *.gz);;All files (*)",
                      group=IMAGE_DATA),
))
register_target(TargetSpec(
    kind="idx_dataset", family="image",
    help="An MNIST-format data set: a folder holding train-images-idx3-ubyte(.gz) to train on and "
         "t10k-images-idx3-ubyte(.gz), its own test set (Fashion-MNIST and MNIST ship this way).",
    builder=_build_idx_set, data_fields=("path",),
    params=(Param("limit", "int", 0, "read at most this many training images (0 = all)", low=0, high=10_000_000),
            Param("seed", "int", 0, "shuffles the training images once (the test set is the data set's own)",
                  low=0, high=2**31 - 1)),
    reference="Xiao, Rasul & Vollgraf 2017 (Fashion-MNIST); LeCun, Bottou, Bengio & Haffner 1998 (MNIST)",
    source=DataSource("MNIST-format data set (a folder)", folder=True, group=IMAGE_DATA),
))
register_target(TargetSpec(
    kind="image_folder", family="image",
    help="Every PNG or JPEG in a folder, made grey and square, as an image data set.",
    builder=_build_folder, data_fields=("path",),
    params=(Param("size", "int", 28, "images are resized to size × size pixels", low=4, high=64),
            Param("levels", "int", 256, "grey levels kept after resizing (fewer levels = easier to model)",
                  low=2, high=256),
            Param("invert", "bool", False, "swap black and white (dark strokes on white paper → MNIST style)"),
            Param("limit", "int", 0, "read at most this many files (0 = all)", low=0, high=1_000_000),
            _fraction_param(), _seed_param()),
    source=DataSource("Folder of images", folder=True, group=IMAGE_DATA),
))
register_target(TargetSpec(
    kind="drawn_images", family="image",
    help="Small images you drew yourself, all the same size, as a (very small) image data set.",
    builder=_build_drawn, data_fields=("images",),
    params=(Param("levels", "int", 17, "grey levels the drawn intensities are rounded to", low=2, high=256),
            _fraction_param(), _seed_param()),
))
