"""The study list (browser and ``mscc-desktop studies``) and recent folders."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from sqlite_utils import Database

from mscc_desktop.cli import EXIT_NOTHING, EXIT_OK, main
from mscc_desktop.core.findings import AnalysisStatus
from mscc_desktop.core.grades import GradeGroup
from mscc_desktop.core.review import ReviewStatus, StudyStatus
from mscc_desktop.storage import (
    add_recent_folder,
    begin_analysis,
    list_studies,
    open_store,
    recent_folders,
    save_analysis,
    set_study_review_status,
    upsert_series,
)
from tests.storage import builders


def _study(db: Database, tmp_path: Path, n: int, *, date: str, name: str, high: bool | None):
    """Register study ``n``; analyse it (high grade or not) unless ``high`` is None."""
    info = builders.series_info(
        patient_name=name,
        patient_id=f"PID-{n}",
        study_uid=f"1.2.3.{n}",
        series_uid=f"1.2.3.{n}.1",
        study_date=date,
    )
    series = upsert_series(
        db, info, source_path=tmp_path / f"s{n}", fingerprint=f"fp1:{n}", n_files=60
    )
    if high is not None:
        save_analysis(db, series, builders.result(info, seed=n, high=high))
    return series


def test_flagged_studies_come_first_then_newest(db: Database, tmp_path: Path) -> None:
    _study(db, tmp_path, 1, date="20240101", name="OLD^NORMAL", high=False)
    _study(db, tmp_path, 2, date="20240301", name="NEW^NORMAL", high=False)
    _study(db, tmp_path, 3, date="20230101", name="OLD^FLAGGED", high=True)
    _study(db, tmp_path, 4, date="20240201", name="NOT^ANALYSED", high=None)

    entries = list_studies(db)

    assert [e.patient_name for e in entries] == [
        "OLD^FLAGGED",
        "NEW^NORMAL",
        "NOT^ANALYSED",
        "OLD^NORMAL",
    ]
    flagged = entries[0]
    assert flagged.high_grade and flagged.max_group is GradeGroup.HIGH
    assert flagged.max_p_high is not None and flagged.max_p_high > 0.5
    assert flagged.status is StudyStatus.COMPLETE and flagged.n_lesions == 2
    assert entries[2].status is StudyStatus.NOT_ANALYSED and entries[2].max_group is None
    assert entries[1].max_group is GradeGroup.LOW and not entries[1].high_grade


def test_stale_study_loses_its_flag_but_says_stale(db: Database, tmp_path: Path) -> None:
    series = _study(db, tmp_path, 1, date="20240101", name="A^B", high=True)
    upsert_series(
        db,
        builders.series_info(
            patient_name="A^B",
            patient_id="PID-1",
            study_uid="1.2.3.1",
            series_uid="1.2.3.1.1",
            study_date="20240101",
        ),
        source_path=series.source_path,
        fingerprint="fp1:changed",
        n_files=60,
    )
    [entry] = list_studies(db)
    assert entry.status is StudyStatus.STALE and not entry.high_grade


def test_running_and_reviewed_states_show(db: Database, tmp_path: Path) -> None:
    series = _study(db, tmp_path, 1, date="20240101", name="A^B", high=None)
    begin_analysis(db, series, provenance=builders.PROVENANCE, thresholds=builders.THRESHOLDS)
    set_study_review_status(db, series.study_id, ReviewStatus.REVIEWED)
    [entry] = list_studies(db)
    assert entry.status is StudyStatus.RUNNING and entry.reviewed
    assert entry.source_paths == (series.source_path,)


def test_recent_folders_most_recent_first_and_bounded(db: Database, tmp_path: Path) -> None:
    folders = [tmp_path / f"f{i}" for i in range(5)]
    for folder in folders:
        folder.mkdir()
        add_recent_folder(db, folder, keep=3)
    add_recent_folder(db, folders[2], keep=3)
    assert recent_folders(db) == [folders[2], folders[4], folders[3]]
    folders[4].rmdir()
    assert recent_folders(db, existing_only=True) == [folders[2], folders[3]]


def test_studies_command_lists_the_store(
    store_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    db = open_store(store_path)
    _study(db, tmp_path, 1, date="20240101", name="QUIET^NORMAL", high=False)
    _study(db, tmp_path, 2, date="20240102", name="LOUD^FLAGGED", high=True)
    db.close()

    with caplog.at_level(logging.DEBUG):
        code = main(["studies", "--db", str(store_path), "-v"])
    out = capsys.readouterr().out

    assert code == EXIT_OK
    lines = out.splitlines()
    assert lines[0] == f"2 studies in {store_path}"
    assert lines[2].startswith("HIGH") and "LOUD FLAGGED" in lines[2]
    assert "QUIET NORMAL" in lines[3] and "2024-01-01" in lines[3]
    assert "LOUD" not in caplog.text and "PID-2" not in caplog.text


def test_studies_command_json(
    store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = open_store(store_path)
    _study(db, tmp_path, 7, date="20240101", name="J^SON", high=True)
    db.close()
    assert main(["studies", "--db", str(store_path), "--json"]) == EXIT_OK
    [study] = json.loads(capsys.readouterr().out)
    assert study["patient_name"] == "J^SON" and study["high_grade"] is True
    assert study["status"] == AnalysisStatus.COMPLETE.value and study["max_group"] == "high"


def test_studies_command_without_store_or_studies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "none.sqlite"
    assert main(["studies", "--db", str(missing)]) == EXIT_NOTHING
    assert "No results store" in capsys.readouterr().err
    assert not missing.exists()
    open_store(tmp_path / "empty.sqlite").close()
    assert main(["studies", "--db", str(tmp_path / "empty.sqlite")]) == EXIT_NOTHING


def test_studies_command_reports_a_bad_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bogus = tmp_path / "bogus.sqlite"
    bogus.write_text("not a database" * 100)
    assert main(["studies", "--db", str(bogus)]) == 1
    assert "not a usable mscc-desktop results store" in capsys.readouterr().err


def test_the_study_list_carries_the_cut_off_beside_the_peak_p_high(
    store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = open_store(store_path)
    _study(db, tmp_path, 1, date="20240101", name="A^B", high=True)
    [entry] = list_studies(db)
    db.close()
    assert entry.max_p_high_cut_off == builders.THRESHOLDS.high  # the analysis' own cut-off
    assert main(["studies", "--db", str(store_path)]) == EXIT_OK
    header, row = capsys.readouterr().out.splitlines()[1:3]
    assert "P(high)  Cut-off" in header
    assert row.split()[-3:-1] == [f"{entry.max_p_high:.2f}", f"{builders.THRESHOLDS.high:.2f}"]
    assert main(["studies", "--db", str(store_path), "--json"]) == EXIT_OK
    [study] = json.loads(capsys.readouterr().out)
    assert study["max_p_high_cut_off"] == builders.THRESHOLDS.high
