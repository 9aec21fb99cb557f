"""Registering series: identity that never merges patients, stale results on changed files."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
from sqlite_utils import Database

from mscc_desktop.core.volume import Volume
from mscc_desktop.storage import (
    AuditAction,
    audit_entries,
    find_latest_analysis,
    fingerprint_files,
    get_series,
    load_analysis,
    load_series_info,
    register_volume,
    save_analysis,
    series_for_study,
    upsert_series,
)
from tests.storage import builders

PROV = builders.PROVENANCE


def _write_files(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for index in range(n):
        path = folder / f"IM{index:04d}"
        path.write_bytes(b"DICM" + bytes([index % 256]) * 300)
        files.append(path)
    return files


def _volume(files: list[Path]) -> Volume:
    n = len(files)
    info = builders.series_info()
    return Volume(
        hu=np.zeros((n, 4, 4), dtype=np.int16),
        z_mm=np.arange(n, dtype=np.float64)[::-1].copy(),
        positions_mm=np.zeros((n, 3)),
        pixel_spacing_mm=(0.7, 0.7),
        slice_spacing_mm=1.0,
        slice_thickness_mm=1.0,
        col_axis=(1.0, 0.0, 0.0),
        row_axis=(0.0, 1.0, 0.0),
        normal=(0.0, 0.0, 1.0),
        sop_instance_uids=tuple(f"1.2.3.0.{i}" for i in range(n)),
        source_files=tuple(files),
        frame_indices=(0,) * n,
        info=info,
    )


def test_registering_twice_gives_the_same_series(db: Database, tmp_path: Path) -> None:
    info = builders.series_info()
    first = upsert_series(db, info, source_path=tmp_path, fingerprint="fp1:a", n_files=3)
    second = upsert_series(db, info, source_path=tmp_path, fingerprint="fp1:a", n_files=3)
    assert first == second
    assert db.execute("SELECT count(*) FROM patients").fetchone()[0] == 1
    registered = [e for e in audit_entries(db) if e.action is AuditAction.SERIES_REGISTERED]
    assert len(registered) == 1


def test_series_info_round_trips(db: Database, tmp_path: Path) -> None:
    info = builders.series_info()
    record = upsert_series(db, info, source_path=tmp_path, fingerprint="fp1:a", n_files=3)
    assert load_series_info(db, record.id) == info
    assert get_series(db, record.id) == replace(record, stale_marked=0)
    assert series_for_study(db, record.study_id) == [record]


def test_same_study_uid_for_two_different_patients_is_never_merged(
    db: Database, tmp_path: Path
) -> None:
    alice = builders.series_info()
    bob = builders.series_info(patient_name="OTHER^BOB", patient_id="PID-00002")
    a = upsert_series(db, alice, source_path=tmp_path / "a", fingerprint="fp1:a", n_files=1)
    b = upsert_series(db, bob, source_path=tmp_path / "a", fingerprint="fp1:a", n_files=1)
    assert a.patient_id != b.patient_id and a.study_id != b.study_id and a.id != b.id
    assert load_series_info(db, b.id).patient_name == "OTHER^BOB"


def test_same_patient_id_with_another_name_is_another_patient(db: Database, tmp_path: Path) -> None:
    a = upsert_series(db, builders.series_info(), source_path=tmp_path, fingerprint="f", n_files=1)
    renamed = builders.series_info(patient_name="TESTPATIENT^ALICIA")
    b = upsert_series(db, renamed, source_path=tmp_path, fingerprint="f", n_files=1)
    assert a.patient_id != b.patient_id


def test_studies_without_uid_are_told_apart_by_folder(db: Database, tmp_path: Path) -> None:
    info = builders.series_info(study_uid="", series_uid="")
    a = upsert_series(db, info, source_path=tmp_path / "one", fingerprint="f", n_files=1)
    b = upsert_series(db, info, source_path=tmp_path / "two", fingerprint="f", n_files=1)
    assert a.study_id != b.study_id


def test_changed_source_files_mark_old_results_stale(db: Database, tmp_path: Path) -> None:
    files = _write_files(tmp_path / "series", 5)
    series = register_volume(db, _volume(files))
    old = save_analysis(db, series, builders.result())
    assert (
        find_latest_analysis(db, series.id, model_id=PROV.model_id, model_sha256=PROV.model_sha256)
        == old
    )

    files[2].write_bytes(b"DICM" + b"rewritten" * 50)  # another scan exported over it
    reopened = register_volume(db, _volume(files))

    assert reopened.id == series.id
    assert reopened.fingerprint != series.fingerprint
    assert reopened.stale_marked == 1
    stored = load_analysis(db, old)
    assert stored.stale
    assert "changed" in stored.notices[-1].message
    # The stale result is no longer offered as "already analysed".
    assert (
        find_latest_analysis(db, series.id, model_id=PROV.model_id, model_sha256=PROV.model_sha256)
        is None
    )
    changed = [
        e for e in audit_entries(db, series_id=series.id) if e.action is AuditAction.SOURCE_CHANGED
    ]
    assert changed and changed[0].details["analyses_marked_stale"] == 1


def test_added_or_removed_file_makes_results_stale(db: Database, tmp_path: Path) -> None:
    files = _write_files(tmp_path / "series", 4)
    series = register_volume(db, _volume(files))
    old = save_analysis(db, series, builders.result())
    files[-1].unlink()
    assert register_volume(db, _volume(files[:-1])).stale_marked == 1
    assert load_analysis(db, old).stale


def test_analysis_saved_after_the_source_changed_is_stale_at_once(
    db: Database, tmp_path: Path
) -> None:
    files = _write_files(tmp_path / "series", 3)
    loaded_with = register_volume(db, _volume(files))  # the volume the worker analyses
    os.utime(files[0], ns=(1_000_000_000, 1_000_000_000))
    register_volume(db, _volume(files))  # the reader reopens meanwhile
    analysis_id = save_analysis(db, loaded_with, builders.result())
    assert load_analysis(db, analysis_id).stale


def test_restored_files_make_the_old_results_current_again(db: Database, tmp_path: Path) -> None:
    files = _write_files(tmp_path / "series", 3)
    original = fingerprint_files(files)
    info = builders.series_info()
    series = upsert_series(db, info, source_path=tmp_path, fingerprint=original, n_files=3)
    old = save_analysis(db, series, builders.result())
    upsert_series(db, info, source_path=tmp_path, fingerprint="fp1:other", n_files=3)
    assert load_analysis(db, old).stale
    upsert_series(db, info, source_path=tmp_path, fingerprint=original, n_files=3)
    assert not load_analysis(db, old).stale


def test_source_folder_is_never_written(db: Database, tmp_path: Path) -> None:
    files = _write_files(tmp_path / "series", 3)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files}
    series = register_volume(db, _volume(files))
    save_analysis(db, series, builders.result())
    assert sorted((tmp_path / "series").iterdir()) == sorted(files)
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files} == before
