"""The one atomic writer: the old file survives a failed write, and no temporary file is left behind."""

from __future__ import annotations

import pytest

from flowlab.atomic import atomic_open, atomic_write


def test_a_failed_write_keeps_the_old_file_and_leaves_no_litter(tmp_path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(path, "w") as f:
            f.write("half")
            raise RuntimeError("disk full")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]
    atomic_write(path, lambda f: f.write(b"new"))
    assert path.read_bytes() == b"new" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_a_written_file_gets_the_old_file_mode_or_the_umask_s(tmp_path) -> None:
    """Not the temporary file's private 0600: a metrics.csv or a GIF for the slides is readable as any new file."""
    import os

    umask = os.umask(0o022)
    try:
        fresh = tmp_path / "new.csv"
        atomic_write(fresh, lambda f: f.write(b"x"))
        assert fresh.stat().st_mode & 0o777 == 0o644
        kept = tmp_path / "kept.csv"
        kept.write_text("old")
        kept.chmod(0o600)
        atomic_write(kept, lambda f: f.write(b"y"))
        assert kept.stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(umask)
