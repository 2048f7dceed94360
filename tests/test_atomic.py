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
