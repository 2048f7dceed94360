"""Guards against a known fault in the Qt binding (see the PySide6 pin in pyproject.toml)."""

from __future__ import annotations

import sys

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QSortFilterProxyModel, Qt

from flowlab.document import Document, LayerEntry
from flowlab.ui.stack_model import StackModel


def test_model_data_called_from_qt_keeps_none_alive(qtbot) -> None:
    """PySide6 6.12.0 decremented None's reference count on every data() call from C++ that returned None;
    on Python < 3.12 (where None is not immortal) the interpreter then aborts ("none_dealloc")."""
    doc = Document()
    model = StackModel(doc)
    doc.stack.append(LayerEntry.new("actnorm"))
    proxy = QSortFilterProxyModel()
    proxy.setSourceModel(model)
    index = proxy.index(0, 0)
    before = sys.getrefcount(None)
    for _ in range(2000):
        proxy.data(index, Qt.UserRole + 42)  # a role our model answers with None
    assert sys.getrefcount(None) - before > -100
