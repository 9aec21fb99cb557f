"""``mscc-desktop report`` end to end, and the ``analyze --pdf`` hook."""

from __future__ import annotations

import argparse
from pathlib import Path

import pydicom
import pytest

from mscc_desktop import storage
from mscc_desktop.cli import EXIT_ERROR, EXIT_NOTHING, EXIT_OK, main
from mscc_desktop.cli.analyze_cmd import add_pdf_option, pdf_after_analysis
from tests.reporting.conftest import folder_snapshot, pdf_pages_text
from tests.reporting.study import AnalysedStudy, analysed_study


@pytest.fixture
def stored(tmp_path: Path) -> tuple[AnalysedStudy, Path]:
    """A study analysed into a store file (as 'mscc-desktop analyze' leaves it)."""
    db_path = tmp_path / "store" / "mscc.sqlite"
    study = analysed_study(tmp_path, n_slices=24, db=storage.open_store(db_path))
    study.db.close()
    return study, db_path


def test_report_writes_pdf_png_and_dicom(
    stored: tuple[AnalysedStudy, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study, db_path = stored
    before = folder_snapshot(study.folder)
    out = tmp_path / "reports"
    code = main(
        [
            "report",
            str(study.folder),
            "--out",
            str(out),
            "--db",
            str(db_path),
            "--pdf",
            "--png",
            "--dicom",
            "--paper",
            "letter",
        ]
    )
    assert code == EXIT_OK
    printed = [Path(line) for line in capsys.readouterr().out.splitlines()]
    assert len(printed) == 3 and all(p.exists() for p in printed)
    assert printed[0].suffix == ".pdf"
    assert "High-grade MSCC suspected" in pdf_pages_text(printed[0])[0]
    assert any(p.suffix == ".png" for p in printed[1].iterdir())
    assert any(pydicom.dcmread(p).Modality == "SR" for p in printed[2].iterdir())
    assert folder_snapshot(study.folder) == before
    db = storage.open_store(db_path)
    try:
        kinds = [
            e.details["kind"]
            for e in storage.audit_entries(db)
            if e.action is storage.AuditAction.EXPORTED
        ]
    finally:
        db.close()
    assert kinds == ["pdf", "png", "dicom"]


def test_report_by_series_uid_and_deidentified(
    stored: tuple[AnalysedStudy, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study, db_path = stored
    uid = study.volume.info.series_instance_uid
    code = main(["report", uid, "--out", str(tmp_path / "r"), "--db", str(db_path), "--deidentify"])
    assert code == EXIT_OK
    (pdf,) = [Path(line) for line in capsys.readouterr().out.splitlines()]
    assert pdf.name.startswith("MSCC_ANON-") and "Zielinska" not in " ".join(pdf_pages_text(pdf))


def test_report_before_analysis_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study = analysed_study(tmp_path, n_slices=12, lesions=())
    db_path = tmp_path / "empty.sqlite"
    storage.open_store(db_path).close()
    code = main(["report", str(study.folder), "--out", str(tmp_path / "r"), "--db", str(db_path)])
    assert code == EXIT_NOTHING
    assert "Analyse it first" in capsys.readouterr().err
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").iterdir())


def test_report_refuses_output_inside_the_source(
    stored: tuple[AnalysedStudy, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    study, db_path = stored
    before = folder_snapshot(study.folder.parent)
    code = main(
        [
            "report",
            str(study.folder.parent),
            "--out",
            str(study.folder.parent / "out"),
            "--db",
            str(db_path),
        ]
    )
    assert code == EXIT_ERROR
    assert "never writes into a source folder" in capsys.readouterr().err
    assert folder_snapshot(study.folder.parent) == before


def test_report_without_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "report",
            str(tmp_path),
            "--out",
            str(tmp_path / "o"),
            "--db",
            str(tmp_path / "none.sqlite"),
        ]
    )
    assert code == EXIT_ERROR
    assert "analyze" in capsys.readouterr().err


def test_analyze_pdf_hook(stored: tuple[AnalysedStudy, Path], tmp_path: Path) -> None:
    study, db_path = stored
    parser = argparse.ArgumentParser()
    add_pdf_option(parser)
    args = parser.parse_args(["--pdf", str(tmp_path / "pdfs"), "--paper", "letter"])
    db = storage.open_store(db_path)
    try:
        path = pdf_after_analysis(
            args,
            study.volume,
            study.result,
            db=db,
            analysis_id=study.analysis_id,
            scan_root=study.folder,
        )
    finally:
        db.close()
    assert path is not None and path.exists() and path.parent == (tmp_path / "pdfs").resolve()
    # Without the store (analyze --no-db) the result in memory is reported.
    memory = pdf_after_analysis(args, study.volume, study.result)
    assert memory is not None and memory != path
    # No --pdf: nothing happens.
    assert pdf_after_analysis(parser.parse_args([]), study.volume, study.result) is None
