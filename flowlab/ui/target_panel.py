"""Pick what to fit: a target from the registry with its parameters, a picture, a points file, or a drawing."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from flowlab.targets import TARGETS
from flowlab.ui.draw_canvas import DrawDialog
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
        buttons = QHBoxLayout()
        self.draw_button = QPushButton("Draw…")
        self.draw_button.setToolTip("Draw points or paint a density to fit")
        self.picture_button = QPushButton("Picture…")
        self.picture_button.setToolTip("Use a PNG or JPEG as a density: dark is mass")
        self.file_button = QPushButton("Points file…")
        self.file_button.setToolTip("Fit points from a CSV (two numeric columns) or NPY file")
        for b in (self.draw_button, self.picture_button, self.file_button):
            buttons.addWidget(b)
        self.draw_button.clicked.connect(self.draw)
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
