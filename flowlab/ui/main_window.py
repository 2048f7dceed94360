"""The playground window: stack editor, target and training controls, live views in rearrangeable docks."""

from __future__ import annotations

import copy
import gc
import json
import math
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from PySide6.QtCore import QSettings, QSize, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QFontMetricsF, QKeySequence, QPainter, QPaintEvent, QUndoStack
from PySide6.QtWidgets import (QComboBox, QDockWidget, QFileDialog, QFormLayout, QLabel, QMainWindow, QMessageBox,
                               QSizePolicy, QStyle, QToolBar, QVBoxLayout, QWidget)

from flowlab.errors import FlowlabError
from flowlab.presets import Preset, PresetError, load_preset, save_preset
from flowlab.presets.builtin import builtin_paths, load_builtin
from flowlab.targets import TARGETS, build_target
from flowlab.training.checkpoints import load_checkpoint, weights_path_for
from flowlab.training.messages import Command, Event, Failure, Score, Scored, SetImageOptions
from flowlab.training.objectives import Plan
from flowlab.training.settings import TRAIN_PARAMS, TrainSettings
from flowlab.training.trainer import Trainer
from flowlab.training.views import Snapshot
from flowlab.ui.commands import ReplaceStack, SetParam
from flowlab.ui.param_editor import LayerEditor, ParamForm, scrolling
from flowlab.ui.stack_model import StackModel
from flowlab.ui.stack_panel import StackPanel
from flowlab.ui.target_panel import TargetPanel
from flowlab.ui.views import table as view_table
from flowlab.ui.views.base import View, ViewContext, data_kind, set_presentation
from flowlab.ui.worker import Progress, TrainingSession

REDRAW_MS = 33  # ≤ 30 Hz
DATA_WORDS = {"1d": "1-D points", "2d": "2-D points", "nd": "points in more than 2 dimensions", "image": "images"}
COMPACT_WIDTH = 1200  # a first start narrower than this puts both side panels in one column, as tabs
RESTART_DEBOUNCE_MS = 300  # edits closer together than this (a dragged spin box, repeated undo) restart once
LIVE_SETTINGS = ("learning_rate", "batch_size", "weight_decay", "grad_clip", "schedule", "schedule_steps",
                 "eval_every", "keep_best", "energy_samples")


