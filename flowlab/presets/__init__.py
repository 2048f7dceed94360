"""Presets: versioned JSON files (stack, target, training and view settings). Data only, never code."""

from flowlab.presets.preset import (
    SCHEMA_VERSION,
    Preset,
    PresetDataMissing,
    PresetError,
    load_preset,
    preset_from_dict,
    save_preset,
)

__all__ = ["SCHEMA_VERSION", "Preset", "PresetDataMissing", "PresetError", "load_preset", "preset_from_dict",
           "save_preset"]
