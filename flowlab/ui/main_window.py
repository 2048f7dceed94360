"""The playground window: stack editor, target and training controls, live views in rearrangeable docks."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from PySide6.QtCore import QSettings, QSize, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QFontMetricsF, QKeySequence, QPainter, QPaintEvent, QUndoStack
from PySide6.QtWidgets import (QDockWidget, QLabel, QMainWindow, QMessageBox,
                               QSizePolicy, QStyle, QToolBar, QVBoxLayout, QWidget)

from flowlab.document import Document
from flowlab.errors import FlowlabError
from flowlab.presets import Preset
from flowlab.presets.builtin import load_builtin
from flowlab.targets import TARGETS
from flowlab.training.checkpoints import weights_path_for
from flowlab.training.messages import (ChangeSettings, Event, Failure, Pause, Play, Progress, Ready, Reset,
                                       RunningChanged, Save, Saved, Score, Scored, SetImageOptions, SetViews,
                                       SnapshotReady, Step)
from flowlab.training.session import SessionSpec
from flowlab.training.settings import TRAIN_PARAMS, TrainSettings, live_settings
from flowlab.training.views import Snapshot
from flowlab.ui.anomaly_view import AnomalyView
from flowlab.ui.commands import Editor
from flowlab.ui.document_io import DocumentFiles
from flowlab.ui.param_editor import LayerEditor, ParamForm, scrolling
from flowlab.ui.preset_info import PresetInfo
from flowlab.ui.stack_panel import StackPanel
from flowlab.ui.target_panel import TargetPanel
from flowlab.ui.views import (CurvesView, DensityView, ImageSamplesView, LatentView, LayerScrubber, OneDView,
                              SamplesView, View, WarpView, data_kind)
from flowlab.ui.worker import SessionWorker

REDRAW_MS = 33  # ≤ 30 Hz
DATA_WORDS = {"1d": "1-D points", "2d": "2-D points", "nd": "points in more than 2 dimensions", "image": "images"}
COMPACT_WIDTH = 1200  # a first start narrower than this puts both side panels in one column, as tabs
RESTART_DEBOUNCE_MS = 300  # edits closer together than this (a dragged spin box, repeated undo) restart once
FAILURE_DIALOGS = frozenset({"step", "views", "save"})  # failures worth a dialog; the others go to the status bar


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
        self.doc = Document()  # the preset being edited: the one source of truth for every panel
        self.editor = Editor(self.doc, self.undo_stack)  # every edit of it, as an undo command
        self.session: SessionWorker | None = None
        self._session_settings: TrainSettings | None = None  # what the running session was given or sent
        self.last_ready: Ready | None = None  # the current session's Ready event (None until it is built)
        self.last_progress: Progress | None = None  # the current session's latest Progress event
        self._latest: Snapshot | None = None
        self._drawn: Snapshot | None = None
        self._running = False
        self.files = DocumentFiles(self, self.doc, self.undo_stack, host=self)
        self.files.path_changed.connect(self._show_title)
        self._load_weights = False
        self.entropy: float | None = None
        self.setAcceptDrops(True)  # drop a preset file on the window to open it
        self._build_ui()
        self._build_actions()
        self.doc.changed.connect(self._document_changed)
        self.undo_stack.cleanChanged.connect(self._clean_changed)
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
        if path is not None:
            self.files.add_recent(path)

    # -- construction ---------------------------------------------------------------------------------------------
    def _build_ui(self) -> None:
        self.setDockNestingEnabled(True)
        self.stack_panel = StackPanel(self.editor)
        self.stack_panel.selection_changed.connect(self._show_layer)
        self.layer_editor = LayerEditor()
        self.layer_editor.form.edited.connect(self._layer_param_edited)
        self.target_panel = TargetPanel()
        self.target_panel.combo.currentIndexChanged.connect(self._target_kind_changed)
        self.target_panel.form.edited.connect(self._target_param_edited)
        self.target_panel.config_requested.connect(self._set_target)
        self.train_form = ParamForm()
        self.train_form.set_params(TRAIN_PARAMS, self.doc.training.to_dict())
        self.train_form.edited.connect(self._training_edited)
        self.notes = QLabel("")
        self.notes.setWordWrap(True)

        layers = self._dock("Layers", self.stack_panel, Qt.LeftDockWidgetArea)
        params = self._dock("Layer parameters", self.layer_editor, Qt.LeftDockWidgetArea)
        right = QWidget()
        form = QVBoxLayout(right)
        self.preset_info = PresetInfo(self.editor)
        form.addWidget(QLabel("<b>Preset</b>"))
        form.addWidget(self.preset_info)
        form.addWidget(QLabel("<b>Target</b>"))
        form.addWidget(self.target_panel)
        form.addWidget(QLabel("<b>Training</b>"))
        form.addWidget(self.train_form)
        form.addWidget(self.notes)
        form.addStretch(1)
        right.setMaximumWidth(340)  # long descriptions wrap instead of squeezing the views
        panel = self._dock("Target and training", scrolling(right), Qt.RightDockWidgetArea)  # short screens scroll
        self.side_docks = (layers, params, panel)

        self.views: dict[str, View] = {
            "density": DensityView(), "samples": SamplesView(), "latent": LatentView(), "warp": WarpView(),
            "layers": LayerScrubber(), "curves": CurvesView(), "one_d": OneDView(), "images": ImageSamplesView(),
        }
        # Every view is a dock the user can move, tab, float or close (the View menu brings them back). They live
        # in an inner main window so that the editing panels keep their place at the sides.
        self.view_area = QMainWindow()
        self.view_area.setObjectName("viewArea")
        self.view_area.setDockNestingEnabled(True)
        self.setCentralWidget(self.view_area)
        self.views["images"].options_changed.connect(self._image_options_changed)
        self.views["anomaly"] = AnomalyView()
        self.views["anomaly"].score_requested.connect(self._score_requested)
        for key in ("samples", "images"):  # the same export as File ▸ Export samples
            self.views[key].add_export_action("Save samples as CSV or NPY…", self.files.export_samples_dialog,
                                              "samples")
        self.view_docks: dict[str, QDockWidget] = {}
        for key, area in (("density", Qt.LeftDockWidgetArea), ("samples", Qt.RightDockWidgetArea),
                          ("curves", Qt.BottomDockWidgetArea), ("layers", Qt.BottomDockWidgetArea),
                          ("latent", Qt.RightDockWidgetArea), ("warp", Qt.RightDockWidgetArea),
                          ("one_d", Qt.LeftDockWidgetArea), ("images", Qt.LeftDockWidgetArea)):
            self.view_docks[key] = self._dock(self.views[key].title, self.views[key], area, self.view_area)
        self.view_docks["anomaly"] = self._dock(AnomalyView.title, self.views["anomaly"], Qt.RightDockWidgetArea,
                                                self.view_area)
        d = self.view_docks
        self.view_area.tabifyDockWidget(d["samples"], d["latent"])
        self.view_area.tabifyDockWidget(d["latent"], d["warp"])
        self.view_area.tabifyDockWidget(d["warp"], d["anomaly"])
        self.view_area.tabifyDockWidget(d["density"], d["one_d"])
        self.view_area.tabifyDockWidget(d["one_d"], d["images"])
        self.view_area.splitDockWidget(d["curves"], d["layers"], Qt.Horizontal)
        d["density"].raise_()
        d["samples"].raise_()
        for dock in d.values():
            dock.visibilityChanged.connect(lambda _visible: self._views_shown_changed())
        # Which view docks the user closed (View menu, a dock's close button): they stay closed. The others show
        # whenever their view can draw the target's data, and hide (their menu entry disabled) when it cannot.
        self.closed_views: set[str] = set()
        self._ruling = False  # the window itself is showing or hiding docks: not the user's choice
        for key, dock in d.items():
            dock.toggleViewAction().toggled.connect(lambda on, key=key: self._view_toggled(key, on))
        self.view_area.resizeDocks([d["density"], d["samples"]], [1, 1], Qt.Horizontal)
        self.view_area.resizeDocks([d["density"], d["curves"]], [3, 2], Qt.Vertical)
        self.view_area.resizeDocks([d["curves"], d["layers"]], [1, 1], Qt.Horizontal)

        # Short texts that elide rather than widen the window (a 1024 px screen), each with its whole story in
        # the tooltip; room is left on the left for the bar's passing messages.
        self.status_device = ElidedLabel(max_chars=24)
        self.status_step = ElidedLabel(max_chars=40)
        self.status_scores = ElidedLabel()
        for w in (self.status_device, self.status_step, self.status_scores):
            self.statusBar().addPermanentWidget(w)

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
        files = self.files
        for text, keys, slot in (("&New", QKeySequence.New, files.new_document),
                                 ("&Open…", QKeySequence.Open, files.open_dialog),
                                 ("&Save", QKeySequence.Save, files.save),
                                 ("Save &As…", QKeySequence.SaveAs, files.save_as)):
            a = QAction(text, self)
            a.setShortcut(keys)
            a.triggered.connect(slot)
            file_menu.addAction(a)
        files.set_recent_menu(file_menu.addMenu("Open &Recent"))
        save_weights = QAction("Save &weights beside the preset", self)
        save_weights.setStatusTip("Write NAME.weights.pt next to the preset file; opening the preset resumes them")
        save_weights.triggered.connect(files.save_weights)
        file_menu.addAction(save_weights)
        file_menu.addSeparator()
        export = QAction("&Export samples…", self)
        export.setStatusTip("Save the model's current samples as CSV or NPY")
        export.triggered.connect(files.export_samples_dialog)
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

        files.fill_presets_menu(self.menuBar().addMenu("&Presets"))

        view = self.menuBar().addMenu("&View")
        view.setToolTipsVisible(True)  # a view that cannot draw this target's data says why it is greyed out
        for dock in self.findChildren(QDockWidget):
            view.addAction(dock.toggleViewAction())
        view.addSeparator()
        self.presentation_action = QAction("&Presentation mode", self)
        self.presentation_action.setShortcut(QKeySequence("F11"))
        self.presentation_action.setCheckable(True)
        self.presentation_action.toggled.connect(self.set_presentation_mode)
        view.addAction(self.presentation_action)

    # -- documents ------------------------------------------------------------------------------------------------
    def current_preset(self) -> Preset:
        return self.doc.to_preset()

    def apply_preset(self, preset: Preset, path: Path | None = None) -> None:
        """Replace the document (its undo history goes with it) and start training it, resuming the weights saved
        beside ``path`` if there are any. File handling (``self.files``) asks about unsaved edits first."""
        self._stop_session()
        self.undo_stack.clear()
        self.doc.load(preset)
        self.undo_stack.setClean()
        self.files.path = path
        self._load_weights = path is not None
        self._show_document()
        self._restart_session()

    def _show_document(self) -> None:
        """Every panel shows the whole document (after it was replaced)."""
        self.train_form.set_params(TRAIN_PARAMS, self.doc.training.to_dict())
        self.target_panel.show_config(self.doc.target_config())
        self._show_title()
        self.notes.setText(self.doc.description)
        self._show_layer(self.stack_panel.view.current_row())

    @Slot(bool)
    def _clean_changed(self, clean: bool) -> None:
        self.setWindowModified(not clean)

    def _show_title(self) -> None:
        # "[*]" is where Qt shows the modified mark (the undo stack is not at its clean state).
        where = f" ({self.files.path.name})" if self.files.path else ""
        self.setWindowTitle(f"flowlab — {self.doc.name}{where}[*]")

    # -- what file handling asks of the window (``DocumentFiles.host``) -------------------------------------------
    def latest_samples(self) -> np.ndarray | None:
        snap = self._latest
        return None if snap is None else (snap.model_samples if snap.model_samples is not None
                                          else snap.image_samples)

    def save_weights_to(self, path: Path) -> bool:
        self.flush_restart()
        if self.session is None:
            return False
        self.session.send(Save(path))
        return True

    # -- edits (each one an undo command on the document) ----------------------------------------------------------
    def _show_layer(self, row: int | None) -> None:
        if row is None or row >= len(self.doc.stack):
            self.layer_editor.show_layer(None, None, None)
            return
        problem = self.doc.problems.get(row)
        self.layer_editor.show_layer(row, self.doc.stack[row].to_dict(), problem.reason if problem else None)

    def _layer_param_edited(self, name: str, value: Any) -> None:
        row = self.stack_panel.view.current_row()
        if row is not None:
            self.editor.set_param(row, name, value)

    def _document_changed(self, field: str) -> None:
        """One place that follows the document, whoever changed it (an edit, an undo, a redo)."""
        if field == "stack":
            self._show_layer(self.stack_panel.view.current_row())
            self._restart_for("the stack changed")
        elif field == "target":
            self.target_panel.show_config(self.doc.target_config())
            self._restart_for("the target changed")
        elif field == "training":
            self.train_form.set_params(TRAIN_PARAMS, self.doc.training.to_dict())
            self._apply_training()
        elif field in ("name", "description"):
            self._show_title()
            self.notes.setText(self.doc.description)

    def _restart_for(self, why: str) -> None:
        if self._running:
            self.statusBar().showMessage(f"Training paused: {why}. Press play to train the new model.", 6000)
        self._schedule_restart()

    def _target_kind_changed(self, _index: int) -> None:
        kind = self.target_panel.combo.currentData()
        if kind and kind != self.doc.target["kind"]:
            self._set_target({"kind": kind, "params": {}, "data": {}}, f"Target {kind}")

    def _target_param_edited(self, name: str, value: Any) -> None:
        cfg = self.doc.target_config()
        cfg["params"] = {**cfg.get("params", {}), name: value}
        if self._usable_target(cfg):
            self.editor.set_target_param(name, value)

    def _usable_target(self, config: dict[str, Any]) -> bool:
        """Build ``config`` first: a target that cannot be built is refused with the reason, nothing changes."""
        try:
            self.doc.built_target(config)
        except FlowlabError as e:
            QMessageBox.warning(self, "Cannot use this target", str(e))
            self.target_panel.show_config(self.doc.target_config())
            return False
        return True

    def _set_target(self, config: dict[str, Any], text: str = "Change target") -> None:
        if self._usable_target(config):
            self.editor.set_target(config, text)

    def _training_edited(self, name: str, value: Any) -> None:
        try:
            self.editor.set_training(name, value)
        except FlowlabError as e:
            self.statusBar().showMessage(str(e), 6000)
            self.train_form.set_params(TRAIN_PARAMS, self.doc.training.to_dict())

    def _apply_training(self) -> None:
        """Send changed live settings to the running session; any other change restarts it."""
        if self.session is None or self._session_settings is None:
            self._schedule_restart()
            return
        old, new = self._session_settings.to_dict(), self.doc.training.to_dict()
        changes = {k: v for k, v in new.items() if old[k] != v}
        if not changes:
            return
        if set(changes) <= live_settings():
            self.session.send(ChangeSettings(changes))
            self._session_settings = self.doc.training
        else:
            self._schedule_restart()

    # -- training -------------------------------------------------------------------------------------------------
    def _stop_session(self) -> None:
        """End the session: it frees its model on its own thread before its thread ends; the worker deletes
        itself once that thread has finished (at once, or later if the loop was still busy)."""
        if self.session is not None:
            self.session.event.disconnect(self._on_event)
            self.session.shutdown()
            self.session = None
        self.last_ready = self.last_progress = None
        self._set_running(False)

    def _mark_problems(self) -> bool:
        """Play and Step follow the stack's validity at once (no waiting for a restart); True if it is valid."""
        problems = [self.doc.problems[r] for r in sorted(self.doc.problems)]
        if self.doc.target_problem:
            problems.insert(0, self.doc.target_problem)
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
            self.session.send(Pause())
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
        layers = self.doc.layers()
        self._session_settings = self.doc.training
        path = self.files.path
        weights = weights_path_for(path) if path is not None and self._load_weights else None
        self._load_weights = False  # weights belong to the preset as opened, not to later edits
        spec = SessionSpec(layers, self.doc.target_config(), self.doc.training, base=self.doc.base, weights=weights)
        self.session = SessionWorker(spec, parent=self)
        self.session.event.connect(self._on_event)
        self.views["layers"].set_layer_names([e["kind"] for e in layers if e.get("enabled", True)])
        self._configure_views()
        for v in self.views.values():
            v.clear()
        self.session.start()
        self.session.send(SetImageOptions(self.views["images"].options()))
        QTimer.singleShot(0, self._views_shown_changed)

    def _view_toggled(self, key: str, on: bool) -> None:
        if self._ruling:
            return
        (self.closed_views.discard if on else self.closed_views.add)(key)

    def _show_applicable_views(self) -> None:
        """One rule for every view dock: shown when its view can draw this target's data (``View.data_kinds``)
        and the user has not closed it, hidden otherwise; the View menu entry of a view that cannot draw the data
        is disabled and says why. Qt keeps a hidden dock's place (its tab group, its split) for when it shows."""
        shape = self.doc.shape
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
        spec = TARGETS[self.doc.target["kind"]]
        shape = self.doc.shape
        image = len(shape) == 3
        one_d = shape == (1,)
        self._show_applicable_views()
        # The view that suits the data comes to the front of its tab group; views behind other tabs are not
        # computed at all.
        main = (self.view_docks["images"] if image else self.view_docks["one_d"] if one_d
                else self.view_docks["density"])
        main.raise_()
        if shape == (2,):
            self.view_docks["samples"].raise_()
        self.views["anomaly"].set_image_shape(shape if image else None)
        if image:
            self.view_docks["anomaly"].raise_()
        try:
            bounds = self.doc.built_target().bounds
        except FlowlabError:
            bounds = None
        for v in self.views.values():
            v.set_bounds(bounds)
        self.views["curves"].reset(None, bits=image, energy=spec.objective == "energy")
        QTimer.singleShot(0, self._balance_views)

    def _balance_views(self) -> None:
        """Even out the view docks once the layout has settled (Qt keeps stale split sizes otherwise)."""
        d = self.view_docks
        for groups in ((("curves",), ("layers",)), (("density", "one_d", "images"),
                                                    ("samples", "latent", "warp", "anomaly"))):
            pair = [next((d[k] for k in keys if not d[k].isHidden()), None) for keys in groups]
            if None not in pair:  # a group all hidden leaves its neighbour the room
                self.view_area.resizeDocks(pair, [1, 1], Qt.Horizontal)

    SNAPSHOT_VIEWS = {"density": "density", "samples": "samples", "latent": "latent", "warp": "warp",
                      "layers": "layers", "one_d": "curve_1d", "images": "images"}

    def shown_views(self) -> frozenset[str]:
        """The snapshot parts the visible docks need (a tab behind another one is not visible)."""
        return frozenset(v for k, v in self.SNAPSHOT_VIEWS.items()
                         if self.view_docks[k].isVisible() and not self.view_docks[k].visibleRegion().isEmpty())

    @Slot()
    def _views_shown_changed(self) -> None:
        if self.session is not None:
            self.session.send(SetViews(self.shown_views()))
            self._drawn = None

    def _score_requested(self, request: dict) -> None:
        """Score a drawing or a test image on the training thread (the answer comes back by signal)."""
        self.flush_restart()
        if self.session is None or not self.session.thread.isRunning():
            self.views["anomaly"].show_error("No model is training: fix the stack first.")
            return
        self.session.send(Score(**request))

    def _image_options_changed(self, options: dict) -> None:
        if self.session is not None:
            self.session.send(SetImageOptions(options))

    @Slot(object)
    def _on_event(self, event: Event) -> None:
        """Every event of the current session, routed by its type (a stopped session's late ones are dropped)."""
        sender = self.sender()
        if sender is None or sender is not self.session:
            return
        if isinstance(event, Ready):
            self._session_ready(event)
        elif isinstance(event, Progress):
            self._on_progress(event)
        elif isinstance(event, SnapshotReady):
            self._on_snapshot(event.snapshot)
        elif isinstance(event, RunningChanged):
            self._set_running(event.running)
        elif isinstance(event, Scored):
            self.views["anomaly"].show_score(event.result)
        elif isinstance(event, Saved):
            self.statusBar().showMessage(f"saved weights to {event.path}", 5000)
        elif isinstance(event, Failure):
            if event.kind == "diverged":
                self._on_diverged(event.message)
            elif event.kind == "score":
                self.views["anomaly"].show_error(event.message)
            else:
                self._on_failed(event)

    def _session_ready(self, ready: Ready) -> None:
        self.last_ready = ready
        self.status_device.set_text(ready.device, f"training on {ready.device}")
        self.views["curves"].set_objective(ready.objective)
        notes = "\n".join(ready.notes)
        self.notes.setText((self.doc.description + ("\n\n" if notes else "") + notes).strip())
        self.entropy = None if ready.images else ready.entropy  # the NLL floor (computed by the session)
        if self.entropy is not None:
            self.views["curves"].floor.setValue(self.entropy)
            self.views["curves"].floor.setVisible(True)

    def toggle_play(self) -> None:
        self.flush_restart()
        if self.session is None:
            return
        self.session.send(Pause() if self._running else Play())

    def single_step(self) -> None:
        self.flush_restart()
        if self.session is not None:
            self.session.send(Step())

    def reset_weights(self) -> None:
        self.flush_restart()
        if self.session is not None:
            self.session.send(Reset())
            curves = self.views["curves"]
            curves.reset(self.entropy, bits=len(self.doc.shape) == 3, energy=curves.energy)

    def _set_running(self, running: bool) -> None:
        self._running = running
        self.play_action.setText("Pause" if running else "Play")
        self.play_action.setIcon(self.style().standardIcon(QStyle.SP_MediaPause if running else QStyle.SP_MediaPlay))

    def _on_progress(self, p: Progress) -> None:
        self.last_progress = p
        rate = f" · {p.steps_per_s:.0f} steps/s" if p.steps_per_s else ""
        self.status_step.set_text(f"step {p.step}{rate}", f"step {p.step}" + (
            f", {p.steps_per_s:.1f} training steps per second" if p.steps_per_s else ""))
        curves = self.views["curves"]
        if p.restarted or (p.rows.get("step") and curves.columns.get("step")
                           and p.rows["step"][0] <= curves.columns["step"][-1]):
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

    def _on_failed(self, failure: Failure) -> None:
        self.statusBar().showMessage(failure.message.splitlines()[0], 8000)
        if failure.kind in FAILURE_DIALOGS:
            QMessageBox.warning(self, "Training problem", failure.message)

    def _on_diverged(self, message: str) -> None:
        QMessageBox.warning(self, "Training paused", message)

    def set_presentation_mode(self, on: bool) -> None:
        """Bigger fonts and thicker lines, full screen: for a lecture hall."""
        from flowlab.ui import views as view_module

        app_font = self.font()
        app_font.setPointSizeF(app_font.pointSizeF() * (1.5 if on else 1 / 1.5))
        self.setFont(app_font)
        view_module.set_presentation(on)
        for v in self.views.values():
            v.apply_style()
        self._drawn = None  # redraw with the new style
        if on:
            self.showFullScreen()
        else:
            self.showNormal()

    def dragEnterEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt's name
        if self.files.preset_file(event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802, ANN001 - Qt's name
        path = self.files.preset_file(event.mimeData().urls())
        if path:
            event.acceptProposedAction()
            self.files.open_path(path)

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
        if not self.files.keep_or_discard_edits():
            event.ignore()
            return
        self.undo_stack.setClean()  # saved or discarded: a second close (Qt may send one) does not ask again
        s = QSettings()
        s.setValue("geometry", self.saveGeometry())
        s.setValue("windowState", self.saveState())
        s.setValue("viewState", self.view_area.saveState())
        s.setValue("closedViews", sorted(self.closed_views))
        self.redraw_timer.stop()
        self.restart_timer.stop()
        self._stop_session()
        super().closeEvent(event)