class ElidedLabel(QLabel):
    """A one-line label that may shrink: short of room its text ends in "…", and the tooltip holds the whole
    (``text()`` stays the whole text). ``max_chars`` caps the width it asks for (a long GPU name)."""

    def __init__(self, max_chars: int | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.max_chars = max_chars
        self.setSizePolicy(QSizePolicy.Preferred, QSizePolicy.Preferred)

    def set_text(self, text: str, tooltip: str | None = None) -> None:
        self.setText(text)
        self.setToolTip(tooltip if tooltip is not None else text)

    def _width_for(self, text: str) -> int:
        m = self.contentsMargins()  # + a few pixels: elidedText measures in fractions, advances are rounded
        return math.ceil(QFontMetricsF(self.font()).horizontalAdvance(text)) + m.left() + m.right() + 4

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        width = self._width_for(self.text()) if self.text() else 0
        if self.max_chars is not None:
            width = min(width, self.fontMetrics().averageCharWidth() * self.max_chars)
        return QSize(width, super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        width = min(self._width_for(self.text()), self._width_for("xxxx…")) if self.text() else 0
        return QSize(width, super().minimumSizeHint().height())

    def shown_text(self) -> str:
        """The text as drawn at the current width."""
        return self.fontMetrics().elidedText(self.text(), Qt.ElideRight, self.contentsRect().width())

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.drawText(self.contentsRect(), int(Qt.AlignLeft | Qt.AlignVCenter), self.shown_text())


class MainWindow(QMainWindow):
    """One document (a preset being edited) and one training session at a time."""

    def __init__(self, preset: Preset | None = None, path: Path | None = None) -> None:
        super().__init__()
        self.setWindowTitle("flowlab")
        screen = self.screen().availableGeometry()
        self.resize(min(1400, screen.width()), min(900, screen.height()))  # a small screen: the whole of it
        self.undo_stack = QUndoStack(self)
        self.model = StackModel(parent=self)
        self.session: TrainingSession | None = None
        self._latest: Snapshot | None = None
        self._drawn: Snapshot | None = None
        self._running = False
        self.target_config: dict[str, Any] = {"kind": "moons", "params": {}, "data": {}}
        self.settings_values = TrainSettings()
        self.preset_name = "untitled"
        self.preset_description = ""
        self.base = "standard"
        self.view_settings: dict[str, Any] = {}
        self.path: Path | None = None
        self._load_weights = False
        self._target_cache: tuple[str, Any] | None = None
        self.entropy: float | None = None
        self.setAcceptDrops(True)  # drop a preset file on the window to open it
        self._build_ui()
        self._build_actions()
        self.model.changed.connect(self._stack_changed)
        self.redraw_timer = QTimer(self)
        self.redraw_timer.setInterval(REDRAW_MS)
        self.redraw_timer.timeout.connect(self._redraw)
        self.redraw_timer.start()
        self.restart_timer = QTimer(self)
        self.restart_timer.setSingleShot(True)
        self.restart_timer.setInterval(RESTART_DEBOUNCE_MS)
        self.restart_timer.timeout.connect(self._restart_session)
        self._restore_settings()
        self.apply_preset(preset or load_builtin(), path)

    # -- construction ---------------------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        self.setDockNestingEnabled(True)
        self.stack_panel = StackPanel(self.model, self.undo_stack)
        self.stack_panel.selection_changed.connect(self._show_layer)
        self.layer_editor = LayerEditor()
        self.layer_editor.form.edited.connect(self._layer_param_edited)
        self.target_panel = TargetPanel()
        self.target_panel.combo.currentIndexChanged.connect(self._target_kind_changed)
        self.target_panel.form.edited.connect(self._target_param_edited)
        self.target_panel.config_requested.connect(self._set_target)
        self.train_form = ParamForm()
        self.train_form.set_params(TRAIN_PARAMS, self.settings_values.to_dict())
        self.train_form.edited.connect(self._training_edited)
        self.notes = QLabel("")
        self.notes.setWordWrap(True)

        layers = self._dock("Layers", self.stack_panel, Qt.LeftDockWidgetArea)
        params = self._dock("Layer parameters", self.layer_editor, Qt.LeftDockWidgetArea)
        right = QWidget()
        form = QVBoxLayout(right)
        form.addWidget(QLabel("<b>Target</b>"))
        form.addWidget(self.target_panel)
        form.addWidget(QLabel("<b>Training</b>"))
        form.addWidget(self.train_form)
        form.addWidget(self.notes)
        form.addStretch(1)
        right.setMaximumWidth(340)  # long descriptions wrap instead of squeezing the views
        panel = self._dock("Target and training", scrolling(right), Qt.RightDockWidgetArea)  # short screens scroll
        self.side_docks = (layers, params, panel)

        self._build_view_docks()

        # Short texts that elide rather than widen the window (a 1024 px screen), each with its whole story in
        # the tooltip; room is left on the left for the bar's passing messages.
        self.status_device = ElidedLabel(max_chars=24)
        self.status_step = ElidedLabel(max_chars=40)
        self.status_scores = ElidedLabel()
        for w in (self.status_device, self.status_step, self.status_scores):
            self.statusBar().addPermanentWidget(w)

    def _build_view_docks(self) -> None:
        """Every view of the table is a dock the user can move, tab, float or close (the View menu brings them
        back). They live in an inner main window so that the editing panels keep their place at the sides."""
        self.view_area = QMainWindow()
        self.view_area.setObjectName("viewArea")
        self.view_area.setDockNestingEnabled(True)
        self.setCentralWidget(self.view_area)
        self.views: dict[str, View] = {}
        self.view_docks: dict[str, QDockWidget] = {}
        for row in view_table.VIEWS:
            view = self.views[row.key] = row.cls()
            view.command.connect(lambda command, view=view: self._forward_command(view, command))
            if view.exports_samples:  # the same export as File ▸ Export samples
                view.add_export_action("Save samples as CSV or NPY…", self.export_samples_dialog, "samples")
            self.view_docks[row.key] = self._dock(row.title, view, row.area, self.view_area)
        first = {group: self.view_docks[rows[0].key] for group, rows in view_table.groups().items()}
        previous: dict[Qt.DockWidgetArea, QDockWidget] = {}
        for group, rows in view_table.groups().items():  # groups of one area side by side (split before the
            if rows[0].area in previous:                  # tabs: Qt splits a tabbed dock by adding a tab)
                self.view_area.splitDockWidget(previous[rows[0].area], first[group], Qt.Horizontal)
            previous[rows[0].area] = first[group]
        for group, rows in view_table.groups().items():
            for a, b in pairwise(rows):  # one place, as tabs in the table's order
                self.view_area.tabifyDockWidget(self.view_docks[a.key], self.view_docks[b.key])
            first[group].raise_()
        for dock in self.view_docks.values():
            dock.visibilityChanged.connect(lambda _visible: self._views_shown_changed())
        # Which view docks the user closed (View menu, a dock's close button): they stay closed. The others show
        # whenever their view can draw the target's data, and hide (their menu entry disabled) when it cannot.
        self.closed_views: set[str] = set()
        self._ruling = False  # the window itself is showing or hiding docks: not the user's choice
        for key, dock in self.view_docks.items():
            dock.toggleViewAction().toggled.connect(lambda on, key=key: self._view_toggled(key, on))
        for pair in view_table.SIDE_BY_SIDE:
            self.view_area.resizeDocks([first[g] for g in pair], [1, 1], Qt.Horizontal)
        self.view_area.resizeDocks([first[g] for g, _ in view_table.HEIGHTS], [h for _, h in view_table.HEIGHTS],
                                   Qt.Vertical)

    def _fit_side_docks(self) -> None:
        """First start: each side panel gets a fifth of the width (200–320 px), the layer list 3/5 of the left.
        On a small screen the target and training panel becomes a tab beside the layers: the views keep room."""
        layers, params, panel = self.side_docks
        side = max(200, min(320, self.width() // 5))
        if self.width() < COMPACT_WIDTH:
            self.tabifyDockWidget(layers, panel)
            layers.raise_()
            side = max(240, min(320, self.width() // 4))
        self.resizeDocks([layers, panel], [side, side], Qt.Horizontal)
        self.resizeDocks([layers, params], [3, 2], Qt.Vertical)

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea,
              window: QMainWindow | None = None) -> QDockWidget:
        window = window or self
        dock = QDockWidget(title, window)
        dock.setObjectName(f"dock_{title}")
        dock.setWidget(widget)
        window.addDockWidget(area, dock)
        return dock

    def _build_actions(self) -> None:
        tb = QToolBar("Training")
        tb.setObjectName("trainingToolbar")
        self.addToolBar(tb)
        self.play_action = QAction(self.style().standardIcon(QStyle.SP_MediaPlay), "Play", self)
        self.play_action.setShortcut(QKeySequence("Ctrl+Space"))
        self.play_action.setToolTip("Play or pause training (Ctrl+Space)")
        self.play_action.triggered.connect(self.toggle_play)
        self.step_action = QAction(self.style().standardIcon(QStyle.SP_MediaSkipForward), "Step", self)
        self.step_action.setShortcut(QKeySequence("Ctrl+Right"))
        self.step_action.setToolTip("One training step (Ctrl+Right)")
        self.step_action.triggered.connect(self.single_step)
        self.reset_action = QAction(self.style().standardIcon(QStyle.SP_BrowserReload), "Reset weights", self)
        self.reset_action.setShortcut(QKeySequence("Ctrl+R"))
        self.reset_action.triggered.connect(self.reset_weights)
        tb.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        for a in (self.play_action, self.step_action, self.reset_action):
            tb.addAction(a)

        file_menu = self.menuBar().addMenu("&File")
        for text, keys, slot in (("&New", QKeySequence.New, self.new_document),
                                 ("&Open…", QKeySequence.Open, self.open_dialog),
                                 ("&Save", QKeySequence.Save, self.save),
                                 ("Save &As…", QKeySequence.SaveAs, self.save_as)):
            a = QAction(text, self)
            a.setShortcut(keys)
            a.triggered.connect(slot)
            file_menu.addAction(a)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        save_weights = QAction("Save &weights beside the preset", self)
        save_weights.setStatusTip("Write NAME.weights.pt next to the preset file; opening the preset resumes them")
        save_weights.triggered.connect(self.save_weights)
        file_menu.addAction(save_weights)
        file_menu.addSeparator()
        export = QAction("&Export samples…", self)
        export.setStatusTip("Save the model's current samples as CSV or NPY")
        export.triggered.connect(self.export_samples_dialog)
        file_menu.addAction(export)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)

        edit = self.menuBar().addMenu("&Edit")
        undo = self.undo_stack.createUndoAction(self, "&Undo")
        undo.setShortcut(QKeySequence.Undo)
        redo = self.undo_stack.createRedoAction(self, "&Redo")
        redo.setShortcuts([QKeySequence.Redo, QKeySequence("Ctrl+Shift+Z")])
        edit.addAction(undo)
        edit.addAction(redo)
        self.undo_action, self.redo_action = undo, redo

        presets = self.menuBar().addMenu("&Presets")
        presets.setToolTipsVisible(True)
        planar = presets.addMenu("Planar flows on U1–U4 (Rezende && Mohamed)")
        planar.setToolTipsVisible(True)
        for key, path in builtin_paths().items():
            try:
                p = load_preset(path)
            except PresetError:
                continue  # a broken built-in file is left out of the menu, not fatal
            a = QAction(p.name, self)
            a.setToolTip(p.description)
            a.setStatusTip(p.description)
            a.triggered.connect(lambda _=False, k=key: self.open_builtin(k))
            (planar if key.startswith("planar_") else presets).addAction(a)

        view = self.menuBar().addMenu("&View")
        view.setToolTipsVisible(True)  # a view that cannot draw this target's data says why it is greyed out
        for dock in (*self.side_docks, *self.view_docks.values()):
            view.addAction(dock.toggleViewAction())
        view.addSeparator()
        self.presentation_action = QAction("&Presentation mode", self)
        self.presentation_action.setShortcut(QKeySequence("F11"))
        self.presentation_action.setCheckable(True)
        self.presentation_action.toggled.connect(self.set_presentation_mode)
        view.addAction(self.presentation_action)
        self._update_recent_menu()

    # -- documents ------------------------------------------------------------------------------------------------
    def current_preset(self) -> Preset:
        return Preset(name=self.preset_name, description=self.preset_description, layers=self.model.layers(),
                      target=copy.deepcopy(self.target_config), base=self.base, training=self.settings_values,
                      view=copy.deepcopy(self.view_settings))

    def apply_preset(self, preset: Preset, path: Path | None = None) -> None:
        self._stop_session()
        self.preset_name, self.preset_description = preset.name, preset.description
        self.base, self.view_settings = preset.base, dict(preset.view)
        self.target_config = copy.deepcopy(preset.target)
        self.settings_values = preset.training
        self.train_form.set_params(TRAIN_PARAMS, self.settings_values.to_dict())
        self.target_panel.show_config(self.target_config)
        self._set_shape_from_target()
        self.undo_stack.clear()
        self.model.replace_all(preset.layers)
        self.undo_stack.setClean()
        self.path = path
        self._load_weights = path is not None
        if path is not None:
            self._add_recent(path)
        self.setWindowTitle(f"flowlab — {preset.name}" + (f" ({path.name})" if path else ""))
        self.notes.setText(preset.description)
        self._restart_session()

    def open_path(self, path: str | Path) -> bool:
        """Open a preset file; a broken file shows a dialog naming the problem and changes nothing."""
        try:
            preset = load_preset(path)
        except PresetError as e:
            QMessageBox.warning(self, "Cannot open preset", str(e))
            return False
        self.apply_preset(preset, Path(path))
        return True

    def open_builtin(self, key: str) -> None:
        try:
            self.apply_preset(load_builtin(key))
        except PresetError as e:
            QMessageBox.warning(self, "Cannot open preset", str(e))

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open preset", "", "flowlab presets (*.json)")
        if path:
            self.open_path(path)

    def new_document(self) -> None:
        self.apply_preset(Preset(name="untitled", layers=[], target={"kind": "moons", "params": {}, "data": {}}))

    def save(self) -> bool:
        return self.save_to(self.path) if self.path else self.save_as()

    def save_as(self) -> bool:
        path, _ = QFileDialog.getSaveFileName(self, "Save preset", f"{self.preset_name}.json",
                                              "flowlab presets (*.json)")
        return self.save_to(Path(path)) if path else False

    def save_to(self, path: Path) -> bool:
        try:
            save_preset(self.current_preset(), path)
        except (OSError, ValueError) as e:
            QMessageBox.warning(self, "Cannot save preset", f"{path}: {e}")
            return False
        self.path = Path(path)
        self.undo_stack.setClean()
        self._add_recent(self.path)
        self.statusBar().showMessage(f"saved {path}", 4000)
        return True

    def save_weights(self) -> bool:
        """Save the preset (asking for a file if it has none), then the weights beside it, from the worker."""
        self.flush_restart()
        if self.session is None or (self.path is None and not self.save_as()) or not self.save_to(self.path):
            return False
        self.session.worker.save_weights(weights_path_for(self.path))
        return True

    def export_samples_dialog(self) -> bool:
        path, _ = QFileDialog.getSaveFileName(self, "Export samples", "samples.csv", "CSV (*.csv);;NumPy (*.npy)")
        return self.export_samples(Path(path)) if path else False

    def export_samples(self, path: Path) -> bool:
        """The newest model samples (as drawn) to CSV or NPY; the format follows the file name."""
        snap = self._latest
        samples = None if snap is None else (snap.model_samples if snap.model_samples is not None
                                             else snap.image_samples)
        if samples is None:
            QMessageBox.warning(self, "Nothing to export", "There are no model samples yet.")
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
            QMessageBox.warning(self, "Cannot export samples", f"{path}: {e.strerror or e}")
            return False
        self.statusBar().showMessage(f"exported {len(samples)} samples to {path}", 4000)
        return True

    def _add_recent(self, path: Path) -> None:
        s = QSettings()
        recent = [p for p in (s.value("recent", []) or []) if p != str(path)]
        s.setValue("recent", [str(path)] + recent[:7])
        self._update_recent_menu()

    def _update_recent_menu(self) -> None:
        self.recent_menu.clear()
        for p in QSettings().value("recent", []) or []:
            a = QAction(p, self)
            a.triggered.connect(lambda _=False, path=p: self.open_path(path))
            self.recent_menu.addAction(a)

    # -- edits ----------------------------------------------------------------------------------------------------
    def _show_layer(self, row: int | None) -> None:
        if row is None or row >= self.model.rowCount():
            self.layer_editor.show_layer(None, None, None)
            return
        problem = self.model.problem(row)
        self.layer_editor.show_layer(row, self.model.layer(row), problem.reason if problem else None)

    def _layer_param_edited(self, name: str, value: Any) -> None:
        row = self.stack_panel.view.current_row()
        if row is not None:
            self.undo_stack.push(SetParam(self.model, row, name, value))

    def _stack_changed(self) -> None:
        self._show_layer(self.stack_panel.view.current_row())
        if self._running:
            self.statusBar().showMessage("Training paused: the stack changed. Press play to train the new stack.",
                                         6000)
        self._schedule_restart()

    def _target_kind_changed(self, _index: int) -> None:
        kind = self.target_panel.combo.currentData()
        if kind and kind != self.target_config["kind"]:
            self._set_target({"kind": kind, "params": {}, "data": {}})

    def _target_param_edited(self, name: str, value: Any) -> None:
        cfg = copy.deepcopy(self.target_config)
        cfg["params"][name] = value
        self._set_target(cfg)

    def _target(self, config: dict[str, Any] | None = None):  # noqa: ANN202
        """The built target for ``config`` (default: the current one), built once per configuration on this
        thread: choosing, validating, framing the views all read it (a picture or an image folder is slow)."""
        config = self.target_config if config is None else config
        key = json.dumps(config, sort_keys=True)
        if self._target_cache is None or self._target_cache[0] != key:
            self._target_cache = (key, build_target(config))
        return self._target_cache[1]

    def _set_target(self, config: dict[str, Any]) -> None:
        try:
            self._target(config)
        except FlowlabError as e:
            QMessageBox.warning(self, "Cannot use this target", str(e))
            self.target_panel.show_config(self.target_config)
            return
        self.target_config = config
        self.target_panel.show_config(config)
        self._set_shape_from_target()
        self._schedule_restart()

    def _set_shape_from_target(self) -> None:
        try:
            shape = self._target().shape
        except FlowlabError:
            return
        self.model.set_shape(shape)

    def _training_edited(self, name: str, value: Any) -> None:
        try:
            self.settings_values = self.settings_values.updated(**{name: value})
        except FlowlabError as e:
            self.statusBar().showMessage(str(e), 6000)
            return
        if name in LIVE_SETTINGS and self.session is not None:
            self.session.worker.update_settings(**{name: value})
        else:
            self._schedule_restart()

    # -- training -------------------------------------------------------------------------------------------------
    def _stop_session(self) -> None:
        if self.session is not None:
            if self.session.shutdown():
                # Free the old model now, while no training thread runs: left to the cyclic garbage collector,
                # torch objects were torn down on the UI thread (holding the GIL) while the next session's thread
                # was inside torch, and the two deadlocked.
                self.session.worker.trainer = None
                gc.collect()
            self.session.deleteLater()
            self.session = None
        self._set_running(False)

    def _mark_problems(self) -> bool:
        """Play and Step follow the stack's validity at once (no waiting for a restart); True if it is valid."""
        problems = [self.model.problem(r) for r in range(self.model.rowCount()) if self.model.problem(r)]
        self.play_action.setEnabled(not problems)
        self.step_action.setEnabled(not problems)
        if problems:
            self.status_step.set_text(f"⚠ {problems[0]}")
        elif self.status_step.text().startswith("⚠"):
            self.status_step.set_text("")
        return not problems

    def _schedule_restart(self) -> None:
        """Pause now and restart once edits stop for ``RESTART_DEBOUNCE_MS``: a burst of edits builds one
        trainer, for the final state. Invalid layers are marked at once."""
        if self.session is not None:
            self.session.worker.pause()
            self._set_running(False)
        self._mark_problems()
        self.restart_timer.start()

    def flush_restart(self) -> None:
        """Restart now if one is pending (before anything that needs the session: play, step, save...)."""
        if self.restart_timer.isActive():
            self._restart_session()

    def _restart_session(self) -> None:
        """A new trainer for the current stack, target and settings (fresh weights); views show it at once."""
        self.restart_timer.stop()
        self._stop_session()
        if not self._mark_problems():
            self._show_applicable_views()  # no model to draw, but the docks still follow the target's data
            return
        layers = [e for e in self.model.layers()]
        target_cfg = copy.deepcopy(self.target_config)
        settings = self.settings_values
        base = self.base

        weights = weights_path_for(self.path) if self.path is not None and self._load_weights else None
        self._load_weights = False  # weights belong to the preset as opened, not to later edits

        def factory() -> Trainer:
            trainer = Trainer(layers, build_target(target_cfg), settings, base=base)
            if weights is not None and weights.exists():
                try:
                    load_checkpoint(trainer, weights)
                except FlowlabError as e:  # fresh weights instead, and say why
                    trainer.plan = Plan(trainer.plan.objective, trainer.plan.notes + (f"Saved weights not loaded: {e}",))
            return trainer

        self.session = TrainingSession(factory, parent=self)
        w = self.session.worker
        w.ready.connect(self._session_ready)
        w.progress.connect(self._on_progress)
        w.snapshot.connect(self._on_snapshot)
        w.failed.connect(self._on_failed)
        w.diverged.connect(self._on_diverged)
        w.running_changed.connect(self._set_running)
        w.saved.connect(lambda p: self.statusBar().showMessage(f"saved weights to {p}", 5000))
        w.scored.connect(self._on_scored)
        w.score_failed.connect(self._on_score_failed)
        self._configure_views()
        for v in self.views.values():
            v.clear()
        self.session.start()
        for v in self.views.values():  # the views' controls as they stand (image options…)
            for command in v.session_commands():
                self._forward_command(v, command)
        QTimer.singleShot(0, self._views_shown_changed)

    def _view_toggled(self, key: str, on: bool) -> None:
        if self._ruling:
            return
        (self.closed_views.discard if on else self.closed_views.add)(key)

    def _show_applicable_views(self) -> None:
        """One rule for every view dock: shown when its view can draw this target's data (``View.data_kinds``)
        and the user has not closed it, hidden otherwise; the View menu entry of a view that cannot draw the data
        is disabled and says why. Qt keeps a hidden dock's place (its tab group, its split) for when it shows."""
        shape = self.model.shape
        kind = data_kind(shape)
        self._ruling = True
        try:
            for key, dock in self.view_docks.items():
                applies = self.views[key].applies_to(shape)
                action = dock.toggleViewAction()
                action.setEnabled(applies)
                why = "" if applies else f"{dock.windowTitle()} does not apply to {DATA_WORDS[kind]}"
                action.setToolTip(why or dock.windowTitle())
                action.setStatusTip(why)
                show = applies and key not in self.closed_views
                if dock.isHidden() == show:
                    dock.setVisible(show)
        finally:
            self._ruling = False

    def _configure_views(self) -> None:
        """A new session: show the docks that apply, bring the view that suits the data to the front of each tab
        group (views behind other tabs are not computed at all), and tell every view the new context."""
        self._show_applicable_views()
        for rows in view_table.groups().values():  # the first view of a group that is shown comes to the front
            shown = [self.view_docks[r.key] for r in rows if not self.view_docks[r.key].isHidden()]
            if shown:
                shown[0].raise_()
        try:
            bounds = self._target().bounds
        except FlowlabError:
            bounds = None
        ctx = ViewContext(shape=tuple(self.model.shape), bounds=tuple(bounds) if bounds else None,
                          layer_names=tuple(e["kind"] for e in self.model.layers() if e.get("enabled", True)),
                          energy=TARGETS[self.target_config["kind"]].objective == "energy")
        for v in self.views.values():
            v.configure(ctx)
        QTimer.singleShot(0, self._balance_views)

    def _balance_views(self) -> None:
        """Even out the view docks once the layout has settled (Qt keeps stale split sizes otherwise): the first
        shown dock of each group of a side-by-side pair; a group all hidden leaves its neighbour the room."""
        groups = view_table.groups()
        for pair in view_table.SIDE_BY_SIDE:
            docks = [next((self.view_docks[r.key] for r in groups[g] if not self.view_docks[r.key].isHidden()), None)
                     for g in pair]
            if None not in docks:
                self.view_area.resizeDocks(docks, [1, 1], Qt.Horizontal)

    def shown_views(self) -> frozenset[str]:
        """The snapshot parts the visible docks need (a tab behind another one is not visible)."""
        return frozenset(row.snapshot for row in view_table.VIEWS
                         if row.snapshot is not None and self.view_docks[row.key].isVisible()
                         and not self.view_docks[row.key].visibleRegion().isEmpty())

    def _route_to_views(self, event: Event) -> None:
        """Hand one of the session's events to every view (each takes what concerns it)."""
        for v in self.views.values():
            v.handle_event(event)

    @Slot(object)
    def _on_scored(self, result: Any) -> None:
        self._route_to_views(Scored(result))

    @Slot(str)
    def _on_score_failed(self, message: str) -> None:
        self._route_to_views(Failure("score", message))

    def _forward_command(self, view: View, command: Command) -> None:
        """The one place where the views' commands reach the session (mapped onto the worker's calls). A score
        asked for while no model trains is answered at once, to the view that asked."""
        if isinstance(command, Score):
            self.flush_restart()
            if self.session is None or not self.session.thread.isRunning():
                view.handle_event(Failure("score", "No model is training: fix the stack first."))
            else:
                self.session.worker.score(image=command.image, test_index=command.test_index)
        elif isinstance(command, SetImageOptions) and self.session is not None:
            self.session.worker.set_image_options(**command.options)

    def _views_shown_changed(self) -> None:
        if self.session is not None:
            self.session.worker.set_views(self.shown_views())
            self._drawn = None

    def _session_ready(self, info: dict[str, Any]) -> None:
        self.status_device.set_text(info["device"], f"training on {info['device']}")
        self.views["curves"].set_objective(info["objective"])
        notes = "\n".join(info["notes"])
        self.notes.setText((self.preset_description + ("\n\n" if notes else "") + notes).strip())
        trainer = self.session.worker.trainer if self.session else None
        if trainer is not None and trainer.target_entropy() is not None and not trainer.is_images:
            self.views["curves"].floor.setValue(trainer.target_entropy())
            self.views["curves"].floor.setVisible(True)

    def toggle_play(self) -> None:
        self.flush_restart()
        if self.session is None:
            return
        if self._running:
            self.session.worker.pause()
        else:
            self.session.worker.play()

    def single_step(self) -> None:
        self.flush_restart()
        if self.session is not None:
            self.session.worker.pause()
            self.session.worker.step_once()

    def reset_weights(self) -> None:
        self.flush_restart()
        if self.session is not None:
            self.session.worker.reset()
            curves = self.views["curves"]
            curves.reset(self.entropy, bits=len(self.model.shape) == 3, energy=curves.energy)

    def _set_running(self, running: bool) -> None:
        self._running = running
        self.play_action.setText("Pause" if running else "Play")
        self.play_action.setIcon(self.style().standardIcon(QStyle.SP_MediaPause if running else QStyle.SP_MediaPlay))

    def _on_progress(self, p: Progress) -> None:
        rate = f" · {p.steps_per_s:.0f} steps/s" if p.steps_per_s else ""
        self.status_step.set_text(f"step {p.step}{rate}", f"step {p.step}" + (
            f", {p.steps_per_s:.1f} training steps per second" if p.steps_per_s else ""))
        curves = self.views["curves"]
        if p.rows.get("step") and curves.columns.get("step") and p.rows["step"][0] <= curves.columns["step"][-1]:
            curves.reset(curves.floor.value() if curves.floor.isVisible() else None, bits=curves.bits)
        curves.add_rows(p.rows)
        self.status_scores.set_text(*self._scores_text(curves.columns))

    @staticmethod
    def _scores_text(cols: dict[str, list[float]]) -> tuple[str, str]:
        """The latest scores, short for the status bar (``NLL train 3.144 · test 3.115 · gap 1.436``) and
        whole for its tooltip (one line each, with units)."""
        def last(key: str) -> float:
            for v in reversed(cols.get(key, [])):
                if not math.isnan(v):
                    return v
            return math.nan

        v = {key: last(key) for key in ("train_nll", "train_bpd", "train_loss", "test_nll", "test_bpd", "kl_gap",
                                        "true_kl")}
        have = {key for key, value in v.items() if not math.isnan(value)}
        short: list[str] = []
        full: list[str] = []
        if have & {"train_bpd", "test_bpd"}:  # images: bits/dim is the headline, NLL in nats in the tooltip
            for split in ("train", "test"):
                if f"{split}_bpd" in have:
                    short.append(f"{split} {v[f'{split}_bpd']:.3f}")
                    full.append(f"{split}: {v[f'{split}_bpd']:.3f} bits/dim"
                                + (f" (NLL {v[f'{split}_nll']:.3f} nats)" if f"{split}_nll" in have else ""))
            short[0] = f"bits/dim {short[0]}"
        elif have & {"train_nll", "test_nll"}:
            for split in ("train", "test"):
                if f"{split}_nll" in have:
                    short.append(f"{split} {v[f'{split}_nll']:.3f}")
                    full.append(f"{split} negative log-likelihood: {v[f'{split}_nll']:.3f} nats")
            short[0] = f"NLL {short[0]}"
        if "kl_gap" in have:
            short.append(f"gap {v['kl_gap']:.3f}")
            full.append(f"gap to the target's entropy (test NLL − H(p), 0 is a perfect fit): {v['kl_gap']:.3f} nats")
        if "train_loss" in have:
            short.append(f"loss {v['train_loss']:.3f}")
            full.append(f"reverse KL loss (training): {v['train_loss']:.3f} nats")
        if "true_kl" in have:
            short.append(f"KL(q‖p) {v['true_kl']:.3f}")
            full.append(f"true KL(q‖p), with the exact log Z: {v['true_kl']:.3f} nats")
        return " · ".join(short), "\n".join(full)

    def _on_snapshot(self, snap: Snapshot) -> None:
        self._latest = snap  # only the newest is kept; the redraw timer draws it

    def _redraw(self) -> None:
        snap = self._latest
        if snap is None or snap is self._drawn:
            return
        self._drawn = snap
        for key, view in self.views.items():
            if self.view_docks[key].isVisible():
                view.update_snapshot(snap)

    def _on_failed(self, message: str) -> None:
        self.statusBar().showMessage(message.splitlines()[0], 8000)
        if "training step failed" in message or "could not" in message:
            QMessageBox.warning(self, "Training problem", message)

    def _on_diverged(self, message: str) -> None:
        QMessageBox.warning(self, "Training paused", message)

    def set_presentation_mode(self, on: bool) -> None:
        """Bigger fonts and thicker lines, full screen: for a lecture hall."""
        app_font = self.font()
        app_font.setPointSizeF(app_font.pointSizeF() * (1.5 if on else 1 / 1.5))
        self.setFont(app_font)
        set_presentation(on)
        for v in self.views.values():
            v.apply_style()
        self._drawn = None  # redraw with the new style
        if on:
            self.showFullScreen()
        else:
            self.showNormal()

    def dragEnterEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt's name
        if any(u.toLocalFile().lower().endswith(".json") for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802, ANN001
        for url in event.mimeData().urls():
            if url.toLocalFile().lower().endswith(".json"):
                event.acceptProposedAction()
                self.open_path(url.toLocalFile())
                return

    # -- lifecycle ------------------------------------------------------------------------------------------------
    def _restore_settings(self) -> None:
        s = QSettings()
        geometry = s.value("geometry")
        state = s.value("windowState")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)
        else:
            QTimer.singleShot(0, self._fit_side_docks)
        view_state = s.value("viewState")
        if view_state is not None:
            self._ruling = True
            try:
                self.view_area.restoreState(view_state)
            finally:
                self._ruling = False
        if s.contains("closedViews"):
            self.closed_views = {str(k) for k in s.value("closedViews", [], type=list) if k in self.views}
        elif view_state is not None:  # saved before the window hid docks itself: a hidden dock was the user's
            self.closed_views = {k for k, dock in self.view_docks.items() if dock.isHidden()}

    def closeEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt's name
        s = QSettings()
        s.setValue("geometry", self.saveGeometry())
        s.setValue("windowState", self.saveState())
        s.setValue("viewState", self.view_area.saveState())
        s.setValue("closedViews", sorted(self.closed_views))
        self.redraw_timer.stop()
        self.restart_timer.stop()
        self._stop_session()
        super().closeEvent(event)


