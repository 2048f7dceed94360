"""The user's own data: drawn points (KDE), painted grids, pictures, point files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import stats

from flowlab.targets import TARGETS, TargetError, build_target, grid_points
from flowlab.targets.user_data import GridTarget, KdeTarget, shipped_pictures

P_MIN = 1e-3  # chi-square p-values below this fail a test (a false alarm once in a thousand seeds)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _cell_counts(x: torch.Tensor, bounds, rows: int, cols: int) -> np.ndarray:
    """Counts per grid cell with row 0 at the TOP, computed independently of the target's own indexing."""
    xmin, xmax, ymin, ymax = bounds
    h, _, _ = np.histogram2d(x[:, 1].numpy(), x[:, 0].numpy(), bins=[rows, cols],
                             range=[[ymin, ymax], [xmin, xmax]])
    return h[::-1]  # histogram rows go up in y; the grid's row 0 is the top


def _chi2_p(counts: np.ndarray, mass: np.ndarray) -> float:
    nz = mass > 0
    assert counts[~nz].sum() == 0, "samples landed in cells with no mass"
    expected = mass[nz] / mass.sum() * counts.sum()
    return float(stats.chisquare(counts[nz], expected).pvalue)


def _integral(target, resolution: int) -> float:
    pts, cell = grid_points(target.bounds, resolution)
    return float(torch.exp(target.log_prob(pts)).sum() * cell)


def _grid_integral(t: GridTarget, k: int = 3) -> float:
    """Midpoint rule on k × k points per cell of the target's own grid (exact for a piecewise-constant p)."""
    xmin, xmax, ymin, ymax = t.bounds
    xs = torch.linspace(xmin, xmax, k * t.cols + 1, dtype=torch.float64)
    ys = torch.linspace(ymin, ymax, k * t.rows + 1, dtype=torch.float64)
    gx, gy = torch.meshgrid((xs[1:] + xs[:-1]) / 2, (ys[1:] + ys[:-1]) / 2, indexing="xy")
    lp = t.log_prob(torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1))
    return float(torch.exp(lp).sum() * (xs[1] - xs[0]) * (ys[1] - ys[0]))


# -- painted density ------------------------------------------------------------------------------------------------
GRID = [[0, 1, 2, 0.5],
        [3, 0, 1, 1],
        [0.25, 4, 0, 2]]
BOUNDS = [-2.0, 6.0, -1.0, 2.0]


def _painted(grid=GRID, bounds=BOUNDS) -> GridTarget:
    data = {"grid": grid} if bounds is None else {"grid": grid, "bounds": bounds}
    return build_target({"kind": "painted_density", "data": data})


def test_painted_samples_cells_in_proportion_to_mass() -> None:
    t = _painted()
    x = t.sample(40_000, _gen(1))
    assert x.shape == (40_000, 2) and x.dtype == torch.float32
    mass = np.array(GRID, dtype=float)
    counts = _cell_counts(x, BOUNDS, 3, 4)
    assert _chi2_p(counts, mass) > P_MIN
    # The same test must reject an upside-down picture: the check has power.
    flipped = mass[::-1]
    with pytest.raises(AssertionError):
        assert _chi2_p(counts, flipped) > P_MIN


def test_painted_row_zero_is_the_top() -> None:
    t = _painted([[1, 1], [0, 0]], [0, 2, 0, 2])
    y = t.sample(2000, _gen())[:, 1]
    assert y.min() >= 1.0 and y.max() <= 2.0


def test_painted_default_bounds() -> None:
    assert _painted(bounds=None).bounds == (-4.0, 4.0, -4.0, 4.0)


def test_painted_log_prob_is_exact_and_integrates_to_one() -> None:
    t = _painted()
    mass = np.array(GRID, dtype=float)
    area = (8 / 4) * (3 / 3)
    # Cells are 2 wide and 1 high; row 0 is y ∈ [1, 2], column 0 is x ∈ [-2, 0].
    lp = t.log_prob(torch.tensor([[-1.0, 0.5], [1.0, 1.5], [-1.0, 1.5], [10.0, 0.0]]))
    assert lp[0].item() == pytest.approx(math.log(3 / mass.sum() / area), abs=1e-6)  # row 1, column 0
    assert lp[1].item() == pytest.approx(math.log(1 / mass.sum() / area), abs=1e-6)  # row 0, column 1
    assert lp[2].item() == -math.inf  # row 0, column 0 holds no mass
    assert lp[3].item() == -math.inf  # outside the bounds
    assert _integral(t, 240) == pytest.approx(1.0, abs=1e-9)


