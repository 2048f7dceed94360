"""The playground window, a shell: the editing panels and the view docks, the menus, the toolbar and the status
bar, remembered between runs. What it shows lives below it: the document (``flowlab.document``) is the edited
preset, the controller runs its training session, file handling opens and saves it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QMargins, QRect, QSettings, QSize, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QKeySequence, QUndoStack
from PySide6.QtWidgets import QMainWindow, QStyle, QTabBar, QToolBar

from flowlab.document import Document
from flowlab.presets import Preset
from flowlab.presets.builtin import load_builtin
from flowlab.presets.preset import LESSON_PANELS
from flowlab.training.remote import SessionHost
from flowlab.training.views import ProbeAt
from flowlab.ui.commands import Editor
from flowlab.ui.compare_menu import Comparisons
from flowlab.ui.controller import SessionController
from flowlab.ui.document_io import DocumentFiles
from flowlab.ui.edit_panels import EditPanels
from flowlab.ui.lesson import Lesson
from flowlab.ui.previous_run import PreviousRun, document_key
from flowlab.ui.record_dialog import RecordDialog
from flowlab.ui.shortcuts import action, sequences
from flowlab.ui.status import StatusLine
from flowlab.ui.view_docks import ViewDocks, add_dock
from flowlab.ui.views.base import presentation_scale

COMPACT_WIDTH = 1200  # a first start narrower than this puts both side panels in one column, as tabs
PREFERRED_SIZE = QSize(1400, 900)  # a first start on a larger screen


def fitted_geometry(available: QRect, frame: QMargins, preferred: QSize = PREFERRED_SIZE) -> QRect:
    """The window's inner rectangle (``QWidget.geometry``) for a first start: ``preferred`` or smaller, so that
    the whole window, ``frame`` (title bar and borders) included, lies in the screen's ``available`` geometry
    (which already leaves out panels and docks), centred there."""
    width = min(preferred.width(), available.width() - frame.left() - frame.right())
    height = min(preferred.height(), available.height() - frame.top() - frame.bottom())
    outer = QRect(0, 0, width + frame.left() + frame.right(), height + frame.top() + frame.bottom())
    outer.moveCenter(available.center())
    return QRect(outer.left() + frame.left(), outer.top() + frame.top(), width, height)


class MainWindow(QMainWindow):
    """One document (a preset being edited) and one training session at a time."""

    def __init__(self, preset: Preset | None = None, path: Path | None = None,
                 host: SessionHost | None = None, keep_runs: bool = True) -> None:
        """``host``: the training process to run sessions in (the app's); None trains on a thread here.
        ``keep_runs``: keep each document's last run and show it beside the next (off for renders)."""
        super().__init__()
        self.setWindowTitle("flowlab[*]")
        self._first_fit: QRect | None = None  # a first start's fit, corrected once the frame is known
        self._presentation_scale = presentation_scale(0)  # set from the screen when presentation mode starts
        self.record_dialog: RecordDialog | None = None
        self.setDockNestingEnabled(True)
        self.setAcceptDrops(True)  # drop a preset file on the window to open it
        self.undo_stack = QUndoStack(self)
        self.doc = Document()  # the preset being edited: the one source of truth for every panel
        self.editor = Editor(self.doc, self.undo_stack)  # every edit of it, as an undo command
        self.status = StatusLine(self.statusBar())
        self.panels = EditPanels(self.editor, self.statusBar(), self)
        self.side_docks = (add_dock(self, "Layers", self.panels.stack_panel, Qt.LeftDockWidgetArea),
                           add_dock(self, "Layer parameters", self.panels.layer_editor, Qt.LeftDockWidgetArea),
                           add_dock(self, "Target and training", self.panels.settings, Qt.RightDockWidgetArea))
        self.docks = ViewDocks(self)
        self.controller = SessionController(self, self.doc, self.docks, self.status, host)
        self.files = DocumentFiles(self, self.doc, self.undo_stack, host=self)
        self.comparisons = Comparisons(self)
        self.previous_run = PreviousRun(self.docks.views["curves"],
                                        lambda: document_key(self.files.path, self.doc.name), self, keep_runs)
        self.controller.session_ending.connect(self.previous_run.run_ended)
        self.lesson = Lesson(self, self.controller, self.docks, self.editor,
                             dict(zip(LESSON_PANELS, self.side_docks, strict=True)),
                             (self.panels.stack_panel, self.panels.layer_editor, self.panels.settings))
        for view in self.docks.views.values():
            if view.exports_samples:  # the same export as File ▸ Export samples
                view.add_export_action("Save samples as CSV or NPY…", self.files.export_samples_dialog, "samples")
        self._build_actions()
        self.doc.changed.connect(self._document_changed)
        self.undo_stack.cleanChanged.connect(self._clean_changed)
        self.files.path_changed.connect(self._show_title)
        self.controller.running_changed.connect(self._show_running)
        self.controller.valid_changed.connect(self._show_valid)
        self.controller.notes_changed.connect(self.panels.show_plan_notes)
        self.panels.stack_panel.selection_changed.connect(self._fit_layer_params)
        self.panels.layer_selected.connect(self.controller.select_layer)  # look inside the selected layer
        self.controller.layer_detail.connect(self.panels.show_layer_detail)
        self.controller.select_layer(self.panels.stack_panel.view.current_row())
        self._restore_settings()
        self.apply_preset(preset or load_builtin(), path)
        if path is not None:
            self.files.add_recent(path)

    # -- what file handling asks of the window (``DocumentFiles.host``) ------------------------------------------
    def apply_preset(self, preset: Preset, path: Path | None = None, weights: Path | None = None) -> None:
        """Replace the document (its undo history goes with it) and train it, resuming ``weights`` or else the
        weights saved beside ``path`` if there are any. File handling (``self.files``) asks about unsaved edits
        first."""
        self.controller.stop()
        self.docks.set_probe(None)  # a point of the old problem: edits keep it, another document does not
        self.undo_stack.clear()
        self.doc.load(preset)
        self.undo_stack.setClean()
        self.files.path = path
        self.panels.show_document()
        self._show_title()
        self._open_view(preset.view)  # before the new session: it is told the probe and the views in front
        self.previous_run.document_opened()
        self.controller.start_document(path, weights)

    def _open_view(self, view: Mapping[str, Any]) -> None:
        """The preset's view settings: views in front, a probe point, the selected layer, and its lesson (views
        shown, panels hidden, editing locked, a step budget, a speed)."""
        front = tuple(view.get("front", ()))
        unknown = [k for k in front if k not in self.docks.docks] + self.lesson.apply(view)
        if unknown:
            self.status.say(f"The preset names no view {', '.join(map(repr, unknown))}; the views are "
                            f"{', '.join(self.docks.docks)}.", 8000)
        self.docks.front = front
        probe = view.get("probe")
        if probe is not None:
            self.docks.set_probe(ProbeAt(tuple(probe["point"]), inverse=probe.get("start", "x") == "z"))
        if view.get("select") is not None:
            panel = self.panels.stack_panel
            panel.view.setCurrentIndex(panel.model.index(int(view["select"]) - 1))

    def latest_samples(self) -> np.ndarray | None:
        return self.controller.latest_samples()

    def save_weights_to(self, path: Path) -> bool:
        return self.controller.save_weights_to(path)

    def current_preset(self) -> Preset:
        return self.doc.to_preset()

    # -- following the document ---------------------------------------------------------------------------------
    def _document_changed(self, field: str) -> None:
        if field in ("stack", "target", "base"):
            self.controller.schedule_restart(f"the {field} changed")
        elif field == "training":
            self.controller.training_changed()
        elif field == "name":
            self._show_title()

    def _show_title(self) -> None:
        # "[*]" is where Qt shows the modified mark (the undo stack is not at its clean state).
        where = f" ({self.files.path.name})" if self.files.path else ""
        self.setWindowTitle(f"flowlab — {self.doc.name}{where}[*]")

    @Slot(bool)
    def _clean_changed(self, clean: bool) -> None:
        self.setWindowModified(not clean)

    @Slot(bool)
    def _show_running(self, running: bool) -> None:
        self.play_action.setText("Pause" if running else "Play")
        self.play_action.setIcon(self.style().standardIcon(QStyle.SP_MediaPause if running else QStyle.SP_MediaPlay))

    @Slot(bool)
    def _show_valid(self, valid: bool) -> None:
        self.play_action.setEnabled(valid)
        self.step_action.setEnabled(valid)

    # -- actions and menus --------------------------------------------------------------------------------------
    def _action(self, text: str, keys: QKeySequence | QKeySequence.StandardKey | str | None, slot,
                tip: str = "", icon: QStyle.StandardPixmap | None = None) -> QAction:
        return action(self, text, keys, slot, tip, icon)

    def _build_actions(self) -> None:
        c, files = self.controller, self.files
        self.play_action = self._action("Play", "Ctrl+Space", c.toggle_play, "Play or pause training (Ctrl+Space)",
                                        QStyle.SP_MediaPlay)
        self.step_action = self._action("Step", "Ctrl+Right", c.single_step, "One training step (Ctrl+Right)",
                                        QStyle.SP_MediaSkipForward)
        self.reset_action = self._action("Reset weights", "Ctrl+R", c.reset_weights,
                                         "Fresh weights from the seed (Ctrl+R)", QStyle.SP_BrowserReload)
        tb = QToolBar("Training")
        tb.setObjectName("trainingToolbar")
        tb.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        self.addToolBar(tb)
        for a in (self.play_action, self.step_action, self.reset_action):
            tb.addAction(a)
        tb.addSeparator()
        tb.addWidget(self.lesson.speed_box)

        file_menu = self.menuBar().addMenu("&File")
        for a in (self._action("&New", QKeySequence.New, files.new_document),
                  self._action("&Open…", QKeySequence.Open, files.open_dialog),
                  self._action("&Save", QKeySequence.Save, files.save),
                  self._action("Save &As…", QKeySequence.SaveAs, files.save_as)):
            file_menu.addAction(a)
        files.set_recent_menu(file_menu.addMenu("Open &Recent"))
        file_menu.addAction(self._action(
            "Save &weights beside the preset", None, files.save_weights,
            "Write NAME.weights.pt next to the preset file; opening the preset resumes them"))
        file_menu.addSeparator()
        file_menu.addAction(self._action("&Export samples…", None, files.export_samples_dialog,
                                         "Save the model's current samples as CSV or NPY"))
        file_menu.addAction(self._action("Export &curves as CSV…", None, self.docks.views["curves"].export_csv_dialog,
                                         "Save the training curves as CSV: one row per logged step"))
        self.record_action = self._action("&Record…", None, self.open_record_dialog,
                                          "Record a view or the whole window over training as a GIF or MP4")
        file_menu.addAction(self.record_action)
        file_menu.addSeparator()
        file_menu.addAction(self._action("&Quit", QKeySequence.Quit, self.close))

        edit = self.menuBar().addMenu("&Edit")
        self.undo_action = self.undo_stack.createUndoAction(self, "&Undo")
        self.undo_action.setShortcuts(sequences(QKeySequence.Undo))
        self.redo_action = self.undo_stack.createRedoAction(self, "&Redo")
        # The platform's redo keys, and Ctrl+Shift+Z where it is not one of them (X11 has it already: twice
        # would be an ambiguous shortcut, and neither would run).
        self.redo_action.setShortcuts(sequences(QKeySequence.Redo, "Ctrl+Shift+Z"))
        edit.addAction(self.undo_action)
        edit.addAction(self.redo_action)

        files.fill_presets_menu(self.menuBar().addMenu("&Presets"))
        self.comparisons.fill_menu(self.menuBar().addMenu("&Compare"))

        view = self.menuBar().addMenu("&View")
        view.setToolTipsVisible(True)  # a view that cannot draw this target's data says why it is greyed out
        for dock in (*self.side_docks, *self.docks.docks.values()):
            view.addAction(dock.toggleViewAction())
        view.addSeparator()
        self.presentation_action = QAction("&Presentation mode", self)
        self.presentation_action.setShortcuts(sequences("F11"))
        self.presentation_action.setCheckable(True)
        self.presentation_action.toggled.connect(self.set_presentation_mode)
        view.addAction(self.presentation_action)
        view.addSeparator()
        view.addAction(self.lesson.lock_action)
        view.addAction(self.lesson.save_action)

    def open_comparison(self, path: Path) -> object | None:
        """A comparison file: its runs side by side in a comparison window (None: it could not be opened)."""
        return self.comparisons.open_path(path)

    def open_record_dialog(self) -> RecordDialog:
        """File ▸ Record…: the recording dialog, beside the window (one, kept while the window lives)."""
        if self.record_dialog is None:
            self.record_dialog = RecordDialog(self)
        self.record_dialog.show()
        self.record_dialog.raise_()
        return self.record_dialog

    def set_presentation_mode(self, on: bool) -> None:
        """Bigger fonts and thicker lines, full screen: for a lecture hall (how much bigger follows the screen's
        height, :func:`presentation_scale`)."""
        if on:
            self._presentation_scale = presentation_scale(self.screen().geometry().height())
        scale = self._presentation_scale
        app_font = self.font()
        app_font.setPointSizeF(app_font.pointSizeF() * (scale if on else 1 / scale))
        self.setFont(app_font)
        self.docks.set_presentation(on, scale)
        for bar in self.findChildren(QTabBar):  # dock tabs: whole names ("Layers", not "Lay…"), scrolled if need be
            bar.setElideMode(Qt.ElideNone)
            bar.setUsesScrollButtons(True)
        if on:
            self.showFullScreen()
        else:
            self.showNormal()

    # -- layout, remembered between runs ------------------------------------------------------------------------
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
        self._fit_layer_params(self.panels.stack_panel.view.current_row())
        self.docks.fit_heights()

    def _fit_layer_params(self, row: int | None) -> None:
        """With no layer selected the layer parameters dock says only that: it shrinks to that line and the layer
        list takes the room; the first selection gives it back its 2/5 (a size the user chose is kept)."""
        layers, params, _ = self.side_docks
        least = params.minimumSizeHint().height()
        if row is None:
            self.resizeDocks([layers, params], [max(layers.height(), 1) + params.height() - least, least],
                             Qt.Vertical)
        elif params.height() <= least + 4:
            self.resizeDocks([layers, params], [3, 2], Qt.Vertical)

    def fit_to_screen(self) -> None:
        """The whole window, title bar and status bar included, on the screen (a 1024×600 netbook too). Before the
        window is shown its frame is unknown: a title bar's height is assumed, and corrected once shown."""
        handle = self.windowHandle()
        frame = handle.frameMargins() if handle is not None and self.isVisible() else QMargins(
            4, self.style().pixelMetric(QStyle.PM_TitleBarHeight) + 4, 4, 4)
        self.setGeometry(fitted_geometry(self.screen().availableGeometry(), frame))

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        fit, self._first_fit = self._first_fit, None
        if fit is not None and self.size() == fit.size():  # not resized since (by a test, a render): refit
            QTimer.singleShot(0, self.fit_to_screen)

    def _restore_settings(self) -> None:
        s = QSettings()
        geometry, state = s.value("geometry"), s.value("windowState")
        if geometry is not None:  # the user's (Qt keeps it on the screen)
            self.restoreGeometry(geometry)
        else:
            self.fit_to_screen()
            self._first_fit = self.geometry()
        if state is not None:
            self.restoreState(state)
        else:
            QTimer.singleShot(0, self._fit_side_docks)
        self.docks.restore(s)

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if self.files.preset_file(event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt's name
        path = self.files.preset_file(event.mimeData().urls())
        if path:
            event.acceptProposedAction()
            self.files.open_path(path)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        if not self.files.keep_or_discard_edits() or not self.comparisons.close_all():
            event.ignore()
            return
        self.undo_stack.setClean()  # saved or discarded: a second close (Qt may send one) does not ask again
        s = QSettings()
        s.setValue("geometry", self.saveGeometry())
        s.setValue("windowState", self.saveState())
        self.docks.save(s)
        if self.record_dialog is not None:
            self.record_dialog.stop()  # a recording under way is written with the frames it has
        self.controller.restart_timer.stop()
        self.controller.stop()
        super().closeEvent(event)
