"""The built-in lecture presets shipped in the repository's ``presets/`` folder."""

from __future__ import annotations

import re
from pathlib import Path

from flowlab.presets.preset import Preset, load_preset

PRESETS_DIR = Path(__file__).resolve().parents[2] / "presets"
DEFAULT_PRESET = "realnvp_moons"


def builtin_paths() -> dict[str, Path]:
    """Every built-in preset file by key, in lecture order. Files are named ``NN_key.json``: the number
    orders the menu, the rest is the key."""
    if not PRESETS_DIR.is_dir():
        return {}
    return {re.sub(r"^\d+_", "", p.stem): p for p in sorted(PRESETS_DIR.glob("*.json"))}


def load_builtin(key: str = DEFAULT_PRESET) -> Preset:
    paths = builtin_paths()
    if key not in paths:
        from flowlab.presets.preset import PresetError

        raise PresetError(f"no built-in preset '{key}' (have: {', '.join(paths) or 'none'})")
    return load_preset(paths[key])
