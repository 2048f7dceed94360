"""The document's files: New, Open, Save, Save As, recent files, dropped files, built-in presets, exports.

Nothing an edit made is lost without asking: replacing an edited document (New, Open, a drop, a preset from the
menu, quitting) first offers to save it. A file that cannot be read shows a dialog naming the problem and leaves
the document as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np
from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtGui import QAction, QUndoStack
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMenu, QMessageBox

from flowlab.document import Document
from flowlab.presets import Preset, PresetDataMissing, PresetError, load_preset, save_preset
from flowlab.presets.builtin import builtin_paths, load_builtin
from flowlab.presets.comparison import is_comparison
from flowlab.presets.preset import read_document
from flowlab.training.checkpoints import weights_path_for
from flowlab.ui.preset_folders import PresetFolders

RECENT_KEEP = 8
PRESET_FILTER = "flowlab presets (*.json)"


def _is_comparison_file(path: Path) -> bool:
    try:
        return is_comparison(read_document(path))
    except PresetError:
        return False  # opened as a preset: the dialog then names the problem


class Host(Protocol):
    """What file handling needs from the rest of the window (the controller provides it)."""

    def apply_preset(self, preset: Preset, path: Path | None, weights: Path | None = None) -> None: ...
    def latest_samples(self) -> np.ndarray | None: ...
    def save_weights_to(self, path: Path) -> bool: ...
    def open_comparison(self, path: Path) -> object | None: ...


class DocumentFiles(QObject):
    """File handling for one window. ``path`` is the document's file (None until saved); ``path_changed``
    fires when it changes (the window title follows)."""

    path_changed = Signal()

    def __init__(self, window: QMainWindow, doc: Document, undo_stack: QUndoStack, host: Host) -> None:
        super().__init__(window)
        self.window, self.doc, self.undo_stack, self.host = window, doc, undo_stack, host
        self.path: Path | None = None
        self.recent_menu: QMenu | None = None
        self.preset_folders: PresetFolders | None = None

    def _say(self, text: str, ms: int = 4000) -> None:
        self.window.statusBar().showMessage(text, ms)

    # -- replacing the document -----------------------------------------------------------------------------------
    def keep_or_discard_edits(self) -> bool:
        """True when the document may be replaced: it has no unsaved edits, or the user saved or discarded them."""
        if self.undo_stack.isClean():
            return True
        answer = QMessageBox.question(
            self.window, "Unsaved changes", f"“{self.doc.name}” has changes that are not saved. Save them first?",
            QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel, QMessageBox.Save)
        if answer == QMessageBox.Save:
            return self.save()
        return answer == QMessageBox.Discard

    def _replace(self, preset: Preset, path: Path | None, weights: Path | None = None) -> None:
        self.path = path
        self.host.apply_preset(preset, path, weights)
        if path is not None:
            self.add_recent(path)
        self.path_changed.emit()

    def open_path(self, path: str | Path, ask: bool = True) -> bool:
        """Open a preset file; a broken file shows a dialog naming the problem and changes nothing. A comparison
        file opens in a comparison window of its own (the document stays)."""
        if _is_comparison_file(Path(path)):
            return self.host.open_comparison(Path(path)) is not None
        return self._open(lambda: load_preset(path), Path(path), ask)

    def open_builtin(self, key: str) -> bool:
        """A lecture preset: opened as a new, unsaved document (Save asks where; the shipped file stays as it is),
        trained where the preset ships weights (Reset weights trains it from scratch)."""
        shipped = builtin_paths().get(key)
        return self._open(lambda: load_builtin(key), None,
                          weights=weights_path_for(shipped) if shipped is not None else None)

    def _open(self, load: Callable[[], Preset], path: Path | None, ask: bool = True,
              weights: Path | None = None) -> bool:
        if ask and not self.keep_or_discard_edits():
            return False
        try:
            preset = load()
        except PresetError as e:
            QMessageBox.warning(self.window, "Cannot open preset", str(e))
            return False
        self._replace(preset, path, weights)
        return True

    def open_dialog(self) -> bool:
        if not self.keep_or_discard_edits():
            return False
        path, _ = QFileDialog.getOpenFileName(self.window, "Open preset", "", PRESET_FILTER)
        return self.open_path(path, ask=False) if path else False

    def new_document(self) -> bool:
        if not self.keep_or_discard_edits():
            return False
        self._replace(Preset(name="untitled", layers=[], target={"kind": "moons", "params": {}, "data": {}}), None)
        return True

    # -- saving ---------------------------------------------------------------------------------------------------
    def save(self) -> bool:
        return self.save_to(self.path) if self.path else self.save_as()

    def save_as(self) -> bool:
        path, _ = QFileDialog.getSaveFileName(self.window, "Save preset", f"{self.doc.name}.json", PRESET_FILTER)
        return self.save_to(Path(path)) if path else False

    def save_to(self, path: Path) -> bool:
        path = Path(path)
        try:
            save_preset(self.doc.to_preset(), path)
        except (OSError, ValueError) as e:
            QMessageBox.warning(self.window, "Cannot save preset", f"{path}: {e}")
            return False
        self.undo_stack.setClean()
        if path != self.path:
            self.path = path
            self.path_changed.emit()
        self.add_recent(path)
        self._say(f"saved {path}")
        return True

    def save_weights(self) -> bool:
        """Save the preset (asking for a file if it has none), then the weights beside it."""
        if (self.path is None and not self.save_as()) or not self.save_to(self.path):
            return False
        return self.host.save_weights_to(weights_path_for(self.path))

    # -- exports --------------------------------------------------------------------------------------------------
    def export_samples_dialog(self) -> bool:
        path, _ = QFileDialog.getSaveFileName(self.window, "Export samples", "samples.csv",
                                              "CSV (*.csv);;NumPy (*.npy)")
        return self.export_samples(Path(path)) if path else False

    def export_samples(self, path: Path) -> bool:
        """The newest model samples (as drawn) to CSV or NPY; the format follows the file name."""
        samples = self.host.latest_samples()
        if samples is None:
            QMessageBox.warning(self.window, "Nothing to export", "There are no model samples yet.")
            return False
        try:
            if path.suffix.lower() == ".npy":
                np.save(path, samples)
            else:
                flat = samples.reshape(len(samples), -1)
                header = ",".join(["x", "y"][: flat.shape[1]] if flat.shape[1] <= 2 else
                                  [f"v{i}" for i in range(flat.shape[1])])
                np.savetxt(path, flat, delimiter=",", header=header, comments="", fmt="%.6g")
        except OSError as e:
            QMessageBox.warning(self.window, "Cannot export samples", f"{path}: {e.strerror or e}")
            return False
        self._say(f"exported {len(samples)} samples to {path}")
        return True

    # -- menus ----------------------------------------------------------------------------------------------------
    def fill_presets_menu(self, menu: QMenu) -> None:
        """The built-in lecture presets (the planar-flow series in a submenu), then the user's preset folders."""
        menu.setToolTipsVisible(True)
        planar = menu.addMenu("Planar flows on U1–U4 (Rezende && Mohamed)")
        planar.setToolTipsVisible(True)
        for key, path in builtin_paths().items():
            try:
                p = load_preset(path)
            except PresetDataMissing as missing:
                p = missing  # offered all the same (its name and description): opening it says how to get the data
            except PresetError:
                continue  # a broken built-in file is left out of the menu, not fatal
            a = QAction(p.name, self.window)
            a.setToolTip(p.description)
            a.setStatusTip(p.description)
            a.triggered.connect(lambda _=False, k=key: self.open_builtin(k))
            (planar if key.startswith("planar_") else menu).addAction(a)
        self.preset_folders = PresetFolders(menu, self.open_path, self.window)  # the user's own, below

    def set_recent_menu(self, menu: QMenu) -> None:
        self.recent_menu = menu
        self._update_recent_menu()

    def add_recent(self, path: Path) -> None:
        s = QSettings()
        recent = [p for p in (s.value("recent", []) or []) if p != str(path)]
        s.setValue("recent", [str(path)] + recent[: RECENT_KEEP - 1])
        self._update_recent_menu()

    def _update_recent_menu(self) -> None:
        if self.recent_menu is None:
            return
        self.recent_menu.clear()
        for p in QSettings().value("recent", []) or []:
            a = QAction(p, self.window)
            a.triggered.connect(lambda _=False, path=p: self.open_path(path))
            self.recent_menu.addAction(a)

    # -- dropped files --------------------------------------------------------------------------------------------
    @staticmethod
    def preset_file(urls: list) -> str | None:  # list[QUrl]
        """The first preset file among dropped URLs, if any."""
        return next((u.toLocalFile() for u in urls if u.toLocalFile().lower().endswith(".json")), None)
