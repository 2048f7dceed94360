"""Image targets: digits, IDX files, image folders, drawn images; dequantisation, bits/dim, the logit transform."""

from __future__ import annotations

import gzip
import math
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from flowlab.targets import TARGETS, TargetError, build_target
from flowlab.targets.images import ImageTarget, bits_per_dim


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# -- digits ---------------------------------------------------------------------------------------------------------
def test_digits_shape_split_and_levels() -> None:
    t = build_target({"kind": "digits"})
    assert isinstance(t, ImageTarget)
    assert t.shape == (1, 8, 8) and t.levels == 17 and t.bounds is None and not t.has_density
    train, test = t.split(10**9, 10**9)
    assert train.shape == (1297, 1, 8, 8) and test.shape == (500, 1, 8, 8)
    assert train.dtype == torch.float32
    both = torch.cat([train, test])
    assert torch.equal(both, both.round()) and both.min() == 0 and both.max() == 16
    # no image is in both halves
    flat_train = {tuple(r) for r in train.reshape(len(train), -1).int().tolist()}
    assert sum(tuple(r) in flat_train for r in test.reshape(len(test), -1).int().tolist()) < 5  # rare duplicates


def test_digits_split_is_fixed_by_its_own_seed() -> None:
    a = build_target({"kind": "digits"}).split(2000, 2000, seed=1)[1]
    b = build_target({"kind": "digits"}).split(2000, 2000, seed=99)[1]
    c = build_target({"kind": "digits", "params": {"seed": 5}}).split(2000, 2000)[1]
    assert torch.equal(a, b) and not torch.equal(a, c)
    small = build_target({"kind": "digits", "params": {"n_test": 100}})
    assert [len(s) for s in small.split(10**9, 10**9)] == [1697, 100]


def test_digits_one_class_partitions_the_full_split() -> None:
    sizes = [[len(s) for s in build_target({"kind": "digits", "params": {"digit": k}}).split(10**9, 10**9)]
             for k in range(10)]
    assert sum(s[0] for s in sizes) == 1297 and sum(s[1] for s in sizes) == 500
    assert all(s[0] > 100 and s[1] > 20 for s in sizes)


def test_dequantisation_stays_in_the_unit_cube_and_recovers_levels() -> None:
    t = build_target({"kind": "digits"})
    train, test = t.split(10**9, 10**9)
    x = t.prepare_batch(test, _gen(1))
    assert x.min() >= 0.0 and x.max() < 1.0
    assert torch.equal(torch.floor(x * 17), test)  # the noise never crosses into the next level
    assert torch.equal(x, t.prepare_batch(test, _gen(1)))  # a fixed generator gives a fixed test set
    assert not torch.equal(x, t.prepare_batch(test, _gen(2)))  # fresh noise otherwise
    u = x * 17 - test  # the noise itself: uniform on [0, 1)
    assert abs(u.mean().item() - 0.5) < 0.01 and abs(u.var().item() - 1 / 12) < 0.005
    s = t.sample(64, _gen())
    assert s.shape == (64, 1, 8, 8) and s.min() >= 0.0 and s.max() < 1.0


# -- bits per dimension ---------------------------------------------------------------------------------------------
def test_bits_per_dim_of_a_uniform_model_is_log2_levels() -> None:
    # A uniform density on [0, 1]^64 has NLL 0 for every dequantised digit.
    assert bits_per_dim(0.0, 64, 17) == pytest.approx(math.log2(17), abs=1e-12)
    assert round(bits_per_dim(0.0, 64, 17), 4) == 4.0875
    t = build_target({"kind": "digits"})
    assert t.bits_per_dim(torch.tensor(0.0)).item() == pytest.approx(4.0875, abs=1e-4)


def test_bits_per_dim_of_constant_densities() -> None:
    d, levels = 64, 17
    # Data always at level 0, modelled by the constant density L on [0, 1/L)^D: NLL = −D ln L → 0 bits.
    assert bits_per_dim(-d * math.log(levels), d, levels) == pytest.approx(0.0, abs=1e-12)
    # Constant density 2 per dimension on half of each axis: exactly one bit per dimension saved.
    nll = torch.tensor([-d * math.log(2.0)] * 3, dtype=torch.float64)
    torch.testing.assert_close(bits_per_dim(nll, d, levels),
                               torch.full((3,), math.log2(levels) - 1.0, dtype=torch.float64))


# -- IDX files ------------------------------------------------------------------------------------------------------
def _idx_bytes(images: np.ndarray, magic: bytes = b"\x00\x00\x08\x03") -> bytes:
    n, h, w = images.shape
    return magic + struct.pack(">III", n, h, w) + images.astype(np.uint8).tobytes()


