"""The user's own preset folders in the Presets menu, beside the built-in presets: each folder a submenu of its
presets (read again each time the menu opens, so a file saved there since shows up), "Add preset folder…" and
"Remove folder". The folders are a setting (a QSettings list). A file there that is not a preset is listed,
greyed out, with the reason as its tooltip."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QSettings
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMenu, QWidget

from flowlab.presets import PresetError
from flowlab.presets.folders import scan_folder

SETTING = "presetFolders"


def user_folders() -> list[Path]:
    """The folders the user added, in the order added."""
    value = QSettings().value(SETTING, [])
    values = [value] if isinstance(value, str) else list(value or [])  # one entry may come back as a string
    return [Path(v) for v in values if v]


def set_user_folders(folders: list[Path]) -> None:
    QSettings().setValue(SETTING, [str(f) for f in folders])


class PresetFolders(QObject):
    """The user's folders at the end of ``menu``; a chosen preset is opened with ``open_path`` (which asks about
    unsaved edits first)."""

    def __init__(self, menu: QMenu, open_path: Callable[[Path], object], window: QWidget) -> None:
        super().__init__(menu)
        self.menu, self.open_path, self.window = menu, open_path, window
        self._added: list[QAction] = []  # what this object put in the menu (taken out again on each refresh)
        menu.aboutToShow.connect(self.refresh)
        self.refresh()

    def add(self, folder: str | Path) -> None:
        folder = Path(folder)
        folders = user_folders()
        if folder not in folders:
            set_user_folders([*folders, folder])
        self.refresh()

    def remove(self, folder: Path) -> None:
        set_user_folders([f for f in user_folders() if f != folder])
        self.refresh()

    def add_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Add a preset folder")
        if folder:
            self.add(folder)

    def refresh(self) -> None:
        """Rebuild the user's part of the menu from the setting and the folders' files as they are now."""
        for action in self._added:
            self.menu.removeAction(action)
            if action.menu() is not None:
                action.menu().deleteLater()
        self._added = [self.menu.addSeparator()]
        folders = user_folders()
        for folder in folders:
            self._added.append(self.folder_menu(folder).menuAction())
        self._added.append(self._action("Add preset folder…", self.add_dialog,
                                        "List a folder of your own presets here, as a submenu"))
        remove = QMenu("Remove folder", self.menu)
        remove.setEnabled(bool(folders))
        for folder in folders:
            action = remove.addAction(str(folder))
            action.triggered.connect(lambda _=False, f=folder: self.remove(f))
        self.menu.addMenu(remove)
        self._added.append(remove.menuAction())

    def folder_menu(self, folder: Path) -> QMenu:
        """The folder's submenu: a preset per file (greyed out with the reason where it cannot be opened)."""
        sub = QMenu(folder.name or str(folder), self.menu)
        sub.setToolTipsVisible(True)
        sub.menuAction().setToolTip(str(folder))
        self.menu.addMenu(sub)
        try:
            entries = scan_folder(folder)
        except PresetError as e:
            self._disabled(sub, "(cannot be read)", str(e))
            return sub
        if not entries:
            self._disabled(sub, "(no presets here)", f"{folder} holds no .json preset files")
        for entry in entries:
            if entry.usable:
                action = sub.addAction(entry.name)
                action.setToolTip(entry.description or str(entry.path))
                action.setStatusTip(str(entry.path))
                action.triggered.connect(lambda _=False, p=entry.path: self.open_path(p))
            else:
                self._disabled(sub, f"{entry.name} (not a preset)", entry.problem)
        return sub

    @staticmethod
    def _disabled(menu: QMenu, text: str, why: str | None) -> None:
        action = menu.addAction(text)
        action.setEnabled(False)
        action.setToolTip(why or "")

    def _action(self, text: str, slot: Callable[[], None], tip: str) -> QAction:
        action = self.menu.addAction(text)
        action.setToolTip(tip)
        action.triggered.connect(lambda _=False: slot())
        return action
