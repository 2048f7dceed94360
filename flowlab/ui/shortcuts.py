"""Key sequences from the platform's own bindings, each key given to one action only.

A standard key (``QKeySequence.Redo``) means different keys on each platform: on X11 Redo already *is*
Ctrl+Shift+Z, and Delete includes Ctrl+D. Registering such a key twice, or for two actions, makes Qt print
"Ambiguous shortcut overload" and run neither. :func:`sequences` expands standard keys through
``QKeySequence.keyBindings`` (all of them, not only the first) and drops repeats and keys claimed elsewhere;
:func:`key_owners` lists who holds each key in a window, for the test that no key is held twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import QStyle, QWidget

Key = QKeySequence | QKeySequence.StandardKey | str


def sequences(*keys: Key, taken: Iterable[Key] = ()) -> list[QKeySequence]:
    """Every binding of each key in order (a standard key: all its bindings on this platform), each once, none
    of ``taken`` (keys another shortcut owns, e.g. Ctrl+D, which X11 also binds to Delete)."""
    refused = {s.toString() for k in taken for s in _expand(k)}
    out: list[QKeySequence] = []
    for k in keys:
        for s in _expand(k):
            text = s.toString()
            if text and text not in refused:
                refused.add(text)
                out.append(s)
    return out


def _expand(key: Key) -> list[QKeySequence]:
    if isinstance(key, QKeySequence.StandardKey):
        return list(QKeySequence.keyBindings(key))
    return [key if isinstance(key, QKeySequence) else QKeySequence(key)]


def key_owners(root: QWidget) -> dict[str, list[str]]:
    """Each key sequence held by an action or shortcut under ``root`` → who holds it (action texts, shortcut
    object names)."""
    owners: dict[str, list[str]] = {}
    for action in root.findChildren(QAction):
        for s in action.shortcuts():
            owners.setdefault(s.toString(), []).append(action.text() or action.objectName())
    for shortcut in root.findChildren(QShortcut):
        for s in shortcut.keys():
            owners.setdefault(s.toString(), []).append(shortcut.objectName() or shortcut.whatsThis())
    return owners


def action(parent: QWidget, text: str, keys: Key | None, slot: Callable[[], object], tip: str = "",
           icon: QStyle.StandardPixmap | None = None) -> QAction:
    """A window's action: its keys (:func:`sequences`), tooltip and status tip, the style's icon, ``slot()`` when
    triggered."""
    a = QAction(text, parent) if icon is None else QAction(parent.style().standardIcon(icon), text, parent)
    if keys is not None:
        a.setShortcuts(sequences(keys))
    if tip:
        a.setToolTip(tip)
        a.setStatusTip(tip)
    a.triggered.connect(lambda _=False: slot())
    return a
