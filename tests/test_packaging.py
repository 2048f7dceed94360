"""A real install: the wheel carries the lecture presets and pictures, and an installed flowlab finds them from
any working directory (not only from a checkout)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                        "-q", "-w", str(out)], capture_output=True, text=True, timeout=300,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    (path,) = out.glob("flowlab-*.whl")
    return path


def test_the_wheel_carries_every_preset_and_picture(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    presets = sorted(n.rsplit("/", 1)[1] for n in names if n.startswith("flowlab/presets/lectures/"))
    pictures = sorted(n.rsplit("/", 1)[1] for n in names if n.startswith("flowlab/targets/pictures/"))
    lectures = ROOT / "flowlab/presets/lectures"  # the presets and the weights some open with
    assert presets == sorted(p.name for p in [*lectures.glob("*.json"), *lectures.glob("*.weights.pt")]) and presets
    assert any(n.endswith(".weights.pt") for n in presets)
    assert pictures == sorted(p.name for p in (ROOT / "flowlab/targets/pictures").glob("*.png")) and pictures


def test_an_installed_flowlab_opens_its_presets_from_anywhere(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
                        str(wheel)], capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    code = ("import flowlab; from flowlab.presets.builtin import builtin_paths, load_builtin\n"
            "from flowlab.presets import PresetDataMissing\n"
            "from flowlab.targets.user_data import shipped_pictures\n"
            "paths = builtin_paths()\n"
            "for k in paths:\n"
            "    try:\n"
            "        load_builtin(k)\n"
            "    except PresetDataMissing:\n"  # a data set not installed here (Fashion-MNIST): not the package's
            "        pass\n"
            "print(flowlab.__file__); print(len(paths)); print(sorted(shipped_pictures()))\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    r = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, capture_output=True, text=True, timeout=300,
                       env=env, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    where, count, pictures = r.stdout.strip().splitlines()
    assert Path(where).is_relative_to(site)  # the installed copy, not the checkout
    assert int(count) == len(list((ROOT / "flowlab/presets/lectures").glob("*.json")))
    assert "smiley" in pictures
