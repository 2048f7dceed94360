"""Registry facts every target kind shares: how a file-backed kind is pointed at its data."""

from __future__ import annotations

import pytest

from flowlab.targets import TARGETS, DataSource, TargetSpec, register_target


def test_every_kind_that_reads_a_path_says_how_to_pick_it() -> None:
    with_path = {k for k, s in TARGETS.items() if "path" in s.data_fields}
    with_source = {k for k, s in TARGETS.items() if s.source is not None}
    assert with_path == with_source == {"picture", "file_points", "idx_images", "idx_dataset", "image_folder"}
    for kind in with_source:
        source = TARGETS[kind].source
        assert source.title and source.folder != bool(source.pattern)
    assert TARGETS["image_folder"].source.folder and TARGETS["idx_dataset"].source.folder
    assert not TARGETS["idx_images"].source.folder
    assert "*.png" in TARGETS["picture"].source.pattern and "*.csv" in TARGETS["file_points"].source.pattern
    groups = {TARGETS[k].source.group for k in ("idx_images", "idx_dataset", "image_folder")}
    assert len(groups) == 1 and groups != {""}


def test_a_source_is_a_file_pattern_or_a_folder_and_needs_a_path_field() -> None:
    with pytest.raises(ValueError, match="not both"):
        DataSource("both", pattern="*.x", folder=True)
    with pytest.raises(ValueError, match="not both"):
        DataSource("neither")
    spec = TargetSpec(kind="test_no_path", family="user", help="h", builder=lambda p, d: None,
                      source=DataSource("x", pattern="*.x"))
    with pytest.raises(ValueError, match="no data 'path'"):
        register_target(spec)
    assert "test_no_path" not in TARGETS
