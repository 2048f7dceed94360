"""The Compare menu: side-by-side runs from the window's stack, the built-in comparisons, or a comparison file.

"Compare this stack" opens a comparison whose first run is the document as it stands; edit the stack (say, affine
couplings into splines) and "Add this stack to the comparison" adds the edited one as the next run, on the first
run's target and seed. Each comparison is a window of its own (:class:`ComparisonWindow`); the main window's own
training is paused while one opens, since the runs share the cores.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox

from flowlab.errors import FlowlabError
from flowlab.presets.comparison import Comparison, comparison_paths, load_comparison
from flowlab.presets.preset import PresetError
from flowlab.ui.comparison_window import COMPARISON_FILTER, ComparisonWindow


class Comparisons(QObject):
    """The comparison windows of one main window (``window``: it has ``doc``, ``controller`` and ``status``)."""

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.windows: list[ComparisonWindow] = []

    def fill_menu(self, menu: QMenu) -> None:
        menu.setToolTipsVisible(True)
        self.compare_action = menu.addAction("&Compare this stack…")
        self.compare_action.setToolTip("A comparison window whose first run is this stack; edit the stack, then "
                                       "add it as the next run")
        self.compare_action.triggered.connect(lambda _=False: self.compare_current())
        self.add_action = menu.addAction("&Add this stack to the comparison")
        self.add_action.setToolTip("The stack as it stands, as one more run of the latest comparison, on its "
                                   "target and seed")
        self.add_action.triggered.connect(lambda _=False: self.add_current())
        menu.addSeparator()
        built_in = menu.addMenu("&Built-in comparisons")
        for key, path in comparison_paths().items():
            try:
                title = load_comparison(path).name
            except PresetError as e:  # a broken shipped file: listed, disabled, with its reason
                action = built_in.addAction(key)
                action.setEnabled(False)
                action.setToolTip(str(e))
                continue
            action = built_in.addAction(title)
            action.triggered.connect(lambda _=False, k=key: self.open_builtin(k))
        menu.addAction("&Open comparison…").triggered.connect(lambda _=False: self.open_dialog())

    # -- opening --------------------------------------------------------------------------------------------------
    def _show(self, comparison: Comparison, source: Path | None) -> ComparisonWindow | None:
        if self.window.controller.running:  # the runs share the cores: the window's own run waits
            self.window.controller.toggle_play()
        try:
            win = ComparisonWindow(comparison, source, parent=self.window)
        except FlowlabError as e:
            QMessageBox.warning(self.window, "Cannot compare", str(e))
            return None
        win.closed.connect(lambda w=win: self._forget(w))
        self.windows.append(win)
        win.show()
        return win

    def _forget(self, win: ComparisonWindow) -> None:
        if win in self.windows:
            self.windows.remove(win)
            win.deleteLater()

    def compare_current(self) -> ComparisonWindow | None:
        doc = self.window.doc
        problem = doc.first_problem()
        if problem is not None:
            QMessageBox.warning(self.window, "Cannot compare", f"This stack cannot train: {problem}")
            return None
        preset = doc.to_preset()
        return self._show(Comparison(f"{preset.name} and others", "", [(preset.name, preset)]), None)

    def add_current(self) -> ComparisonWindow | None:
        """The document's stack as the next run of the latest comparison (a new one if none is open)."""
        if not self.windows:
            return self.compare_current()
        win = self.windows[-1]
        preset = self.window.doc.to_preset()
        try:
            win.add_run(preset.name, preset)
        except FlowlabError as e:
            QMessageBox.warning(self.window, "Cannot add this stack", str(e))
            return None
        win.raise_()
        win.activateWindow()
        return win

    def open_builtin(self, key: str) -> ComparisonWindow | None:
        path = comparison_paths()[key]
        return self.open_path(path)

    def open_path(self, path: str | Path) -> ComparisonWindow | None:
        """A comparison file (its runs open trained where their weights lie beside it)."""
        try:
            comparison = load_comparison(path)
        except (PresetError, FlowlabError) as e:
            QMessageBox.warning(self.window, "Cannot open comparison", str(e))
            return None
        return self._show(comparison, Path(path))

    def open_dialog(self) -> ComparisonWindow | None:
        path, _ = QFileDialog.getOpenFileName(self.window, "Open comparison", "", COMPARISON_FILTER)
        return self.open_path(path) if path else None

    def close_all(self) -> bool:
        """Close every comparison window (each unsaved one asks first); False if one was kept open."""
        return all(win.close() for win in list(self.windows))
