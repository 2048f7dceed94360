"""The user's preset folders: what each holds, read for the Presets menu. A file that is not a preset is listed
with the reason, never skipped in silence and never fatal."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flowlab.presets.preset import PresetError, load_preset


@dataclass(frozen=True)
class FolderEntry:
    """One ``*.json`` file of a folder: the preset's ``name`` and ``description``, or, when it cannot be opened,
    the file's name and the ``problem``."""

    path: Path
    name: str
    description: str = ""
    problem: str | None = None

    @property
    def usable(self) -> bool:
        return self.problem is None


def scan_folder(folder: str | Path) -> list[FolderEntry]:
    """The presets in ``folder`` (not in its subfolders), by file name. A folder that cannot be listed raises
    :class:`PresetError` saying why."""
    folder = Path(folder)
    try:
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".json" and p.is_file())
    except FileNotFoundError:
        raise PresetError(f"{folder}: no such folder") from None
    except OSError as e:
        raise PresetError(f"{folder}: cannot be read ({e.strerror or e})") from None
    entries = []
    for path in files:
        try:
            preset = load_preset(path)
        except PresetError as e:
            entries.append(FolderEntry(path, path.name, problem=str(e)))
        else:
            entries.append(FolderEntry(path, preset.name or path.stem, preset.description))
    return entries
