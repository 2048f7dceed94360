"""Atomic file writes: a crash or a full disk mid-write leaves the old file intact, never half a file.

The data goes to a temporary file in the same folder (so the rename stays on one file system), is flushed to
disk, then replaces the target with ``os.replace`` (atomic on POSIX and Windows). Used for presets, checkpoints
and metrics.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


def file_mode(path: Path) -> int:
    """The permissions a file written at ``path`` should get: the old file's, else what the umask gives a new file
    (a temporary file is made private, 0600; the file that replaces the user's must not be)."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """``with atomic_open(path, "w", encoding="utf-8") as f: ...``: ``path`` is replaced only if the block
    completes; otherwise the temporary file is removed and the exception propagates."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, file_mode(path))
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write`` with a binary file object (e.g. ``lambda f: torch.save(state, f)``), atomically."""
    with atomic_open(path, "wb") as f:
        write(f)