def test_painted_entropy_is_exact() -> None:
    t = _painted()
    exact = t.entropy()
    mc = super(GridTarget, t).entropy(n=100_000, seed=3)  # the generic Monte Carlo estimate
    assert exact.stderr == 0.0
    assert abs(exact.value - mc.value) < 4 * mc.stderr + 1e-9


@pytest.mark.parametrize("grid, words", [
    ([[0, 0], [0, 0]], "zero"),
    ([[1, -1], [0, 0]], "negative"),
    ([[1, 2], [3]], "ragged"),
    ([[1, "a"]], "not a finite number"),
    ([], "grid"),
    ("abc", "grid"),
])
def test_painted_errors(grid, words: str) -> None:
    with pytest.raises(TargetError, match=words):
        _painted(grid)


@pytest.mark.parametrize("bounds", [[0, 1, 0], [1, 0, 0, 1], [0, 1, 0, float("nan")]])
def test_painted_bad_bounds(bounds) -> None:
    with pytest.raises(TargetError, match="bounds"):
        _painted(bounds=bounds)


# -- pictures -------------------------------------------------------------------------------------------------------
PIXELS = np.array([[255, 0, 128, 255, 200, 60],
                   [10, 255, 255, 90, 0, 255],
                   [255, 30, 255, 255, 170, 120],
                   [0, 0, 255, 220, 255, 40]], dtype=np.uint8)  # 4 rows × 6 columns, 255 = white


def _picture(path: Path, **params) -> GridTarget:
    return build_target({"kind": "picture", "params": params, "data": {"path": str(path)}})


def test_picture_samples_darkness_in_proportion(tmp_path: Path) -> None:
    path = tmp_path / "tiny.png"
    Image.fromarray(PIXELS, mode="L").save(path)
    gamma = 2.0
    t = _picture(path, gamma=gamma)
    mass = (1.0 - PIXELS / 255.0) ** gamma
    assert t.bounds == pytest.approx((-4.0, 4.0, -8 / 3, 8 / 3))  # longest side spans [-4, 4]
    x = t.sample(40_000, _gen(2))
    assert _chi2_p(_cell_counts(x, t.bounds, 4, 6), mass) > P_MIN
    assert _grid_integral(t) == pytest.approx(1.0, abs=1e-9)


def test_picture_alpha_mode(tmp_path: Path) -> None:
    rgba = np.zeros((3, 2, 4), dtype=np.uint8)
    rgba[..., 3] = [[0, 255], [51, 0], [102, 153]]
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba, mode="RGBA").save(path)
    t = _picture(path, mode="alpha")
    assert t.bounds == pytest.approx((-8 / 3, 8 / 3, -4.0, 4.0))
    x = t.sample(30_000, _gen(3))
    assert _chi2_p(_cell_counts(x, t.bounds, 3, 2), rgba[..., 3] / 255.0) > P_MIN


def test_picture_is_shrunk_to_resolution(tmp_path: Path) -> None:
    img = np.full((150, 300), 255, dtype=np.uint8)
    img[:75, :150] = 0  # top-left quarter black
    path = tmp_path / "big.jpg"
    Image.fromarray(img).save(path, quality=95)
    t = _picture(path, resolution=64)
    assert (t.rows, t.cols) == (32, 64)
    x = t.sample(5000, _gen())
    assert (x[:, 0] < 0.1).float().mean() > 0.97 and (x[:, 1] > -0.1).float().mean() > 0.97


def test_shipped_pictures_exist_are_small_and_build() -> None:
    shipped = shipped_pictures()
    assert len(shipped) >= 3
    for name, path in shipped.items():
        assert path.stat().st_size <= 30_000, name
        t = build_target({"kind": "picture", "data": {"path": name}})  # a bare shipped name works
        assert t.name == name and np.isfinite(t.entropy().value)
        assert _grid_integral(t) == pytest.approx(1.0, abs=1e-9)


def test_picture_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="nothere.png.*does not exist"):
        _picture(tmp_path / "nothere.png")


def test_picture_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.png"
    path.write_bytes(b"this is not a picture")
    with pytest.raises(TargetError, match="broken.png"):
        _picture(path)


def test_picture_truncated_file(tmp_path: Path) -> None:
    good = tmp_path / "good.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)).save(good)
    cut = tmp_path / "cut.png"
    cut.write_bytes(good.read_bytes()[:300])
    with pytest.raises(TargetError, match="cut.png"):
        _picture(cut)


def test_picture_blank(tmp_path: Path) -> None:
    path = tmp_path / "white.png"
    Image.new("L", (20, 10), 255).save(path)
    with pytest.raises(TargetError, match="white.png.*blank"):
        _picture(path)


