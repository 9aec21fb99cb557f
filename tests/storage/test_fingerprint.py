"""Fingerprints notice every change of a series' files and nothing else."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from mscc_desktop.storage import fingerprint_files, source_folder


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "CT" / "series"
    folder.mkdir(parents=True)
    paths = []
    for index in range(6):
        path = folder / f"{index:03d}.dcm"
        path.write_bytes(bytes([index]) * 1000)
        os.utime(path, ns=(1_700_000_000_000_000_000 + index, 1_700_000_000_000_000_000 + index))
        paths.append(path)
    return paths


def test_fingerprint_is_stable_and_order_independent(files: list[Path]) -> None:
    first = fingerprint_files(files)
    assert first.startswith("fp1:") and len(first) == 4 + 64
    assert fingerprint_files(reversed(files)) == first
    assert fingerprint_files([*files, files[0]]) == first  # multi-frame repeats count once


def test_a_rewritten_file_changes_the_fingerprint(files: list[Path]) -> None:
    before = fingerprint_files(files)
    files[3].write_bytes(bytes([9]) * 1000)  # same size, new mtime
    assert fingerprint_files(files) != before


def test_a_touched_file_changes_the_fingerprint(files: list[Path]) -> None:
    before = fingerprint_files(files)
    os.utime(files[0], ns=(1, 1))
    assert fingerprint_files(files) != before


def test_added_removed_and_renamed_files_change_it(files: list[Path]) -> None:
    before = fingerprint_files(files)
    extra = files[0].with_name("999.dcm")
    shutil.copy2(files[0], extra)
    assert fingerprint_files([*files, extra]) != before
    assert fingerprint_files(files[:-1]) != before
    renamed = files[1].rename(files[1].with_name("renamed.dcm"))
    assert fingerprint_files([files[0], renamed, *files[2:]]) != before


def test_a_copied_folder_with_times_kept_has_the_same_fingerprint(
    files: list[Path], tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(files[0].parent, copy)  # copy2: times preserved
    copied = [copy / f.name for f in files]
    assert fingerprint_files(copied) == fingerprint_files(files)


def test_header_hash_catches_a_rewrite_with_restored_size_and_time(files: list[Path]) -> None:
    stat = files[2].stat()
    before_plain = fingerprint_files(files)
    before_header = fingerprint_files(files, header_bytes=512)
    files[2].write_bytes(bytes([77]) * 1000)
    os.utime(files[2], ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert fingerprint_files(files) == before_plain  # stat alone cannot see it
    assert fingerprint_files(files, header_bytes=512) != before_header


def test_missing_files_are_part_of_the_fingerprint_not_an_error(files: list[Path]) -> None:
    before = fingerprint_files(files)
    files[4].unlink()
    assert fingerprint_files(files) != before


def test_fingerprinting_reads_no_file_and_writes_nothing(files: list[Path]) -> None:
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files}
    fingerprint_files(files)
    fingerprint_files(files, header_bytes=128)
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files} == before
    assert sorted(files[0].parent.iterdir()) == sorted(files)


def test_source_folder_is_the_common_folder(files: list[Path], tmp_path: Path) -> None:
    nested = files[0].parent / "sub" / "x.dcm"
    nested.parent.mkdir()
    nested.write_bytes(b"x")
    assert source_folder(files) == files[0].parent
    assert source_folder([*files, nested]) == files[0].parent
    with pytest.raises(ValueError, match="at least one"):
        source_folder([])
