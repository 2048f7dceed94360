"""Built-in presets in tests: one whose data set is not on this machine (Fashion-MNIST without its package) is
skipped with the reason, never failed and never silently passed; tests/presets/test_fashion_mnist.py trains it on
synthetic files wherever it runs."""

from __future__ import annotations

import pytest

from flowlab.presets import Preset, PresetDataMissing
from flowlab.presets.builtin import builtin_paths, load_builtin
from flowlab.presets.preset import read_document


def load_builtin_or_skip(key: str) -> Preset:
    try:
        return load_builtin(key)
    except PresetDataMissing as e:
        pytest.skip(f"{key}: its data set is not on this machine: {e}")


def builtin_document(key: str) -> dict:
    """A built-in preset's JSON as written, readable whether or not its data set is here."""
    return read_document(builtin_paths()[key])


def data_missing(key: str) -> bool:
    """Whether a built-in preset's data set is absent from this machine."""
    try:
        load_builtin(key)
    except PresetDataMissing:
        return True
    return False
