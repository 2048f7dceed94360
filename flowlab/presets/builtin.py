"""The built-in lecture presets: package data (``flowlab/presets/lectures/``), so an installed flowlab has them."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from flowlab.presets.preset import Preset, PresetError, load_preset

PRESETS_DIR = Path(str(resources.files("flowlab.presets") / "lectures"))
DEFAULT_PRESET = "realnvp_moons"
# How a built-in preset states its training time, so that ``bench/preset_timings.py`` can re-measure and rewrite
# it: "<steps> steps in about <window> s in the window (<headless> s headless", then ")" or more in the brackets.
TIMING = re.compile(r"(?P<steps>\d+) steps in about (?P<window>\d+) s in the window \((?P<headless>\d+) s headless")
SECONDS = re.compile(r"\b\d+(?:[.–]\d+)? ?(?:s|seconds?)\b")  # any other figure in seconds


def timing_phrase(steps: int, window_s: float, headless_s: float) -> str:
    """The phrase :data:`TIMING` reads, for measured times."""
    return f"{steps} steps in about {max(1, round(window_s))} s in the window ({max(1, round(headless_s))} s headless"


# How a built-in preset that ships weights (``NN_key.weights.pt`` beside it) states what they reach, so that
# ``scripts/lecture_weights.py`` can rewrite it and a test can check it: "Opens trained: <steps> steps, test NLL
# <score> nats" (or "test score <score> bits/dim").
TRAINED = re.compile(r"Opens trained: (?P<steps>\d+) steps, test (?:NLL|score) (?P<score>-?\d+\.\d+) "
                     r"(?P<unit>nats|bits/dim)")


def trained_phrase(steps: int, score: float, bits: bool) -> str:
    """The phrase :data:`TRAINED` reads: the step count shipped weights were saved at and their test score."""
    what, unit = ("score", "bits/dim") if bits else ("NLL", "nats")
    return f"Opens trained: {steps} steps, test {what} {score:.2f} {unit}"


def builtin_paths() -> dict[str, Path]:
    """Every built-in preset file by key, in lecture order. Files are named ``NN_key.json``: the number
    orders the menu, the rest is the key."""
    if not PRESETS_DIR.is_dir():
        return {}
    return {re.sub(r"^\d+_", "", p.stem): p for p in sorted(PRESETS_DIR.glob("*.json"))}


def load_builtin(key: str = DEFAULT_PRESET) -> Preset:
    paths = builtin_paths()
    if key not in paths:
        raise PresetError(f"no built-in preset '{key}' (have: {', '.join(paths) or 'none'})")
    return load_preset(paths[key])


def preset_file(name: str) -> Path:
    """A preset given on the command line: a file, or the key of a built-in preset (``realnvp_moons``)."""
    path = Path(name)
    if path.is_file():
        return path
    paths = builtin_paths()
    if name in paths:
        return paths[name]
    raise PresetError(f"{name}: no such file, and no built-in preset of that name (`flowlab presets` lists them)")
