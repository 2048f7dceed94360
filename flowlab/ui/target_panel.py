"""Pick what to fit: a target from the registry with its parameters, a picture, a points file, or a drawing."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QGridLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from flowlab.targets import TARGETS
from flowlab.ui.draw_canvas import DrawDialog
from flowlab.ui.image_canvas import DrawImagesDialog
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
        buttons = QGridLayout()
        self.draw_button = QPushButton("Draw…")
        self.draw_button.setToolTip("Draw points or paint a density to fit")
        self.draw_images_button = QPushButton("Draw images…")
        self.draw_images_button.setToolTip("Draw a few 8×8 or 28×28 images as a small image data set")
        self.picture_button = QPushButton("Picture…")
        self.picture_button.setToolTip("Use a PNG or JPEG as a density: dark is mass")
        self.file_button = QPushButton("Points file…")
        self.file_button.setToolTip("Fit points from a CSV (two numeric columns) or NPY file")
        for i, b in enumerate((self.draw_button, self.draw_images_button, self.picture_button, self.file_button)):
            buttons.addWidget(b, i // 2, i % 2)
        self.draw_button.clicked.connect(self.draw)
        self.draw_images_button.clicked.connect(self.draw_images)
        self.picture_button.clicked.connect(lambda: self._pick_file("picture", "Pictures (*.png *.jpg *.jpeg)"))
        self.file_button.clicked.connect(lambda: self._pick_file("file_points", "Points (*.csv *.npy *.txt)"))
        self.help = QLabel("")
        self.help.setWordWrap(True)
        self.form = ParamForm()
        box.addWidget(self.combo)
        box.addLayout(buttons)
        box.addWidget(self.help)
        box.addWidget(self.form)
        box.addStretch(1)

    def show_config(self, config: dict[str, Any]) -> None:
        self._config = config
        kind = config["kind"]
        i = self.combo.findData(kind)
        self.combo.blockSignals(True)
        if i < 0:
            self.combo.addItem(f"{kind}  ({TARGETS[kind].family})", kind)
            i = self.combo.count() - 1
        self.combo.setCurrentIndex(i)
        self.combo.blockSignals(False)
        spec = TARGETS[kind]
        source = config.get("data", {}).get("path")
        self.help.setText(spec.help + (f"\n{source}" if source else ""))
        self.form.set_params(spec.params, config.get("params", {}))

    def _pick_file(self, kind: str, pattern: str) -> None:
        start = ""
        if kind == "picture":
            from flowlab.targets.user_data import shipped_pictures

            shipped = shipped_pictures()
            start = str(next(iter(shipped.values())).parent) if shipped else ""
        path, _ = QFileDialog.getOpenFileName(self, "Choose a file", start, pattern)
        if path:
            self.config_requested.emit({"kind": kind, "params": {}, "data": {"path": path}})

    def draw(self) -> None:
        dialog = DrawDialog(self)
        if dialog.exec():
            self.config_requested.emit(dialog.canvas.target_config())

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