def test_picture_alpha_mode_needs_alpha(tmp_path: Path) -> None:
    path = tmp_path / "opaque.png"
    Image.new("L", (20, 10), 0).save(path)
    with pytest.raises(TargetError, match="opaque.png.*alpha"):
        _picture(path, mode="alpha")


def test_picture_needs_a_path() -> None:
    with pytest.raises(TargetError, match="path"):
        build_target({"kind": "picture"})


# -- drawn points (KDE) ---------------------------------------------------------------------------------------------
POINTS = [[0.0, 0.0], [1.0, 0.5], [-0.5, 2.0], [1.5, -1.0]]


def _direct_kde_log_prob(x: np.ndarray, pts: np.ndarray, s: float) -> np.ndarray:
    """(1/N) Σᵢ N(x; pᵢ, s²I), written out term by term."""
    d = pts.shape[1]
    dens = np.zeros(len(x))
    for p in pts:
        dens += np.exp(-((x - p) ** 2).sum(axis=1) / (2 * s * s)) / (2 * math.pi * s * s) ** (d / 2)
    return np.log(dens / len(pts))


def test_points_log_prob_is_the_gaussian_mixture() -> None:
    t = build_target({"kind": "points", "params": {"jitter": 0.3}, "data": {"points": POINTS}})
    x = torch.randn(500, 2, generator=_gen(4), dtype=torch.float64) * 1.5
    expected = _direct_kde_log_prob(x.numpy(), np.array(POINTS), 0.3)
    np.testing.assert_allclose(t.log_prob(x).numpy(), expected, rtol=1e-10, atol=1e-10)
    assert _integral(t, 400) == pytest.approx(1.0, abs=2e-3)


def test_points_samples_match_the_kde_moments() -> None:
    s = 0.2
    t = build_target({"kind": "points", "params": {"jitter": s}, "data": {"points": POINTS}})
    x = t.sample(100_000, _gen(5)).double()
    pts = torch.tensor(POINTS, dtype=torch.float64)
    cov = torch.cov(pts.T, correction=0) + s * s * torch.eye(2)
    torch.testing.assert_close(x.mean(0), pts.mean(0), atol=0.02, rtol=0)
    torch.testing.assert_close(torch.cov(x.T), cov, atol=0.03, rtol=0)


def test_points_split_is_reproducible() -> None:
    t = build_target({"kind": "points", "data": {"points": POINTS}})
    a_train, a_test = t.split(100, 50, seed=7)
    b_train, _ = t.split(100, 50, seed=7)
    c_train, _ = t.split(100, 50, seed=8)
    assert a_train.shape == (100, 2) and a_test.shape == (50, 2)
    assert torch.equal(a_train, b_train) and not torch.equal(a_train, c_train)


@pytest.mark.parametrize("points, words", [
    ([], "empty: add at least 2 points"),
    (None, "empty"),
    ([[1.0, 2.0]], "only 1 point"),
    ([[1.0, 2.0], [1.0, "x"]], "point 2.*not a number"),
    ([[1.0, 2.0], [1.0, float("nan")]], "point 2 is not finite"),
    ([[1.0, 2.0], [1.0, 2.0, 3.0]], r"point 2 is not an \[x, y\] pair"),
    ("points", "list"),
])
def test_points_errors(points, words: str) -> None:
    data = {} if points is None else {"points": points}
    with pytest.raises(TargetError, match=words):
        build_target({"kind": "points", "data": data})


# -- points from files ----------------------------------------------------------------------------------------------
def _file_points(path: Path, **params) -> KdeTarget:
    return build_target({"kind": "file_points", "params": params, "data": {"path": str(path)}})


@pytest.mark.parametrize("text", ["x,y\n0,0\n1, 0.5\n-0.5,2\n1.5,-1\n",
                                  "# drawn by hand\n0 0\n1\t0.5\n\n-0.5 2\n1.5 -1\n"])
def test_file_points_text(tmp_path: Path, text: str) -> None:
    path = tmp_path / "pts.csv"
    path.write_text(text)
    t = _file_points(path, jitter=0.3)
    assert t.shape == (2,)
    np.testing.assert_array_equal(t.points.numpy(), np.array(POINTS))
    x = torch.tensor([[0.2, 0.1], [3.0, 3.0]], dtype=torch.float64)
    np.testing.assert_allclose(t.log_prob(x).numpy(), _direct_kde_log_prob(x.numpy(), np.array(POINTS), 0.3))