IDX_IMAGES = np.random.default_rng(0).integers(0, 256, (6, 5, 4), dtype=np.uint8)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_images_read(tmp_path: Path, gz: bool) -> None:
    path = tmp_path / ("imgs-idx3-ubyte.gz" if gz else "imgs-idx3-ubyte")
    raw = _idx_bytes(IDX_IMAGES)
    path.write_bytes(gzip.compress(raw) if gz else raw)
    t = build_target({"kind": "idx_images", "params": {"test_fraction": 0.34}, "data": {"path": str(path)}})
    assert t.shape == (1, 5, 4) and t.levels == 256
    train, test = t.split(100, 100)
    assert (len(train), len(test)) == (4, 2)
    got = sorted(tuple(r) for r in torch.cat([train, test]).reshape(6, -1).int().tolist())
    assert got == sorted(tuple(r) for r in IDX_IMAGES.reshape(6, -1).tolist())
    limited = build_target({"kind": "idx_images", "params": {"limit": 3}, "data": {"path": str(path)}})
    assert sum(len(s) for s in limited.split(100, 100)) == 3


@pytest.mark.parametrize("content, words", [
    (_idx_bytes(IDX_IMAGES, magic=b"\x12\x34\x08\x03"), "bad magic number"),
    (_idx_bytes(IDX_IMAGES)[:-7], "truncated"),
    (_idx_bytes(IDX_IMAGES)[:9], "truncated inside its header"),
    (b"\x00\x00", "too short"),
    (b"\x00\x00\x08\x01" + struct.pack(">I", 3) + b"\x01\x02\x03", "labels file"),
    (b"\x00\x00\x0d\x03" + struct.pack(">III", 1, 1, 1) + b"\x00" * 4, "float"),
    (_idx_bytes(IDX_IMAGES[:0]), "no images"),
    (gzip.compress(_idx_bytes(IDX_IMAGES))[:40], "cannot be read"),
], ids=["magic", "truncated", "short-header", "tiny", "labels", "float", "empty", "cut-gzip"])
def test_idx_errors(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(content)
    with pytest.raises(TargetError, match=f"bad-idx3-ubyte.*{words}"):
        build_target({"kind": "idx_images", "data": {"path": str(path)}})


def write_idx_set(folder: Path, train: np.ndarray, test: np.ndarray, gz_test: bool = True) -> Path:
    """An MNIST-format set as Fashion-MNIST ships it (gzipped), or with an uncompressed test file as some MNIST
    copies have it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(train)))
    raw = _idx_bytes(test)
    if gz_test:
        (folder / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw))
    else:
        (folder / "t10k-images-idx3-ubyte").write_bytes(raw)
    return folder


@pytest.mark.parametrize("gz_test", [True, False])
def test_an_idx_data_set_trains_on_its_training_file_and_tests_on_its_own_test_file(tmp_path: Path,
                                                                                    gz_test: bool) -> None:
    rng = np.random.default_rng(1)
    train, test = rng.integers(0, 256, (7, 6, 5), dtype=np.uint8), rng.integers(0, 256, (3, 6, 5), dtype=np.uint8)
    folder = write_idx_set(tmp_path / "set", train, test, gz_test)
    t = build_target({"kind": "idx_dataset", "params": {"seed": 2}, "data": {"path": str(folder)}})
    assert t.shape == (1, 6, 5) and t.levels == 256 and t.name == "set"
    got_train, got_test = t.split(100, 100)
    assert np.array_equal(got_test.numpy()[:, 0], test)  # the set's own test images, in order
    assert sorted(map(tuple, got_train.reshape(7, -1).int().tolist())) == sorted(map(tuple, train.reshape(7, -1)
                                                                                     .tolist()))
    assert not np.array_equal(got_train.numpy()[:, 0], train)  # shuffled once (seed 2), so n_train is a random subset
    limited = build_target({"kind": "idx_dataset", "params": {"limit": 4}, "data": {"path": str(folder)}})
    assert len(limited.split(100, 100)[0]) == 4


def test_an_idx_data_set_that_is_not_there_says_how_to_get_it(tmp_path: Path, monkeypatch) -> None:
    from flowlab.targets import DataMissing, images

    with pytest.raises(DataMissing, match=r"no folder .*nowhere.*choose a folder that holds train-images-idx3"):
        build_target({"kind": "idx_dataset", "data": {"path": str(tmp_path / "nowhere")}})
    half = tmp_path / "half"
    half.mkdir()
    (half / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx_bytes(IDX_IMAGES)))
    with pytest.raises(DataMissing, match=r"has no t10k-images-idx3-ubyte\(\.gz\)"):
        build_target({"kind": "idx_dataset", "data": {"path": str(half)}})
    # where an operating-system package installs the set, the message names the package
    monkeypatch.setitem(images.INSTALLED_SETS, (tmp_path / "fashion").as_posix(), ("Fashion-MNIST", "dataset-x"))
    with pytest.raises(DataMissing, match=r"Fashion-MNIST is not installed: .*`sudo apt install dataset-x`"):
        build_target({"kind": "idx_dataset", "data": {"path": str(tmp_path / "fashion")}})


def test_an_idx_data_set_with_unlike_images_is_an_error(tmp_path: Path) -> None:
    folder = write_idx_set(tmp_path / "set", IDX_IMAGES, IDX_IMAGES[:, :4, :4])
    with pytest.raises(TargetError, match="5×4 but the test images 4×4"):
        build_target({"kind": "idx_dataset", "data": {"path": str(folder)}})


def test_idx_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="missing-idx3-ubyte.*does not exist"):
        build_target({"kind": "idx_images", "data": {"path": str(tmp_path / "missing-idx3-ubyte")}})


# -- image folders --------------------------------------------------------------------------------------------------
def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "pics"
    (folder / "sub").mkdir(parents=True)
    Image.new("L", (40, 30), 128).save(folder / "grey.png")
    Image.new("RGB", (16, 16), (255, 255, 255)).save(folder / "sub" / "white.jpg", quality=100)
    Image.new("L", (8, 8), 0).save(folder / "black.PNG")
    (folder / "broken.png").write_bytes(b"not an image")
    (folder / "notes.txt").write_text("ignored")
    return folder


def test_image_folder_reads_resizes_and_quantises(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    t = build_target({"kind": "image_folder", "params": {"size": 8, "test_fraction": 0.34},
                      "data": {"path": str(folder)}})
    assert t.shape == (1, 8, 8) and t.levels == 256
    assert len(t.warnings) == 1 and "broken.png" in t.warnings[0]
    train, test = t.split(10, 10)
    assert (len(train), len(test)) == (2, 1)
    means = sorted(torch.cat([train, test]).mean(dim=(1, 2, 3)).tolist())
    assert means == pytest.approx([0.0, 128.0, 255.0], abs=1.0)
    four = build_target({"kind": "image_folder", "params": {"size": 4, "levels": 4, "invert": True},
                         "data": {"path": str(folder)}})
    levels = sorted(torch.cat(four.split(10, 10)).mean(dim=(1, 2, 3)).tolist())
    assert levels == pytest.approx([0.0, 1.0, 3.0], abs=0.01)  # 1 − 128/255 → ⌊0.498·4⌋ = 1


def test_image_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="nowhere.*does not exist"):
        build_target({"kind": "image_folder", "data": {"path": str(tmp_path / "nowhere")}})
    (tmp_path / "a.png").write_bytes(b"x")
    with pytest.raises(TargetError, match="a.png.*not a folder"):
        build_target({"kind": "image_folder", "data": {"path": str(tmp_path / "a.png")}})
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no pictures here")
    with pytest.raises(TargetError, match="empty.*no PNG or JPEG"):
        build_target({"kind": "image_folder", "data": {"path": str(empty)}})
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "one.png").write_bytes(b"junk")
    (bad / "two.jpg").write_bytes(b"junk")
    with pytest.raises(TargetError, match="bad.*none of its 2 image file.*one.png"):
        build_target({"kind": "image_folder", "data": {"path": str(bad)}})


# -- drawn images ---------------------------------------------------------------------------------------------------
def test_drawn_images_quantised() -> None:
    imgs = [[[0.0, 0.5, 1.0], [0.25, 0.0, 0.0]], [[1.0] * 3, [0.0] * 3], [[0.5] * 3, [0.5] * 3]]
    t = build_target({"kind": "drawn_images", "data": {"images": imgs}})
    assert t.shape == (1, 2, 3) and t.levels == 17
    train, test = t.split(10, 10)
    assert (len(train), len(test)) == (2, 1)
    expected = {(0, 8, 16, 4, 0, 0), (16, 16, 16, 0, 0, 0), (8, 8, 8, 8, 8, 8)}
    assert {tuple(r) for r in torch.cat([train, test]).reshape(3, -1).int().tolist()} == expected


@pytest.mark.parametrize("images, words", [
    ([], "empty"),
    ([[[0.1, 0.2]]], "at least 2 images"),
    ([[[0.1, 0.2], [0.3]], [[0.1, 0.2], [0.3, 0.4]]], "image 1 is ragged"),
    ([[[0.1, 0.2]], [[0.1, 0.2, 0.3]]], "image 2 is 1×3 but image 1 is 1×2"),
    ([[[0.1, 1.5]], [[0.1, 0.2]]], r"image 1 has values outside \[0, 1\]"),
    ([[[0.1, -0.1]], [[0.1, 0.2]]], "outside"),
    ([[[0.1, "a"]], [[0.1, 0.2]]], "not a number"),
    ([[0.1, 0.2], [0.3, 0.4]], "image 1 is not a 2-D list"),
])
def test_drawn_images_errors(images, words: str) -> None:
    with pytest.raises(TargetError, match=words):
        build_target({"kind": "drawn_images", "data": {"images": images}})


def test_image_kinds_are_registered() -> None:
    for kind in ("digits", "idx_images", "image_folder", "drawn_images"):
        spec = TARGETS[kind]
        assert spec.family == "image" and spec.help and "\n" not in spec.help
