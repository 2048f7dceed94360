"""Pick what to fit: a target from the registry with its parameters, or the user's own: a drawing (points, a
painted density or energy, small images) or a file or folder for each kind the registry says reads one."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox, QFileDialog, QGridLayout, QLabel, QMenu, QPushButton, QVBoxLayout, QWidget
from superqt.utils import signals_blocked

from flowlab.targets import TARGETS
from flowlab.ui.canvas_dialogs import DrawDialog, DrawImagesDialog
from flowlab.ui.param_editor import ParamForm


class TargetPanel(QWidget):
    """The target's kind and parameters come from the target registry; ``config_requested`` carries a whole new
    target (a file or a drawing) for the window to validate and use."""

    config_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        box = QVBoxLayout(self)
        self.combo = QComboBox()
        self.combo.setObjectName("targetKind")
        for kind, spec in sorted(TARGETS.items(), key=lambda kv: (kv[1].family, kv[0])):
            if spec.data_fields:
                continue  # the user's own data: offered by the buttons below
            self.combo.addItem(f"{kind}  ({spec.family})", kind)
            self.combo.setItemData(self.combo.count() - 1, spec.help, Qt.ToolTipRole)
        self._config: dict[str, Any] = {}
        self.draw_button = self._button("Draw…", "Draw points or paint a density to fit", self.draw)
        self.draw_images_button = self._button("Draw images…", "Draw a few 8×8 or 28×28 images as a small image "
                                                "data set", self.draw_images)
        self.energy_button = self._button("Energy: paint…", "Paint an energy: where you paint, the energy is low "
                                          "and the flow should put its samples", self.paint_energy)
        self.source_actions: dict[str, QAction] = {}
        buttons = [self.draw_button, self.draw_images_button, self.energy_button, *self._source_buttons()]
        grid = QGridLayout()
        for i, b in enumerate(buttons):
            grid.addWidget(b, i // 2, i % 2)
        self.help = QLabel("")
        self.help.setWordWrap(True)
        self.form = ParamForm()
        box.addWidget(self.combo)
        box.addLayout(grid)
        box.addWidget(self.help)
        box.addWidget(self.form)
        box.addStretch(1)

    def _button(self, text: str, tip: str, slot: Any) -> QPushButton:
        b = QPushButton(text)
        b.setToolTip(tip)
        b.clicked.connect(slot)
        return b

    def _source_buttons(self) -> list[QPushButton]:
        """One button per kind the registry says reads a file or folder; kinds of one group share a button
        whose menu offers each."""
        groups: dict[str, list[str]] = {}
        for kind, spec in TARGETS.items():
            if spec.source is not None:
                groups.setdefault(spec.source.group or kind, []).append(kind)
                action = QAction(f"{spec.source.title}…", self)
                action.setToolTip(spec.help)
                action.triggered.connect(lambda _=False, k=kind: self.pick_source(k))
                self.source_actions[kind] = action
        out = []
        for name, kinds in groups.items():
            if len(kinds) == 1:
                action = self.source_actions[kinds[0]]
                out.append(self._button(action.text(), action.toolTip(), action.trigger))
                continue
            b = QPushButton(f"{name}…")
            b.setToolTip(" or ".join(TARGETS[k].source.title for k in kinds))  # type: ignore[union-attr]
            menu = QMenu(b)
            menu.setToolTipsVisible(True)
            menu.addActions([self.source_actions[k] for k in kinds])
            b.setMenu(menu)
            out.append(b)
        self._buttons_by_kind = {k: b for b, kinds in zip(out, groups.values(), strict=True) for k in kinds}
        return out

    def source_button(self, kind: str) -> QPushButton:
        """The button that offers ``kind`` (a kind whose registry entry has a data source)."""
        return self._buttons_by_kind[kind]

    def show_config(self, config: dict[str, Any]) -> None:
        self._config = config
        kind = config["kind"]
        i = self.combo.findData(kind)
        with signals_blocked(self.combo):
            if i < 0:
                self.combo.addItem(f"{kind}  ({TARGETS[kind].family})", kind)
                i = self.combo.count() - 1
            self.combo.setCurrentIndex(i)
        spec = TARGETS[kind]
        source = config.get("data", {}).get("path")
        self.help.setText(spec.help + (f"\n{source}" if source else ""))
        self.form.set_params(spec.params, config.get("params", {}))

    def pick_source(self, kind: str) -> None:
        """Ask for ``kind``'s file or folder, as its registry entry describes it; a choice becomes the target."""
        source = TARGETS[kind].source
        assert source is not None, f"target kind {kind!r} reads no file"
        caption = source.title
        if source.folder:
            path = QFileDialog.getExistingDirectory(self, caption, source.start)
        else:
            path, _ = QFileDialog.getOpenFileName(self, caption, source.start, source.pattern)
        if path:
            self.config_requested.emit({"kind": kind, "params": {}, "data": {"path": path}})

    def draw(self) -> None:
        """Draw points or paint a density, starting from the current drawing if the target is one."""
        dialog = DrawDialog(self, ("points", "painted_density"), start=self._config)
        if dialog.exec():
            self.config_requested.emit(dialog.target_config())

    def paint_energy(self) -> None:
        """Paint an energy, starting from the current painted energy if the target is one."""
        dialog = DrawDialog(self, ("painted_energy",), start=self._config, title="Paint an energy")
        if dialog.exec():
            self.config_requested.emit(dialog.target_config())

    def draw_images(self) -> None:
        """The image-drawing dialog, starting from the current drawn images if the target is made of them."""
        data = self._config.get("data", {}) if self._config.get("kind") == "drawn_images" else {}
        dialog = self.images_dialog(data.get("images"))
        if dialog.exec():
            self.config_requested.emit(dialog.target_config())

    def images_dialog(self, images: list | None = None) -> DrawImagesDialog:
        """The dialog ``draw_images`` opens; drawings it cannot read (a hand-edited preset) start it empty."""
        try:
            start = [np.asarray(img, dtype=np.float32) for img in images or []]
            if any(a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape != start[0].shape for a in start):
                start = []
        except (TypeError, ValueError):
            start = []
        return DrawImagesDialog(self, start)
