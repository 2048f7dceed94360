"""The headless command line, run as a user runs it (a subprocess)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def flowlab(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flowlab", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def _small_preset(tmp_path: Path) -> Path:
    doc = {"schema_version": 1, "name": "tiny", "description": "a small test preset",
           "layers": [{"kind": "affine_coupling", "params": {"mask": "alternating", "flip": i % 2 == 1,
                                                             "hidden": 16}} for i in range(4)],
           "target": {"kind": "moons"},
           "training": {"batch_size": 128, "eval_every": 25, "n_train": 2000, "n_test": 500}}
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(doc))
    return path


def test_train_writes_metrics_weights_and_pictures(tmp_path: Path) -> None:
    out = tmp_path / "run"
    r = flowlab("train", str(_small_preset(tmp_path)), "--steps", "60", "--out", str(out), "--seed", "1",
                "--device", "cpu")
    assert r.returncode == 0, r.stderr
    assert "60/60" in r.stderr  # the progress bar reached the end
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert {"step", "train_nll", "test_nll", "kl_gap"} <= set(rows[0])
    assert [int(r["step"]) for r in rows][:60] == list(range(1, 61))
    tested = [float(r["test_nll"]) for r in rows if r["test_nll"]]
    assert len(tested) >= 2
    for name in ("checkpoint.pt", "best_weights.pt", "density.png", "samples.png"):
        assert (out / name).stat().st_size > 0, name
    from PIL import Image

    assert Image.open(out / "density.png").size == (512, 512)


def test_same_seed_gives_the_same_metrics(tmp_path: Path) -> None:
    preset = _small_preset(tmp_path)
    runs = []
    for name in ("a", "b"):
        r = flowlab("train", str(preset), "--steps", "30", "--out", str(tmp_path / name), "--seed", "5", "--quiet")
        assert r.returncode == 0, r.stderr
        runs.append([row["train_nll"] for row in csv.DictReader((tmp_path / name / "metrics.csv").open())])
    assert runs[0] == runs[1]


@pytest.mark.parametrize(("args", "words"), [
    (["train", "missing.json", "--steps", "5", "--out", "x"], "no such file"),
    (["train", "{preset}", "--steps", "0", "--out", "x"], "--steps"),
    (["train", "{broken}", "--steps", "5", "--out", "x"], "line 1"),
    (["train", "{preset}", "--steps", "5"], "--out"),
    (["train", "{preset}", "--steps", "5", "--out", "{file}/sub"], ""),
    (["layers", "no_such_kind"], "unknown layer kind"),
])
def test_bad_input_exits_2_with_one_line(tmp_path: Path, args: list[str], words: str) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{oops")
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    args = [a.format(preset=_small_preset(tmp_path), broken=broken, file=blocker) for a in args]
    r = flowlab(*args)
    assert r.returncode == 2
    lines = [line for line in r.stderr.strip().splitlines() if line.strip()]
    assert "Traceback" not in r.stderr
    assert len(lines) == 1 or lines[0].startswith("usage:"), r.stderr
    assert words in r.stderr


def test_layers_lists_the_registry() -> None:
    r = flowlab("layers", "planar")
    assert r.returncode == 0 and "numerical" in r.stdout


def test_a_preset_trains_headless_below_a_stated_bound(tmp_path: Path) -> None:
    """The small RealNVP (4 couplings, width 16) on two moons, 300 steps: held-out NLL below 2.6 nats.

    For scale: the moons' entropy is 1.68 nats and an untrained flow scores about 3.4."""
    out = tmp_path / "run"
    preset = _small_preset(tmp_path)
    doc = json.loads(preset.read_text())
    doc["training"].update({"eval_every": 100, "learning_rate": 0.003})
    preset.write_text(json.dumps(doc))
    r = flowlab("train", str(preset), "--steps", "300", "--out", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    rows = [row for row in csv.DictReader((out / "metrics.csv").open()) if row["test_nll"]]
    assert float(rows[0]["test_nll"]) > float(rows[-1]["test_nll"])
    assert float(rows[-1]["test_nll"]) < 2.6


def test_a_word_that_is_neither_a_command_nor_a_file_is_a_one_line_error() -> None:
    r = flowlab("inspekt", "x.json", timeout=60)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().splitlines() == [
        "flowlab: no command or preset file 'inspekt'; commands: layers, presets, train, compare, inspect, render, "
        "record (flowlab --help says more)"]


def test_version_and_help() -> None:
    from flowlab import __version__

    r = flowlab("--version", timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == f"flowlab {__version__}"
    r = flowlab("--help", timeout=60)
    assert r.returncode == 0 and all(c in r.stdout for c in ("layers", "train", "render"))


def _window_env(**changes: str | None) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env.update({k: v for k, v in changes.items() if v is not None})
    return env


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 displays are a Linux matter")
def test_no_display_is_said_in_plain_lines_not_an_abort() -> None:
    r = subprocess.run([sys.executable, "-m", "flowlab"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL, env=_window_env())
    assert r.returncode == 2, r.stderr
    assert "there is no display" in r.stderr and "flowlab train" in r.stderr and "core dumped" not in r.stderr
    assert len(r.stderr.strip().splitlines()) <= 4


def test_an_unknown_qt_platform_is_said_in_plain_lines() -> None:
    r = subprocess.run([sys.executable, "-m", "flowlab"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL, env=_window_env(QT_QPA_PLATFORM="nosuchplatform"))
    assert r.returncode == 2, r.stderr
    assert "QT_QPA_PLATFORM=nosuchplatform names no Qt platform" in r.stderr and "offscreen" in r.stderr


def test_a_deeply_nested_preset_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    r = flowlab("train", str(path), "--steps", "1", "--out", str(tmp_path / "out"), timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [f"flowlab: {path}: not a flowlab preset (its JSON is nested too deeply "
                                             f"to read)"]


def test_a_huge_file_is_refused_before_it_is_read(tmp_path: Path, monkeypatch) -> None:
    from flowlab.presets import PresetError, load_preset
    from flowlab.presets import preset as preset_module

    path = _small_preset(tmp_path)
    monkeypatch.setattr(preset_module, "MAX_PRESET_BYTES", 100)
    monkeypatch.setattr(Path, "read_text", lambda *a, **k: pytest.fail("a file that large must not be read"))
    with pytest.raises(PresetError, match="too large for a preset"):
        load_preset(path)


def test_the_window_says_what_it_loads_before_pytorch_is_imported() -> None:
    """`flowlab` shows a splash saying "loading PyTorch…" before the seconds-long import of torch starts."""
    code = ("import sys\n"
            "import flowlab.ui.app as app\n"
            "def say(screen, what):\n"
            "    print('torch imported:', 'torch' in sys.modules, '| shown:', screen.isVisible(), '|', what)\n"
            "    raise SystemExit(0)\n"
            "app.say = say\n"
            "app.run_app()\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env=_window_env(QT_QPA_PLATFORM="offscreen"))
    assert r.returncode == 0, r.stderr
    assert "torch imported: False | shown: True | loading PyTorch…" in r.stdout