def test_file_points_one_column_is_one_dimensional(tmp_path: Path) -> None:
    path = tmp_path / "values.txt"
    path.write_text("value\n1.0\n2.5\n-3\n")
    t = _file_points(path, jitter=0.5)
    assert t.shape == (1,) and len(t.bounds) == 2
    assert t.sample(10, _gen()).shape == (10, 1)
    assert _integral(t, 2000) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("shape", [(7, 2), (7,), (7, 1)])
def test_file_points_npy(tmp_path: Path, shape) -> None:
    arr = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    path = tmp_path / "pts.npy"
    np.save(path, arr)
    t = _file_points(path)
    assert t.shape == ((2,) if shape == (7, 2) else (1,))
    np.testing.assert_array_equal(t.points.numpy().reshape(shape), arr)


@pytest.mark.parametrize("name, content, words", [
    ("three.csv", "1,2,3\n4,5,6\n", "three.csv.*line 1.*3 columns"),
    ("mixed.csv", "1,2\n3\n", "mixed.csv.*line 2"),
    ("word.csv", "x,y\n1,2\n3,abc\n", "word.csv.*line 3.*'abc' is not a number"),
    ("nan.csv", "1,2\nnan,3\n", "nan.csv.*line 2.*not finite"),
    ("empty.csv", "", "empty.csv.*no numbers"),
    ("header.csv", "x,y\n", "header.csv.*no numbers"),
    ("single.csv", "1,2\n", "single.csv.*only 1 point"),
])
def test_file_points_text_errors(tmp_path: Path, name: str, content: str, words: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(TargetError, match=words):
        _file_points(path)


def test_file_points_unreadable_text(tmp_path: Path) -> None:
    path = tmp_path / "binary.csv"
    path.write_bytes(b"\xff\xfe\x00\x81garbage")
    with pytest.raises(TargetError, match="binary.csv.*cannot be read"):
        _file_points(path)


@pytest.mark.parametrize("arr, words", [
    (np.zeros((5, 3)), r"shape \(5, 3\)"),
    (np.zeros((2, 2, 2)), r"shape \(2, 2, 2\)"),
    (np.array([[0.0, 1.0], [np.inf, 2.0]]), "row 1 is not finite"),
    (np.zeros((0, 2)), "empty"),
    (np.array(["a", "b"]), "numeric"),
])
def test_file_points_npy_errors(tmp_path: Path, arr: np.ndarray, words: str) -> None:
    path = tmp_path / "bad.npy"
    np.save(path, arr)
    with pytest.raises(TargetError, match=f"bad.npy.*{words}"):
        _file_points(path)


def test_file_points_corrupt_npy(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.npy"
    path.write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(TargetError, match="corrupt.npy"):
        _file_points(path)


def test_file_points_missing(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="gone.csv.*does not exist"):
        _file_points(tmp_path / "gone.csv")
    with pytest.raises(TargetError, match="not a file"):
        _file_points(tmp_path)


def test_user_kinds_are_registered_with_help() -> None:
    for kind, fields in [("points", ("points",)), ("painted_density", ("grid", "bounds")),
                         ("picture", ("path",)), ("file_points", ("path",))]:
        spec = TARGETS[kind]
        assert spec.family == "user" and spec.data_fields == fields
        assert spec.help and "\n" not in spec.help


@pytest.mark.parametrize("header, sep", [("x,y\n", ","), ("# made by hand\n\n", " "), ("", "\t")])
def test_file_points_fast_reader_equals_the_careful_one(tmp_path: Path, monkeypatch, header: str, sep: str) -> None:
    """A well-formed file goes through NumPy's parser; it reads exactly what the line-by-line reader reads."""
    from flowlab.targets import user_data

    rng = np.random.default_rng(3)
    arr = rng.normal(size=(5000, 2)).round(6)
    path = tmp_path / "many.csv"
    path.write_text(header + "\n".join(sep.join(f"{v:.6f}" for v in row) for row in arr) + "\n")
    fast = user_data._read_points_fast(path)
    assert fast is not None
    monkeypatch.setattr(user_data, "_read_points_fast", lambda p: None)
    careful = user_data.read_points_text(path)
    np.testing.assert_array_equal(fast, careful)
    np.testing.assert_allclose(fast, arr)


def test_a_points_file_above_the_limit_is_refused_unread(tmp_path: Path, monkeypatch) -> None:
    from flowlab.targets import user_data

    path = tmp_path / "big.csv"
    path.write_text("1,2\n3,4\n" * 1000)
    monkeypatch.setattr(user_data, "MAX_POINTS_FILE_BYTES", 1000)
    monkeypatch.setattr(user_data, "read_points_text", lambda p: pytest.fail("read a file above the limit"))
    with pytest.raises(TargetError, match=r"big.csv.* MB, more than"):
        _file_points(path)
